//! Sampled axes (`learning_rate = { log_uniform = [1e-5, 1e-2] }`) and the models of a sampled
//! sweep: every axis of a grid with `[search]` is a distribution (a list is a choice among its
//! values), and model k is the k-th point the search draws (`crate::search`). The `[search]`
//! table itself is parsed in `tables.rs`.

use super::axis::Axis;
use super::config::{canonical, setting_names, Partial};
use super::{Ctx, GridError, SlurmConfig};
use crate::search::{self, Dist, Drawn, Search, Strategy, Value};
use crate::spec::{model_name, ModelSpec};
use indexmap::IndexMap;
use toml::Spanned;

/// The settings a range can vary: floats take `uniform` and `log_uniform`, integers `int` and
/// `log_int`; every setting takes `choice`.
const FLOATS: [&str; 4] = ["dropout_keep", "learning_rate", "l1", "l2"];
const INTS: [&str; 11] = ["wc1", "ncv1", "wc2", "ncv2", "nfc1", "batch_size", "iterations", "epochs", "snapshots", "seed", "threads"];

const FORMS: &str = "{ uniform = [lo, hi] }, { log_uniform = [lo, hi] } (float settings), { int = [lo, hi], step = s }, { log_int = [lo, hi] } (integer settings), or { choice = [values], weights = [numbers] } (any setting)";

/// Integer ranges of at most this many values have each value checked against the setting (an
/// even kernel size in a `wc1` range); larger ones their ends.
const CHECK_EACH: u64 = 10_000;

/// A distribution axis named after the setting it varies: its distribution and, for `choice`, the
/// settings of each listed value.
pub(super) fn parse(cx: &Ctx, name: &str, table: &Spanned<IndexMap<String, Spanned<toml::Value>>>) -> Result<Axis, GridError> {
    let key = format!("grid.{name}");
    let err = |span: std::ops::Range<usize>, at: &str, m: String| cx.err(Some(span), Some(at), m);
    let k = canonical(name)
        .ok_or_else(|| err(table.span(), &key, format!("unknown setting; a distribution is named after the setting it varies ({})", setting_names())))?;
    let forms: Vec<&str> = table.get_ref().keys().filter(|f| !matches!(f.as_str(), "step" | "weights")).map(String::as_str).collect();
    let form = match forms.as_slice() {
        [f] => *f,
        [] => return Err(err(table.span(), &key, format!("no distribution given; write one of {FORMS}"))),
        more => return Err(err(table.span(), &key, format!("{} distributions given ({}); give one of {FORMS}", more.len(), more.join(", ")))),
    };
    let value = &table.get_ref()[form];
    let at = format!("{key}.{form}");
    let extra = |name: &str, only: &str| -> Result<(), GridError> {
        match table.get_ref().get(name) {
            Some(v) if form != only => Err(err(v.span(), &format!("{key}.{name}"), format!("`{name}` goes with `{only}` only"))),
            _ => Ok(()),
        }
    };
    extra("step", "int")?;
    extra("weights", "choice")?;
    let is_float = FLOATS.contains(&k);
    let is_int = INTS.contains(&k);
    let kind_error = |valid: &str| err(value.span(), &at, format!("`{k}` cannot take `{form}`: {valid}"));
    let check =
        |x: toml::Value| -> Result<(), GridError> { Partial::default().set(k, &x).map_err(|m| err(value.span(), &at, format!("{m} (a value of the range)"))) };
    let mut values = Vec::new();
    let dist = match form {
        "uniform" | "log_uniform" => {
            if !is_float {
                return Err(kind_error(&valid_forms(k)));
            }
            let (lo, hi) = pair(value, "numbers", |v| match v {
                toml::Value::Float(f) => Some(*f),
                toml::Value::Integer(i) => Some(*i as f64),
                _ => None,
            })
            .map_err(|m| err(value.span(), &at, m))?;
            if !(lo.is_finite() && hi.is_finite() && lo < hi && (hi - lo).is_finite()) {
                return Err(err(value.span(), &at, format!("low {lo} must be below high {hi}, both finite")));
            }
            if form == "log_uniform" && lo <= 0.0 {
                return Err(err(value.span(), &at, format!("a log range must lie above 0; low is {lo}")));
            }
            check(toml::Value::Float(lo))?;
            check(toml::Value::Float(hi))?;
            if form == "uniform" {
                Dist::Uniform { lo, hi }
            } else {
                Dist::LogUniform { lo, hi }
            }
        }
        "int" | "log_int" => {
            if !is_int {
                return Err(kind_error(&valid_forms(k)));
            }
            let (lo, hi) = pair(value, "integers", |v| v.as_integer()).map_err(|m| err(value.span(), &at, m))?;
            if lo >= hi {
                return Err(err(value.span(), &at, format!("low {lo} must be below high {hi}")));
            }
            let dist = if form == "int" {
                let step = match table.get_ref().get("step") {
                    None => 1,
                    Some(s) => match s.get_ref().as_integer() {
                        Some(s) if s >= 1 => s,
                        _ => {
                            return Err(err(
                                s.span(),
                                &format!("{key}.step"),
                                format!(
                                    "{} is not a valid step; valid: an integer of at least 1 that divides high - low ({})",
                                    s.get_ref(),
                                    hi as i128 - lo as i128
                                ),
                            ))
                        }
                    },
                };
                if (hi as i128 - lo as i128) % step as i128 != 0 {
                    let s = &table.get_ref()["step"];
                    return Err(err(
                        s.span(),
                        &format!("{key}.step"),
                        format!(
                            "step {step} does not divide high - low ({}): {hi} is not lo + a multiple of it; valid: a divisor of {}",
                            hi as i128 - lo as i128,
                            hi as i128 - lo as i128
                        ),
                    ));
                }
                Dist::Int { lo, hi, step }
            } else {
                if lo < 1 {
                    return Err(err(value.span(), &at, format!("a log range must lie above 0; low is {lo}")));
                }
                Dist::LogInt { lo, hi }
            };
            match dist.count() {
                Some(n) if n <= CHECK_EACH => {
                    for i in 0..n {
                        // In i128: i x step can pass i64 (lo far below 0) although lo + i x step <= hi.
                        let v = match dist {
                            Dist::Int { lo, step, .. } => (lo as i128 + i as i128 * step as i128) as i64,
                            _ => (lo as i128 + i as i128) as i64,
                        };
                        check(toml::Value::Integer(v))?;
                    }
                }
                _ => {
                    check(toml::Value::Integer(lo))?;
                    check(toml::Value::Integer(hi))?;
                }
            }
            dist
        }
        "choice" => {
            let list = value
                .get_ref()
                .as_array()
                .ok_or_else(|| err(value.span(), &at, format!("expected a list of values of `{k}`, found {}", value.get_ref().type_str())))?;
            if list.is_empty() {
                return Err(err(value.span(), &at, "the list is empty; give at least one value".into()));
            }
            for (i, v) in list.iter().enumerate() {
                let mut p = Partial::default();
                p.set(k, v).map_err(|m| err(value.span(), &at, format!("value {} ({v}): {m}", i + 1)))?;
                if let Some(j) = values.iter().position(|q| *q == p) {
                    return Err(err(value.span(), &at, format!("value {v} is listed twice (entries {} and {}); each value must differ", j + 1, i + 1)));
                }
                values.push(p);
            }
            let weights = match table.get_ref().get("weights") {
                None => None,
                Some(w) => {
                    let wat = format!("{key}.weights");
                    let ws: Option<Vec<f64>> =
                        w.get_ref().as_array().and_then(|a| a.iter().map(|x| x.as_float().or(x.as_integer().map(|i| i as f64))).collect());
                    let ws = ws.ok_or_else(|| err(w.span(), &wat, "expected a list of numbers, one per value".into()))?;
                    if ws.len() != list.len() {
                        return Err(err(w.span(), &wat, format!("{} weights for {} values; give one weight per value", ws.len(), list.len())));
                    }
                    if let Some(x) = ws.iter().find(|x| !(x.is_finite() && **x > 0.0)) {
                        return Err(err(
                            w.span(),
                            &wat,
                            format!("weight {x} is not valid; valid: a finite number above 0 (a value never drawn is left out of the list)"),
                        ));
                    }
                    Some(ws)
                }
            };
            Dist::Choice { n: list.len(), weights }
        }
        other => return Err(err(table.span(), &key, format!("unknown distribution `{other}`; valid: {FORMS}"))),
    };
    Ok(Axis::sampled(name, values, k, dist))
}

/// The forms a setting's range may take.
fn valid_forms(k: &str) -> String {
    if FLOATS.contains(&k) {
        "a float setting takes { uniform = [lo, hi] }, { log_uniform = [lo, hi] } or { choice = [...] }".into()
    } else if INTS.contains(&k) {
        "an integer setting takes { int = [lo, hi], step = s }, { log_int = [lo, hi] } or { choice = [...] }".into()
    } else {
        format!("`{k}` is not a number; list the values to draw from: {k} = {{ choice = [...] }}")
    }
}

/// `[lo, hi]`, two `kind` (as the message names them) that `get` reads.
fn pair<T>(v: &Spanned<toml::Value>, kind: &str, get: impl Fn(&toml::Value) -> Option<T>) -> Result<(T, T), String> {
    match v.get_ref().as_array().map(|a| a.as_slice()) {
        Some([a, b]) => match (get(a), get(b)) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(format!("expected [low, high], two {kind}; found {}", v.get_ref())),
        },
        _ => Err(format!("expected [low, high], two {kind}; found {}", v.get_ref())),
    }
}

/// The models of a sampled sweep over the fixed settings, and each one's positions on the axes.
/// Strategy `tpe`: the random start, then the models of the rounds proposed so far (`proposed`:
/// each one's value index per axis, from `search/round-R.json`), named as the `models` the search
/// will have; its positions are value indices.
pub(super) fn models(
    cx: &Ctx,
    fixed: &Partial,
    axes: &[Axis],
    s: &Search,
    slurm: &SlurmConfig,
    proposed: &[Vec<usize>],
) -> Result<(Vec<ModelSpec>, Vec<Vec<usize>>), GridError> {
    let dists: Vec<Dist> = axes.iter().map(Axis::dist).collect();
    let total = s.models as usize;
    // Named for the models a TPE search will have; a draw's models are all there is.
    let (drawn, count): (Vec<Drawn>, usize) = if s.strategy == Strategy::Tpe {
        let start = search::draw_n(Strategy::Random, s.seed, &dists, crate::search::tpe::first_random(total) as u32)
            .map_err(|e| cx.err(None, Some("search.models"), e))?;
        let start = start.into_iter().map(|d| {
            let positions = d.values.iter().zip(&dists).map(|(v, dist)| dist.index_of(v).unwrap_or(0)).collect();
            Drawn { values: d.values, positions }
        });
        let later = proposed.iter().map(|pos| {
            let values = pos
                .iter()
                .zip(&dists)
                .map(|(&i, d)| d.nth(i).ok_or_else(|| cx.err(None, Some("search"), format!("a proposed model's value {i} is not one of the axis's values"))))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(Drawn { values, positions: pos.clone() })
        });
        (start.map(Ok).chain(later).collect::<Result<Vec<_>, GridError>>()?, total)
    } else {
        let drawn = search::draw(s, &dists).map_err(|e| cx.err(None, Some("search.models"), e))?;
        let count = drawn.len();
        (drawn, count)
    };
    let mut models = Vec::with_capacity(drawn.len());
    let mut positions = Vec::with_capacity(drawn.len());
    for (index, d) in drawn.into_iter().enumerate() {
        let mut p = fixed.clone();
        let name = model_name(index, count);
        for (axis, v) in axes.iter().zip(&d.values) {
            let set = match *v {
                Value::Pick(i) => {
                    p.merge(&axis.values[i]);
                    Ok(())
                }
                Value::Float(x) => p.set(axis.setting(), &toml::Value::Float(x)),
                Value::Int(x) => p.set(axis.setting(), &toml::Value::Integer(x)),
            };
            set.map_err(|m| cx.err(None, Some(&format!("grid.{}", axis.name())), format!("{name}: {m}")))?;
        }
        let spec = p.resolve(index, name.clone(), slurm).map_err(|m| cx.err(None, None, format!("{name} (drawn by [search]): {m}")))?;
        models.push(spec);
        positions.push(d.positions);
    }
    Ok((models, positions))
}

/// The most models a TPE's space may hold: when none of a proposal's candidates is new, it picks
/// among every untried model of the space.
pub const MAX_TPE_SPACE: u64 = 1_000_000;

/// What strategy `tpe` refuses of a grid: an axis it cannot count (a float range, `log_int`, a
/// weighted `choice`: it treats each axis as a list of equally likely values), a space past
/// [`MAX_TPE_SPACE`], fewer models in it than `models`, and `[halving]` (its rounds train their
/// models in full). `span` gives each axis's place in the file.
pub(super) fn check_tpe(
    cx: &Ctx,
    axes: &[Axis],
    s: &Search,
    halving: bool,
    span: &dyn Fn(&str) -> Option<std::ops::Range<usize>>,
    search_span: Option<std::ops::Range<usize>>,
) -> Result<(), GridError> {
    if s.strategy != Strategy::Tpe {
        return Ok(());
    }
    if halving {
        return Err(cx.err(
            search_span,
            Some("search.strategy"),
            "strategy \"tpe\" trains each round's models in full and proposes the next round from their scores; it does not combine with [halving]: remove one of the two",
        ));
    }
    for a in axes {
        let d = a.dist();
        if d.nth(0).is_none() {
            let form = match d {
                Dist::Uniform { .. } | Dist::LogUniform { .. } => "a float range has no list of values to count",
                Dist::LogInt { .. } => "log_int shapes a random draw, which a TPE replaces with its own density",
                _ => "weights shape a random draw, which a TPE replaces with its own density",
            };
            return Err(cx.err(
                span(a.name()),
                Some(&format!("grid.{}", a.name())),
                format!("strategy \"tpe\" treats each axis as a list of equally likely values, and {form}; give a list, {{ choice = [...] }} without weights, or {{ int = [lo, hi], step = s }} (or use strategy \"random\" or \"sobol\")"),
            ));
        }
    }
    let dists: Vec<Dist> = axes.iter().map(Axis::dist).collect();
    let space = search::space(&dists).unwrap_or(u64::MAX);
    if (s.models as u64) > space {
        return Err(cx.err(search_span, Some("search.models"), search::SearchError::SpaceTooSmall { models: s.models, space }));
    }
    if space > MAX_TPE_SPACE {
        return Err(cx.err(
            search_span,
            Some("search.strategy"),
            format!("the axes hold {space} models; strategy \"tpe\" takes spaces of at most {MAX_TPE_SPACE}: give fewer values (a coarser step), or use strategy \"random\" or \"sobol\""),
        ));
    }
    Ok(())
}
