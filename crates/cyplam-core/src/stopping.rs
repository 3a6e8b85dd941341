//! When a model's training stops before its end, decided from its metrics rows alone (so a resumed
//! run decides as an uninterrupted one, and a finished sweep's curves can replay the decision):
//! early stopping of one model, and the rule of successive halving across models (rungs at the
//! fractions eta^-(rungs-1-k) of the training length, on snapshot boundaries; the best ceil(n/eta)
//! by best validation Accuracy20% so far go on, ties by model index). `replay` applies both to the
//! recorded curves of a sweep whose models ran to the end.

use crate::metrics_csv::MetricsRow;
use crate::spec::EarlyStopping;

/// Whether early stopping ends the run after the snapshots in `rows` (in iteration order): the
/// validation Accuracy20% has not risen above the best before it by more than the larger of
/// `min_delta` and `noise` times the curve's own jitter so far ([`jitter`] of the rows before it)
/// for `patience` snapshots in a row. A row without numbers (NaN or infinite loss) is never an
/// improvement. Returns the explanation for result.json.
pub fn early_stop(es: &EarlyStopping, rows: &[MetricsRow]) -> Option<String> {
    let mut best: Option<&MetricsRow> = None;
    let mut stale = 0u32;
    let mut needed = es.min_delta;
    for (t, r) in rows.iter().enumerate() {
        if !r.is_finite() {
            if best.is_some() {
                stale += 1;
            }
            continue;
        }
        let delta = match (es.noise > 0.0).then(|| jitter([&rows[..t]])).flatten() {
            Some(j) => es.min_delta.max(es.noise * j),
            None => es.min_delta,
        };
        match best {
            Some(b) if r.validation_accuracy20 <= b.validation_accuracy20 + delta => {
                stale += 1;
                needed = delta;
            }
            _ => {
                best = Some(r);
                stale = 0;
            }
        }
    }
    let b = best?;
    if stale < es.patience {
        return None;
    }
    let mut fallen = String::new();
    if es.drop > 0.0 {
        // The curve must have fallen: the mean of the last `patience` snapshots well below the best.
        let last: Vec<f64> = rows.iter().rev().take(es.patience as usize).filter(|r| r.is_finite()).map(|r| r.validation_accuracy20).collect();
        let j = jitter([rows])?;
        let mean = last.iter().sum::<f64>() / last.len().max(1) as f64;
        if last.is_empty() || mean > b.validation_accuracy20 - es.drop * j {
            return None;
        }
        fallen = format!(", and the last {} averaged {mean:.4}, more than {:.4} below it", last.len(), es.drop * j);
    }
    Some(format!(
        "early stopping: validation Accuracy20% did not improve by more than {needed:.4} for {stale} snapshots (best {:.4} at iteration {}){fallen}",
        b.validation_accuracy20, b.iteration
    ))
}

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
    Noise { noise: f64, cap: f64, axes: f64 },
}

/// The defaults of `[halving]` (chosen by bench/halving on curve sets it did not report on; see
/// docs/halving.md).
pub const DEFAULT_ETA: u32 = 4;
pub const DEFAULT_RUNGS: u32 = 3;
pub const DEFAULT_NOISE: f64 = 1.0;
pub const DEFAULT_CAP: f64 = 1.25;
pub const DEFAULT_AXES: f64 = 0.0;

impl Promotion {
    pub fn rank() -> Promotion {
        Promotion::Rank
    }

    /// The default rule.
    pub fn noise_default() -> Promotion {
        Promotion::Noise { noise: DEFAULT_NOISE, cap: DEFAULT_CAP, axes: DEFAULT_AXES }
    }

    /// Checked: factors finite, `noise` and `axes` >= 0, `cap` >= 1.
    pub fn noise(noise: f64, cap: f64, axes: f64) -> Result<Promotion, HalvingError> {
        if !(noise.is_finite() && noise >= 0.0 && noise <= 100.0) {
            return Err(HalvingError::Noise(noise));
        }
        if !(cap.is_finite() && (1.0..=100.0).contains(&cap)) {
            return Err(HalvingError::Cap(cap));
        }
        if !(axes.is_finite() && axes >= 0.0 && axes <= 100.0) {
            return Err(HalvingError::Axes(axes));
        }
        Ok(Promotion::Noise { noise, cap, axes })
    }

    /// At most how many of `n` models go on when `kept` would by rank alone.
    pub fn cap_of(&self, n: usize, kept: usize) -> usize {
        match *self {
            Promotion::Rank => kept.min(n),
            Promotion::Noise { cap, .. } => {
                let c = (cap * kept as f64).ceil();
                if c.is_finite() && c < n as f64 { (c as usize).max(kept) } else { n }
            }
        }
    }

    /// A short description ("noise x2, cap x2").
    pub fn describe(&self) -> String {
        match *self {
            Promotion::Rank => "by rank".into(),
            Promotion::Noise { noise, cap, axes } if axes > 0.0 => format!("ties within {noise} x noise, axes {axes}, cap x{cap}"),
            Promotion::Noise { noise, cap, .. } => format!("ties within {noise} x noise, cap x{cap}"),
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

    /// At most how many of `n` models go on from a rung: [`Halving::kept`], or more with ties, up
    /// to the promotion rule's cap.
    pub fn max_kept(&self, n: usize) -> usize {
        self.promotion.cap_of(n, self.kept(n))
    }

    /// How many models train in each rung when no model is tied, starting from `n` in rung 0: n,
    /// ceil(n/eta), ceil(ceil(n/eta)/eta), ... (`rungs` numbers; fewer models when some fail).
    pub fn sizes(&self, n: usize) -> Vec<usize> {
        std::iter::successors(Some(n), |&s| Some(self.kept(s))).take(self.rungs as usize).collect()
    }

    /// How many models train in each rung at most (every rung promoting up to its cap): the
    /// slots of each rung's job array.
    pub fn max_sizes(&self, n: usize) -> Vec<usize> {
        std::iter::successors(Some(n), |&s| Some(self.max_kept(s))).take(self.rungs as usize).collect()
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

/// The last rows of each curve that the jitter is measured on: the snapshots just before the
/// point where the curve is judged, where the comparison is made.
pub const JITTER_WINDOW: usize = 12;
/// Fewer residuals than this and the jitter is not measured.
pub const JITTER_MIN_POINTS: usize = 5;

/// The snapshot-to-snapshot jitter of validation Accuracy20% in `curves` (each the rows of one
/// model up to where it is judged): each snapshot's distance from the mean of its two neighbours
/// (which takes out a straight trend) over the last [`JITTER_WINDOW`] rows of each curve, pooled,
/// as a robust standard deviation of one snapshot (1.4826 x median / sqrt(1.5)). `None` with
/// fewer than [`JITTER_MIN_POINTS`] such points. The same rows give the same number everywhere.
pub fn jitter<'a>(curves: impl IntoIterator<Item = &'a [MetricsRow]>) -> Option<f64> {
    let mut r: Vec<f64> = Vec::new();
    for rows in curves {
        let tail = &rows[rows.len().saturating_sub(JITTER_WINDOW)..];
        for w in tail.windows(3) {
            if w.iter().all(|x| x.is_finite()) {
                r.push((w[1].validation_accuracy20 - (w[0].validation_accuracy20 + w[2].validation_accuracy20) / 2.0).abs());
            }
        }
    }
    if r.len() < JITTER_MIN_POINTS {
        return None;
    }
    r.sort_by(f64::total_cmp);
    let n = r.len();
    let median = if n % 2 == 1 { r[n / 2] } else { (r[n / 2 - 1] + r[n / 2]) / 2.0 };
    Some(1.4826 * median / 1.5f64.sqrt())
}

/// One model at the end of a rung, as the rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Contender<'a> {
    pub index: usize,
    /// Its rows up to the rung's end.
    pub rows: &'a [MetricsRow],
    /// The value (position in the axis) of each grid axis for this model; empty if unknown.
    pub axes: &'a [usize],
    /// It failed by itself: it cannot go on, whatever its score.
    pub excluded: bool,
}

/// How a model went on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WentOn {
    /// Among the best ceil(n/eta).
    Rank,
    /// Within the margin of the last one kept by rank.
    Tie,
    /// The best of an axis value none of whose models went on, within the axis margin.
    Axis,
}

/// A rung's decision by the rule, from its contenders alone.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Verdict {
    /// ceil(candidates / eta): how many go on by rank.
    pub kept: usize,
    /// At most how many go on.
    pub cap: usize,
    /// The rung's jitter ([`jitter`]), when measured.
    pub noise: Option<f64>,
    /// How far below the cutoff a model still counts as tied (`noise` x the jitter); `None` with
    /// the noise rule where the jitter could not be measured (every model counts as tied).
    pub margin: Option<f64>,
    /// The score of the last model kept by rank.
    pub cutoff: Option<f64>,
    /// The models that go on, in model order, with how each did.
    pub promoted: Vec<(usize, WentOn)>,
}

impl Verdict {
    pub fn promoted_models(&self) -> Vec<usize> {
        self.promoted.iter().map(|p| p.0).collect()
    }

    pub fn count(&self, how: WentOn) -> usize {
        self.promoted.iter().filter(|p| p.1 == how).count()
    }

    /// "3 by rank and 2 within noise of the cutoff (0.011)".
    pub fn summary(&self) -> String {
        let mut s = format!("{} by rank", self.count(WentOn::Rank));
        let (ties, axis) = (self.count(WentOn::Tie), self.count(WentOn::Axis));
        let margin = match self.margin {
            Some(m) => format!("{m:.4}"),
            None => "noise not measurable yet".into(),
        };
        if ties > 0 {
            s += &format!(" and {ties} within noise of the cutoff ({margin})");
        }
        if axis > 0 {
            s += &format!(" and {axis} to keep an axis value");
        }
        s
    }
}

/// The rung's decision among `contenders` (every model that trained in it, in model order) by
/// `h`'s promotion rule. The one function the workers, `cyplam run`, the check of a decision file
/// and the replay of recorded curves all call: the same rows give the same decision.
pub fn promote_rung(h: &Halving, contenders: &[Contender]) -> Verdict {
    let kept = h.kept(contenders.len());
    let cap = h.max_kept(contenders.len());
    let eligible: Vec<&Contender> = contenders.iter().filter(|c| !c.excluded).collect();
    let score = |c: &Contender| crate::files::best_row(c.rows).map(|r| r.validation_accuracy20);
    let scores: Vec<(usize, Option<f64>)> = eligible.iter().map(|c| (c.index, score(c))).collect();
    let ranked = rank(&scores);
    let score_of = |m: usize| scores.iter().find(|s| s.0 == m).and_then(|s| s.1).filter(|v| v.is_finite());
    let mut promoted: Vec<(usize, WentOn)> = ranked.iter().take(kept).map(|&m| (m, WentOn::Rank)).collect();
    let cutoff = promoted.last().and_then(|p| score_of(p.0));
    let noise = jitter(eligible.iter().map(|c| c.rows));
    let mut margin = None;
    if let (Promotion::Noise { noise: factor, axes, .. }, Some(cut)) = (h.promotion, cutoff) {
        margin = noise.map(|j| factor * j);
        let within = |m: usize, times: f64| match (score_of(m), margin) {
            (Some(s), Some(g)) => s >= cut - g * times,
            (Some(_), None) => true,
            (None, _) => false,
        };
        for &m in ranked.iter().skip(kept) {
            if promoted.len() >= cap || !within(m, 1.0) {
                break;
            }
            promoted.push((m, WentOn::Tie));
        }
        if axes > 0.0 {
            let n_axes = eligible.iter().map(|c| c.axes.len()).max().unwrap_or(0);
            for a in 0..n_axes {
                let mut values: Vec<usize> = eligible.iter().filter_map(|c| c.axes.get(a).copied()).collect();
                values.sort_unstable();
                values.dedup();
                for v in values {
                    if promoted.len() >= cap {
                        break;
                    }
                    let has = |m: usize| eligible.iter().any(|c| c.index == m && c.axes.get(a) == Some(&v));
                    if promoted.iter().any(|p| has(p.0)) {
                        continue;
                    }
                    if let Some(&best) = ranked.iter().find(|&&m| has(m)) {
                        if within(best, axes) {
                            promoted.push((best, WentOn::Axis));
                        }
                    }
                }
            }
        }
    }
    promoted.sort_unstable_by_key(|p| p.0);
    Verdict { kept, cap, noise, margin, cutoff, promoted }
}

/// The rows up to `iteration` (rows rise by iteration).
pub fn rows_until(rows: &[MetricsRow], iteration: u64) -> &[MetricsRow] {
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
            })
            .collect();
        let v = promote_rung(h, &contenders);
        alive = v.promoted_models();
        verdicts.push(v);
    }
    let stops = curves.iter().enumerate().map(|(m, rows)| stop_at(rows, ends[m].get(stop_rung[m]).copied().unwrap_or(0))).collect();
    (HalvingReplay { rungs, stops }, verdicts)
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
        let es = EarlyStopping { patience: 2, min_delta: 0.0, noise: 0.0, drop: 0.0 };
        assert_eq!(early_stop(&es, &[]), None);
        assert_eq!(early_stop(&es, &curve(&[0.1, 0.2, 0.3])), None);
        assert_eq!(early_stop(&es, &curve(&[0.1, 0.3, 0.2])), None);
        let why = early_stop(&es, &curve(&[0.1, 0.3, 0.2, 0.3])).expect("stops");
        assert!(why.contains("for 2 snapshots (best 0.3000 at iteration 20)"), "{why}");
        // A new best resets the count.
        assert_eq!(early_stop(&es, &curve(&[0.1, 0.3, 0.2, 0.4, 0.35])), None);
        // Rises of at most min_delta do not count as improvements.
        let es = EarlyStopping { patience: 2, min_delta: 0.05, noise: 0.0, drop: 0.0 };
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
    fn ranking_keeps_the_best_and_breaks_ties_by_index() {
        let s = [(0, Some(0.5)), (1, Some(0.7)), (2, Some(0.7)), (3, None), (4, Some(f64::NAN)), (5, Some(0.6))];
        assert_eq!(rank(&s), vec![1, 2, 5, 0, 3, 4], "no score is last; ties among them by index");
        // The rank rule through promote_rung: the first ceil(n/eta), in model order.
        let rank_rule = Halving::with(2, 2, Promotion::Rank).unwrap();
        let curves: Vec<Vec<MetricsRow>> = [0.5, 0.7, 0.7, 0.6].iter().map(|&a| curve(&[a])).collect();
        let c: Vec<Contender> = curves.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &[], excluded: false }).collect();
        let v = promote_rung(&rank_rule, &c);
        assert_eq!((v.promoted_models(), v.kept, v.cap, v.margin), (vec![1, 2], 2, 2, None));
    }

    /// A curve of `n` snapshots around `level` with a fixed +-`jit` alternation (jitter ~ `jit`).
    fn noisy(level: f64, jit: f64, n: usize) -> Vec<MetricsRow> {
        curve(&(0..n).map(|i| level + if i % 2 == 0 { jit } else { -jit }).collect::<Vec<_>>())
    }

    #[test]
    fn the_noise_rule_promotes_ties_within_the_noise_not_clear_losers_and_holds_its_cap() {
        // 9 models, eta 3: 3 by rank. Jitter: each snapshot is +-0.01 around its level, so a
        // snapshot sits 0.02 from its neighbours' mean: jitter 1.4826 x 0.02 / sqrt(1.5) = 0.0242.
        let levels = [0.80, 0.79, 0.78, 0.775, 0.70, 0.60, 0.50, 0.40, 0.30];
        let curves: Vec<Vec<MetricsRow>> = levels.iter().map(|&l| noisy(l, 0.01, 8)).collect();
        let c: Vec<Contender> = curves.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &[], excluded: false }).collect();
        let h = Halving::with(3, 2, Promotion::noise(1.0, 2.0, 0.0).unwrap()).unwrap();
        let v = promote_rung(&h, &c);
        let j = v.noise.expect("measured");
        assert!((j - 1.4826 * 0.02 / 1.5f64.sqrt()).abs() < 1e-12, "{j}");
        assert_eq!(v.cutoff, Some(0.79), "the third best's best snapshot (0.78 + 0.01)");
        // Model 3 (best 0.785) is 0.005 below the cutoff, inside the margin: it goes on as a tie;
        // model 4 (0.71) is 0.08 below: a clear loser.
        assert_eq!(v.promoted, vec![(0, WentOn::Rank), (1, WentOn::Rank), (2, WentOn::Rank), (3, WentOn::Tie)]);
        assert_eq!(v.summary(), format!("3 by rank and 1 within noise of the cutoff ({:.4})", j));
        // A wider margin would take more, but never past the cap: ceil(2 x 3) = 6.
        let wide = Halving::with(3, 2, Promotion::noise(100.0, 2.0, 0.0).unwrap()).unwrap();
        let v = promote_rung(&wide, &c);
        assert_eq!((v.promoted_models(), v.cap), (vec![0, 1, 2, 3, 4, 5], 6));
        // Too few snapshots to measure the jitter: none can be told apart, the best up to the cap go on.
        let short: Vec<Vec<MetricsRow>> = levels.iter().map(|&l| curve(&[l])).collect();
        let cs: Vec<Contender> = short.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &[], excluded: false }).collect();
        let v = promote_rung(&h, &cs);
        assert_eq!((v.noise, v.margin, v.promoted_models()), (None, None, vec![0, 1, 2, 3, 4, 5]));
        // An excluded model never goes on, whatever its score.
        let mut cx = c.clone();
        cx[0].excluded = true;
        assert!(!promote_rung(&h, &cx).promoted_models().contains(&0));
        // The same rows give the same decision.
        assert_eq!(promote_rung(&h, &c), promote_rung(&h, &c));
    }

    #[test]
    fn the_axis_rule_keeps_a_value_that_lost_by_less_than_its_margin() {
        // Two values of one axis; value 1's best (model 4) is 0.03 below the cutoff: outside the
        // tie margin (1 x jitter 0.024) but inside the axis margin (2 x).
        let levels = [0.80, 0.79, 0.78, 0.70, 0.76, 0.60];
        let axes: Vec<Vec<usize>> = vec![vec![0], vec![0], vec![0], vec![0], vec![1], vec![1]];
        let curves: Vec<Vec<MetricsRow>> = levels.iter().map(|&l| noisy(l, 0.01, 8)).collect();
        let c: Vec<Contender> = curves.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &axes[i], excluded: false }).collect();
        let off = Halving::with(3, 2, Promotion::noise(1.0, 2.0, 0.0).unwrap()).unwrap();
        assert_eq!(promote_rung(&off, &c).promoted_models(), vec![0, 1, 2], "model 2 is 0.01 below the cutoff 0.80: a tie");
        let on = Halving::with(3, 2, Promotion::noise(1.0, 2.0, 2.0).unwrap()).unwrap();
        let v = promote_rung(&on, &c);
        assert_eq!(v.promoted, vec![(0, WentOn::Rank), (1, WentOn::Rank), (2, WentOn::Tie), (4, WentOn::Axis)]);
    }

    #[test]
    fn early_stopping_ignores_rises_inside_the_noise_and_can_wait_for_a_fall() {
        // A plateau at 0.8 +- 0.01 with one rise of 0.015 above its best: not an improvement at
        // noise x1 (jitter 0.024), so the count is not reset.
        let mut acc: Vec<f64> = (0..10).map(|i| 0.8 + if i % 2 == 0 { 0.01 } else { -0.01 }).collect();
        acc.push(0.825);
        acc.extend([0.79, 0.81]);
        let plain = EarlyStopping { patience: 4, min_delta: 0.0, noise: 0.0, drop: 0.0 };
        let noise = EarlyStopping { noise: 1.0, ..plain };
        assert_eq!(early_stop(&plain, &curve(&acc)), None, "0.825 was a new best, two snapshots ago");
        assert!(early_stop(&noise, &curve(&acc)).is_some_and(|w| w.contains("did not improve by more than 0.024")));
        // drop: stop only once the curve has fallen below the best by more than 2 jitters.
        let fall = EarlyStopping { drop: 2.0, ..noise };
        assert_eq!(early_stop(&fall, &curve(&acc)), None, "flat, not fallen");
        let mut fallen = acc.clone();
        fallen.extend([0.70, 0.69, 0.70, 0.69]);
        assert!(early_stop(&fall, &curve(&fallen)).is_some_and(|w| w.contains("averaged")), "{:?}", early_stop(&fall, &curve(&fallen)));
    }

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
        let es = EarlyStopping { patience: 2, min_delta: 0.0, noise: 0.0, drop: 0.0 };
        let e = replay_early_stopping(&es, &curves);
        assert_eq!(e.iter().map(|s| s.iteration).collect::<Vec<_>>(), vec![60, 50, 30]);
        assert_eq!(full(&curves)[0].best, Some(0.9));
    }
}
