//! The `cyplam` binary end to end: real files, real SQLite, the real worker (real libtorch
//! training of tiny models) and, for the Slurm tests, the real dev cluster
//! (`slurm/dev-cluster/up`). One integration test binary (modules below).
#![allow(clippy::unwrap_used)] // tests fail by panicking: an unwrap there is the check

mod cli;
mod convlmd;
mod doctor;
mod halving;
mod html;

mod local;
mod reliability;
mod search;
mod slurm;
mod studies;

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub const CYPLAM: &str = env!("CARGO_BIN_EXE_cyplam");

/// The worker built beside cyplam (`cargo test --workspace` builds it).
pub fn worker_bin() -> PathBuf {
    let p = Path::new(CYPLAM).with_file_name("cyplam-worker");
    assert!(p.exists(), "{} is missing: build the workspace first (cargo build --workspace)", p.display());
    p
}

/// A synthetic data set shared by this test binary.
pub fn data_dir() -> PathBuf {
    static ONCE: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    ONCE.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("cyplam-it-data-{}", std::process::id()));
        let opts = cyplam_core::synth::SynthOptions { train_frames: 8000, validation_frames: 3000, seed: 5 };
        cyplam_core::synth::synthesize(&dir, &opts, cyplam_core::data::OnExisting::Replace).expect("synthetic data");
        dir
    })
    .clone()
}

/// An example grid with its [data] pointed at this binary's data set.
pub fn example(env: &Env, file: &str) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples").join(file)).unwrap();
    let data = data_dir();
    let text = text
        .replace("../data/quick/train", &data.join("train").display().to_string())
        .replace("../data/quick/validation", &data.join("validation").display().to_string());
    let p = env.dir.path().join(file);
    std::fs::write(&p, text).unwrap();
    p
}

/// A place for one test: runs dir, database, grid files.
pub struct Env {
    pub dir: tempfile::TempDir,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Env {
        Env { dir: tempfile::Builder::new().prefix("cyplam it's ").tempdir().unwrap() }
    }
    pub fn runs(&self) -> PathBuf {
        self.dir.path().join("runs")
    }
    pub fn db(&self) -> PathBuf {
        self.dir.path().join("runs").join("cyplam.db")
    }
    /// Writes a grid file with the shared data set; returns its path.
    pub fn grid(&self, name: &str, body: &str) -> PathBuf {
        let data = data_dir();
        let text =
            format!("name = \"{name}\"\n[data]\ntrain = \"{}\"\nvalidation = \"{}\"\n{body}", data.join("train").display(), data.join("validation").display());
        let p = self.dir.path().join(format!("{name}.toml"));
        std::fs::write(&p, text).unwrap();
        p
    }
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(CYPLAM);
        c.env("CYPLAM_RUNS", self.runs())
            .env("CYPLAM_DB", self.db())
            .env("CYPLAM_WORKER", worker_bin())
            // One thread per training: the dev node claims 24 CPUs on a 2-core machine.
            .env("CYPLAM_WORKER_THREADS", "1")
            .env_remove("CYPLAM_LOG");
        c
    }
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }
    pub fn ok(&self, args: &[&str]) -> String {
        let o = self.run(args);
        assert!(o.status.success(), "cyplam {args:?} failed:\n{}\n{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
    pub fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args)).unwrap()
    }
}

pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// Five tiny models (2 per task: the last array task has an empty slot), a few hundred iterations.
pub const FIVE: &str = r#"
[slurm]
trainings_per_node = 2
cpus_per_training = 12

[settings]
wc1 = 3
wc2 = 3
ncv1 = 4
ncv2 = 8
learning_rate = 3e-3
batch_size = 32
iterations = 300
snapshots = 5
seed = 2
keep_snapshots = "best"

[grid]
nfc1 = [8, 16, 24, 32, 48]
"#;

/// Reads every model's result.json of a sweep.
pub fn results(runs: &Path, sweep: &str) -> Vec<cyplam_core::files::ModelResult> {
    let mut v: Vec<cyplam_core::files::ModelResult> = std::fs::read_dir(cyplam_core::layout::SweepDir::new(runs.join(sweep)).models_dir())
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("result.json").exists())
        .map(|e| cyplam_core::files::read_json(&e.path().join("result.json")).unwrap())
        .collect();
    v.sort_by_key(|r| r.index);
    v
}
