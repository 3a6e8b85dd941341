//! What a valid grid file says: the catalogue of model settings (`SETTINGS`) and the checks of
//! their values as they accumulate from `[settings]` and the axes (`Partial`), the defaults that
//! resolve them into a `ModelSpec`, the sweep name, and the `[data]`, `[slurm]` and `[output]`
//! tables.

use super::raw::{RawData, RawHalving, RawOutput, RawSettings, RawSlurm};
use super::{Ctx, DataConfig, GridError, InputScale, OutputConfig, SlurmConfig};
use crate::spec::{
    Activation, Arch, EarlyStopping, KeepSnapshots, Layer, Length, ModelSpec, ParseSettingError, Precision,
    Regularization,
};
use crate::halving::settings::{Halving, HalvingError};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use toml::Spanned;

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

/// A sweep name that cannot be a directory and a Slurm job name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SweepNameError {
    #[error("the sweep name is empty")]
    Empty,
    #[error("sweep name {0:?} is not allowed: it must not start with `.` or `-`")]
    BadStart(String),
    #[error("sweep name {name:?} contains {c:?}; use letters, digits, `.`, `_`, `-` only")]
    BadChar { name: String, c: char },
    #[error("sweep name is {0} characters long; at most 100")]
    TooLong(usize),
}

/// A value that cannot stand on an `#SBATCH` line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SbatchValueError {
    #[error("the value is empty")]
    Empty,
    #[error("{value:?} contains {c:?}; #SBATCH values may hold letters, digits and _ . , : = + - / @ [ ] * & | ! % only")]
    BadChar { value: String, c: char },
}

/// A sweep name becomes a directory and a Slurm job name: letters, digits, `.`, `_`, `-` only.
pub fn check_sweep_name(name: &str) -> Result<(), SweepNameError> {
    if name.is_empty() {
        return Err(SweepNameError::Empty);
    }
    if name == "." || name == ".." || name.starts_with('-') || name.starts_with('.') {
        return Err(SweepNameError::BadStart(name.to_string()));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(SweepNameError::BadChar { name: name.to_string(), c });
    }
    if name.len() > 100 {
        return Err(SweepNameError::TooLong(name.len()));
    }
    Ok(())
}

/// The sweep's name: `name`, else the grid file's stem.
pub(super) fn sweep_name(cx: &Ctx, name: Option<&Spanned<String>>) -> Result<String, GridError> {
    match name {
        Some(n) => {
            check_sweep_name(n.get_ref()).map_err(|m| cx.err(Some(n.span()), Some("name"), m))?;
            Ok(n.get_ref().clone())
        }
        None => {
            let stem = cx.path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            check_sweep_name(stem).map_err(|m| {
                cx.err(None, Some("name"), format!("the sweep is named after the file ({stem:?}) when `name` is not set: {m}"))
            })?;
            Ok(stem.to_string())
        }
    }
}

pub(super) fn parse_data(cx: &Ctx, d: &RawData) -> Result<DataConfig, GridError> {
    let base = cx.path.parent().unwrap_or(Path::new("."));
    let resolve = |s: &Spanned<String>, key: &str| -> Result<PathBuf, GridError> {
        if s.get_ref().is_empty() {
            return Err(cx.err(Some(s.span()), Some(key), "the path is empty"));
        }
        let p = PathBuf::from(s.get_ref());
        Ok(if p.is_absolute() { p } else { base.join(p) })
    };
    let train = resolve(&d.train, "data.train")?;
    let input_scale = match &d.input_scale {
        // Unset: what the training set records (an imported ConvLMD set: 1/255), else max.
        None => match crate::data::read_meta(&train) {
            Ok(Some(crate::data::DatasetMeta { input_scale: Some(f), .. })) => InputScale::Factor(f),
            Ok(_) => InputScale::Max,
            Err(e) => return Err(cx.err(Some(d.train.span()), Some("data.train"), e.to_string())),
        },
        Some(v) => match v.get_ref() {
            toml::Value::String(s) if s == "max" => InputScale::Max,
            toml::Value::String(s) if s == "none" => InputScale::None,
            toml::Value::Float(f) if f.is_finite() && *f > 0.0 => InputScale::Factor(*f),
            toml::Value::Integer(i) if *i > 0 => InputScale::Factor(*i as f64),
            other => return Err(cx.err(Some(v.span()), Some("data.input_scale"), format!(
                "invalid value {other}; valid: \"max\" (divide by the training set's largest value), \"none\", or a factor > 0 such as 0.0009765625"))),
        },
    };
    Ok(DataConfig {
        train,
        validation: resolve(&d.validation, "data.validation")?,
        input_scale,
        validation_is_train: d.validation_is_train.unwrap_or(false),
    })
}

/// Characters allowed in values that land on `#SBATCH` lines (sbatch parses them, not a shell).
fn check_sbatch_value(v: &str) -> Result<(), SbatchValueError> {
    if v.is_empty() {
        return Err(SbatchValueError::Empty);
    }
    if let Some(c) = v.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.,:=+-/@[]*&|!%".contains(*c))) {
        return Err(SbatchValueError::BadChar { value: v.to_string(), c });
    }
    Ok(())
}

pub(super) fn parse_slurm(cx: &Ctx, s: &RawSlurm) -> Result<SlurmConfig, GridError> {
    let mut out = SlurmConfig::default();
    let pos = |v: &Spanned<i64>, key: &str, min: i64| -> Result<u32, GridError> {
        let x = *v.get_ref();
        if x < min || x > u32::MAX as i64 {
            return Err(cx.err(Some(v.span()), Some(key), format!("{x} is out of range; give an integer >= {min}")));
        }
        Ok(x as u32)
    };
    if let Some(v) = &s.trainings_per_node {
        out.trainings_per_node = pos(v, "slurm.trainings_per_node", 1)?;
    }
    if let Some(v) = &s.cpus_per_training {
        out.cpus_per_training = pos(v, "slurm.cpus_per_training", 1)?;
    }
    if let Some(v) = &s.throttle {
        out.throttle = Some(pos(v, "slurm.throttle", 1)?);
    }
    if let Some(v) = &s.signal_lead_seconds {
        out.signal_lead_seconds = pos(v, "slurm.signal_lead_seconds", 1)?;
    }
    if let Some(v) = &s.max_requeues {
        out.max_requeues = pos(v, "slurm.max_requeues", 0)?;
    }
    let text = |v: &Option<Spanned<String>>, key: &str| -> Result<Option<String>, GridError> {
        match v {
            None => Ok(None),
            Some(v) => {
                check_sbatch_value(v.get_ref()).map_err(|m| cx.err(Some(v.span()), Some(key), m))?;
                Ok(Some(v.get_ref().clone()))
            }
        }
    };
    out.partition = text(&s.partition, "slurm.partition")?;
    out.account = text(&s.account, "slurm.account")?;
    out.qos = text(&s.qos, "slurm.qos")?;
    out.time = text(&s.time, "slurm.time")?;
    if let (Some(t), Some(v)) = (&out.time, &s.time) {
        if crate::memory::parse_slurm_time(t).is_err() {
            return Err(cx.err(Some(v.span()), Some("slurm.time"), format!(
                "{t:?} is not a time Slurm reads; valid: MINUTES, MINUTES:SECONDS, HOURS:MINUTES:SECONDS, DAYS-HOURS, DAYS-HOURS:MINUTES, DAYS-HOURS:MINUTES:SECONDS (\"3-00:00:00\") or UNLIMITED")));
        }
    }
    out.mem = text(&s.mem, "slurm.mem")?;
    if let (Some(m), Some(v)) = (&out.mem, &s.mem) {
        if crate::memory::parse_slurm_mem(m).is_none() {
            return Err(cx.err(Some(v.span()), Some("slurm.mem"), format!(
                "{m:?} is not a memory size Slurm reads; valid: a whole number with an optional unit K, M, G or T, such as \"20G\" or \"4096\" (megabytes)")));
        }
    }
    out.constraint = text(&s.constraint, "slurm.constraint")?;
    out.gres = text(&s.gres, "slurm.gres")?;
    for e in s.extra.iter().flatten() {
        let v = e.get_ref();
        if !v.starts_with('-') {
            return Err(cx.err(Some(e.span()), Some("slurm.extra"), format!(
                "{v:?} is not an sbatch option; write options such as \"--exclusive\" or \"--gres=gpu:1\"")));
        }
        check_sbatch_value(v).map_err(|m| cx.err(Some(e.span()), Some("slurm.extra"), m))?;
        out.extra.push(v.clone());
    }
    for l in s.setup.iter().flatten() {
        if l.get_ref().contains(['\n', '\r', '\0']) {
            return Err(cx.err(Some(l.span()), Some("slurm.setup"),
                "each set-up entry is one shell line; split it into several entries"));
        }
        out.setup.push(l.get_ref().clone());
    }
    Ok(out)
}

pub(super) fn parse_output(o: Option<&RawOutput>) -> OutputConfig {
    OutputConfig { tensorboard: o.and_then(|o| o.tensorboard).unwrap_or(false) }
}

/// `[halving]`: `eta` (default 4), `rungs` (default 3), checked by [`Halving::with`], and the
/// promotion rule: `promote = "noise"` (default; `noise`, `cap`, `axes`) or `"rank"`.
pub(super) fn parse_halving(cx: &Ctx, h: Option<&Spanned<RawHalving>>) -> Result<Option<Halving>, GridError> {
    use crate::halving::settings::{Promotion, DEFAULT_AXES, DEFAULT_CAP, DEFAULT_CURVE, DEFAULT_ETA, DEFAULT_NOISE, DEFAULT_RUNGS};
    let Some(h) = h else { return Ok(None) };
    let raw = h.get_ref();
    let get = |v: &Option<Spanned<i64>>, key: &str, default: u32| -> Result<u32, GridError> {
        match v {
            None => Ok(default),
            Some(v) => u32::try_from(*v.get_ref())
                .map_err(|_| cx.err(Some(v.span()), Some(key), format!("{} is out of range; valid: {}", v.get_ref(), if key == "halving.eta" { "2 or more" } else { "1 to 16" }))),
        }
    };
    let number = |v: &Option<Spanned<toml::Value>>, key: &str, default: f64| -> Result<f64, GridError> {
        match v {
            None => Ok(default),
            Some(v) => match v.get_ref() {
                toml::Value::Float(f) => Ok(*f),
                toml::Value::Integer(i) => Ok(*i as f64),
                other => Err(cx.err(Some(v.span()), Some(key), format!("{other} is not a number; valid: a number, e.g. {default}"))),
            },
        }
    };
    let eta = get(&raw.eta, "halving.eta", DEFAULT_ETA)?;
    let rungs = get(&raw.rungs, "halving.rungs", DEFAULT_RUNGS)?;
    let rule = raw.promote.as_ref().map(|p| p.get_ref().as_str()).unwrap_or("noise");
    let noise_keys = [("halving.noise", &raw.noise), ("halving.cap", &raw.cap), ("halving.axes", &raw.axes), ("halving.curve", &raw.curve)];
    let promotion = match rule {
        "noise" => {
            let noise = number(&raw.noise, "halving.noise", DEFAULT_NOISE)?;
            let cap = number(&raw.cap, "halving.cap", DEFAULT_CAP)?;
            let axes = number(&raw.axes, "halving.axes", DEFAULT_AXES)?;
            let curve = number(&raw.curve, "halving.curve", DEFAULT_CURVE)?;
            Promotion::noise(noise, cap, axes).and_then(|p| p.with_curve(curve)).map_err(|e| {
                let (key, v) = match e {
                    HalvingError::Noise(_) => noise_keys[0],
                    HalvingError::Cap(_) => noise_keys[1],
                    HalvingError::Curve(_) => noise_keys[3],
                    _ => noise_keys[2],
                };
                cx.err(v.as_ref().map(|v| v.span()).or(Some(h.span())), Some(key), e)
            })?
        }
        "rank" => {
            if let Some((key, Some(v))) = noise_keys.iter().find(|(_, v)| v.is_some()) {
                return Err(cx.err(Some(v.span()), Some(key), "applies to promote = \"noise\" only; this table says promote = \"rank\" (the best ceil(n/eta), no ties)"));
            }
            Promotion::Rank
        }
        other => {
            let span = raw.promote.as_ref().map(|p| p.span());
            return Err(cx.err(span, Some("halving.promote"), format!("\"{other}\" is not a promotion rule; valid: \"noise\" (the default: ties within noise of the cutoff go on) or \"rank\" (the best ceil(n/eta) only)")));
        }
    };
    Halving::with(eta, rungs, promotion).map(Some).map_err(|e| {
        let (span, key) = match e {
            HalvingError::Eta(_) => (raw.eta.as_ref().map(|v| v.span()), "halving.eta"),
            _ => (raw.rungs.as_ref().map(|v| v.span()), "halving.rungs"),
        };
        cx.err(span.or(Some(h.span())), Some(key), e)
    })
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
    let defaults = EarlyStopping { patience: EarlyStopping::DEFAULT_PATIENCE, min_delta: 0.0, noise: EarlyStopping::DEFAULT_NOISE, drop: EarlyStopping::DEFAULT_DROP };
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
    if !(noise >= 0.0 && noise <= 100.0) {
        return Err(SettingError::MinDelta { key: "noise", value: noise, valid: what });
    }
    let drop = match t.get("drop") {
        Some(d) => float(d, what)?,
        None => defaults.drop,
    };
    if !(drop >= 0.0 && drop <= 100.0) {
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
        m!(wc1, ncv1, wc2, ncv2, nfc1, activation, dropout_keep, learning_rate, batch_size,
           iterations, epochs, snapshots, l1, l2, reg_layers, seed, keep_snapshots, threads,
           precision, early_stopping);
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
