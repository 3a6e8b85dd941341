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
    #[error("{}: not a safetensors file ({why})", path.display())]
    NotSafetensors { path: PathBuf, why: String },
    #[error("{}: not a cyplam weights file (no meta.* tensors)", path.display())]
    NoMeta { path: PathBuf },
    #[error("{}: {why}; not a weights file this worker wrote, or a damaged one", path.display())]
    BadMeta { path: PathBuf, why: String },
    #[error("{}: {name} has shape {found:?}, the network of meta.arch {arch} needs {want:?}", path.display())]
    Shape { path: PathBuf, name: String, arch: Arch, found: Vec<i64>, want: Vec<i64> },
    #[error("{}: {name} holds non-finite values (NaN or infinity)", path.display())]
    NonFinite { path: PathBuf, name: String },
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

/// Why a weights file's `meta.*` tensors cannot be used.
#[derive(Debug, Clone, PartialEq)]
pub enum MetaError {
    /// No `meta.*` tensors: not one of ours.
    Missing,
    /// There, but out of range or malformed: why.
    Invalid(String),
}

impl WeightsMeta {
    /// Reads the `meta.*` tensors back and checks them: a network the grid could describe (odd
    /// kernels of 1 to 27, at least one channel and neuron), a known activation, finite factors
    /// above 0.
    pub fn from_tensors(tensors: &[(String, Tensor)]) -> Result<WeightsMeta, MetaError> {
        use MetaError::Invalid;
        let get = |name: &str| tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t);
        if !tensors.iter().any(|(n, _)| n.starts_with("meta.")) {
            return Err(MetaError::Missing);
        }
        let ints = |name: &str, len: usize| -> Result<Vec<i64>, MetaError> {
            let t = get(name).ok_or_else(|| Invalid(format!("lacks {name}")))?;
            let v = Vec::<i64>::try_from(t).map_err(|_| Invalid(format!("{name} is not integers ({:?})", t.kind())))?;
            if v.len() != len {
                Err(Invalid(format!("{name} holds {} values, not {len}", v.len())))
            } else {
                Ok(v)
            }
        };
        let floats = |name: &str, len: usize| -> Result<Vec<f64>, MetaError> {
            let t = get(name).ok_or_else(|| Invalid(format!("lacks {name}")))?;
            let v = Vec::<f64>::try_from(t).map_err(|_| Invalid(format!("{name} is not numbers ({:?})", t.kind())))?;
            if v.len() != len {
                Err(Invalid(format!("{name} holds {} values, not {len}", v.len())))
            } else {
                Ok(v)
            }
        };
        let arch = ints("meta.arch", 5)?;
        let kernel = |i: usize, what: &str| -> Result<u32, MetaError> {
            let k = arch[i];
            if (1..=27).contains(&k) && k % 2 == 1 {
                Ok(k as u32)
            } else {
                Err(Invalid(format!("meta.arch {arch:?}: {what} {k} is not an odd kernel size from 1 to 27")))
            }
        };
        let count = |i: usize, what: &str| -> Result<u32, MetaError> {
            u32::try_from(arch[i])
                .ok()
                .filter(|&c| c >= 1)
                .ok_or_else(|| Invalid(format!("meta.arch {arch:?}: {what} {} is not a count from 1 to {}", arch[i], u32::MAX)))
        };
        let a = Arch { wc1: kernel(0, "wc1")?, ncv1: count(1, "ncv1")?, wc2: kernel(2, "wc2")?, ncv2: count(3, "ncv2")?, nfc1: count(4, "nfc1")? };
        let act = ints("meta.activation", 1)?[0];
        let activation = *usize::try_from(act)
            .ok()
            .and_then(|i| Activation::ALL.get(i))
            .ok_or_else(|| Invalid(format!("meta.activation {act} is not one of 0 to {}", Activation::ALL.len() - 1)))?;
        let ls = floats("meta.label_scale", 2)?;
        let inf = floats("meta.input_factor", 1)?;
        for (name, v) in [("meta.label_scale", &ls[..]), ("meta.input_factor", &inf[..])] {
            if !v.iter().all(|x| x.is_finite() && *x > 0.0) {
                return Err(Invalid(format!("{name} {v:?} is not finite and above 0")));
            }
        }
        Ok(WeightsMeta { arch: a, activation, label_scale: [ls[0], ls[1]], input_factor: inf[0] })
    }
}

/// The parameters of the network of `arch`, with their shapes (as `Net::new` names them).
pub fn parameter_shapes(arch: Arch) -> Vec<(&'static str, Vec<i64>)> {
    let (wc1, ncv1, wc2, ncv2, nfc1) = (arch.wc1 as i64, arch.ncv1 as i64, arch.wc2 as i64, arch.ncv2 as i64, arch.nfc1 as i64);
    vec![
        ("conv1.weight", vec![ncv1, 1, wc1, wc1]),
        ("conv1.bias", vec![ncv1]),
        ("conv2.weight", vec![ncv2, ncv1, wc2, wc2]),
        ("conv2.bias", vec![ncv2]),
        ("fc1.weight", vec![nfc1, 7 * 7 * ncv2]),
        ("fc1.bias", vec![nfc1]),
        ("fc2.weight", vec![2, nfc1]),
        ("fc2.bias", vec![2]),
    ]
}

/// Checks that `path` is laid out as a safetensors file (libtorch's reader says only
/// "HeaderTooLarge" of a text file).
fn check_layout(path: &Path) -> Result<(), WeightsError> {
    use std::io::Read;
    let io = |error| WeightsError::Io { path: path.to_path_buf(), error };
    let not = |why: String| WeightsError::NotSafetensors { path: path.to_path_buf(), why };
    if path.is_dir() {
        return Err(not("it is a directory".into()));
    }
    let mut f = std::fs::File::open(path).map_err(io)?;
    let file_len = f.metadata().map_err(io)?.len();
    let mut prefix = Vec::new();
    (&mut f).take(8).read_to_end(&mut prefix).map_err(io)?;
    let n = crate::safetensors::header_len(&prefix, file_len).map_err(|e| not(e.to_string()))?;
    (&mut f).take(n).read_to_end(&mut prefix).map_err(io)?;
    crate::safetensors::parse_header(&prefix, file_len).map_err(|e| not(e.to_string()))?;
    Ok(())
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

/// Rebuilds the network a weights file describes and fills in its parameters, after checking the
/// file: a safetensors layout, `meta.*` in range, every parameter of the shape `meta.arch` gives
/// and finite.
pub fn load(path: &Path) -> Result<LoadedNet, WeightsError> {
    check_layout(path)?;
    let tensors = Tensor::read_safetensors(path).map_err(|error| WeightsError::Read { path: path.to_path_buf(), error })?;
    let meta = WeightsMeta::from_tensors(&tensors).map_err(|e| match e {
        MetaError::Missing => WeightsError::NoMeta { path: path.to_path_buf() },
        MetaError::Invalid(why) => WeightsError::BadMeta { path: path.to_path_buf(), why },
    })?;
    for (name, want) in parameter_shapes(meta.arch) {
        let Some((_, t)) = tensors.iter().find(|(n, _)| n == name) else {
            return Err(WeightsError::Lacks { path: path.to_path_buf(), name: name.to_string() });
        };
        if t.size() != want {
            return Err(WeightsError::Shape { path: path.to_path_buf(), name: name.to_string(), arch: meta.arch, found: t.size(), want });
        }
        let finite = t.f_isfinite().and_then(|f| f.f_all()).and_then(bool::try_from).map_err(|error| WeightsError::Load {
            path: path.to_path_buf(),
            name: name.to_string(),
            error,
        })?;
        if !finite {
            return Err(WeightsError::NonFinite { path: path.to_path_buf(), name: name.to_string() });
        }
    }
    let mut vs = nn::VarStore::new(Device::Cpu);
    let net = Net::new(&vs.root(), meta.arch, meta.activation, 1.0);
    tch::no_grad(|| -> Result<(), WeightsError> {
        for (name, mut var) in vs.variables() {
            let t =
                tensors.iter().find(|(n, _)| *n == name).map(|(_, t)| t).ok_or_else(|| WeightsError::Lacks { path: path.to_path_buf(), name: name.clone() })?;
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
            index: 0,
            name: "Model-000".into(),
            wc1: 3,
            ncv1: 2,
            wc2: 3,
            ncv2: 4,
            nfc1: 8,
            activation: Activation::Softplus,
            dropout_keep: 0.75,
            learning_rate: 1e-3,
            batch_size: 8,
            length: Length::Iterations(10),
            snapshots: 1,
            regularization: Regularization { l1: 0.0, l2: 0.0, layers: vec![] },
            seed: 1,
            keep_snapshots: KeepSnapshots::None,
            precision: Precision::Fp32,
            early_stopping: None,
            threads: 1,
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

    /// Saves the network of `s` with `meta`, after `edit` has changed the tensors.
    fn saved(path: &Path, s: &ModelSpec, edit: impl FnOnce(&mut Vec<(String, Tensor)>)) -> String {
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&vs.root(), s.arch(), s.activation, 1.0);
        let mut tensors: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        tensors.extend(meta_tensors(s, [900.0, 8.5], 0.25));
        edit(&mut tensors);
        save(path, &tensors).unwrap();
        match load(path) {
            Ok(_) => "loaded".into(),
            Err(e) => e.to_string(),
        }
    }

    fn set(tensors: &mut [(String, Tensor)], name: &str, t: Tensor) {
        tensors.iter_mut().find(|(n, _)| n == name).unwrap().1 = t;
    }

    #[test]
    fn a_weights_file_is_checked_before_it_is_used() {
        let _rng = crate::torch_rng_lock();
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let name = path.display().to_string();
        let s = spec();
        assert_eq!(saved(&path, &s, |_| {}), "loaded");

        // Not a safetensors file at all: a CSV given as weights.
        std::fs::write(&path, "frame,laser_power,process_speed\n0,812.5,9.75\n").unwrap();
        let e = load(&path).err().unwrap().to_string();
        assert!(e.starts_with(&format!("{name}: not a safetensors file (its first 8 bytes announce a header of ")), "{e}");
        assert!(!e.contains("HeaderTooLarge"), "{e}");
        std::fs::write(&path, "").unwrap();
        assert_eq!(load(&path).err().unwrap().to_string(), format!("{name}: not a safetensors file (0 bytes, shorter than a safetensors header)"));

        // meta.* out of range.
        let e = saved(&path, &s, |t| set(t, "meta.arch", Tensor::from_slice(&[4i64, 2, 3, 4, 8])));
        assert_eq!(
            e,
            format!("{name}: meta.arch [4, 2, 3, 4, 8]: wc1 4 is not an odd kernel size from 1 to 27; not a weights file this worker wrote, or a damaged one")
        );
        let e = saved(&path, &s, |t| set(t, "meta.arch", Tensor::from_slice(&[3i64, 2, 3, 4, -8])));
        assert!(e.contains("meta.arch [3, 2, 3, 4, -8]: nfc1 -8 is not a count from 1 to 4294967295"), "{e}");
        let e = saved(&path, &s, |t| set(t, "meta.activation", Tensor::from_slice(&[9i64])));
        assert!(e.contains("meta.activation 9 is not one of 0 to 3"), "{e}");
        let e = saved(&path, &s, |t| set(t, "meta.label_scale", Tensor::from_slice(&[f64::NAN, 8.5])));
        assert!(e.contains("meta.label_scale [NaN, 8.5] is not finite and above 0"), "{e}");
        let e = saved(&path, &s, |t| set(t, "meta.input_factor", Tensor::from_slice(&[0.0f64])));
        assert!(e.contains("meta.input_factor [0.0] is not finite and above 0"), "{e}");
        let e = saved(&path, &s, |t| t.retain(|(n, _)| n != "meta.input_factor"));
        assert!(e.contains("lacks meta.input_factor"), "{e}");

        // Tensors of another network than meta.arch says.
        let e = saved(&path, &s, |t| set(t, "meta.arch", Tensor::from_slice(&[3i64, 2, 3, 4, 16])));
        assert_eq!(e, format!("{name}: fc1.weight has shape [8, 196], the network of meta.arch 3-2-3-4-16 needs [16, 196]"));

        // A parameter that is not finite.
        let e = saved(&path, &s, |t| {
            let w = t.iter().find(|(n, _)| n == "fc2.bias").unwrap().1.copy();
            let _ = w.get(1).fill_(f64::INFINITY);
            set(t, "fc2.bias", w);
        });
        assert_eq!(e, format!("{name}: fc2.bias holds non-finite values (NaN or infinity)"));
    }
}
