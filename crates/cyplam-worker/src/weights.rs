//! Weights files (`best.safetensors`, snapshots, checkpoints): written atomically, and
//! self-contained: besides the parameters, `meta.*` tensors say how to rebuild the network and
//! undo the scaling, which is how `predict` loads one.

use crate::model::Net;
use cyplam_core::files::write_atomic_with;
use cyplam_core::spec::{Activation, Arch, ModelSpec};
use std::path::{Path, PathBuf};
use tch::{nn, Device, TchError, Tensor};

/// A weights file that cannot be written or read.
#[derive(Debug, thiserror::Error)]
pub enum WeightsError {
    #[error("writing {}: {error}", path.display())]
    Write { path: PathBuf, error: TchError },
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("reading {}: {error}", path.display())]
    Read { path: PathBuf, error: TchError },
    #[error("{}: not a cyplam weights file (no meta.* tensors)", path.display())]
    NoMeta { path: PathBuf },
    #[error("{}: lacks {name}", path.display())]
    Lacks { path: PathBuf, name: String },
    #[error("{}: {name}: {error}", path.display())]
    Load { path: PathBuf, name: String, error: TchError },
}

/// Writes named tensors to `path` as safetensors, atomically: the final name only ever holds a
/// whole file ([`write_atomic_with`]).
pub fn save(path: &Path, tensors: &[(String, Tensor)]) -> Result<(), WeightsError> {
    write_atomic_with(
        path,
        |tmp| Tensor::write_safetensors(tensors, tmp).map_err(|error| WeightsError::Write { path: tmp.to_path_buf(), error }),
        |tmp, error| WeightsError::Io { path: tmp.to_path_buf(), error },
    )
}

/// What a weights file's `meta.*` tensors say.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightsMeta {
    pub arch: Arch,
    pub activation: Activation,
    /// Mean training label per output: real label = network output * label_scale.
    pub label_scale: [f64; 2],
    /// Factor applied to the stored frame values before they enter the network.
    pub input_factor: f64,
}

impl WeightsMeta {
    /// Reads the `meta.*` tensors back; None if they are missing or malformed.
    pub fn from_tensors(tensors: &[(String, Tensor)]) -> Option<WeightsMeta> {
        let get = |name: &str| tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        let arch: Vec<i64> = Vec::<i64>::try_from(get("meta.arch")?).ok()?;
        let act: Vec<i64> = Vec::<i64>::try_from(get("meta.activation")?).ok()?;
        let ls: Vec<f64> = Vec::<f64>::try_from(get("meta.label_scale")?).ok()?;
        let inf: Vec<f64> = Vec::<f64>::try_from(get("meta.input_factor")?).ok()?;
        if arch.len() != 5 || ls.len() != 2 || inf.len() != 1 || act.len() != 1 {
            return None;
        }
        let a = Arch { wc1: arch[0] as u32, ncv1: arch[1] as u32, wc2: arch[2] as u32, ncv2: arch[3] as u32, nfc1: arch[4] as u32 };
        let activation = *Activation::ALL.get(usize::try_from(act[0]).ok()?)?;
        Some(WeightsMeta { arch: a, activation, label_scale: [ls[0], ls[1]], input_factor: inf[0] })
    }
}

/// `meta.*` tensors that describe a weights file of `spec`.
pub fn meta_tensors(spec: &ModelSpec, label_scale: [f64; 2], input_factor: f64) -> Vec<(String, Tensor)> {
    let act = Activation::ALL.iter().position(|a| *a == spec.activation).unwrap_or(0) as i64;
    vec![
        ("meta.arch".into(), Tensor::from_slice(&[spec.wc1 as i64, spec.ncv1 as i64, spec.wc2 as i64, spec.ncv2 as i64, spec.nfc1 as i64])),
        ("meta.activation".into(), Tensor::from_slice(&[act])),
        ("meta.label_scale".into(), Tensor::from_slice(&label_scale)),
        ("meta.input_factor".into(), Tensor::from_slice(&[input_factor])),
    ]
}

/// A network rebuilt from a weights file, on the CPU, frozen, without dropout.
pub struct LoadedNet {
    /// Holds the variables `net` uses.
    pub vs: nn::VarStore,
    pub net: Net,
    pub meta: WeightsMeta,
}

/// Rebuilds the network a weights file describes and fills in its parameters.
pub fn load(path: &Path) -> Result<LoadedNet, WeightsError> {
    let tensors = Tensor::read_safetensors(path).map_err(|error| WeightsError::Read { path: path.to_path_buf(), error })?;
    let meta = WeightsMeta::from_tensors(&tensors).ok_or_else(|| WeightsError::NoMeta { path: path.to_path_buf() })?;
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = Net::new(&vs.root(), meta.arch, meta.activation, 1.0);
    tch::no_grad(|| -> Result<(), WeightsError> {
        for (name, mut var) in vs.variables() {
            let t = tensors.iter().find(|(n, _)| *n == name).map(|(_, t)| t)
                .ok_or_else(|| WeightsError::Lacks { path: path.to_path_buf(), name: name.clone() })?;
            var.f_copy_(t).map_err(|error| WeightsError::Load { path: path.to_path_buf(), name, error })?;
        }
        Ok(())
    })?;
    vs.freeze();
    Ok(LoadedNet { vs, net, meta })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyplam_core::spec::*;

    fn spec() -> ModelSpec {
        ModelSpec {
            index: 0, name: "Model-000".into(), wc1: 3, ncv1: 2, wc2: 3, ncv2: 4, nfc1: 8,
            activation: Activation::Softplus, dropout_keep: 0.75, learning_rate: 1e-3, batch_size: 8,
            length: Length::Iterations(10), snapshots: 1,
            regularization: Regularization { l1: 0.0, l2: 0.0, layers: vec![] }, seed: 1,
            keep_snapshots: KeepSnapshots::None, precision: Precision::Fp32, early_stopping: None, threads: 1,
            free_params: 0,
        }
    }

    #[test]
    fn a_saved_network_loads_back_with_its_description() {
        let _rng = crate::torch_rng_lock();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let s = spec();
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&vs.root(), s.arch(), s.activation, 1.0);
        let mut tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        tensors.extend(meta_tensors(&s, [900.0, 8.5], 0.25));
        save(&path, &tensors).unwrap();
        let names: Vec<String> = std::fs::read_dir(dir.path()).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names, vec!["w.safetensors"], "no temporary file is left");

        let loaded = load(&path).unwrap();
        assert_eq!(loaded.meta, WeightsMeta { arch: s.arch(), activation: Activation::Softplus, label_scale: [900.0, 8.5], input_factor: 0.25 });
        let vars = vs.variables();
        assert!(loaded.net.fc1.ws.equal(&vars["fc1.weight"]), "the parameters are the saved ones");

        // Without the meta tensors it is not one of ours; without a parameter it is incomplete.
        let bare: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        save(&path, &bare).unwrap();
        let e = load(&path).err().unwrap().to_string();
        assert!(e.ends_with("w.safetensors: not a cyplam weights file (no meta.* tensors)"), "{e}");
        let mut partial: Vec<(String, Tensor)> = vs.variables().into_iter().filter(|(n, _)| n != "conv2.bias").collect();
        partial.extend(meta_tensors(&s, [1.0, 1.0], 1.0));
        save(&path, &partial).unwrap();
        let e = load(&path).err().unwrap().to_string();
        assert!(e.ends_with("w.safetensors: lacks conv2.bias"), "{e}");
    }
}
