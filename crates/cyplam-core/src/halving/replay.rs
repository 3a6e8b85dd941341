//! Policies replayed on recorded curves, and judged: what successive halving would have done
//! with the curves of a sweep whose models ran to the end (the same rule as the workers'), where
//! each model would have stopped, and a policy's stops against the full grid's
//! (`cyplam report --what-if`, bench/halving/replay). Early stopping's replay
//! (`stopping::replay_early_stopping`) gives the same [`Stop`]s.

use crate::curve::rows_until;
use crate::halving::rule::{promote_rung, rank, Contender, Verdict};
use crate::halving::settings::Halving;
use crate::metrics_csv::{best_row, MetricsRow};

/// Where a policy stops one model: the iteration of its last snapshot trained, and the seconds and
/// the snapshots (validation passes) spent until then.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stop {
    pub iteration: u64,
    pub seconds: f64,
    pub snapshots: usize,
    /// The best validation Accuracy20% it had reached by then.
    pub best: Option<f64>,
}

pub fn stop_at(rows: &[MetricsRow], iteration: u64) -> Stop {
    let done = rows_until(rows, iteration);
    Stop {
        iteration,
        seconds: done.last().map(|r| r.elapsed_seconds).unwrap_or(0.0),
        snapshots: done.len(),
        best: best_row(done).map(|r| r.validation_accuracy20),
    }
}

/// What successive halving would have done with the recorded curves (`curves[i]` = model i's
/// rows, complete): per rung, the models that trained in it; per model, where it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct HalvingReplay {
    pub rungs: Vec<Vec<usize>>,
    pub stops: Vec<Stop>,
}

pub fn replay_halving(h: &Halving, curves: &[Vec<MetricsRow>], axes: &[Vec<usize>]) -> HalvingReplay {
    replay_halving_verdicts(h, curves, axes).0
}

/// [`replay_halving`], with each rung's [`Verdict`].
pub fn replay_halving_verdicts(h: &Halving, curves: &[Vec<MetricsRow>], axes: &[Vec<usize>]) -> (HalvingReplay, Vec<Verdict>) {
    let ends: Vec<Vec<u64>> = curves.iter().map(|rows| h.rung_ends(&rows.iter().map(|r| r.iteration).collect::<Vec<_>>())).collect();
    let mut alive: Vec<usize> = (0..curves.len()).collect();
    let mut rungs = Vec::new();
    let mut verdicts = Vec::new();
    let mut stop_rung = vec![0usize; curves.len()];
    for k in 0..h.rungs as usize {
        rungs.push(alive.clone());
        for &m in &alive {
            stop_rung[m] = k;
        }
        if k + 1 == h.rungs as usize {
            break;
        }
        let contenders: Vec<Contender> = alive
            .iter()
            .map(|&m| Contender {
                index: m,
                rows: ends[m].get(k).map(|&e| rows_until(&curves[m], e)).unwrap_or(&[]),
                axes: axes.get(m).map(|a| a.as_slice()).unwrap_or(&[]),
                excluded: false,
                next_end: ends[m].get(k + 1).copied().unwrap_or(0),
            })
            .collect();
        let v = promote_rung(h, k as u32, &contenders);
        alive = v.promoted_models();
        verdicts.push(v);
    }
    let stops = curves.iter().enumerate().map(|(m, rows)| stop_at(rows, ends[m].get(stop_rung[m]).copied().unwrap_or(0))).collect();
    (HalvingReplay { rungs, stops }, verdicts)
}

/// The full run of every model, for comparison.
pub fn full(curves: &[Vec<MetricsRow>]) -> Vec<Stop> {
    curves.iter().map(|rows| stop_at(rows, rows.last().map(|r| r.iteration).unwrap_or(0))).collect()
}

/// How many of the full grid's best models a policy is judged on.
pub const TOP: usize = 10;

/// A policy's stops judged against the full run of the same curves.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement {
    /// Iterations and seconds spent, and their fractions of the full grid's.
    pub iterations: f64,
    pub iterations_fraction: f64,
    pub seconds: f64,
    pub seconds_fraction: f64,
    /// The model the policy ranks first (by the best each reached under it), and the best it
    /// reaches when trained in full.
    pub best_found: Option<usize>,
    pub best_found_full: Option<f64>,
    /// The full grid's best model and its best.
    pub full_best: Option<usize>,
    pub full_best_accuracy20: Option<f64>,
    /// full grid's best - best_found_full (0 when the policy found it).
    pub loss: f64,
    /// The full grid's top [`TOP`], and how many of them the policy's top [`TOP`] holds.
    pub full_top: Vec<usize>,
    pub top_overlap: usize,
    /// The largest shortfall of a full-top model's best under the policy against its full-length
    /// best.
    pub worst_top_loss: f64,
}

/// Judges `stops` (one per model, from a replay) against `base`, the full run of the same curves
/// ([`full`], computed once for every policy judged).
pub fn judge(base: &[Stop], stops: &[Stop]) -> Judgement {
    let ranked = |s: &[Stop]| rank(&s.iter().enumerate().map(|(m, s)| (m, s.best)).collect::<Vec<_>>());
    let sum = |s: &[Stop], f: fn(&Stop) -> f64| s.iter().map(f).sum::<f64>();
    let frac = |x: f64, of: f64| if of > 0.0 { x / of } else { 0.0 };
    let (iterations, seconds) = (sum(stops, |s| s.iteration as f64), sum(stops, |s| s.seconds));
    let full_top: Vec<usize> = ranked(base).into_iter().take(TOP).collect();
    let top: Vec<usize> = ranked(stops).into_iter().take(TOP).collect();
    let best_found = top.first().copied();
    let full_best = full_top.first().copied();
    let best_found_full = best_found.and_then(|m| base[m].best);
    let full_best_accuracy20 = full_best.and_then(|m| base[m].best);
    let loss = match (full_best_accuracy20, best_found_full) {
        (Some(a), Some(b)) => (a - b).max(0.0),
        (Some(a), None) => a,
        _ => 0.0,
    };
    let worst_top_loss = full_top
        .iter()
        .map(|&m| match (base[m].best, stops.get(m).and_then(|s| s.best)) {
            (Some(a), Some(b)) => (a - b).max(0.0),
            (Some(a), None) => a,
            _ => 0.0,
        })
        .fold(0.0, f64::max);
    Judgement {
        iterations,
        iterations_fraction: frac(iterations, sum(base, |s| s.iteration as f64)),
        seconds,
        seconds_fraction: frac(seconds, sum(base, |s| s.seconds)),
        best_found,
        best_found_full,
        full_best,
        full_best_accuracy20,
        loss,
        top_overlap: top.iter().filter(|m| full_top.contains(m)).count(),
        full_top,
        worst_top_loss,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::test_curve as curve;
    use crate::halving::settings::Promotion;

    #[test]
    fn halving_replay_on_hand_made_curves() {
        // 9 snapshots; eta 3, 2 rungs: rung 0 ends at snapshot 3 (iteration 30), then 1 of 3 goes on.
        let curves = vec![
            curve(&[0.1, 0.2, 0.3, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]), // a late bloomer, pruned
            curve(&[0.4, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]), // best at rung 0
            curve(&[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        ];
        let r = replay_halving(&Halving::with(3, 2, Promotion::Rank).unwrap(), &curves, &[]);
        assert_eq!(r.rungs, vec![vec![0, 1, 2], vec![1]]);
        assert_eq!(r.stops.iter().map(|s| s.iteration).collect::<Vec<_>>(), vec![30, 90, 30]);
        assert_eq!(r.stops[0].best, Some(0.3));
        assert_eq!((r.stops[1].seconds, r.stops[1].snapshots), (9.0, 9));
        assert_eq!(full(&curves)[0].best, Some(0.9));
    }
}
