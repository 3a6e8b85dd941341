//! Sampled search (`[search]` in a grid file, docs/grid.md): which settings model k of a sampled
//! sweep gets. Every axis is a distribution ([`Dist`]: a list of values to choose from, a uniform
//! or log-uniform range, an integer range); the strategy turns a point of the unit cube into one
//! value per axis. Model k's settings depend only on the distributions, the search's seed and k,
//! with the same bits on every machine (SplitMix64 or the Owen-scrambled Sobol sequence of
//! `sobol_burley`, mapped through `libm`), so growing `models` keeps the first models as they were.
//! Points are drawn in order and a point equal to an earlier model is skipped: no two models of a
//! sweep have the same settings, and a finite space is sampled without replacement.

pub mod replay;
pub mod rounds;
pub mod tpe;

use crate::rng::splitmix64;
use serde::{Deserialize, Serialize};

/// How the points are drawn.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Strategy {
    /// Independent uniform draws (SplitMix64 of the seed, the point and the axis).
    Random,
    /// The Owen-scrambled Sobol sequence (Burley 2020): evener coverage at small counts.
    Sobol,
    /// A random start, then rounds of models proposed by a tree-structured Parzen estimator from
    /// the scores so far ([`tpe`], [`rounds`]); its random start is drawn as `Random` draws.
    Tpe,
}

impl Strategy {
    pub fn as_str(&self) -> &'static str {
        match self {
            Strategy::Random => "random",
            Strategy::Sobol => "sobol",
            Strategy::Tpe => "tpe",
        }
    }
}

impl std::str::FromStr for Strategy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "random" => Ok(Strategy::Random),
            "sobol" => Ok(Strategy::Sobol),
            "tpe" => Ok(Strategy::Tpe),
            _ => Err(format!("unknown strategy {s:?}; valid: \"random\", \"sobol\" or \"tpe\"")),
        }
    }
}

/// `[search]`: the strategy, how many models and the seed of the draws.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Search {
    pub strategy: Strategy,
    pub models: u32,
    pub seed: u64,
    /// Strategy `tpe`: the models each round proposes (one job array a round).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch: Option<u32>,
}

/// The most models a sampled sweep may have: a hundred job arrays of Slurm's default 1001 tasks
/// at one training each, far beyond a study; drawing them takes a third of a second.
pub const MAX_MODELS: u32 = 100_000;
/// The Sobol sequence of `sobol_burley` has 2^16 points.
pub const SOBOL_POINTS: u64 = 1 << 16;
/// ... in at most 256 dimensions (one per axis).
pub const SOBOL_AXES: usize = 256;
/// Points a draw may skip as equal to earlier models before it gives up (random strategy), per
/// model asked: a finite space is drawn without replacement, and a nearly exhausted one needs
/// many points to find its last unused values (n ln n on average).
const SKIPS_PER_MODEL: u64 = 200;

/// One axis of a sampled search: what a point's coordinate in [0, 1) becomes.
#[derive(Debug, Clone, PartialEq)]
pub enum Dist {
    /// One of `n` listed values, equally likely or in proportion to `weights`.
    Choice { n: usize, weights: Option<Vec<f64>> },
    /// A float, uniform in [lo, hi).
    Uniform { lo: f64, hi: f64 },
    /// A float whose logarithm is uniform: lo > 0.
    LogUniform { lo: f64, hi: f64 },
    /// lo, lo + step, ... hi, equally likely.
    Int { lo: i64, hi: i64, step: i64 },
    /// An integer in [lo, hi], each v with probability ln((v+1)/v) / ln((hi+1)/lo): lo >= 1.
    LogInt { lo: i64, hi: i64 },
}

/// One axis's value for one model.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value {
    /// The index of the listed value.
    Pick(usize),
    Float(f64),
    Int(i64),
}

impl Value {
    /// The same value (floats by their bits), for finding a point drawn twice.
    fn key(&self) -> (u8, u64) {
        match *self {
            Value::Pick(i) => (0, i as u64),
            Value::Float(f) => (1, f.to_bits()),
            Value::Int(i) => (2, i as u64),
        }
    }
}

/// One model of a sampled search: a value per axis, and each value's position for the halving
/// rule's axis hedge (a listed value's index; a range's quarter, 0 to 3).
#[derive(Debug, Clone, PartialEq)]
pub struct Drawn {
    pub values: Vec<Value>,
    pub positions: Vec<usize>,
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SearchError {
    #[error("models = {models}, but the space holds only {space} different models (the product of the axes' counts); give models = {space} or fewer, or list the axes without [search] to train every combination")]
    SpaceTooSmall { models: u32, space: u64 },
    #[error("strategy \"sobol\" has {SOBOL_POINTS} points and found only {found} different models in them; use strategy = \"random\" for this many models of this space")]
    SobolExhausted { found: usize },
    #[error("strategy \"sobol\" draws at most {SOBOL_AXES} axes; this search has {0}; use strategy = \"random\"")]
    SobolAxes(usize),
    #[error("after {tried} points only {found} different models were found; the space is too small for models = {models} (some listed values may have tiny weights)")]
    Exhausted { tried: u64, found: usize, models: u32 },
}

impl Dist {
    /// How many values the axis can take, if finite.
    pub fn count(&self) -> Option<u64> {
        match *self {
            Dist::Choice { n, .. } => Some(n as u64),
            Dist::Uniform { .. } | Dist::LogUniform { .. } => None,
            // Saturating: [i64::MIN, i64::MAX] holds 2^64 values, one more than u64 counts.
            Dist::Int { lo, hi, step } => Some(u64::try_from((hi as i128 - lo as i128) / step.max(1) as i128 + 1).unwrap_or(u64::MAX)),
            Dist::LogInt { lo, hi } => Some(u64::try_from(hi as i128 - lo as i128 + 1).unwrap_or(u64::MAX)),
        }
    }

    /// The `i`-th of a finite axis's values as a TPE counts them (a listed value, or lo + i x step
    /// of an `int` range): None for the other forms, or past the last value.
    pub fn nth(&self, i: usize) -> Option<Value> {
        match *self {
            Dist::Choice { n, weights: None } => (i < n).then_some(Value::Pick(i)),
            Dist::Int { lo, step, .. } => (u64::try_from(i).ok()? < self.count()?).then(|| Value::Int((lo as i128 + i as i128 * step as i128) as i64)),
            _ => None,
        }
    }

    /// Which of the axis's values `v` is, as [`Dist::nth`] counts them.
    pub fn index_of(&self, v: &Value) -> Option<usize> {
        match (self, *v) {
            (Dist::Choice { n, weights: None }, Value::Pick(i)) => (i < *n).then_some(i),
            (Dist::Int { lo, step, .. }, Value::Int(x)) => usize::try_from((x as i128 - *lo as i128) / *step.max(&1) as i128).ok(),
            _ => None,
        }
    }

    /// The value at coordinate `u` in [0, 1), and its position for the axis hedge.
    pub fn at(&self, u: f64) -> (Value, usize) {
        let quarter = ((u * 4.0) as usize).min(3);
        match self {
            Dist::Choice { n, weights: None } => {
                let i = ((u * *n as f64) as usize).min(n - 1);
                (Value::Pick(i), i)
            }
            Dist::Choice { n, weights: Some(w) } => {
                let total: f64 = w.iter().sum();
                let mut acc = 0.0;
                let mut pick = n - 1;
                for (i, x) in w.iter().enumerate() {
                    acc += x;
                    if u * total < acc {
                        pick = i;
                        break;
                    }
                }
                (Value::Pick(pick), pick)
            }
            Dist::Uniform { lo, hi } => (Value::Float((lo + u * (hi - lo)).clamp(*lo, *hi)), quarter),
            Dist::LogUniform { lo, hi } => {
                let (a, b) = (libm::log(*lo), libm::log(*hi));
                (Value::Float(libm::exp(a + u * (b - a)).clamp(*lo, *hi)), quarter)
            }
            Dist::Int { lo, hi, step } => {
                let count = self.count().unwrap_or(1).max(1);
                let i = ((u * count as f64) as u64).min(count - 1);
                let v = (*lo as i128 + i as i128 * *step as i128).min(*hi as i128) as i64;
                (Value::Int(v), if count <= 4 { i as usize } else { quarter })
            }
            Dist::LogInt { lo, hi } => {
                let (a, b) = (libm::log(*lo as f64), libm::log(*hi as f64 + 1.0));
                let v = (libm::floor(libm::exp(a + u * (b - a))) as i64).clamp(*lo, *hi);
                let count = self.count().unwrap_or(1);
                (Value::Int(v), if count <= 4 { (v - lo) as usize } else { quarter })
            }
        }
    }
}

/// The number of different points of the space, if finite (saturating at u64::MAX).
pub fn space(dists: &[Dist]) -> Option<u64> {
    dists.iter().try_fold(1u64, |n, d| d.count().map(|c| n.saturating_mul(c)))
}

/// Coordinate `axis` of point `p` of a random search with `seed`, in [0, 1).
fn random_coordinate(seed: u64, p: u64, axis: usize) -> f64 {
    let h = splitmix64(splitmix64(splitmix64(seed) ^ p) ^ axis as u64);
    (h >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// The Sobol sequence's seed: the search's 64-bit seed folded to the crate's 32 bits.
fn sobol_seed(seed: u64) -> u32 {
    (seed ^ (seed >> 32)) as u32
}

/// The first `search.models` models of the search over `dists`, in order.
pub fn draw(search: &Search, dists: &[Dist]) -> Result<Vec<Drawn>, SearchError> {
    draw_n(search.strategy, search.seed, dists, search.models)
}

/// The first `n` models of a search over `dists` with `strategy` and `seed`: point after point,
/// each one equal to an earlier model skipped.
pub fn draw_n(strategy: Strategy, seed: u64, dists: &[Dist], n: u32) -> Result<Vec<Drawn>, SearchError> {
    if let Some(space) = space(dists) {
        if (n as u64) > space {
            return Err(SearchError::SpaceTooSmall { models: n, space });
        }
    }
    if strategy == Strategy::Sobol && dists.len() > SOBOL_AXES {
        return Err(SearchError::SobolAxes(dists.len()));
    }
    let limit = match strategy {
        Strategy::Random | Strategy::Tpe => (n as u64).saturating_mul(SKIPS_PER_MODEL).max(100_000),
        Strategy::Sobol => SOBOL_POINTS,
    };
    let mut out: Vec<Drawn> = Vec::with_capacity(n as usize);
    let mut seen = std::collections::HashSet::with_capacity(n as usize);
    let mut p = 0u64;
    while out.len() < n as usize {
        if p >= limit {
            return Err(match strategy {
                Strategy::Sobol => SearchError::SobolExhausted { found: out.len() },
                Strategy::Random | Strategy::Tpe => SearchError::Exhausted { tried: p, found: out.len(), models: n },
            });
        }
        let (values, positions): (Vec<Value>, Vec<usize>) = dists
            .iter()
            .enumerate()
            .map(|(a, d)| {
                let u = match strategy {
                    Strategy::Random | Strategy::Tpe => random_coordinate(seed, p, a),
                    Strategy::Sobol => sobol_burley::sample(p as u32, a as u32, sobol_seed(seed)) as f64,
                };
                d.at(u)
            })
            .unzip();
        p += 1;
        if seen.insert(values.iter().map(Value::key).collect::<Vec<_>>()) {
            out.push(Drawn { values, positions });
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests;

/// The grid models (their indices in the full grid: first axis outermost, the last fastest) that a
/// search with `strategy`, `seed` and `k` models draws from the lists of lengths `lens`, in draw
/// order.
pub fn sample(strategy: Strategy, seed: u64, lens: &[usize], k: u32) -> Result<Vec<usize>, SearchError> {
    let dists: Vec<Dist> = lens.iter().map(|&n| Dist::Choice { n: n.max(1), weights: None }).collect();
    Ok(draw_n(strategy, seed, &dists, k)?
        .into_iter()
        .map(|d| {
            d.values.iter().zip(lens).fold(0, |index, (v, &n)| {
                let Value::Pick(i) = *v else { unreachable!("a choice axis gives picks") };
                index * n.max(1) + i
            })
        })
        .collect())
}
