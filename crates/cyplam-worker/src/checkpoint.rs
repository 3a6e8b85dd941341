//! The resume point of a model's training, taken at every snapshot and on a stop request: the
//! weights with Adam's moments in one `.safetensors` file, and where the run stood in
//! [`ModelDir::checkpoint_state`], which names that file. A worker that finds one continues from
//! it; older checkpoint files go once the state names a newer one, and the whole checkpoint once
//! the model is completed.

use crate::adam::Adam;
use crate::weights::{self, WeightsError};
use cyplam_core::files::{read_json, write_json_atomic, FileError, FORMAT_VERSION};
use cyplam_core::layout::ModelDir;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use tch::{Device, TchError, Tensor};

/// A checkpoint that cannot be written or read back.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    #[error(transparent)]
    Weights(#[from] WeightsError),
    #[error(transparent)]
    State(#[from] FileError),
    #[error("writing {}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("reading checkpoint {}: {error}", path.display())]
    Read { path: PathBuf, error: TchError },
    #[error("checkpoint lacks {0}")]
    Lacks(String),
    #[error(transparent)]
    Tch(#[from] TchError),
}

/// Where a run stood when its checkpoint was taken.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Progress {
    /// Iterations done.
    pub iteration: u64,
    /// Training time so far, over every run of the model.
    pub elapsed_seconds: f64,
    /// How many times the model was resumed before.
    pub resumes: u32,
    /// When the model's first run started.
    pub started_unix: u64,
}

/// The file [`ModelDir::checkpoint_state`] (its format is part of the sweep directory's).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    format: u32,
    iteration: u64,
    adam_step: i64,
    elapsed_seconds: f64,
    resumes: u32,
    started_unix: u64,
    /// The checkpoint file, in the checkpoint directory.
    file: String,
}

/// Writes a checkpoint: `weights` (a weights file's tensors) and Adam's moments and step, then the
/// state naming them; then removes the checkpoint files it supersedes.
pub fn save(dir: &ModelDir, adam: &Adam, mut weights: Vec<(String, Tensor)>, at: &Progress) -> Result<(), CheckpointError> {
    let ckpt_dir = dir.checkpoint_dir();
    std::fs::create_dir_all(&ckpt_dir).map_err(|error| CheckpointError::Io { path: ckpt_dir.clone(), error })?;
    let file = ModelDir::checkpoint_name(at.iteration);
    for (name, (m, v)) in adam.names.iter().zip(adam.m.iter().zip(&adam.v)) {
        weights.push((format!("adam_m.{name}"), m.to_device(Device::Cpu)));
        weights.push((format!("adam_v.{name}"), v.to_device(Device::Cpu)));
    }
    weights::save(&dir.checkpoint_file(&file), &weights)?;
    let state = CheckpointState {
        format: FORMAT_VERSION,
        iteration: at.iteration,
        adam_step: adam.step,
        elapsed_seconds: at.elapsed_seconds,
        resumes: at.resumes,
        started_unix: at.started_unix,
        file: file.clone(),
    };
    let state_path = dir.checkpoint_state();
    write_json_atomic(&state_path, &state).map_err(|error| CheckpointError::Write { path: state_path, error })?;
    prune(dir, &file)
}

/// Older checkpoint files are superseded once the state names `keep`.
fn prune(dir: &ModelDir, keep: &str) -> Result<(), CheckpointError> {
    let ckpt_dir = dir.checkpoint_dir();
    let entries = std::fs::read_dir(&ckpt_dir).map_err(|error| CheckpointError::Io { path: ckpt_dir, error })?;
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if ModelDir::is_checkpoint_name(&name) && name != keep {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

/// Puts the parameters, Adam's moments and step of the model's checkpoint into `adam`, if the
/// model has a checkpoint, and says where that run stood.
pub fn restore(dir: &ModelDir, adam: &mut Adam) -> Result<Option<Progress>, CheckpointError> {
    if !dir.has_checkpoint() {
        return Ok(None);
    }
    let state: CheckpointState = read_json(&dir.checkpoint_state())?;
    let path = dir.checkpoint_file(&state.file);
    let tensors = Tensor::read_safetensors(&path).map_err(|error| CheckpointError::Read { path, error })?;
    restore_tensors(adam, &tensors)?;
    adam.step = state.adam_step;
    Ok(Some(Progress { iteration: state.iteration, elapsed_seconds: state.elapsed_seconds, resumes: state.resumes, started_unix: state.started_unix }))
}

fn restore_tensors(adam: &mut Adam, tensors: &[(String, Tensor)]) -> Result<(), CheckpointError> {
    let find = |n: &str| tensors.iter().find(|(k, _)| k == n).map(|(_, v)| v).ok_or_else(|| CheckpointError::Lacks(n.to_string()));
    tch::no_grad(|| -> Result<(), CheckpointError> {
        for i in 0..adam.names.len() {
            let name = adam.names[i].as_str();
            let p = find(name)?;
            let m = find(&format!("adam_m.{name}"))?;
            let v = find(&format!("adam_v.{name}"))?;
            adam.params[i].f_copy_(p)?;
            adam.m[i].f_copy_(m)?;
            adam.v[i].f_copy_(v)?;
        }
        Ok(())
    })
}

/// Removes the checkpoint of a completed model.
pub fn discard(dir: &ModelDir) {
    let _ = std::fs::remove_dir_all(dir.checkpoint_dir());
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Kind};

    fn adam_after_steps(steps: usize) -> (nn::VarStore, Adam) {
        let vs = nn::VarStore::new(Device::Cpu);
        let x = vs.root().var("x", &[3], nn::Init::Const(1.0));
        let mut adam = Adam::new(&vs, 0.1);
        for _ in 0..steps {
            let loss = (&x * &x).sum(Kind::Float);
            adam.zero_grad();
            loss.backward();
            adam.step();
        }
        (vs, adam)
    }

    fn weights_of(adam: &Adam) -> Vec<(String, Tensor)> {
        adam.names.iter().zip(&adam.params).map(|(n, t)| (n.clone(), t.detach().copy())).collect()
    }

    #[test]
    fn a_restored_optimizer_is_the_saved_one_and_older_files_go() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = ModelDir::new(tmp.path().join("Model-000"));
        assert_eq!(restore(&dir, &mut adam_after_steps(0).1).unwrap(), None, "no checkpoint yet");

        let (_vs, adam) = adam_after_steps(2);
        let at = Progress { iteration: 20, elapsed_seconds: 1.5, resumes: 1, started_unix: 7 };
        save(&dir, &adam, weights_of(&adam), &Progress { iteration: 10, ..at }).unwrap();
        save(&dir, &adam, weights_of(&adam), &at).unwrap();
        let name = |p: &std::path::Path| p.file_name().unwrap().to_string_lossy().into_owned();
        let mut files: Vec<String> = std::fs::read_dir(dir.checkpoint_dir()).unwrap().map(|e| name(&e.unwrap().path())).collect();
        files.sort();
        assert_eq!(files, vec![ModelDir::checkpoint_name(20), name(&dir.checkpoint_state())], "the older checkpoint is pruned");

        let (_vs2, mut fresh) = adam_after_steps(0);
        assert_eq!(restore(&dir, &mut fresh).unwrap(), Some(at));
        assert_eq!(fresh.step, 2);
        for (a, b) in adam.params.iter().chain(&adam.m).chain(&adam.v).zip(fresh.params.iter().chain(&fresh.m).chain(&fresh.v)) {
            assert!(a.equal(b), "{a} vs {b}");
        }
        assert!(!fresh.params[0].equal(&Tensor::ones([3], (Kind::Float, Device::Cpu))), "the test can tell a restored parameter");

        // A checkpoint that lacks a tensor is refused, with its name.
        Tensor::write_safetensors(&weights_of(&adam), dir.checkpoint_file(&ModelDir::checkpoint_name(20))).unwrap();
        let e = restore(&dir, &mut fresh).unwrap_err().to_string();
        assert_eq!(e, "checkpoint lacks adam_m.x");

        discard(&dir);
        assert!(!dir.checkpoint_dir().exists());
    }
}
