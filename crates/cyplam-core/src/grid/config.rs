//! What a valid grid file says of its models: the catalogue of model settings (`SETTINGS`) and
//! the checks of their values as they accumulate from `[settings]` and the axes (`Partial`), and
//! the defaults that resolve them into a `ModelSpec`. The other tables are `tables.rs`'s.

use super::raw::RawSettings;
use super::{Ctx, GridError, SlurmConfig};
use crate::spec::{Activation, Arch, EarlyStopping, KeepSnapshots, Layer, Length, ModelSpec, ParseSettingError, Precision, Regularization};
use std::collections::BTreeMap;

/// Every setting a model has, with what a valid value is.
pub const SETTINGS: &[(&str, &str)] = &[
    ("wc1", "odd kernel size of conv1, 1 to 27"),
    ("ncv1", "number of conv1 filters, at least 1"),
    ("wc2", "odd kernel size of conv2, 1 to 27"),
    ("ncv2", "number of conv2 filters, at least 1"),
    ("nfc1", "neurons of fc1, at least 1"),
    ("activation", "\"relu\", \"elu\", \"softplus\" or \"sigmoid\" (default \"relu\")"),
    ("dropout_keep", "fraction of fc1 kept by dropout, in (0, 1] (default 0.75)"),
    ("learning_rate", "Adam's learning rate, > 0 (default 1e-5)"),
    ("batch_size", "frames per training batch, at least 1 (default 128)"),
    ("iterations", "training iterations, at least 1 (or give epochs)"),
    ("epochs", "training epochs of floor(frames / batch_size) iterations (default 1200)"),
    ("snapshots", "evenly spaced snapshots, 1 to iterations (default 200)"),
    ("l1", "L1 lambda, >= 0 (default 0)"),
    ("l2", "L2 lambda, >= 0 (default 0)"),
    ("reg_layers", "layers regularized: a list of \"conv1\", \"conv2\", \"fc1\", \"fc2\" (default [\"fc1\"])"),
    ("seed", "random seed, an integer >= 0 (default 0)"),
    ("keep_snapshots", "\"all\", \"best\" or \"none\" (default \"all\")"),
    ("threads", "threads when neither --threads nor Slurm says (default: cpus_per_training)"),
    ("precision", "\"fp32\" or \"bf16\" (bf16 compute, fp32 weights and Adam state; default \"fp32\")"),
    ("early_stopping", "true (the defaults), false, or a table { patience = snapshots >= 1 (default 15), noise = a rise must exceed this many times the curve's jitter, 0 to 100 (default 0), drop = stop only once the last patience snapshots average this many jitters below the best, 0 to 100 (default 0), min_delta = Accuracy20% >= 0 (default 0) } (default: off)"),
];

pub(super) fn setting_names() -> String {
    SETTINGS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// Canonical name of a setting key (`layers` is accepted for `reg_layers`).
pub(super) fn canonical(key: &str) -> Option<&'static str> {
    let key = if key == "layers" { "reg_layers" } else { key };
    SETTINGS.iter().map(|(k, _)| *k).find(|k| *k == key)
}

/// A value of one setting that is not valid; [`GridError`] adds the file, the line and the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SettingError {
    #[error("unknown setting; valid settings: {}", setting_names())]
    Unknown,
    #[error("expected {expected}, found {found}; valid: {valid}")]
    WrongType { expected: &'static str, found: String, valid: &'static str },
    #[error("{value} is out of range; valid: {valid}")]
    OutOfRange { value: String, valid: &'static str },
    #[error("kernel size {size} is out of range; valid: {valid}")]
    KernelOutOfRange { size: i64, valid: &'static str },
    #[error("kernel size {size} is even; \"same\" padding needs an odd size; valid: {valid}")]
    EvenKernel { size: i64, valid: &'static str },
    #[error(transparent)]
    Name(#[from] ParseSettingError),
    #[error("unknown key `{key}` in early_stopping; valid: patience, noise, drop, min_delta")]
    EarlyStoppingKey { key: String },
    #[error("early_stopping.{key} {value} is out of range; valid: {valid}")]
    MinDelta { key: &'static str, value: f64, valid: &'static str },
}

impl SettingError {
    fn wrong_type(expected: &'static str, v: &toml::Value, valid: &'static str) -> Self {
        SettingError::WrongType { expected, found: format!("{} {v}", v.type_str()), valid }
    }
    fn out_of_range(value: impl ToString, valid: &'static str) -> Self {
        SettingError::OutOfRange { value: value.to_string(), valid }
    }
}

/// Settings of one model that do not make a model together (or lack one that has no default).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ModelError {
    #[error("`{0}` is not set; give it in [settings] or as an axis in [grid]")]
    NotSet(&'static str),
    #[error("both `iterations` and `epochs` are set; give one")]
    IterationsAndEpochs,
    #[error("{snapshots} snapshots over {iterations} iterations; snapshots must be at most iterations")]
    TooManySnapshots { snapshots: u32, iterations: u64 },
    #[error("`reg_layers` is empty but l1 or l2 is set; name the layers to regularize")]
    NoRegLayers,
}

/// Where each setting was set (`[settings]` or an axis, and the line), so that a setting set twice
/// names both places.
pub(super) type Origins = BTreeMap<&'static str, (String, usize)>;

/// The `[settings]` table: the values every model starts from.
pub(super) fn fixed_settings(cx: &Ctx, settings: Option<&RawSettings>, origins: &mut Origins) -> Result<Partial, GridError> {
    let mut fixed = Partial::default();
    for (key, value) in settings.into_iter().flatten() {
        let line = cx.line(value.span());
        let path = format!("settings.{key}");
        let k = canonical(key).ok_or_else(|| cx.err(Some(value.span()), Some(&path), SettingError::Unknown))?;
        if let Some((by, at)) = origins.get(k) {
            return Err(cx.err(Some(value.span()), Some(&path), format!("`{k}` is set twice: also by {by} at line {at}")));
        }
        fixed.set(k, value.get_ref()).map_err(|m| cx.err(Some(value.span()), Some(&path), m))?;
        origins.insert(k, ("[settings]".into(), line));
    }
    Ok(fixed)
}

// ---------------------------------------------------------------------------------------------
// Settings as they accumulate from [settings] and the axes.

#[derive(Debug, Clone, Default, PartialEq)]
pub(super) struct Partial {
    wc1: Option<u32>,
    ncv1: Option<u32>,
    wc2: Option<u32>,
    ncv2: Option<u32>,
    nfc1: Option<u32>,
    activation: Option<Activation>,
    dropout_keep: Option<f64>,
    learning_rate: Option<f64>,
    batch_size: Option<u32>,
    iterations: Option<u64>,
    epochs: Option<u64>,
    snapshots: Option<u32>,
    l1: Option<f64>,
    l2: Option<f64>,
    reg_layers: Option<Vec<Layer>>,
    seed: Option<u64>,
    keep_snapshots: Option<KeepSnapshots>,
    threads: Option<u32>,
    precision: Option<Precision>,
    /// `Some(None)`: set to off (`early_stopping = false`).
    early_stopping: Option<Option<EarlyStopping>>,
}

fn int(v: &toml::Value, min: i64, max: i64, what: &'static str) -> Result<i64, SettingError> {
    match v {
        toml::Value::Integer(i) if *i >= min && *i <= max => Ok(*i),
        toml::Value::Integer(i) => Err(SettingError::out_of_range(i, what)),
        other => Err(SettingError::wrong_type("an integer", other, what)),
    }
}

fn float(v: &toml::Value, what: &'static str) -> Result<f64, SettingError> {
    match v {
        toml::Value::Float(f) => Ok(*f),
        toml::Value::Integer(i) => Ok(*i as f64),
        other => Err(SettingError::wrong_type("a number", other, what)),
    }
}

fn string<'a>(v: &'a toml::Value, what: &'static str) -> Result<&'a str, SettingError> {
    v.as_str().ok_or_else(|| SettingError::wrong_type("a string", v, what))
}

fn kernel(v: &toml::Value, what: &'static str) -> Result<u32, SettingError> {
    let k = int(v, i64::MIN, i64::MAX, what)?;
    if !(1..=27).contains(&k) {
        return Err(SettingError::KernelOutOfRange { size: k, valid: what });
    }
    if k % 2 == 0 {
        return Err(SettingError::EvenKernel { size: k, valid: what });
    }
    Ok(k as u32)
}

/// A fraction or rate that must satisfy `ok`.
fn checked_float(v: &toml::Value, what: &'static str, ok: impl Fn(f64) -> bool) -> Result<f64, SettingError> {
    let x = float(v, what)?;
    if !ok(x) {
        return Err(SettingError::out_of_range(x, what));
    }
    Ok(x)
}

fn early_stopping(v: &toml::Value, what: &'static str) -> Result<Option<EarlyStopping>, SettingError> {
    let defaults =
        EarlyStopping { patience: EarlyStopping::DEFAULT_PATIENCE, min_delta: 0.0, noise: EarlyStopping::DEFAULT_NOISE, drop: EarlyStopping::DEFAULT_DROP };
    if let Some(on) = v.as_bool() {
        return Ok(on.then_some(defaults));
    }
    let t = v.as_table().ok_or_else(|| SettingError::wrong_type("true, false or a table", v, what))?;
    if let Some(k) = t.keys().find(|k| !["patience", "min_delta", "noise", "drop"].contains(&k.as_str())) {
        return Err(SettingError::EarlyStoppingKey { key: k.clone() });
    }
    let patience = match t.get("patience") {
        Some(p) => int(p, 1, u32::MAX as i64, what)? as u32,
        None => defaults.patience,
    };
    let min_delta = match t.get("min_delta") {
        Some(d) => float(d, what)?,
        None => 0.0,
    };
    if !(min_delta >= 0.0 && min_delta.is_finite()) {
        return Err(SettingError::MinDelta { key: "min_delta", value: min_delta, valid: what });
    }
    let noise = match t.get("noise") {
        Some(d) => float(d, what)?,
        None => defaults.noise,
    };
    if !(0.0..=100.0).contains(&noise) {
        return Err(SettingError::MinDelta { key: "noise", value: noise, valid: what });
    }
    let drop = match t.get("drop") {
        Some(d) => float(d, what)?,
        None => defaults.drop,
    };
    if !(0.0..=100.0).contains(&drop) {
        return Err(SettingError::MinDelta { key: "drop", value: drop, valid: what });
    }
    Ok(Some(EarlyStopping { patience, min_delta, noise, drop }))
}

fn reg_layers(v: &toml::Value, what: &'static str) -> Result<Vec<Layer>, SettingError> {
    let arr = v.as_array().ok_or_else(|| SettingError::wrong_type("a list", v, what))?;
    let mut layers = Vec::new();
    for item in arr {
        let l: Layer = string(item, what)?.parse()?;
        if !layers.contains(&l) {
            layers.push(l);
        }
    }
    layers.sort();
    Ok(layers)
}

impl Partial {
    /// Sets `key` (a canonical name) to `v`, checked.
    pub fn set(&mut self, key: &'static str, v: &toml::Value) -> Result<(), SettingError> {
        let what = SETTINGS.iter().find(|(k, _)| *k == key).map(|(_, w)| *w).unwrap_or("");
        let pos32 = |v| int(v, 1, u32::MAX as i64, what).map(|x| x as u32);
        match key {
            "wc1" => self.wc1 = Some(kernel(v, what)?),
            "wc2" => self.wc2 = Some(kernel(v, what)?),
            "ncv1" => self.ncv1 = Some(pos32(v)?),
            "ncv2" => self.ncv2 = Some(pos32(v)?),
            "nfc1" => self.nfc1 = Some(pos32(v)?),
            "activation" => self.activation = Some(string(v, what)?.parse()?),
            "dropout_keep" => self.dropout_keep = Some(checked_float(v, what, |x| x > 0.0 && x <= 1.0)?),
            "learning_rate" => self.learning_rate = Some(checked_float(v, what, |x| x > 0.0 && x.is_finite())?),
            "batch_size" => self.batch_size = Some(pos32(v)?),
            "iterations" => self.iterations = Some(int(v, 1, i64::MAX, what)? as u64),
            "epochs" => self.epochs = Some(int(v, 1, i64::MAX, what)? as u64),
            "snapshots" => self.snapshots = Some(pos32(v)?),
            "l1" => self.l1 = Some(checked_float(v, what, |x| x >= 0.0 && x.is_finite())?),
            "l2" => self.l2 = Some(checked_float(v, what, |x| x >= 0.0 && x.is_finite())?),
            "reg_layers" => self.reg_layers = Some(reg_layers(v, what)?),
            "seed" => self.seed = Some(int(v, 0, i64::MAX, what)? as u64),
            "keep_snapshots" => self.keep_snapshots = Some(string(v, what)?.parse()?),
            "threads" => self.threads = Some(pos32(v)?),
            "precision" => self.precision = Some(string(v, what)?.parse()?),
            "early_stopping" => self.early_stopping = Some(early_stopping(v, what)?),
            _ => return Err(SettingError::Unknown),
        }
        Ok(())
    }

    /// Takes every setting `o` sets.
    pub fn merge(&mut self, o: &Partial) {
        macro_rules! m { ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* } }
        m!(
            wc1,
            ncv1,
            wc2,
            ncv2,
            nfc1,
            activation,
            dropout_keep,
            learning_rate,
            batch_size,
            iterations,
            epochs,
            snapshots,
            l1,
            l2,
            reg_layers,
            seed,
            keep_snapshots,
            threads,
            precision,
            early_stopping
        );
    }

    /// The model these settings describe, every default filled in.
    pub fn resolve(&self, index: usize, name: String, slurm: &SlurmConfig) -> Result<ModelSpec, ModelError> {
        let need = |v: Option<u32>, k: &'static str| v.ok_or(ModelError::NotSet(k));
        let arch = Arch {
            wc1: need(self.wc1, "wc1")?,
            ncv1: need(self.ncv1, "ncv1")?,
            wc2: need(self.wc2, "wc2")?,
            ncv2: need(self.ncv2, "ncv2")?,
            nfc1: need(self.nfc1, "nfc1")?,
        };
        let length = match (self.iterations, self.epochs) {
            (Some(_), Some(_)) => return Err(ModelError::IterationsAndEpochs),
            (Some(i), None) => Length::Iterations(i),
            (None, Some(e)) => Length::Epochs(e),
            (None, None) => Length::Epochs(1200),
        };
        let snapshots = self.snapshots.unwrap_or(200);
        if let Length::Iterations(i) = length {
            if snapshots as u64 > i {
                return Err(ModelError::TooManySnapshots { snapshots, iterations: i });
            }
        }
        let l1 = self.l1.unwrap_or(0.0);
        let l2 = self.l2.unwrap_or(0.0);
        let layers = self.reg_layers.clone().unwrap_or_else(|| vec![Layer::Fc1]);
        if (l1 != 0.0 || l2 != 0.0) && layers.is_empty() {
            return Err(ModelError::NoRegLayers);
        }
        Ok(ModelSpec {
            index,
            name,
            wc1: arch.wc1,
            ncv1: arch.ncv1,
            wc2: arch.wc2,
            ncv2: arch.ncv2,
            nfc1: arch.nfc1,
            activation: self.activation.unwrap_or(Activation::Relu),
            dropout_keep: self.dropout_keep.unwrap_or(0.75),
            learning_rate: self.learning_rate.unwrap_or(1e-5),
            batch_size: self.batch_size.unwrap_or(128),
            length,
            snapshots,
            regularization: Regularization { l1, l2, layers },
            seed: self.seed.unwrap_or(0),
            keep_snapshots: self.keep_snapshots.unwrap_or(KeepSnapshots::All),
            precision: self.precision.unwrap_or_default(),
            early_stopping: self.early_stopping.flatten(),
            threads: self.threads.unwrap_or(slurm.cpus_per_training),
            free_params: arch.free_params(),
        })
    }
}
