//! A halving plan as the grid gives it (`[halving]`): eta, the rungs, the promotion rule and its
//! defaults, checked; and the rung arithmetic: where each rung ends in a run of so many
//! iterations and snapshots, and how many models each rung keeps.

/// Successive halving: `rungs` rungs, each keeping the best 1/`eta` of the models of the one
/// before, and, by the default rule, every model that cannot be told apart from the last of them.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Halving {
    pub eta: u32,
    pub rungs: u32,
    /// How the models that go on are chosen; a sweep frozen before there was a choice ranked.
    #[serde(default = "Promotion::rank")]
    pub promotion: Promotion,
}

/// How a rung's models that go on are chosen (docs/halving.md, "The decision rule").
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "rule", rename_all = "lowercase")]
pub enum Promotion {
    /// The best ceil(n/eta) by score, nothing else.
    Rank,
    /// The best ceil(n/eta), then every model whose score is within `noise` times the rung's
    /// jitter ([`jitter`]) of the last of them (ties), then, for each value of a grid axis none of
    /// whose models went on, its best model if within `axes` times that margin; at most
    /// ceil(`cap` x ceil(n/eta)) models in all. Where the jitter cannot be measured (too few
    /// snapshots yet), no two models can be told apart: the best up to the cap go on.
    ///
    /// `curve` (0: off): then every model whose curve, extrapolated to the next rung's end
    /// (`forecast`), could reach the score the last model kept by forecast would have there, within
    /// `curve` times the forecast's own uncertainty, goes on too (a slow starter), still under the
    /// cap.
    ///
    /// `forecast` (0: off): at every rung but the one before the last, the best
    /// ceil(`forecast` x ceil(n/eta)) of the models that did not go on otherwise, ranked by their
    /// curve's forecast at the next rung's end, go on too, beyond the cap (slow starters: behind
    /// now, forecast to pass the others; docs/halving.md). A sweep frozen before this key had it
    /// off.
    Noise {
        noise: f64,
        cap: f64,
        axes: f64,
        #[serde(default)]
        curve: f64,
        #[serde(default)]
        forecast: f64,
    },
}

/// The defaults of `[halving]` (chosen by bench/halving on curve sets it did not report on; see
/// docs/halving.md).
pub const DEFAULT_ETA: u32 = 4;
pub const DEFAULT_RUNGS: u32 = 3;
pub const DEFAULT_NOISE: f64 = 1.0;
pub const DEFAULT_CAP: f64 = 1.25;
pub const DEFAULT_AXES: f64 = 0.0;
pub const DEFAULT_CURVE: f64 = 0.0;
pub const DEFAULT_FORECAST: f64 = 0.25;

impl Promotion {
    pub fn rank() -> Promotion {
        Promotion::Rank
    }

    /// The default rule.
    pub fn noise_default() -> Promotion {
        Promotion::Noise { noise: DEFAULT_NOISE, cap: DEFAULT_CAP, axes: DEFAULT_AXES, curve: DEFAULT_CURVE, forecast: DEFAULT_FORECAST }
    }

    /// Checked: factors finite, `noise` and `axes` >= 0, `cap` >= 1; the curve evidence and the
    /// forecast allowance off ([`Promotion::with_curve`], [`Promotion::with_forecast`]).
    pub fn noise(noise: f64, cap: f64, axes: f64) -> Result<Promotion, HalvingError> {
        if !(noise.is_finite() && (0.0..=100.0).contains(&noise)) {
            return Err(HalvingError::Noise(noise));
        }
        if !(cap.is_finite() && (1.0..=100.0).contains(&cap)) {
            return Err(HalvingError::Cap(cap));
        }
        if !(axes.is_finite() && (0.0..=100.0).contains(&axes)) {
            return Err(HalvingError::Axes(axes));
        }
        Ok(Promotion::Noise { noise, cap, axes, curve: DEFAULT_CURVE, forecast: 0.0 })
    }

    /// The noise rule with the curve evidence at factor `curve` (0: off), checked: 0 to 100.
    pub fn with_curve(self, curve: f64) -> Result<Promotion, HalvingError> {
        if !(curve.is_finite() && (0.0..=100.0).contains(&curve)) {
            return Err(HalvingError::Curve(curve));
        }
        match self {
            Promotion::Noise { noise, cap, axes, forecast, .. } => Ok(Promotion::Noise { noise, cap, axes, curve, forecast }),
            Promotion::Rank if curve == 0.0 => Ok(Promotion::Rank),
            Promotion::Rank => Err(HalvingError::CurveRank),
        }
    }

    /// The noise rule with the forecast allowance `forecast` (0: off), checked: 0 to 4.
    pub fn with_forecast(self, forecast: f64) -> Result<Promotion, HalvingError> {
        if !(forecast.is_finite() && (0.0..=4.0).contains(&forecast)) {
            return Err(HalvingError::Forecast(forecast));
        }
        match self {
            Promotion::Noise { noise, cap, axes, curve, .. } => Ok(Promotion::Noise { noise, cap, axes, curve, forecast }),
            Promotion::Rank if forecast == 0.0 => Ok(Promotion::Rank),
            Promotion::Rank => Err(HalvingError::ForecastRank),
        }
    }

    /// How many models go on by forecast beyond the cap, at most, when `kept` go on by rank at a
    /// rung whose next rung is not the last (`early`); 0 otherwise.
    pub fn forecast_allowance(&self, kept: usize, early: bool) -> usize {
        match *self {
            Promotion::Noise { forecast, .. } if early && forecast > 0.0 => (forecast * kept as f64).ceil() as usize,
            _ => 0,
        }
    }

    /// At most how many of `n` models go on when `kept` would by rank alone.
    pub fn cap_of(&self, n: usize, kept: usize) -> usize {
        match *self {
            Promotion::Rank => kept.min(n),
            Promotion::Noise { cap, .. } => {
                let c = (cap * kept as f64).ceil();
                if c.is_finite() && c < n as f64 {
                    (c as usize).max(kept)
                } else {
                    n
                }
            }
        }
    }

    /// A short description ("ties within 1 x noise, cap x1.25").
    pub fn describe(&self) -> String {
        match *self {
            Promotion::Rank => "by rank".into(),
            Promotion::Noise { noise, cap, axes, curve, forecast } => {
                let mut s = format!("ties within {noise} x noise");
                if axes > 0.0 {
                    s += &format!(", axes {axes}");
                }
                if curve > 0.0 {
                    s += &format!(", curves within {curve} x their uncertainty");
                }
                s += &format!(", cap x{cap}");
                if forecast > 0.0 {
                    s += &format!(", forecast x{forecast}");
                }
                s
            }
        }
    }
}

/// A halving plan that cannot be.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum HalvingError {
    #[error("eta {0}: give 2 or more (each rung keeps 1/eta of the models)")]
    Eta(u32),
    #[error("rungs {0}: give 1 to 16")]
    Rungs(u32),
    #[error("noise {0}: give a number from 0 to 100 (models within noise x the rung's jitter of the last kept go on; 0: none)")]
    Noise(f64),
    #[error("cap {0}: give a number from 1 to 100 (at most cap x ceil(n/eta) models go on)")]
    Cap(f64),
    #[error("axes {0}: give a number from 0 to 100 (0: off)")]
    Axes(f64),
    #[error("curve {0}: give a number from 0 to 100 (models whose forecast comes within curve x its uncertainty of the cutoff go on; 0: off)")]
    Curve(f64),
    #[error("curve applies to promote = \"noise\" only")]
    CurveRank,
    #[error("forecast {0}: give a number from 0 to 4 (before the last rung's decision, the best ceil(forecast x ceil(n/eta)) by their curve's forecast also go on; 0: off)")]
    Forecast(f64),
    #[error("forecast applies to promote = \"noise\" only")]
    ForecastRank,
}

impl Halving {
    /// The plan, checked: `eta` at least 2, `rungs` between 1 and 16; the default promotion rule.
    pub fn new(eta: u32, rungs: u32) -> Result<Halving, HalvingError> {
        Halving::with(eta, rungs, Promotion::noise_default())
    }

    /// The plan with the promotion rule `promotion`.
    pub fn with(eta: u32, rungs: u32, promotion: Promotion) -> Result<Halving, HalvingError> {
        if eta < 2 {
            return Err(HalvingError::Eta(eta));
        }
        if !(1..=16).contains(&rungs) {
            return Err(HalvingError::Rungs(rungs));
        }
        Ok(Halving { eta, rungs, promotion })
    }

    /// Where rung `k` aims to end in a `total`-iteration run: ceil(total / eta^(rungs-1-k)), in
    /// integers (the same on every machine); the last rung ends at `total`.
    pub fn rung_target(&self, total: u64, k: u32) -> u64 {
        let down = self.rungs.saturating_sub(1).saturating_sub(k);
        match (self.eta as u128).checked_pow(down) {
            Some(d) => (total as u128).div_ceil(d.max(1)) as u64,
            None => 1,
        }
    }

    /// The iteration at which each rung ends, for a model whose snapshots are at `snapshots`
    /// (rising; the last is the end of training): rung k ends at the first snapshot at or after
    /// [`Halving::rung_target`], and the last rung at the end.
    pub fn rung_ends(&self, snapshots: &[u64]) -> Vec<u64> {
        let Some(&total) = snapshots.last() else { return Vec::new() };
        (0..self.rungs)
            .map(|k| {
                let target = self.rung_target(total, k);
                snapshots.iter().copied().find(|&s| s >= target).unwrap_or(total)
            })
            .collect()
    }

    /// [`Halving::rung_ends`]`[k]` for a model of `total` iterations and `snapshots` evenly
    /// spaced snapshots, without listing the snapshots.
    pub fn rung_end(&self, total: u64, snapshots: u32, k: u32) -> u64 {
        if k + 1 >= self.rungs {
            return total;
        }
        crate::spec::first_snapshot_at_or_after(total, snapshots, self.rung_target(total, k))
    }

    /// How many of `n` models go on from a rung by rank alone: ceil(n / eta).
    pub fn kept(&self, n: usize) -> usize {
        n.div_ceil(self.eta as usize)
    }

    /// Whether rung `rung`'s decision is taken before the one that sends models to the last rung
    /// (where the forecast allowance applies).
    pub fn early(&self, rung: u32) -> bool {
        rung.saturating_add(2) < self.rungs
    }

    /// At most how many of `n` models go on from rung `rung`: [`Halving::kept`], or more with ties,
    /// up to the promotion rule's cap, and the forecast allowance at an early rung.
    pub fn max_kept(&self, n: usize, rung: u32) -> usize {
        let kept = self.kept(n);
        (self.promotion.cap_of(n, kept) + self.promotion.forecast_allowance(kept, self.early(rung))).min(n)
    }

    /// How many models train in each rung when no model is tied, starting from `n` in rung 0: n,
    /// ceil(n/eta), ceil(ceil(n/eta)/eta), ... (`rungs` numbers; fewer models when some fail).
    pub fn sizes(&self, n: usize) -> Vec<usize> {
        std::iter::successors(Some(n), |&s| Some(self.kept(s))).take(self.rungs as usize).collect()
    }

    /// How many models train in each rung at most (every rung promoting up to its cap): the
    /// slots of each rung's job array.
    pub fn max_sizes(&self, n: usize) -> Vec<usize> {
        let mut sizes = vec![n];
        for k in 1..self.rungs {
            let before = sizes[sizes.len() - 1];
            sizes.push(self.max_kept(before, k - 1));
        }
        sizes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rungs_end_on_snapshot_boundaries() {
        let h = Halving::new(3, 4).unwrap();
        let snaps: Vec<u64> = (1..=27).map(|k| k * 100).collect();
        assert_eq!(h.rung_ends(&snaps), vec![100, 300, 900, 2700]);
        // Coarser snapshots: the first snapshot at or after each fraction.
        assert_eq!(h.rung_ends(&[1000, 2000, 2700]), vec![1000, 1000, 1000, 2700]);
        assert_eq!(h.kept(10), 4);
        assert_eq!(h.kept(1), 1);
        assert_eq!(h.sizes(27), vec![27, 9, 3, 1]);
        assert_eq!(h.sizes(10), vec![10, 4, 2, 1]);
        assert!(Halving::new(1, 4).is_err() && Halving::new(3, 0).is_err());
        // Computed without the list, the same ends.
        for (total, snaps) in [(2700u64, 27u32), (2700, 3), (1000, 7), (416_400, 200), (5, 5), (100, 1)] {
            let list = crate::spec::snapshot_iterations(total, snaps);
            let ends: Vec<u64> = (0..4).map(|k| h.rung_end(total, snaps, k)).collect();
            assert_eq!(ends, h.rung_ends(&list), "{total} iterations, {snaps} snapshots");
        }
        // No overflow on absurd plans.
        let big = Halving::new(u32::MAX, 16).unwrap();
        assert_eq!(big.rung_end(u64::MAX, u32::MAX, 0), crate::spec::first_snapshot_at_or_after(u64::MAX, u32::MAX, 1));
    }

    /// A sweep frozen before the forecast allowance keeps deciding as it did: its sweep.json has
    /// no `forecast`, read as off; a new `[halving]` gets the default.
    #[test]
    fn a_sweep_frozen_before_the_forecast_allowance_keeps_it_off() {
        let old: Promotion = serde_json::from_str(r#"{"rule":"noise","noise":1.0,"cap":1.25,"axes":0.0,"curve":0.0}"#).unwrap();
        assert_eq!(old, Promotion::Noise { noise: 1.0, cap: 1.25, axes: 0.0, curve: 0.0, forecast: 0.0 });
        assert_eq!(old.forecast_allowance(4, true), 0);
        assert_eq!(Promotion::noise_default().forecast_allowance(4, true), 1);
        assert_eq!(Promotion::noise_default().forecast_allowance(7, true), 2);
        assert_eq!(Promotion::noise_default().forecast_allowance(7, false), 0);
        let h = Halving::new(4, 3).unwrap();
        assert_eq!((h.early(0), h.early(1), h.early(2)), (true, false, false));
        // 16 models: 4 by rank, cap 5, 1 by forecast at rung 0; 2 by rank at most from rung 1.
        assert_eq!((h.sizes(16), h.max_sizes(16)), (vec![16, 4, 1], vec![16, 6, 3]));
    }
}
