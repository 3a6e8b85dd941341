//! `cyplam-worker predict`: laser power and process speed for each frame of a `.npy` file, from a
//! weights file (`best.safetensors` or any snapshot), as CSV; with `--labels`, also Accuracy20%.

use crate::eval::{accuracy_hits, EVAL_BATCH};
use crate::weights;
use anyhow::{bail, Context, Result};
use clap::Args;
use std::io::Write;
use std::path::{Path, PathBuf};
use tch::{nn::ModuleT, Kind, Tensor};

#[derive(Args, Debug)]
pub struct PredictArgs {
    /// A weights file written by the worker (best.safetensors, snapshots/iter-*.safetensors).
    #[arg(long)]
    pub weights: PathBuf,
    /// Frames: a .npy file (N x 784 or N x 28 x 28), or a data set directory holding frames.npy.
    #[arg(long)]
    pub frames: PathBuf,
    /// Labels (.npy, N x 2) to score the predictions against: prints Accuracy20%.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Write the CSV here instead of standard output.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Threads for libtorch.
    #[arg(long, default_value_t = 1, allow_negative_numbers = true, value_parser = crate::args::threads_arg)]
    pub threads: u32,
}

/// Whether `a` and `b` name the same existing file (through links too).
fn same_file(a: &Path, b: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(a), std::fs::metadata(b)) {
        (Ok(x), Ok(y)) => x.dev() == y.dev() && x.ino() == y.ino(),
        _ => false,
    }
}

pub fn run(args: &PredictArgs) -> Result<()> {
    let (frames_path, labels_path) = if args.frames.is_dir() {
        let lp = args.labels.clone().or_else(|| Some(args.frames.join("labels.npy")).filter(|p| p.exists()));
        (args.frames.join("frames.npy"), lp)
    } else {
        (args.frames.clone(), args.labels.clone())
    };
    if let Some(out) = &args.out {
        let inputs = [("--weights", Some(&args.weights)), ("--frames", Some(&frames_path)), ("--labels", labels_path.as_ref())];
        for (what, input) in inputs {
            if let Some(input) = input.filter(|i| same_file(out, i)) {
                bail!("--out {} is the {what} file {}: writing the predictions there would destroy it; name another file", out.display(), input.display());
            }
        }
    }
    tch::set_num_threads(args.threads.max(1) as i32);
    let weights::LoadedNet { vs: _vs, net, meta } = weights::load(&args.weights)?;
    let (label_scale, input_factor) = (meta.label_scale, meta.input_factor);
    let ds = load_frames(&frames_path, labels_path.as_deref())?;
    let n = ds.0.len() / 784;
    let x = (Tensor::from_slice(&ds.0).view([n as i64, 1, 28, 28]) * input_factor).to_kind(Kind::Float);
    let scale = Tensor::from_slice(&[label_scale[0] as f32, label_scale[1] as f32]);
    let mut preds = Vec::with_capacity(n);
    tch::no_grad(|| {
        let mut s = 0i64;
        while s < n as i64 {
            let len = EVAL_BATCH.min(n as i64 - s);
            preds.push(net.forward_t(&x.narrow(0, s, len), false) * &scale);
            s += len;
        }
    });
    let pred = Tensor::cat(&preds, 0);
    let values: Vec<f32> = Vec::<f32>::try_from(pred.view([-1]))?;
    let mut out: Box<dyn Write> = match &args.out {
        Some(p) => Box::new(std::io::BufWriter::new(std::fs::File::create(p).with_context(|| format!("creating {}", p.display()))?)),
        None => Box::new(std::io::BufWriter::new(std::io::stdout().lock())),
    };
    writeln!(out, "frame,laser_power,process_speed")?;
    for (i, pair) in values.chunks_exact(2).enumerate() {
        writeln!(out, "{i},{},{}", pair[0], pair[1])?;
    }
    out.flush()?;
    if let Some(labels) = ds.1 {
        let y = Tensor::from_slice(&labels).view([n as i64, 2]);
        let hits = i64::try_from(accuracy_hits(&pred, &y))?;
        eprintln!("Accuracy20%: {:.6} ({hits} of {n} frames)", hits as f64 / n as f64);
    }
    Ok(())
}

fn load_frames(frames: &std::path::Path, labels: Option<&std::path::Path>) -> Result<(Vec<f32>, Option<Vec<f32>>)> {
    let x = cyplam_core::data::read_frames(frames)?;
    let y = match labels {
        Some(l) => Some(cyplam_core::data::read_labels(l, x.len() / 784, frames)?),
        None => None,
    };
    Ok((x, y))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_output_may_not_be_an_input() {
        let t = tempfile::tempdir().unwrap();
        let w = t.path().join("best.safetensors");
        std::fs::write(&w, b"the weights").unwrap();
        let link = t.path().join("link.csv");
        std::os::unix::fs::symlink(&w, &link).unwrap();
        let frames = t.path().join("frames.npy");
        std::fs::write(&frames, b"frames").unwrap();
        let args = |out: &Path| PredictArgs { weights: w.clone(), frames: frames.clone(), labels: None, out: Some(out.to_path_buf()), threads: 1 };
        for out in [&w, &link] {
            let e = run(&args(out)).unwrap_err().to_string();
            assert_eq!(
                e,
                format!("--out {} is the --weights file {}: writing the predictions there would destroy it; name another file", out.display(), w.display())
            );
        }
        let e = run(&args(&frames)).unwrap_err().to_string();
        assert!(e.contains("is the --frames file"), "{e}");
        assert_eq!(std::fs::read(&w).unwrap(), b"the weights", "untouched");
        // Another file gets past this check (and on to the weights, which are not weights).
        let e = format!("{:#}", run(&args(&t.path().join("pred.csv"))).unwrap_err());
        assert!(e.contains("best.safetensors: not a safetensors file"), "{e}");
    }
}
