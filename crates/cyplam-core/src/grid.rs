//! Grid files: parsing, validation and expansion of a hyper-parameter table into the model list.
//!
//! A grid file has a `[settings]` table of fixed values and a `[grid]` table of axes. Axes expand in
//! the order they are written, the first outermost and the last fastest. An axis is either a list of
//! values of one setting (`nfc1 = [128, 256]`) or a list of inline tables that set several settings
//! at once (`architecture = [{wc1 = 5, ncv1 = 8}, ...]`). The format is documented in docs/grid.md.

use crate::spec::{
    model_name, Activation, Arch, EarlyStopping, KeepSnapshots, Layer, Length, ModelSpec, Precision,
    Regularization,
};
use indexmap::IndexMap;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
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
    ("early_stopping", "a table { patience = snapshots >= 1, min_delta = Accuracy20% >= 0 (default 0) } (default: off)"),
];

fn setting_names() -> String {
    SETTINGS.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
}

/// Canonical name of a setting key (`layers` is accepted for `reg_layers`).
fn canonical(key: &str) -> Option<&'static str> {
    let key = if key == "layers" { "reg_layers" } else { key };
    SETTINGS.iter().map(|(k, _)| *k).find(|k| *k == key)
}

/// An error in a grid file, naming the file, the line (and column) and the key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub struct GridError {
    pub path: PathBuf,
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub key: Option<String>,
    pub message: String,
}

impl fmt::Display for GridError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.path.display())?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(col) = self.column {
                write!(f, ":{col}")?;
            }
        }
        write!(f, ": ")?;
        if let Some(key) = &self.key {
            write!(f, "key `{key}`: ")?;
        }
        f.write_str(&self.message)
    }
}

/// How frame values are scaled before they enter the network.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InputScale {
    /// As stored.
    None,
    /// Divided by the largest value of the training frames.
    Max,
    /// Multiplied by a factor.
    Factor(f64),
}

impl InputScale {
    pub fn label(&self) -> String {
        match self {
            InputScale::None => "none".into(),
            InputScale::Max => "max".into(),
            InputScale::Factor(f) => f.to_string(),
        }
    }
}

/// Where the training and validation sets are.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DataConfig {
    pub train: PathBuf,
    pub validation: PathBuf,
    pub input_scale: InputScale,
}

/// How a sweep is packed onto Slurm nodes, and what the sbatch script asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SlurmConfig {
    pub trainings_per_node: u32,
    pub cpus_per_training: u32,
    pub partition: Option<String>,
    pub account: Option<String>,
    pub qos: Option<String>,
    pub time: Option<String>,
    pub mem: Option<String>,
    pub constraint: Option<String>,
    pub gres: Option<String>,
    /// Extra `#SBATCH` options, one option each (`--exclusive`).
    pub extra: Vec<String>,
    /// Shell lines run before the workers (`module load ...`): code, by design.
    pub setup: Vec<String>,
    /// At most this many array tasks at once (`%N`).
    pub throttle: Option<u32>,
    /// Seconds before the time limit at which Slurm sends USR1 to the workers.
    pub signal_lead_seconds: u32,
    /// How often one array task may be requeued after a preemption.
    pub max_requeues: u32,
}

impl Default for SlurmConfig {
    fn default() -> Self {
        SlurmConfig {
            trainings_per_node: 2,
            cpus_per_training: 12,
            partition: None,
            account: None,
            qos: None,
            time: None,
            mem: None,
            constraint: None,
            gres: None,
            extra: Vec::new(),
            setup: Vec::new(),
            throttle: None,
            signal_lead_seconds: 300,
            max_requeues: 5,
        }
    }
}

/// Extra outputs of the workers.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OutputConfig {
    /// Also write TensorBoard event files per model (`models/<name>/tensorboard/`).
    pub tensorboard: bool,
}

/// One axis of the grid, as written.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AxisInfo {
    pub name: String,
    pub len: usize,
    /// Settings this axis sets.
    pub sets: Vec<String>,
}

/// A parsed, validated and expanded grid file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub name: String,
    pub data: Option<DataConfig>,
    pub slurm: SlurmConfig,
    #[serde(default)]
    pub output: OutputConfig,
    pub axes: Vec<AxisInfo>,
    pub models: Vec<ModelSpec>,
}

impl Grid {
    /// The settings whose value differs between models, in SETTINGS order.
    pub fn varying_settings(&self) -> Vec<&'static str> {
        let rows: Vec<BTreeMap<String, serde_json::Value>> =
            self.models.iter().map(model_settings).collect();
        SETTINGS
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| rows.windows(2).any(|w| w[0].get(*k) != w[1].get(*k)))
            .collect()
    }
}

/// Every setting of a model as a flat JSON map (the keys of SETTINGS, plus `free_params`).
pub fn model_settings(m: &ModelSpec) -> BTreeMap<String, serde_json::Value> {
    use serde_json::json;
    let mut out = BTreeMap::new();
    let mut put = |k: &str, v: serde_json::Value| {
        out.insert(k.to_string(), v);
    };
    put("wc1", json!(m.wc1));
    put("ncv1", json!(m.ncv1));
    put("wc2", json!(m.wc2));
    put("ncv2", json!(m.ncv2));
    put("nfc1", json!(m.nfc1));
    put("activation", json!(m.activation));
    put("dropout_keep", json!(m.dropout_keep));
    put("learning_rate", json!(m.learning_rate));
    put("batch_size", json!(m.batch_size));
    match m.length {
        Length::Iterations(n) => put("iterations", json!(n)),
        Length::Epochs(n) => put("epochs", json!(n)),
    }
    put("snapshots", json!(m.snapshots));
    put("l1", json!(m.regularization.l1));
    put("l2", json!(m.regularization.l2));
    put("reg_layers", json!(m.regularization.layers));
    put("seed", json!(m.seed));
    put("keep_snapshots", json!(m.keep_snapshots));
    put("threads", json!(m.threads));
    put("precision", json!(m.precision));
    put("early_stopping", json!(m.early_stopping));
    put("free_params", json!(m.free_params));
    out
}

// ---------------------------------------------------------------------------------------------
// Raw file structure.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    name: Option<Spanned<String>>,
    data: Option<RawData>,
    slurm: Option<RawSlurm>,
    output: Option<RawOutput>,
    settings: Option<IndexMap<String, Spanned<toml::Value>>>,
    grid: Option<IndexMap<String, Spanned<Vec<Spanned<toml::Value>>>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOutput {
    tensorboard: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawData {
    train: Spanned<String>,
    validation: Spanned<String>,
    input_scale: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSlurm {
    trainings_per_node: Option<Spanned<i64>>,
    cpus_per_training: Option<Spanned<i64>>,
    partition: Option<Spanned<String>>,
    account: Option<Spanned<String>>,
    qos: Option<Spanned<String>>,
    time: Option<Spanned<String>>,
    mem: Option<Spanned<String>>,
    constraint: Option<Spanned<String>>,
    gres: Option<Spanned<String>>,
    extra: Option<Vec<Spanned<String>>>,
    setup: Option<Vec<Spanned<String>>>,
    throttle: Option<Spanned<i64>>,
    signal_lead_seconds: Option<Spanned<i64>>,
    max_requeues: Option<Spanned<i64>>,
}

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    fn err(&self, span: Option<std::ops::Range<usize>>, key: Option<&str>, msg: impl Into<String>) -> GridError {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        GridError {
            path: self.path.to_path_buf(),
            line,
            column,
            key: key.map(str::to_string),
            message: msg.into(),
        }
    }
}

/// Reads and expands a grid file.
pub fn load(path: &Path) -> Result<Grid, GridError> {
    let text = std::fs::read_to_string(path).map_err(|e| GridError {
        path: path.to_path_buf(),
        line: None,
        column: None,
        key: None,
        message: format!("cannot read the grid file: {e}"),
    })?;
    parse(path, &text)
}

/// Parses and expands grid file text; `path` is used in messages and to name the sweep.
pub fn parse(path: &Path, text: &str) -> Result<Grid, GridError> {
    let cx = Ctx { path, text };
    let raw: RawFile = toml::from_str(text).map_err(|e| {
        cx.err(e.span(), None, e.message().trim_end().to_string())
    })?;

    let name = match &raw.name {
        Some(n) => {
            check_sweep_name(n.get_ref()).map_err(|m| cx.err(Some(n.span()), Some("name"), m))?;
            n.get_ref().clone()
        }
        None => {
            let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
            check_sweep_name(stem).map_err(|m| {
                cx.err(None, Some("name"), format!("the sweep is named after the file ({stem:?}) when `name` is not set: {m}"))
            })?;
            stem.to_string()
        }
    };

    let data = raw.data.as_ref().map(|d| parse_data(&cx, d)).transpose()?;
    let slurm = match &raw.slurm {
        Some(s) => parse_slurm(&cx, s)?,
        None => SlurmConfig::default(),
    };

    // Fixed settings.
    let mut fixed = Partial::default();
    let mut origin: BTreeMap<&'static str, (String, usize)> = BTreeMap::new();
    for (key, value) in raw.settings.iter().flatten() {
        let line = line_col(text, value.span().start).0;
        let k = canonical(key).ok_or_else(|| {
            cx.err(Some(value.span()), Some(&format!("settings.{key}")),
                format!("unknown setting; valid settings: {}", setting_names()))
        })?;
        if let Some((by, at)) = origin.get(k) {
            return Err(cx.err(Some(value.span()), Some(&format!("settings.{key}")),
                format!("`{k}` is set twice: also by {by} at line {at}")));
        }
        fixed.set(k, value.get_ref())
            .map_err(|m| cx.err(Some(value.span()), Some(&format!("settings.{key}")), m))?;
        origin.insert(k, ("[settings]".into(), line));
    }

    // Axes.
    struct Axis {
        name: String,
        values: Vec<Partial>,
        sets: Vec<&'static str>,
    }
    let mut axes: Vec<Axis> = Vec::new();
    for (axis_name, values) in raw.grid.iter().flatten() {
        let key = format!("grid.{axis_name}");
        let axis_line = line_col(text, values.span().start).0;
        if values.get_ref().is_empty() {
            return Err(cx.err(Some(values.span()), Some(&key), "the axis is empty; give at least one value"));
        }
        let tables = values.get_ref().iter().filter(|v| v.get_ref().is_table()).count();
        let mut parts = Vec::new();
        let mut sets: Vec<&'static str> = Vec::new();
        if tables == 0 {
            let k = canonical(axis_name).ok_or_else(|| {
                cx.err(Some(values.span()), Some(&key), format!(
                    "unknown setting; an axis is named after the setting it varies ({}), or lists inline tables of settings",
                    setting_names()))
            })?;
            for v in values.get_ref() {
                let mut p = Partial::default();
                p.set(k, v.get_ref()).map_err(|m| cx.err(Some(v.span()), Some(&key), m))?;
                parts.push(p);
            }
            sets.push(k);
        } else if tables == values.get_ref().len() {
            if canonical(axis_name).is_some() {
                return Err(cx.err(Some(values.span()), Some(&key), format!(
                    "an axis of inline tables must not be named after a setting; rename it (e.g. `architecture`, `variant`) or list plain values of `{axis_name}`")));
            }
            for v in values.get_ref() {
                let mut p = Partial::default();
                let table = v.get_ref().as_table().expect("counted as a table");
                for (k, val) in table {
                    let ck = canonical(k).ok_or_else(|| {
                        cx.err(Some(v.span()), Some(&format!("{key}.{k}")),
                            format!("unknown setting; valid settings: {}", setting_names()))
                    })?;
                    p.set(ck, val).map_err(|m| cx.err(Some(v.span()), Some(&format!("{key}.{k}")), m))?;
                    if !sets.contains(&ck) {
                        sets.push(ck);
                    }
                }
                parts.push(p);
            }
        } else {
            return Err(cx.err(Some(values.span()), Some(&key),
                "the axis mixes inline tables and plain values; use one or the other"));
        }
        // The same value twice would train the same model twice.
        for (i, a) in parts.iter().enumerate() {
            if let Some(j) = parts[..i].iter().position(|b| b == a) {
                let v = &values.get_ref()[i];
                return Err(cx.err(Some(v.span()), Some(&key), format!(
                    "value {} is listed twice (entries {} and {}); each value of an axis must differ",
                    v.get_ref(), j + 1, i + 1)));
            }
        }
        for k in &sets {
            if let Some((by, at)) = origin.get(k) {
                return Err(cx.err(Some(values.span()), Some(&key),
                    format!("`{k}` is set twice: by this axis and by {by} at line {at}")));
            }
            origin.insert(k, (format!("axis `{axis_name}`"), axis_line));
        }
        axes.push(Axis { name: axis_name.clone(), values: parts, sets });
    }

    // Expansion: first axis outermost, last fastest.
    let count: usize = axes.iter().map(|a| a.values.len()).product();
    const MAX_MODELS: usize = 1_000_000;
    if count > MAX_MODELS {
        return Err(cx.err(None, Some("grid"), format!("the grid expands to {count} models, more than {MAX_MODELS}")));
    }
    let mut models = Vec::with_capacity(count);
    let mut digits = vec![0usize; axes.len()];
    for index in 0..count {
        let mut p = fixed.clone();
        for (axis, &d) in axes.iter().zip(&digits) {
            p.merge(&axis.values[d]);
        }
        let name = model_name(index, count);
        let spec = p.resolve(index, name.clone(), &slurm).map_err(|m| {
            let combo: Vec<String> = axes.iter().zip(&digits)
                .map(|(a, &d)| format!("{}[{}]", a.name, d)).collect();
            cx.err(None, None, format!("{name} ({}): {m}", if combo.is_empty() { "fixed settings".into() } else { combo.join(", ") }))
        })?;
        models.push(spec);
        for i in (0..digits.len()).rev() {
            digits[i] += 1;
            if digits[i] < axes[i].values.len() {
                break;
            }
            digits[i] = 0;
        }
    }

    let output = OutputConfig { tensorboard: raw.output.as_ref().and_then(|o| o.tensorboard).unwrap_or(false) };
    Ok(Grid {
        name,
        data,
        slurm,
        output,
        axes: axes.iter().map(|a| AxisInfo {
            name: a.name.clone(),
            len: a.values.len(),
            sets: a.sets.iter().map(|s| s.to_string()).collect(),
        }).collect(),
        models,
    })
}

/// A sweep name becomes a directory and a Slurm job name: letters, digits, `.`, `_`, `-` only.
pub fn check_sweep_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("the sweep name is empty".into());
    }
    if name == "." || name == ".." || name.starts_with('-') || name.starts_with('.') {
        return Err(format!("sweep name {name:?} is not allowed: it must not start with `.` or `-`"));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))) {
        return Err(format!("sweep name {name:?} contains {c:?}; use letters, digits, `.`, `_`, `-` only"));
    }
    if name.len() > 100 {
        return Err(format!("sweep name is {} characters long; at most 100", name.len()));
    }
    Ok(())
}

fn parse_data(cx: &Ctx, d: &RawData) -> Result<DataConfig, GridError> {
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
    })
}

/// Characters allowed in values that land on `#SBATCH` lines (sbatch parses them, not a shell).
fn check_sbatch_value(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("the value is empty".into());
    }
    if let Some(c) = v.chars().find(|c| !(c.is_ascii_alphanumeric() || "_.,:=+-/@[]*&|!%".contains(*c))) {
        return Err(format!(
            "{v:?} contains {c:?}; #SBATCH values may hold letters, digits and _ . , : = + - / @ [ ] * & | ! % only"));
    }
    Ok(())
}

fn parse_slurm(cx: &Ctx, s: &RawSlurm) -> Result<SlurmConfig, GridError> {
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
    out.mem = text(&s.mem, "slurm.mem")?;
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

// ---------------------------------------------------------------------------------------------
// Settings as they accumulate from [settings] and the axes.

#[derive(Debug, Clone, Default, PartialEq)]
struct Partial {
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
    early_stopping: Option<EarlyStopping>,
}

fn int(v: &toml::Value, min: i64, max: i64, what: &str) -> Result<i64, String> {
    match v {
        toml::Value::Integer(i) if *i >= min && *i <= max => Ok(*i),
        toml::Value::Integer(i) => Err(format!("{i} is out of range; valid: {what}")),
        other => Err(format!("expected an integer, found {} {other}; valid: {what}", v.type_str())),
    }
}

fn float(v: &toml::Value, what: &str) -> Result<f64, String> {
    match v {
        toml::Value::Float(f) => Ok(*f),
        toml::Value::Integer(i) => Ok(*i as f64),
        other => Err(format!("expected a number, found {} {other}; valid: {what}", v.type_str())),
    }
}

fn string<'a>(v: &'a toml::Value, what: &str) -> Result<&'a str, String> {
    v.as_str().ok_or_else(|| format!("expected a string, found {} {v}; valid: {what}", v.type_str()))
}

fn kernel(v: &toml::Value, what: &str) -> Result<u32, String> {
    let k = int(v, i64::MIN, i64::MAX, what)?;
    if k < 1 || k > 27 {
        return Err(format!("kernel size {k} is out of range; valid: {what}"));
    }
    if k % 2 == 0 {
        return Err(format!("kernel size {k} is even; \"same\" padding needs an odd size; valid: {what}"));
    }
    Ok(k as u32)
}

impl Partial {
    fn set(&mut self, key: &'static str, v: &toml::Value) -> Result<(), String> {
        let what = SETTINGS.iter().find(|(k, _)| *k == key).map(|(_, w)| *w).unwrap_or("");
        let pos32 = |v| int(v, 1, u32::MAX as i64, what).map(|x| x as u32);
        match key {
            "wc1" => self.wc1 = Some(kernel(v, what)?),
            "wc2" => self.wc2 = Some(kernel(v, what)?),
            "ncv1" => self.ncv1 = Some(pos32(v)?),
            "ncv2" => self.ncv2 = Some(pos32(v)?),
            "nfc1" => self.nfc1 = Some(pos32(v)?),
            "activation" => self.activation = Some(string(v, what)?.parse()?),
            "dropout_keep" => {
                let x = float(v, what)?;
                if !(x > 0.0 && x <= 1.0) {
                    return Err(format!("{x} is out of range; valid: {what}"));
                }
                self.dropout_keep = Some(x);
            }
            "learning_rate" => {
                let x = float(v, what)?;
                if !(x > 0.0 && x.is_finite()) {
                    return Err(format!("{x} is out of range; valid: {what}"));
                }
                self.learning_rate = Some(x);
            }
            "batch_size" => self.batch_size = Some(pos32(v)?),
            "iterations" => self.iterations = Some(int(v, 1, i64::MAX, what)? as u64),
            "epochs" => self.epochs = Some(int(v, 1, i64::MAX, what)? as u64),
            "snapshots" => self.snapshots = Some(pos32(v)?),
            "l1" | "l2" => {
                let x = float(v, what)?;
                if !(x >= 0.0 && x.is_finite()) {
                    return Err(format!("{x} is out of range; valid: {what}"));
                }
                if key == "l1" { self.l1 = Some(x) } else { self.l2 = Some(x) }
            }
            "reg_layers" => {
                let arr = v.as_array().ok_or_else(|| format!("expected a list, found {} {v}; valid: {what}", v.type_str()))?;
                let mut layers = Vec::new();
                for item in arr {
                    let l: Layer = string(item, what)?.parse()?;
                    if !layers.contains(&l) {
                        layers.push(l);
                    }
                }
                layers.sort();
                self.reg_layers = Some(layers);
            }
            "seed" => self.seed = Some(int(v, 0, i64::MAX, what)? as u64),
            "keep_snapshots" => self.keep_snapshots = Some(string(v, what)?.parse()?),
            "threads" => self.threads = Some(pos32(v)?),
            "precision" => self.precision = Some(string(v, what)?.parse()?),
            "early_stopping" => {
                let t = v.as_table().ok_or_else(|| format!("expected a table, found {} {v}; valid: {what}", v.type_str()))?;
                if let Some(k) = t.keys().find(|k| *k != "patience" && *k != "min_delta") {
                    return Err(format!("unknown key `{k}` in early_stopping; valid: patience, min_delta"));
                }
                let patience = t.get("patience").ok_or_else(|| format!("early_stopping lacks `patience`; valid: {what}"))?;
                let patience = int(patience, 1, u32::MAX as i64, what)? as u32;
                let min_delta = match t.get("min_delta") {
                    Some(d) => float(d, what)?,
                    None => 0.0,
                };
                if !(min_delta >= 0.0 && min_delta.is_finite()) {
                    return Err(format!("min_delta {min_delta} is out of range; valid: {what}"));
                }
                self.early_stopping = Some(EarlyStopping { patience, min_delta });
            }
            _ => return Err(format!("unknown setting; valid settings: {}", setting_names())),
        }
        Ok(())
    }

    fn merge(&mut self, o: &Partial) {
        macro_rules! m { ($($f:ident),*) => { $( if o.$f.is_some() { self.$f = o.$f.clone(); } )* } }
        m!(wc1, ncv1, wc2, ncv2, nfc1, activation, dropout_keep, learning_rate, batch_size,
           iterations, epochs, snapshots, l1, l2, reg_layers, seed, keep_snapshots, threads,
           precision, early_stopping);
    }

    fn resolve(&self, index: usize, name: String, slurm: &SlurmConfig) -> Result<ModelSpec, String> {
        let need = |v: Option<u32>, k: &str| {
            v.ok_or_else(|| format!("`{k}` is not set; give it in [settings] or as an axis in [grid]"))
        };
        let arch = Arch {
            wc1: need(self.wc1, "wc1")?,
            ncv1: need(self.ncv1, "ncv1")?,
            wc2: need(self.wc2, "wc2")?,
            ncv2: need(self.ncv2, "ncv2")?,
            nfc1: need(self.nfc1, "nfc1")?,
        };
        let length = match (self.iterations, self.epochs) {
            (Some(_), Some(_)) => return Err("both `iterations` and `epochs` are set; give one".into()),
            (Some(i), None) => Length::Iterations(i),
            (None, Some(e)) => Length::Epochs(e),
            (None, None) => Length::Epochs(1200),
        };
        let snapshots = self.snapshots.unwrap_or(200);
        if let Length::Iterations(i) = length {
            if snapshots as u64 > i {
                return Err(format!("{snapshots} snapshots over {i} iterations; snapshots must be at most iterations"));
            }
        }
        let l1 = self.l1.unwrap_or(0.0);
        let l2 = self.l2.unwrap_or(0.0);
        let layers = self.reg_layers.clone().unwrap_or_else(|| vec![Layer::Fc1]);
        if (l1 != 0.0 || l2 != 0.0) && layers.is_empty() {
            return Err("`reg_layers` is empty but l1 or l2 is set; name the layers to regularize".into());
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
            early_stopping: self.early_stopping,
            threads: self.threads.unwrap_or(slurm.cpus_per_training),
            free_params: arch.free_params(),
        })
    }
}

#[cfg(test)]
mod tests;
