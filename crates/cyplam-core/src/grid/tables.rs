//! The grid file's tables other than the settings: the sweep name, `[data]`, `[slurm]`,
//! `[output]`, `[halving]` and `[search]`, each parsed and checked with errors that name the file, the line
//! and the key. The model settings are `config.rs`'s.

use super::raw::{RawData, RawHalving, RawOutput, RawSearch, RawSlurm};
use super::{Ctx, DataConfig, GridError, InputScale, OutputConfig, SlurmConfig};
use crate::halving::settings::{Halving, HalvingError};
use crate::search::{Search, Strategy};
use std::path::{Path, PathBuf};
use toml::Spanned;

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
            check_sweep_name(stem)
                .map_err(|m| cx.err(None, Some("name"), format!("the sweep is named after the file ({stem:?}) when `name` is not set: {m}")))?;
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
            other => {
                return Err(cx.err(
                    Some(v.span()),
                    Some("data.input_scale"),
                    format!(
                        "invalid value {other}; valid: \"max\" (divide by the training set's largest value), \"none\", or a factor > 0 such as 0.0009765625"
                    ),
                ))
            }
        },
    };
    Ok(DataConfig { train, validation: resolve(&d.validation, "data.validation")?, input_scale, validation_is_train: d.validation_is_train.unwrap_or(false) })
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
            return Err(cx.err(
                Some(v.span()),
                Some("slurm.mem"),
                format!(
                    "{m:?} is not a memory size Slurm reads; valid: a whole number with an optional unit K, M, G or T, such as \"20G\" or \"4096\" (megabytes)"
                ),
            ));
        }
    }
    out.constraint = text(&s.constraint, "slurm.constraint")?;
    out.gres = text(&s.gres, "slurm.gres")?;
    for e in s.extra.iter().flatten() {
        let v = e.get_ref();
        if !v.starts_with('-') {
            return Err(cx.err(
                Some(e.span()),
                Some("slurm.extra"),
                format!("{v:?} is not an sbatch option; write options such as \"--exclusive\" or \"--gres=gpu:1\""),
            ));
        }
        // cyplam tells its jobs from others by their name (a crashed controller gives a lost
        // job's id to the next job): the name is its own (sbatch also takes `--job-n`, `--job-na`).
        let opt = v.split('=').next().unwrap_or(v);
        if opt.starts_with("-J") || (opt.len() >= "--job-n".len() && "--job-name".starts_with(opt)) {
            return Err(cx.err(
                Some(e.span()),
                Some("slurm.extra"),
                format!("{v:?} sets the job name, which cyplam sets itself (`cyplam-<sweep>`): it tells the sweep's jobs from others by it"),
            ));
        }
        check_sbatch_value(v).map_err(|m| cx.err(Some(e.span()), Some("slurm.extra"), m))?;
        out.extra.push(v.clone());
    }
    for l in s.setup.iter().flatten() {
        if l.get_ref().contains(['\n', '\r', '\0']) {
            return Err(cx.err(Some(l.span()), Some("slurm.setup"), "each set-up entry is one shell line; split it into several entries"));
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
    use crate::halving::settings::{Promotion, DEFAULT_AXES, DEFAULT_CAP, DEFAULT_CURVE, DEFAULT_ETA, DEFAULT_FORECAST, DEFAULT_NOISE, DEFAULT_RUNGS};
    let Some(h) = h else { return Ok(None) };
    let raw = h.get_ref();
    let get = |v: &Option<Spanned<i64>>, key: &str, default: u32| -> Result<u32, GridError> {
        match v {
            None => Ok(default),
            Some(v) => u32::try_from(*v.get_ref()).map_err(|_| {
                cx.err(
                    Some(v.span()),
                    Some(key),
                    format!("{} is out of range; valid: {}", v.get_ref(), if key == "halving.eta" { "2 or more" } else { "1 to 16" }),
                )
            }),
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
    let noise_keys = [
        ("halving.noise", &raw.noise),
        ("halving.cap", &raw.cap),
        ("halving.axes", &raw.axes),
        ("halving.curve", &raw.curve),
        ("halving.forecast", &raw.forecast),
    ];
    let promotion = match rule {
        "noise" => {
            let noise = number(&raw.noise, "halving.noise", DEFAULT_NOISE)?;
            let cap = number(&raw.cap, "halving.cap", DEFAULT_CAP)?;
            let axes = number(&raw.axes, "halving.axes", DEFAULT_AXES)?;
            let curve = number(&raw.curve, "halving.curve", DEFAULT_CURVE)?;
            let forecast = number(&raw.forecast, "halving.forecast", DEFAULT_FORECAST)?;
            Promotion::noise(noise, cap, axes).and_then(|p| p.with_curve(curve)).and_then(|p| p.with_forecast(forecast)).map_err(|e| {
                let (key, v) = match e {
                    HalvingError::Noise(_) => noise_keys[0],
                    HalvingError::Cap(_) => noise_keys[1],
                    HalvingError::Curve(_) => noise_keys[3],
                    HalvingError::Forecast(_) => noise_keys[4],
                    _ => noise_keys[2],
                };
                cx.err(v.as_ref().map(|v| v.span()).or(Some(h.span())), Some(key), e)
            })?
        }
        "rank" => {
            if let Some((key, Some(v))) = noise_keys.iter().find(|(_, v)| v.is_some()) {
                return Err(cx.err(
                    Some(v.span()),
                    Some(key),
                    "applies to promote = \"noise\" only; this table says promote = \"rank\" (the best ceil(n/eta), no ties)",
                ));
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

/// `[search]`: the strategy (default random), how many models (required) and the draws' seed
/// (default 0).
pub(super) fn parse_search(cx: &Ctx, s: Option<&Spanned<RawSearch>>) -> Result<Option<Search>, GridError> {
    let Some(s) = s else { return Ok(None) };
    let raw = s.get_ref();
    let strategy = match &raw.strategy {
        None => Strategy::Random,
        Some(v) => v.get_ref().parse().map_err(|m: String| cx.err(Some(v.span()), Some("search.strategy"), m))?,
    };
    let max = crate::search::MAX_MODELS;
    let models = match &raw.models {
        None => return Err(cx.err(Some(s.span()), Some("search.models"), format!("how many models to draw is not set; give models = N, 1 to {max}"))),
        Some(v) => match v.get_ref().as_integer() {
            Some(n) if n >= 1 && n <= max as i64 => n as u32,
            _ => return Err(cx.err(Some(v.span()), Some("search.models"), format!("{} is not a valid count; valid: an integer from 1 to {max}", v.get_ref()))),
        },
    };
    let seed = match &raw.seed {
        None => 0,
        Some(v) => match v.get_ref().as_integer() {
            Some(n) if n >= 0 => n as u64,
            _ => return Err(cx.err(Some(v.span()), Some("search.seed"), format!("{} is not a valid seed; valid: an integer >= 0", v.get_ref()))),
        },
    };
    let batch = match (&raw.batch, strategy) {
        (None, Strategy::Tpe) => Some(crate::search::tpe::DEFAULT_BATCH.min(models)),
        (None, _) => None,
        (Some(v), Strategy::Tpe) => match v.get_ref().as_integer() {
            Some(n) if n >= 1 && n <= models as i64 => Some(n as u32),
            _ => {
                return Err(cx.err(
                    Some(v.span()),
                    Some("search.batch"),
                    format!("{} is not a valid batch; valid: an integer from 1 to models ({models}), the models each round proposes", v.get_ref()),
                ))
            }
        },
        (Some(v), _) => {
            return Err(cx.err(
                Some(v.span()),
                Some("search.batch"),
                format!(
                    "`batch` goes with strategy = \"tpe\" only (the models each round proposes); strategy {:?} draws every model at once",
                    strategy.as_str()
                ),
            ))
        }
    };
    Ok(Some(Search { strategy, models, seed, batch }))
}
