//! What a worker says about the machine it runs on (`cyplam-worker probe --json`): its version,
//! the libtorch it loaded and from where, the CPU's features that matter to training speed, and
//! the CUDA devices libtorch sees. `cyplam doctor` asks it on the login node and, through a tiny
//! Slurm job, on a compute node, and compares the two.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkerProbe {
    /// `cyplam-worker`'s version (the crate's).
    pub version: String,
    /// The libtorch it was built against (`2.11.0+cu130`).
    pub libtorch: String,
    /// The directory of the `libtorch_cpu.so` this process loaded (from /proc/self/maps); empty
    /// when it could not be told.
    pub libtorch_dir: String,
    /// The worker binary itself.
    pub exe: String,
    pub host: String,
    /// /proc/cpuinfo's `model name`.
    pub cpu_model: String,
    /// CPUs this process may run on (affinity and cgroup limits applied).
    pub cpus: usize,
    /// Of the CPU flags that change libtorch's kernels: avx2, avx512f, avx512_bf16, amx_bf16.
    pub cpu_features: Vec<String>,
    /// Whether libtorch was built with CUDA (the CUDA bundle, or a CUDA torch).
    pub cuda_built: bool,
    /// CUDA devices libtorch can use here.
    pub cuda_devices: i64,
    /// A 2x2 matrix product and a 5x5 convolution over one 28x28 frame gave the expected sums.
    pub compute_ok: bool,
}

/// The CPU flags reported, in this order.
pub const CPU_FEATURES: [&str; 4] = ["avx2", "avx512f", "avx512_bf16", "amx_bf16"];

/// (model name, the flags of [`CPU_FEATURES`] present) from the text of /proc/cpuinfo.
pub fn cpu_from_cpuinfo(text: &str) -> (String, Vec<String>) {
    let mut model = String::new();
    let mut flags: Vec<&str> = Vec::new();
    for line in text.lines() {
        let Some((k, v)) = line.split_once(':') else { continue };
        match k.trim() {
            "model name" if model.is_empty() => model = v.trim().to_string(),
            "flags" if flags.is_empty() => flags = v.split_whitespace().collect(),
            _ => {}
        }
    }
    (model, CPU_FEATURES.iter().filter(|f| flags.contains(f)).map(|f| f.to_string()).collect())
}

/// The directory of the first mapped file named `libtorch_cpu.so` in the text of
/// /proc/self/maps.
pub fn libtorch_dir_from_maps(text: &str) -> Option<String> {
    text.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.ends_with("/libtorch_cpu.so")).map(|p| {
        let p = std::path::Path::new(p);
        p.parent().map(|d| d.display().to_string()).unwrap_or_default()
    })
}

/// Whether the text of /proc/self/maps shows libtorch's CUDA library loaded.
pub fn cuda_loaded_from_maps(text: &str) -> bool {
    text.lines().any(|l| l.trim_end().ends_with("/libtorch_cuda.so"))
}

impl WorkerProbe {
    /// One line for people: version, libtorch and where it came from, CPU, CUDA.
    pub fn summary(&self) -> String {
        let features = if self.cpu_features.is_empty() { "none of avx2/avx512".to_string() } else { self.cpu_features.join(" ") };
        let cuda = match (self.cuda_built, self.cuda_devices) {
            (false, _) => "CPU-only libtorch".to_string(),
            (true, 0) => "CUDA libtorch, no CUDA device".to_string(),
            (true, n) => format!("{n} CUDA device(s)"),
        };
        format!(
            "cyplam-worker {} with libtorch {} from {}; {} CPUs ({}), {features}; {cuda}",
            self.version,
            self.libtorch,
            if self.libtorch_dir.is_empty() { "an unknown place" } else { &self.libtorch_dir },
            self.cpus,
            if self.cpu_model.is_empty() { "unknown model" } else { &self.cpu_model }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_flags_and_model_from_cpuinfo() {
        let text = "processor\t: 0\nmodel name\t: AMD EPYC 9R14\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512vl\n\nprocessor\t: 1\nmodel name\t: other\nflags\t: avx2\n";
        let (m, f) = cpu_from_cpuinfo(text);
        assert_eq!(m, "AMD EPYC 9R14");
        assert_eq!(f, vec!["avx2", "avx512f", "avx512_bf16"]);
        let (m, f) = cpu_from_cpuinfo("flags : sse2\n");
        assert_eq!((m.as_str(), f.len()), ("", 0));
    }

    #[test]
    fn libtorch_dir_from_a_maps_text() {
        let maps = "7f00-7f01 r--p 00000000 00:20 12 /usr/lib/x86_64-linux-gnu/libc.so.6\n\
                    7f02-7f03 r-xp 00001000 00:20 13 /opt/cyplam-0.1.0/lib/libtorch_cpu.so\n\
                    7f04-7f05 rw-p 00000000 00:00 0 \n";
        assert_eq!(libtorch_dir_from_maps(maps).as_deref(), Some("/opt/cyplam-0.1.0/lib"));
        assert_eq!(libtorch_dir_from_maps("7f00-7f01 r--p 0 00:20 12 /x/libtorch_cpu.so.bak\n"), None);
        assert!(!cuda_loaded_from_maps(maps));
        assert!(cuda_loaded_from_maps("7f02-7f03 r-xp 00001000 00:20 13 /opt/c/lib/libtorch_cuda.so\n"));
    }
}
