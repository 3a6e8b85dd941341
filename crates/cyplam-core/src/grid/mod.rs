//! Grid files: parsing, validation and expansion of a hyper-parameter table into the model list.
//!
//! A grid file has a `[settings]` table of fixed values and a `[grid]` table of axes. Axes expand in
//! the order they are written, the first outermost and the last fastest. An axis is either a list of
//! values of one setting (`nfc1 = [128, 256]`) or a list of inline tables that set several settings
//! at once (`architecture = [{wc1 = 5, ncv1 = 8}, ...]`). The format is documented in docs/grid.md.

mod axis;
mod config;
mod expand;
mod raw;
mod sampled;
mod tables;

pub use config::{ModelError, SettingError, SETTINGS};
pub use expand::model_settings;
pub use tables::{check_sweep_name, SbatchValueError, SweepNameError};

use crate::halving::settings::Halving;
use crate::search::Search;
use crate::spec::ModelSpec;
use serde::{Deserialize, Serialize};
use std::fmt;
use std::path::{Path, PathBuf};

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
    /// `validation_is_train = true`: validating on the training set is meant (the validation
    /// accuracy then measures the fit, not generalization); without it such a grid is refused.
    #[serde(default)]
    pub validation_is_train: bool,
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
    /// Under `[search]`: the distribution drawn from, as written (`log_uniform [1e-05, 0.01]`);
    /// `len` is then its count of values, 0 for a float range.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sampled: Option<String>,
}

impl AxisInfo {
    /// `nfc1 x4`, or `learning_rate ~ log_uniform [1e-05, 0.01]` for a sampled axis.
    pub fn label(&self) -> String {
        match &self.sampled {
            Some(d) => format!("{} ~ {d}", self.name),
            None => format!("{} x{}", self.name, self.len),
        }
    }
}

/// A parsed, validated and expanded grid file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Grid {
    pub name: String,
    pub data: Option<DataConfig>,
    pub slurm: SlurmConfig,
    #[serde(default)]
    pub output: OutputConfig,
    /// `[halving]`: successive halving across the models (docs/halving.md); `None` trains every
    /// model to its end.
    #[serde(default)]
    pub halving: Option<Halving>,
    /// `[search]`: the models are drawn from the axes (`crate::search`), not crossed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search: Option<Search>,
    pub axes: Vec<AxisInfo>,
    pub models: Vec<ModelSpec>,
    /// Under `[search]`: each model's position on each axis (the index of a listed value, the
    /// quarter of a range), what [`Grid::axis_values`] gives.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub positions: Vec<Vec<usize>>,
}

impl Grid {
    /// The settings whose value differs between models, in SETTINGS order.
    pub fn varying_settings(&self) -> Vec<&'static str> {
        expand::varying_settings(&self.models)
    }

    /// The position of model `index`'s value in each axis, in axis order (the models are numbered
    /// with the first axis outermost, the last fastest). Under `[search]`, the index of the listed
    /// value drawn, or which quarter of a range the value is in.
    pub fn axis_values(&self, index: usize) -> Vec<usize> {
        if self.search.is_some() {
            return self.positions.get(index).cloned().unwrap_or_default();
        }
        let mut rest = index;
        let mut out = vec![0; self.axes.len()];
        for (i, a) in self.axes.iter().enumerate().rev() {
            let len = a.len.max(1);
            out[i] = rest % len;
            rest /= len;
        }
        out
    }
}

/// Line and column (1-based) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.len() - before.rfind('\n').map(|i| i + 1).unwrap_or(0) + 1;
    (line, col)
}

/// The grid file being parsed: its path and text, for the messages.
struct Ctx<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Ctx<'_> {
    /// The error `msg` at `span` (if known) of the key `key` (if any).
    fn err(&self, span: Option<std::ops::Range<usize>>, key: Option<&str>, msg: impl fmt::Display) -> GridError {
        let (line, column) = match span {
            Some(s) => {
                let (l, c) = line_col(self.text, s.start);
                (Some(l), Some(c))
            }
            None => (None, None),
        };
        GridError { path: self.path.to_path_buf(), line, column, key: key.map(str::to_string), message: msg.to_string() }
    }

    /// The line (1-based) at which `span` starts.
    fn line(&self, span: std::ops::Range<usize>) -> usize {
        line_col(self.text, span.start).0
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
    parse_proposed(path, text, &[])
}

/// [`parse`] of a grid with `strategy = "tpe"` whose rounds proposed `proposed` (each model's
/// value index per axis, in model order after the random start): its models are the random start
/// and those (`crate::search::rounds` reads them from the sweep's round files).
pub fn parse_proposed(path: &Path, text: &str, proposed: &[Vec<usize>]) -> Result<Grid, GridError> {
    parse_text(path, text, proposed).map_err(|e| name_overflow(path, text, e))
}

/// The value an integer too large (or small) for TOML is replaced with to learn which key it
/// belongs to and what that key accepts: a value every integer key refuses.
const OVERFLOW_STAND_IN: &str = "-9223372036854775808";

/// TOML integers are 64-bit: a literal beyond them fails in the TOML parser ("number too large
/// to fit in target type"), before any key is looked at. Such an error is asked again of the
/// grid with the literal replaced by [`OVERFLOW_STAND_IN`]: the key's own check then names the
/// key and its valid values, said of the literal as written.
fn name_overflow(path: &Path, text: &str, e: GridError) -> GridError {
    let (Some(line), Some(column)) = (e.line, e.column) else { return e };
    if !(e.message.starts_with("number too large") || e.message.starts_with("number too small")) || e.key.is_some() {
        return e;
    }
    let Some(line_start) = text.split_inclusive('\n').take(line - 1).map(str::len).try_fold(0usize, |a, l| a.checked_add(l)) else { return e };
    let start = line_start + column - 1;
    let Some(rest) = text.get(start..) else { return e };
    let len = rest.find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '+' | '-'))).unwrap_or(rest.len());
    let literal = &rest[..len];
    if literal.is_empty() {
        return e;
    }
    let bound = if literal.starts_with('-') { "at least -9223372036854775808" } else { "at most 9223372036854775807" };
    let stood_in = format!("{}{OVERFLOW_STAND_IN}{}", &text[..start], &text[start + len..]);
    // A float setting shows the stand-in as a float.
    let as_float = (i64::MIN as f64).to_string();
    match parse_text(path, &stood_in, &[]) {
        Err(k) if k.line == e.line && k.key.is_some() && (k.message.contains(OVERFLOW_STAND_IN) || k.message.contains(&as_float)) => GridError {
            message: format!("{}; a grid's integers are 64-bit: {bound}", k.message.replace(OVERFLOW_STAND_IN, literal).replace(&as_float, literal)),
            key: k.key,
            ..e
        },
        // Another problem of the file comes first with the stand-in: the key as written on the line.
        _ => GridError { key: key_on_line(text, line), message: format!("{literal} does not fit in 64 bits; a grid's integers are {bound}"), ..e },
    }
}

/// The key a `key = value` line sets, with its `[table]`: `settings.seed`.
fn key_on_line(text: &str, line: usize) -> Option<String> {
    let lines: Vec<&str> = text.lines().collect();
    let key = lines.get(line.checked_sub(1)?)?.split_once('=')?.0.trim();
    if key.is_empty() || !key.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.')) {
        return None;
    }
    let table = lines[..line - 1].iter().rev().find_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']')).map(str::trim);
    Some(match table {
        Some(t) => format!("{t}.{key}"),
        None => key.to_string(),
    })
}

fn parse_text(path: &Path, text: &str, proposed: &[Vec<usize>]) -> Result<Grid, GridError> {
    let cx = Ctx { path, text };
    let raw = raw::RawFile::parse(&cx)?;
    let name = tables::sweep_name(&cx, raw.name.as_ref())?;
    let data = raw.data.as_ref().map(|d| tables::parse_data(&cx, d)).transpose()?;
    let slurm = match &raw.slurm {
        Some(s) => tables::parse_slurm(&cx, s)?,
        None => SlurmConfig::default(),
    };
    let halving = tables::parse_halving(&cx, raw.halving.as_ref())?;
    let search = tables::parse_search(&cx, raw.search.as_ref())?;
    let mut origins = config::Origins::new();
    let fixed = config::fixed_settings(&cx, raw.settings.as_ref(), &mut origins)?;
    if search.is_none() {
        if let Some((name, axis)) = raw.grid.iter().flatten().find(|(_, a)| matches!(a.get_ref(), raw::RawAxis::Sampled(_))) {
            return Err(cx.err(Some(axis.span()), Some(&format!("grid.{name}")),
                "a distribution is drawn from by a sampled search: add a [search] table (strategy = \"random\" or \"sobol\", models = N), or list the values to cross (docs/grid.md)"));
        }
    }
    let axes = expand::parse_axes(&cx, raw.grid.as_ref(), &mut origins)?;
    if let Some(s) = &search {
        let span = |name: &str| raw.grid.as_ref().and_then(|g| g.get(name)).map(|a| a.span());
        let strategy_span = raw.search.as_ref().map(|r| r.get_ref().strategy.as_ref().map_or(r.span(), |v| v.span()));
        sampled::check_tpe(&cx, &axes, s, halving.is_some(), &span, strategy_span)?;
    }
    let (models, positions) = match &search {
        None => (expand::expand(&cx, &fixed, &axes, &slurm)?, Vec::new()),
        Some(s) => sampled::models(&cx, &fixed, &axes, s, &slurm, proposed)?,
    };
    Ok(Grid {
        name,
        data,
        slurm,
        output: tables::parse_output(raw.output.as_ref()),
        halving,
        search,
        axes: axes.iter().map(axis::Axis::info).collect(),
        models,
        positions,
    })
}

#[cfg(test)]
mod sampled_tests;
#[cfg(test)]
mod tests;
