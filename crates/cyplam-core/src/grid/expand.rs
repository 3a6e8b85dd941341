//! The `[grid]` axes and their expansion into the model list: the first axis outermost, the last
//! fastest, models numbered and named in that order; and a model's settings as a flat map
//! (`model_settings`), the form reports and the database compare models in.

use super::axis::Axis;
use super::config::{canonical, setting_names, Origins, Partial, SettingError};
use super::raw::{RawAxes, RawAxis};
use super::{Ctx, GridError, SlurmConfig, SETTINGS};
use crate::spec::{model_name, Length, ModelSpec};
use std::collections::BTreeMap;
use toml::Spanned;

/// More models than this is surely a mistake in the grid file.
const MAX_MODELS: usize = 1_000_000;

type Values = Spanned<Vec<Spanned<toml::Value>>>;

/// The `[grid]` table's axes, in file order; each setting may be set by one place only
/// (`origins` holds those of `[settings]`).
pub(super) fn parse_axes(cx: &Ctx, grid: Option<&RawAxes>, origins: &mut Origins) -> Result<Vec<Axis>, GridError> {
    let mut axes = Vec::new();
    for (name, raw) in grid.into_iter().flatten() {
        let axis = match raw.get_ref() {
            RawAxis::List(list) => {
                // The list with the axis's span, as the list parsers take it.
                let values = Spanned::new(raw.span(), list.clone());
                let axis = parse_axis(cx, name, &values)?;
                check_distinct(cx, &axis, &values)?;
                axis
            }
            RawAxis::Sampled(table) => super::sampled::parse(cx, name, &Spanned::new(raw.span(), table.clone()))?,
        };
        let values = raw;
        let line = cx.line(values.span());
        for k in &axis.sets {
            if let Some((by, at)) = origins.get(k) {
                return Err(cx.err(Some(values.span()), Some(&format!("grid.{name}")), format!("`{k}` is set twice: by this axis and by {by} at line {at}")));
            }
            origins.insert(k, (format!("axis `{name}`"), line));
        }
        axes.push(axis);
    }
    Ok(axes)
}

/// An axis of plain values of the setting it is named after, or of inline tables of settings.
fn parse_axis(cx: &Ctx, name: &str, values: &Values) -> Result<Axis, GridError> {
    let key = format!("grid.{name}");
    let list = values.get_ref();
    if list.is_empty() {
        return Err(cx.err(Some(values.span()), Some(&key), "the axis is empty; give at least one value"));
    }
    let tables = list.iter().filter(|v| v.get_ref().is_table()).count();
    let (values, sets) = if tables == 0 {
        plain_axis(cx, name, &key, values)?
    } else if tables == list.len() {
        table_axis(cx, name, &key, values)?
    } else {
        return Err(cx.err(Some(values.span()), Some(&key), "the axis mixes inline tables and plain values; use one or the other"));
    };
    Ok(Axis { name: name.to_string(), values, sets, dist: None })
}

fn plain_axis(cx: &Ctx, name: &str, key: &str, values: &Values) -> Result<(Vec<Partial>, Vec<&'static str>), GridError> {
    let k = canonical(name).ok_or_else(|| {
        cx.err(
            Some(values.span()),
            Some(key),
            format!("unknown setting; an axis is named after the setting it varies ({}), or lists inline tables of settings", setting_names()),
        )
    })?;
    let mut parts = Vec::new();
    for v in values.get_ref() {
        let mut p = Partial::default();
        p.set(k, v.get_ref()).map_err(|m| cx.err(Some(v.span()), Some(key), m))?;
        parts.push(p);
    }
    Ok((parts, vec![k]))
}

fn table_axis(cx: &Ctx, name: &str, key: &str, values: &Values) -> Result<(Vec<Partial>, Vec<&'static str>), GridError> {
    if canonical(name).is_some() {
        return Err(cx.err(
            Some(values.span()),
            Some(key),
            format!("an axis of inline tables must not be named after a setting; rename it (e.g. `architecture`, `variant`) or list plain values of `{name}`"),
        ));
    }
    let mut parts = Vec::new();
    let mut sets: Vec<&'static str> = Vec::new();
    for v in values.get_ref() {
        let mut p = Partial::default();
        for (k, val) in v.get_ref().as_table().into_iter().flatten() {
            let at = format!("{key}.{k}");
            let ck = canonical(k).ok_or_else(|| cx.err(Some(v.span()), Some(&at), SettingError::Unknown))?;
            p.set(ck, val).map_err(|m| cx.err(Some(v.span()), Some(&at), m))?;
            if !sets.contains(&ck) {
                sets.push(ck);
            }
        }
        parts.push(p);
    }
    Ok((parts, sets))
}

/// The same value twice would train the same model twice.
fn check_distinct(cx: &Ctx, axis: &Axis, values: &Values) -> Result<(), GridError> {
    for (i, a) in axis.values.iter().enumerate() {
        if let Some(j) = axis.values[..i].iter().position(|b| b == a) {
            let v = &values.get_ref()[i];
            return Err(cx.err(
                Some(v.span()),
                Some(&format!("grid.{}", axis.name)),
                format!("value {} is listed twice (entries {} and {}); each value of an axis must differ", v.get_ref(), j + 1, i + 1),
            ));
        }
    }
    Ok(())
}

/// Every combination of the axes' values over the fixed settings, first axis outermost.
pub(super) fn expand(cx: &Ctx, fixed: &Partial, axes: &[Axis], slurm: &SlurmConfig) -> Result<Vec<ModelSpec>, GridError> {
    let count = axes.iter().try_fold(1usize, |n, a| n.checked_mul(a.values.len()));
    let count = match count {
        Some(n) if n <= MAX_MODELS => n,
        Some(n) => return Err(cx.err(None, Some("grid"), format!("the grid expands to {n} models, more than {MAX_MODELS}"))),
        None => return Err(cx.err(None, Some("grid"), format!("the grid expands to more than {MAX_MODELS} models"))),
    };
    let mut models = Vec::with_capacity(count);
    // The value of each axis for the model at `index`, as the digits of a mixed-radix number.
    let mut digits = vec![0usize; axes.len()];
    for index in 0..count {
        let mut p = fixed.clone();
        for (axis, &d) in axes.iter().zip(&digits) {
            p.merge(&axis.values[d]);
        }
        let name = model_name(index, count);
        let spec = p.resolve(index, name.clone(), slurm).map_err(|m| {
            let combo: Vec<String> = axes.iter().zip(&digits).map(|(a, &d)| format!("{}[{}]", a.name, d)).collect();
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
    Ok(models)
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

/// The settings whose value differs between `models`, in SETTINGS order.
pub(super) fn varying_settings(models: &[ModelSpec]) -> Vec<&'static str> {
    // A setting varies when some model's differs from the first's: one model's settings at a
    // time, so a grid of a million models needs no million maps.
    let Some(first) = models.first().map(model_settings) else { return Vec::new() };
    let mut varies = vec![false; SETTINGS.len()];
    for m in &models[1..] {
        if varies.iter().all(|v| *v) {
            break;
        }
        let s = model_settings(m);
        for (v, (k, _)) in varies.iter_mut().zip(SETTINGS) {
            *v = *v || first.get(*k) != s.get(*k);
        }
    }
    SETTINGS.iter().zip(varies).filter(|(_, v)| *v).map(|((k, _), _)| *k).collect()
}
