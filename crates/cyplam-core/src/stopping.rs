//! When a model's training stops before its end, decided from its metrics rows alone (so a resumed
//! run decides as an uninterrupted one, and a finished sweep's curves can replay the decision):
//! early stopping of one model, and the rule of successive halving across models (rungs at the
//! fractions eta^-(rungs-1-k) of the training length, on snapshot boundaries; the best ceil(n/eta)
//! by best validation Accuracy20% so far go on, ties by model index). `replay` applies both to the
//! recorded curves of a sweep whose models ran to the end.

use crate::metrics_csv::MetricsRow;
use crate::spec::EarlyStopping;

/// Whether early stopping ends the run after the snapshots in `rows` (in iteration order): the
/// validation Accuracy20% has not risen more than `min_delta` above the best before it for
/// `patience` snapshots in a row. A row without numbers (NaN or infinite loss) is never an
/// improvement. Returns the explanation for result.json.
pub fn early_stop(es: &EarlyStopping, rows: &[MetricsRow]) -> Option<String> {
    let mut best: Option<&MetricsRow> = None;
    let mut stale = 0u32;
    for r in rows {
        if !r.is_finite() {
            if best.is_some() {
                stale += 1;
            }
            continue;
        }
        match best {
            Some(b) if r.validation_accuracy20 <= b.validation_accuracy20 + es.min_delta => stale += 1,
            _ => {
                best = Some(r);
                stale = 0;
            }
        }
    }
    let b = best?;
    (stale >= es.patience).then(|| {
        format!(
            "early stopping: validation Accuracy20% did not improve by more than {} for {} snapshots (best {:.4} at iteration {})",
            es.min_delta, stale, b.validation_accuracy20, b.iteration
        )
    })
}

/// Successive halving: `rungs` rungs, each keeping the best 1/`eta` of the models of the one
/// before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Halving {
    pub eta: u32,
    pub rungs: u32,
}

/// A halving plan that cannot be.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HalvingError {
    #[error("eta {0}: give 2 or more (each rung keeps 1/eta of the models)")]
    Eta(u32),
    #[error("rungs {0}: give 1 to 16")]
    Rungs(u32),
}

impl Halving {
    /// The plan, checked: `eta` at least 2, `rungs` between 1 and 16.
    pub fn new(eta: u32, rungs: u32) -> Result<Halving, HalvingError> {
        if eta < 2 {
            return Err(HalvingError::Eta(eta));
        }
        if !(1..=16).contains(&rungs) {
            return Err(HalvingError::Rungs(rungs));
        }
        Ok(Halving { eta, rungs })
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

    /// How many of `n` models go on from a rung: ceil(n / eta).
    pub fn kept(&self, n: usize) -> usize {
        n.div_ceil(self.eta as usize)
    }

    /// How many models train in each rung at most, starting from `n` in rung 0: n, ceil(n/eta),
    /// ceil(ceil(n/eta)/eta), ... (`rungs` numbers; fewer models when some fail).
    pub fn sizes(&self, n: usize) -> Vec<usize> {
        std::iter::successors(Some(n), |&s| Some(self.kept(s))).take(self.rungs as usize).collect()
    }
}

/// Models ranked by score (the best validation Accuracy20% so far; a model without a finite one
/// last), best first, ties by model index.
pub fn rank(scores: &[(usize, Option<f64>)]) -> Vec<usize> {
    let mut order: Vec<&(usize, Option<f64>)> = scores.iter().collect();
    order.sort_by(|a, b| match (a.1.filter(|v| v.is_finite()), b.1.filter(|v| v.is_finite())) {
        (Some(x), Some(y)) => y.total_cmp(&x).then(a.0.cmp(&b.0)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.0.cmp(&b.0),
    });
    order.into_iter().map(|s| s.0).collect()
}

/// The models that go on from a rung: the first `kept` of [`rank`], in model order.
pub fn promote(scores: &[(usize, Option<f64>)], kept: usize) -> Vec<usize> {
    let mut out: Vec<usize> = rank(scores).into_iter().take(kept).collect();
    out.sort_unstable();
    out
}

/// The rows up to `iteration` (rows rise by iteration).
fn rows_until(rows: &[MetricsRow], iteration: u64) -> &[MetricsRow] {
    &rows[..rows.partition_point(|r| r.iteration <= iteration)]
}

/// The best finite validation Accuracy20% among rows up to `iteration`.
pub fn best_until(rows: &[MetricsRow], iteration: u64) -> Option<f64> {
    crate::metrics_csv::best_row(rows_until(rows, iteration)).map(|r| r.validation_accuracy20)
}

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

fn stop_at(rows: &[MetricsRow], iteration: u64) -> Stop {
    let done = rows_until(rows, iteration);
    Stop {
        iteration,
        seconds: done.last().map(|r| r.elapsed_seconds).unwrap_or(0.0),
        snapshots: done.len(),
        best: crate::metrics_csv::best_row(done).map(|r| r.validation_accuracy20),
    }
}

/// What successive halving would have done with the recorded curves (`curves[i]` = model i's
/// rows, complete): per rung, the models that trained in it; per model, where it stopped.
#[derive(Debug, Clone, PartialEq)]
pub struct HalvingReplay {
    pub rungs: Vec<Vec<usize>>,
    pub stops: Vec<Stop>,
}

pub fn replay_halving(h: &Halving, curves: &[Vec<MetricsRow>]) -> HalvingReplay {
    let ends: Vec<Vec<u64>> = curves.iter().map(|rows| h.rung_ends(&rows.iter().map(|r| r.iteration).collect::<Vec<_>>())).collect();
    let mut alive: Vec<usize> = (0..curves.len()).collect();
    let mut rungs = Vec::new();
    let mut stop_rung = vec![0usize; curves.len()];
    for k in 0..h.rungs as usize {
        rungs.push(alive.clone());
        for &m in &alive {
            stop_rung[m] = k;
        }
        if k + 1 == h.rungs as usize {
            break;
        }
        let scores: Vec<(usize, Option<f64>)> = alive.iter().map(|&m| (m, ends[m].get(k).and_then(|&e| best_until(&curves[m], e)))).collect();
        alive = promote(&scores, h.kept(alive.len()));
    }
    let stops = curves.iter().enumerate().map(|(m, rows)| stop_at(rows, ends[m].get(stop_rung[m]).copied().unwrap_or(0))).collect();
    HalvingReplay { rungs, stops }
}

/// Where early stopping would have stopped each model: the first snapshot after which
/// [`early_stop`] says stop, else the end.
pub fn replay_early_stopping(es: &EarlyStopping, curves: &[Vec<MetricsRow>]) -> Vec<Stop> {
    curves
        .iter()
        .map(|rows| {
            let end = (1..=rows.len()).find(|&n| early_stop(es, &rows[..n]).is_some()).unwrap_or(rows.len());
            stop_at(rows, rows.get(end.wrapping_sub(1)).map(|r| r.iteration).unwrap_or(0))
        })
        .collect()
}

/// The full run of every model, for comparison.
pub fn full(curves: &[Vec<MetricsRow>]) -> Vec<Stop> {
    curves.iter().map(|rows| stop_at(rows, rows.last().map(|r| r.iteration).unwrap_or(0))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn curve(acc: &[f64]) -> Vec<MetricsRow> {
        acc.iter()
            .enumerate()
            .map(|(i, &a)| MetricsRow {
                iteration: (i as u64 + 1) * 10,
                train_loss: 0.0,
                train_accuracy20: 0.0,
                validation_loss: 0.0,
                validation_accuracy20: a,
                elapsed_seconds: (i + 1) as f64,
            })
            .collect()
    }

    #[test]
    fn early_stopping_waits_patience_snapshots_without_improvement() {
        let es = EarlyStopping { patience: 2, min_delta: 0.0 };
        assert_eq!(early_stop(&es, &[]), None);
        assert_eq!(early_stop(&es, &curve(&[0.1, 0.2, 0.3])), None);
        assert_eq!(early_stop(&es, &curve(&[0.1, 0.3, 0.2])), None);
        let why = early_stop(&es, &curve(&[0.1, 0.3, 0.2, 0.3])).expect("stops");
        assert!(why.contains("for 2 snapshots (best 0.3000 at iteration 20)"), "{why}");
        // A new best resets the count.
        assert_eq!(early_stop(&es, &curve(&[0.1, 0.3, 0.2, 0.4, 0.35])), None);
        // Rises of at most min_delta do not count as improvements.
        let es = EarlyStopping { patience: 2, min_delta: 0.05 };
        assert!(early_stop(&es, &curve(&[0.1, 0.3, 0.33, 0.35])).is_some());
        assert_eq!(early_stop(&es, &curve(&[0.1, 0.3, 0.33, 0.36])), None);
    }

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

    #[test]
    fn promotion_keeps_the_best_and_breaks_ties_by_index() {
        let s = [(0, Some(0.5)), (1, Some(0.7)), (2, Some(0.7)), (3, None), (4, Some(f64::NAN)), (5, Some(0.6))];
        assert_eq!(promote(&s, 2), vec![1, 2]);
        assert_eq!(promote(&s, 3), vec![1, 2, 5]);
        assert_eq!(promote(&s, 5), vec![0, 1, 2, 3, 5], "no score is last; ties among them by index");
    }

    #[test]
    fn halving_replay_on_hand_made_curves() {
        // 9 snapshots; eta 3, 2 rungs: rung 0 ends at snapshot 3 (iteration 30), then 1 of 3 goes on.
        let curves = vec![
            curve(&[0.1, 0.2, 0.3, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]), // a late bloomer, pruned
            curve(&[0.4, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]), // best at rung 0
            curve(&[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        ];
        let r = replay_halving(&Halving::new(3, 2).unwrap(), &curves);
        assert_eq!(r.rungs, vec![vec![0, 1, 2], vec![1]]);
        assert_eq!(r.stops.iter().map(|s| s.iteration).collect::<Vec<_>>(), vec![30, 90, 30]);
        assert_eq!(r.stops[0].best, Some(0.3));
        assert_eq!((r.stops[1].seconds, r.stops[1].snapshots), (9.0, 9));
        let es = EarlyStopping { patience: 2, min_delta: 0.0 };
        let e = replay_early_stopping(&es, &curves);
        assert_eq!(e.iter().map(|s| s.iteration).collect::<Vec<_>>(), vec![60, 50, 30]);
        assert_eq!(full(&curves)[0].best, Some(0.9));
    }
}
