//! One axis of the grid as parsed: a list of values (`expand.rs` crosses them) or a distribution
//! (`sampled.rs` draws from it), and what it says of itself (`AxisInfo`).

use super::config::Partial;
use super::AxisInfo;
use crate::search::Dist;

/// One axis of the grid: the settings each of its values sets; or, for `[search]`, a distribution
/// of one setting (`sampled.rs`).
pub(super) struct Axis {
    pub(super) name: String,
    /// The listed values (of a list axis or a `choice`); none for a range.
    pub(super) values: Vec<Partial>,
    /// The settings its values set.
    pub(super) sets: Vec<&'static str>,
    /// A distribution axis's distribution (`sampled.rs`); none for a list.
    pub(super) dist: Option<Dist>,
}

impl Axis {
    pub(super) fn sampled(name: &str, values: Vec<Partial>, setting: &'static str, dist: Dist) -> Axis {
        Axis { name: name.to_string(), values, sets: vec![setting], dist: Some(dist) }
    }

    pub fn info(&self) -> AxisInfo {
        let len = match &self.dist {
            None => self.values.len(),
            Some(d) => d.count().map_or(0, |n| usize::try_from(n).unwrap_or(usize::MAX)),
        };
        AxisInfo { name: self.name.clone(), len, sets: self.sets.iter().map(|s| s.to_string()).collect(), sampled: self.dist.as_ref().map(describe) }
    }

    pub(super) fn name(&self) -> &str {
        &self.name
    }

    /// The setting a distribution axis varies.
    pub(super) fn setting(&self) -> &'static str {
        self.sets[0]
    }

    /// What a sampled search draws for this axis: its distribution, or a choice among its values.
    pub(super) fn dist(&self) -> Dist {
        self.dist.clone().unwrap_or(Dist::Choice { n: self.values.len(), weights: None })
    }
}

/// A distribution as the grid file writes it.
fn describe(d: &Dist) -> String {
    match d {
        Dist::Choice { n, weights: None } => format!("choice of {n}"),
        Dist::Choice { n, weights: Some(w) } => format!("choice of {n}, weights {}", w.iter().map(|x| x.to_string()).collect::<Vec<_>>().join(", ")),
        Dist::Uniform { lo, hi } => format!("uniform [{lo}, {hi}]"),
        Dist::LogUniform { lo, hi } => format!("log_uniform [{lo}, {hi}]"),
        Dist::Int { lo, hi, step: 1 } => format!("int [{lo}, {hi}]"),
        Dist::Int { lo, hi, step } => format!("int [{lo}, {hi}] step {step}"),
        Dist::LogInt { lo, hi } => format!("log_int [{lo}, {hi}]"),
    }
}
