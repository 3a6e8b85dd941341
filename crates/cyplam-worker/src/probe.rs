//! `cyplam-worker probe`: proves that this worker starts here (its libraries load, libtorch
//! computes) and says what it runs on: the libtorch it loaded and from where, the CPU, the CUDA
//! devices. `cyplam doctor` runs it on the login node and in a tiny Slurm job on a compute node.

use anyhow::Result;
use clap::Args;
use cyplam_core::probe::{cpu_from_cpuinfo, cuda_loaded_from_maps, libtorch_dir_from_maps, WorkerProbe};
use tch::{Kind, Tensor};

#[derive(Args, Debug)]
pub struct ProbeArgs {
    /// Print one JSON object (what `cyplam doctor` reads) instead of a line for people.
    #[arg(long)]
    pub json: bool,
}

fn maps() -> String {
    std::fs::read_to_string("/proc/self/maps").unwrap_or_default()
}

/// The libtorch directory this process loaded, or "" when /proc cannot tell.
pub fn loaded_libtorch_dir() -> String {
    libtorch_dir_from_maps(&maps()).unwrap_or_default()
}

/// A matrix product and a convolution with known sums: libtorch's CPU kernels (oneDNN for the
/// convolution) run on this CPU.
fn compute_ok() -> bool {
    let a = Tensor::ones([2, 2], (Kind::Float, tch::Device::Cpu));
    let mm = a.matmul(&a).sum(Kind::Float).double_value(&[]);
    let x = Tensor::ones([1, 1, 28, 28], (Kind::Float, tch::Device::Cpu));
    let w = Tensor::ones([1, 1, 5, 5], (Kind::Float, tch::Device::Cpu));
    // "Same" padding: an interior pixel sums 25 ones.
    let conv = x.conv2d(&w, None::<Tensor>, [1, 1], [2, 2], [1, 1], 1).double_value(&[0, 0, 14, 14]);
    mm == 8.0 && conv == 25.0
}

pub fn probe() -> WorkerProbe {
    let (cpu_model, cpu_features) = cpu_from_cpuinfo(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default());
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    let compute_ok = compute_ok();
    let maps = maps();
    WorkerProbe {
        version: env!("CARGO_PKG_VERSION").to_string(),
        libtorch: env!("CYPLAM_LIBTORCH_VERSION").to_string(),
        libtorch_dir: libtorch_dir_from_maps(&maps).unwrap_or_default(),
        exe: std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default(),
        host,
        cpu_model,
        cpus: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        cpu_features,
        // libtorch says it has CUDA only when it also sees a device: its CUDA library loaded
        // (the CUDA bundle, a CUDA torch) says it was built with it.
        cuda_built: cuda_loaded_from_maps(&maps) || tch::utils::has_cuda(),
        cuda_devices: tch::Cuda::device_count(),
        compute_ok,
    }
}

pub fn run(args: &ProbeArgs) -> Result<()> {
    let p = probe();
    if args.json {
        println!("{}", serde_json::to_string(&p)?);
    } else {
        println!("{} on {}", p.summary(), if p.host.is_empty() { "this machine" } else { &p.host });
        println!("compute check: {}", if p.compute_ok { "ok" } else { "FAILED (libtorch gave wrong sums on this CPU)" });
    }
    if !p.compute_ok {
        anyhow::bail!("libtorch's compute check failed on this machine");
    }
    Ok(())
}
