//! The worker end to end: the real binary, real libtorch training on a small synthetic data set,
//! real files. One integration test binary (modules below).
#![allow(clippy::unwrap_used)] // tests fail by panicking: an unwrap there is the check

mod cuda;
mod lock;
mod training;

use cyplam_core::files::{write_json_atomic, SweepFile, FORMAT_VERSION};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const WORKER: &str = env!("CARGO_BIN_EXE_cyplam-worker");

/// A synthetic data set shared by the tests of this binary (made once).
pub fn data_dir() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("cyplam-worker-it-data-{}", std::process::id()));
        let opts = cyplam_core::synth::SynthOptions { train_frames: 2000, validation_frames: 1500, seed: 7 };
        cyplam_core::synth::synthesize(&dir, &opts, cyplam_core::data::OnExisting::Replace).expect("synthetic data");
        dir
    })
    .clone()
}

/// A tiny network trained briefly: seconds on one thread.
pub const TINY: &str = r#"
[settings]
wc1 = 3
ncv1 = 4
wc2 = 3
ncv2 = 8
nfc1 = 32
learning_rate = 3e-3
batch_size = 32
iterations = 240
snapshots = 8
seed = 3
threads = 1
"#;

/// Writes a sweep directory (data, sweep.json) for a grid text, as `cyplam submit` would.
pub fn make_sweep(root: &Path, name: &str, grid_text: &str) -> (PathBuf, SweepFile) {
    let data = data_dir();
    let text =
        format!("name = \"{name}\"\n[data]\ntrain = \"{}\"\nvalidation = \"{}\"\n{grid_text}", data.join("train").display(), data.join("validation").display());
    let grid_path = root.join(format!("{name}.toml"));
    std::fs::write(&grid_path, &text).unwrap();
    let grid = cyplam_core::grid::parse(&grid_path, &text).unwrap();
    let dir = root.join(name);
    std::fs::create_dir_all(dir.join("models")).unwrap();
    let sweep = SweepFile { format: FORMAT_VERSION, name: name.into(), source: grid_path, grid_sha256: String::new(), created_unix: 0, grid };
    write_json_atomic(&dir.join("sweep.json"), &sweep).unwrap();
    (dir, sweep)
}

pub fn worker(args: &[&str]) -> Output {
    Command::new(WORKER).args(args).env_remove("SLURM_PROCID").env_remove("SLURM_CPUS_PER_TASK").env_remove("SLURM_JOB_ID").output().unwrap()
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}
