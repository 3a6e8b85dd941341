//! The one place that knows where every file of a sweep lives: `RUNS/<sweep>/` with its frozen
//! grid, model directories, logs, submitted scripts and the scalability study's runs, and inside a
//! model directory its metrics, result, weights, snapshots, checkpoint, lock and event files.
//! The coordinator and the worker both go through these types; no other code spells a path.

use std::path::{Path, PathBuf};

/// Layout of a sweep directory `RUNS/<name>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SweepDir {
    pub root: PathBuf,
}

impl SweepDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SweepDir { root: root.into() }
    }
    /// The frozen, fully resolved sweep the workers read.
    pub fn sweep_json(&self) -> PathBuf {
        self.root.join("sweep.json")
    }
    /// Whether `dir` holds a sweep (has a `sweep.json`).
    pub fn is_sweep(dir: &Path) -> bool {
        SweepDir::new(dir).sweep_json().exists()
    }
    /// A copy of the grid file as it was when the sweep was frozen.
    pub fn grid_copy(&self) -> PathBuf {
        self.root.join("grid.toml")
    }
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }
    /// The directory of one model.
    pub fn model(&self, name: &str) -> ModelDir {
        ModelDir::new(self.models_dir().join(name))
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    /// The log of an array task: what `sbatch --output` writes with [`SweepDir::slurm_log_pattern`].
    pub fn slurm_log(&self, array_job: &str, task: usize) -> PathBuf {
        self.logs_dir().join(format!("{array_job}_{task}.out"))
    }
    /// The `--output` pattern of the sweep's arrays (`%A` job, `%a` task).
    pub fn slurm_log_pattern(&self) -> PathBuf {
        self.logs_dir().join("%A_%a.out")
    }
    /// The log of a model trained by `cyplam run`.
    pub fn local_log(&self, model: &str) -> PathBuf {
        self.logs_dir().join(format!("local-{model}.log"))
    }
    /// Rendered sbatch scripts and `jobs.txt`.
    pub fn submit_dir(&self) -> PathBuf {
        self.root.join("submit")
    }
    /// The `k`-th script of the submission made at `stamp`.
    pub fn script(&self, stamp: u64, k: usize) -> PathBuf {
        self.submit_dir().join(format!("{stamp}-{k}.sbatch"))
    }
    /// One line per submitted job, appended.
    pub fn jobs_txt(&self) -> PathBuf {
        self.submit_dir().join("jobs.txt")
    }
    /// Successive halving's decisions, one file per rung.
    pub fn halving_dir(&self) -> PathBuf {
        self.root.join("halving")
    }
    /// The decision taken at the end of rung `rung`: which models went on.
    pub fn rung_decision(&self, rung: u32) -> PathBuf {
        self.halving_dir().join(format!("rung-{rung}.json"))
    }
    /// Held by the worker that takes (or reads) the rungs' decisions, so that one worker takes
    /// each.
    pub fn decision_lock(&self) -> PathBuf {
        self.halving_dir().join("decide.lock")
    }
    /// A TPE search's rounds (`strategy = "tpe"`), one file per round.
    pub fn search_dir(&self) -> PathBuf {
        self.root.join("search")
    }
    /// What round `round` of a TPE search proposed, and from which scores.
    pub fn round_file(&self, round: u32) -> PathBuf {
        self.search_dir().join(format!("round-{round}.json"))
    }
    /// Held by the worker that proposes (or reads) a round, so that one worker proposes each.
    pub fn round_lock(&self) -> PathBuf {
        self.search_dir().join("propose.lock")
    }
    /// The scalability study's own directory (`cyplam scale`).
    pub fn scale_dir(&self) -> PathBuf {
        self.root.join("scale")
    }
    /// One timed run of the scalability study: a sweep directory of its own, so its worker writes
    /// there and nowhere else.
    pub fn scale_run(&self, tag: &str) -> SweepDir {
        SweepDir::new(self.scale_dir().join(tag))
    }
    /// The wall-clock times of one packing measured inside a Slurm job.
    pub fn scale_times(&self, tag: &str) -> PathBuf {
        self.scale_dir().join(format!("{tag}.time"))
    }
    pub fn scale_script(&self) -> PathBuf {
        self.scale_dir().join("scale.sbatch")
    }
    /// The `--output` pattern of the scalability study's job, and its log.
    pub fn scale_log_pattern(&self) -> PathBuf {
        self.scale_dir().join("slurm-%j.out")
    }
    pub fn scale_log(&self, job: &str) -> PathBuf {
        self.scale_dir().join(format!("slurm-{job}.out"))
    }
}

/// Files of one model's directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelDir {
    pub root: PathBuf,
}

impl ModelDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelDir { root: root.into() }
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }
    pub fn result(&self) -> PathBuf {
        self.root.join("result.json")
    }
    /// Where a failed or preempted result is moved aside before the model is trained again.
    pub fn archived_result(&self, stamp: u64) -> PathBuf {
        self.root.join(format!("result.{stamp}.json"))
    }
    pub fn best(&self) -> PathBuf {
        self.root.join("best.safetensors")
    }
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    pub fn snapshot(&self, iteration: u64) -> PathBuf {
        self.snapshots_dir().join(format!("iter-{iteration:09}.safetensors"))
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.root.join("checkpoint")
    }
    /// The resume point: which checkpoint file, at which iteration.
    pub fn checkpoint_state(&self) -> PathBuf {
        self.checkpoint_dir().join("state.json")
    }
    /// File name (inside [`ModelDir::checkpoint_dir`]) of the checkpoint taken at `iteration`.
    pub fn checkpoint_name(iteration: u64) -> String {
        format!("ckpt-{iteration:09}.safetensors")
    }
    /// Whether a file name in the checkpoint directory is a checkpoint's weights.
    pub fn is_checkpoint_name(name: &str) -> bool {
        name.starts_with("ckpt-")
    }
    pub fn checkpoint_file(&self, name: &str) -> PathBuf {
        self.checkpoint_dir().join(name)
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
    /// TensorBoard event files (`[output] tensorboard = true`).
    pub fn tensorboard_dir(&self) -> PathBuf {
        self.root.join("tensorboard")
    }
    /// Whether training started (a metrics file with rows, or a checkpoint).
    pub fn has_checkpoint(&self) -> bool {
        self.checkpoint_state().exists()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_is_under_its_root() {
        let s = SweepDir::new("/r/quick");
        let m = s.model("Model-003");
        assert_eq!(m.root, PathBuf::from("/r/quick/models/Model-003"));
        assert_eq!(m.checkpoint_state(), PathBuf::from("/r/quick/models/Model-003/checkpoint/state.json"));
        assert_eq!(m.checkpoint_file(&ModelDir::checkpoint_name(42)), PathBuf::from("/r/quick/models/Model-003/checkpoint/ckpt-000000042.safetensors"));
        assert!(ModelDir::is_checkpoint_name(&ModelDir::checkpoint_name(7)));
        assert_eq!(s.slurm_log("12", 3), PathBuf::from("/r/quick/logs/12_3.out"));
        assert_eq!(s.local_log("Model-003"), PathBuf::from("/r/quick/logs/local-Model-003.log"));
        assert_eq!(s.scale_run("m0-c1-r0").model("Model-000").result(), PathBuf::from("/r/quick/scale/m0-c1-r0/models/Model-000/result.json"));
        assert_eq!(s.script(5, 1), PathBuf::from("/r/quick/submit/5-1.sbatch"));
        assert_eq!(s.rung_decision(2), PathBuf::from("/r/quick/halving/rung-2.json"));
    }
}
