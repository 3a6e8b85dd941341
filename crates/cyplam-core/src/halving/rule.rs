//! The promotion rule: which models of a rung go on, from their curves up to the rung's end
//! alone (docs/halving.md, "The decision rule"). The one function the workers, `cyplam run`, the
//! check of a decision file and the replay of recorded curves all call.

use crate::curve::jitter;
use crate::forecast::{forecast, Forecast};
use crate::halving::settings::{Halving, Promotion};
use crate::metrics_csv::{best_row, MetricsRow};

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
    /// The iteration at which it would end the next rung: where the curve evidence forecasts its
    /// score.
    pub next_end: u64,
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
    /// Its curve, extrapolated to the next rung's end, could reach the forecast cutoff.
    Curve,
    /// Among the best by the forecast of its curve at the next rung's end (the forecast
    /// allowance, beyond the cap, before the last rung's decision).
    Forecast,
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
    /// The curve evidence: the forecast score at the next rung's end of the last model kept by
    /// forecast (the bar a slow starter's optimistic forecast must reach), when it was used.
    #[serde(default)]
    pub forecast_cutoff: Option<f64>,
    /// The forecast score at the next rung's end of each model that went on by its curve.
    #[serde(default)]
    pub forecasts: Vec<(usize, f64)>,
    /// The forecast score at the next rung's end of each model that went on by the forecast
    /// allowance ([`WentOn::Forecast`]).
    #[serde(default)]
    pub by_forecast: Vec<(usize, f64)>,
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
        let curve = self.count(WentOn::Curve);
        if curve > 0 {
            let bar = self.forecast_cutoff.map(|c| format!(" (forecast cutoff {c:.4})")).unwrap_or_default();
            s += &format!(" and {curve} by their curve{bar}");
        }
        let fc = self.count(WentOn::Forecast);
        if fc > 0 {
            s += &format!(" and {fc} by their forecast");
        }
        s
    }
}

/// The decision of rung `rung` among `contenders` (every model that trained in it, in model order)
/// by `h`'s promotion rule. The one function the workers, `cyplam run`, the check of a decision
/// file and the replay of recorded curves all call: the same rows give the same decision.
pub fn promote_rung(h: &Halving, rung: u32, contenders: &[Contender]) -> Verdict {
    let kept = h.kept(contenders.len());
    // The cap of rank, ties, axes and curves; the forecast allowance comes on top of it.
    let cap = h.promotion.cap_of(contenders.len(), kept);
    let eligible: Vec<&Contender> = contenders.iter().filter(|c| !c.excluded).collect();
    let score = |c: &Contender| best_row(c.rows).map(|r| r.validation_accuracy20);
    let scores: Vec<(usize, Option<f64>)> = eligible.iter().map(|c| (c.index, score(c))).collect();
    let ranked = rank(&scores);
    let score_of = |m: usize| scores.iter().find(|s| s.0 == m).and_then(|s| s.1).filter(|v| v.is_finite());
    let mut promoted: Vec<(usize, WentOn)> = ranked.iter().take(kept).map(|&m| (m, WentOn::Rank)).collect();
    let cutoff = promoted.last().and_then(|p| score_of(p.0));
    let noise = jitter(eligible.iter().map(|c| c.rows));
    let mut margin = None;
    let (mut forecast_cutoff, mut forecasts, mut by_forecast) = (None, Vec::new(), Vec::new());
    if let (Promotion::Noise { noise: factor, axes, curve, .. }, Some(cut)) = (h.promotion, cutoff) {
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
        // After the ties (measured: before them, the curve evidence took the ties' places under
        // the cap and found the best on fewer sets, docs/halving.md).
        if curve > 0.0 {
            (forecast_cutoff, forecasts) = by_curve(&eligible, kept, cap, curve, &mut promoted);
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
        by_forecast = by_forecast_allowance(&eligible, h.promotion.forecast_allowance(kept, h.early(rung)), &mut promoted);
    }
    promoted.sort_unstable_by_key(|p| p.0);
    Verdict { kept, cap: h.max_kept(contenders.len(), rung), noise, margin, cutoff, promoted, forecast_cutoff, forecasts, by_forecast }
}

/// The forecast allowance: of the eligible models not yet promoted, the best `allowance` by the
/// forecast of their curve at the next rung's end ([`forecast_of`]; ties by model index; a model
/// whose curve cannot be fitted has none and is not taken). Returns their forecasts, in model
/// order.
fn by_forecast_allowance(eligible: &[&Contender], allowance: usize, promoted: &mut Vec<(usize, WentOn)>) -> Vec<(usize, f64)> {
    if allowance == 0 {
        return Vec::new();
    }
    let mut fc: Vec<(usize, f64)> =
        eligible.iter().filter(|c| !promoted.iter().any(|p| p.0 == c.index)).filter_map(|c| forecast_of(c).map(|f| (c.index, f.predicted))).collect();
    fc.retain(|f| f.1.is_finite());
    fc.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    fc.truncate(allowance);
    for f in &fc {
        promoted.push((f.0, WentOn::Forecast));
    }
    fc.sort_unstable_by_key(|f| f.0);
    fc
}

/// A contender's curve up to the rung's end extrapolated to its next rung's end ([`forecast`]).
pub fn forecast_of(c: &Contender) -> Option<Forecast> {
    let points: Vec<(f64, f64)> = c.rows.iter().filter(|r| r.is_finite()).map(|r| (r.iteration as f64, r.validation_accuracy20)).collect();
    forecast(&points, c.next_end as f64)
}

/// The curve evidence: each eligible model's forecast at its next rung's end; the bar is the
/// `kept`-th best forecast (what ranking on forecasts would keep). Models not yet promoted whose
/// optimistic forecast (`predicted + curve x uncertainty`) reaches the bar go on, best bound
/// first (ties by index), until the cap. Returns the bar and the promoted models' forecasts.
fn by_curve(eligible: &[&Contender], kept: usize, cap: usize, curve: f64, promoted: &mut Vec<(usize, WentOn)>) -> (Option<f64>, Vec<(usize, f64)>) {
    let fc: Vec<(usize, Forecast)> = eligible.iter().filter_map(|c| forecast_of(c).map(|f| (c.index, f))).collect();
    let mut predicted: Vec<f64> = fc.iter().map(|f| f.1.predicted).collect();
    predicted.sort_by(|a, b| b.total_cmp(a));
    let Some(&bar) = predicted.get(kept.saturating_sub(1)) else { return (None, Vec::new()) };
    let bound = |f: &Forecast| f.predicted + curve * (f.upper - f.predicted);
    let mut order: Vec<&(usize, Forecast)> = fc.iter().collect();
    order.sort_by(|a, b| bound(&b.1).total_cmp(&bound(&a.1)).then(a.0.cmp(&b.0)));
    let mut out = Vec::new();
    for (m, f) in order {
        if promoted.len() >= cap || bound(f) < bar {
            break;
        }
        if !promoted.iter().any(|p| p.0 == *m) {
            promoted.push((*m, WentOn::Curve));
            out.push((*m, f.predicted));
        }
    }
    out.sort_unstable_by_key(|f| f.0);
    (Some(bar), out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::test_curve as curve;

    #[test]
    fn ranking_keeps_the_best_and_breaks_ties_by_index() {
        let s = [(0, Some(0.5)), (1, Some(0.7)), (2, Some(0.7)), (3, None), (4, Some(f64::NAN)), (5, Some(0.6))];
        assert_eq!(rank(&s), vec![1, 2, 5, 0, 3, 4], "no score is last; ties among them by index");
        // The rank rule through promote_rung: the first ceil(n/eta), in model order.
        let rank_rule = Halving::with(2, 2, Promotion::Rank).unwrap();
        let curves: Vec<Vec<MetricsRow>> = [0.5, 0.7, 0.7, 0.6].iter().map(|&a| curve(&[a])).collect();
        let c: Vec<Contender> = curves.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &[], excluded: false, next_end: 0 }).collect();
        let v = promote_rung(&rank_rule, 0, &c);
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
        let c: Vec<Contender> = curves.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &[], excluded: false, next_end: 0 }).collect();
        let h = Halving::with(3, 2, Promotion::noise(1.0, 2.0, 0.0).unwrap()).unwrap();
        let v = promote_rung(&h, 0, &c);
        let j = v.noise.expect("measured");
        assert!((j - 1.4826 * 0.02 / 1.5f64.sqrt()).abs() < 1e-12, "{j}");
        assert_eq!(v.cutoff, Some(0.79), "the third best's best snapshot (0.78 + 0.01)");
        // Model 3 (best 0.785) is 0.005 below the cutoff, inside the margin: it goes on as a tie;
        // model 4 (0.71) is 0.08 below: a clear loser.
        assert_eq!(v.promoted, vec![(0, WentOn::Rank), (1, WentOn::Rank), (2, WentOn::Rank), (3, WentOn::Tie)]);
        assert_eq!(v.summary(), format!("3 by rank and 1 within noise of the cutoff ({:.4})", j));
        // A wider margin would take more, but never past the cap: ceil(2 x 3) = 6.
        let wide = Halving::with(3, 2, Promotion::noise(100.0, 2.0, 0.0).unwrap()).unwrap();
        let v = promote_rung(&wide, 0, &c);
        assert_eq!((v.promoted_models(), v.cap), (vec![0, 1, 2, 3, 4, 5], 6));
        // Too few snapshots to measure the jitter: none can be told apart, the best up to the cap go on.
        let short: Vec<Vec<MetricsRow>> = levels.iter().map(|&l| curve(&[l])).collect();
        let cs: Vec<Contender> = short.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &[], excluded: false, next_end: 0 }).collect();
        let v = promote_rung(&h, 0, &cs);
        assert_eq!((v.noise, v.margin, v.promoted_models()), (None, None, vec![0, 1, 2, 3, 4, 5]));
        // An excluded model never goes on, whatever its score.
        let mut cx = c.clone();
        cx[0].excluded = true;
        assert!(!promote_rung(&h, 0, &cx).promoted_models().contains(&0));
        // The same rows give the same decision.
        assert_eq!(promote_rung(&h, 0, &c), promote_rung(&h, 0, &c));
    }

    #[test]
    fn the_axis_rule_keeps_a_value_that_lost_by_less_than_its_margin() {
        // Two values of one axis; value 1's best (model 4) is 0.03 below the cutoff: outside the
        // tie margin (1 x jitter 0.024) but inside the axis margin (2 x).
        let levels = [0.80, 0.79, 0.78, 0.70, 0.76, 0.60];
        let axes: Vec<Vec<usize>> = vec![vec![0], vec![0], vec![0], vec![0], vec![1], vec![1]];
        let curves: Vec<Vec<MetricsRow>> = levels.iter().map(|&l| noisy(l, 0.01, 8)).collect();
        let c: Vec<Contender> = curves.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &axes[i], excluded: false, next_end: 0 }).collect();
        let off = Halving::with(3, 2, Promotion::noise(1.0, 2.0, 0.0).unwrap()).unwrap();
        assert_eq!(promote_rung(&off, 0, &c).promoted_models(), vec![0, 1, 2], "model 2 is 0.01 below the cutoff 0.80: a tie");
        let on = Halving::with(3, 2, Promotion::noise(1.0, 2.0, 2.0).unwrap()).unwrap();
        let v = promote_rung(&on, 0, &c);
        assert_eq!(v.promoted, vec![(0, WentOn::Rank), (1, WentOn::Rank), (2, WentOn::Tie), (4, WentOn::Axis)]);
    }

    /// Six curves of 8 snapshots: flat around 0.80, 0.78 and 0.70 (+-0.004), then model 3, a slow
    /// starter rising as 0.95 - 0.8 x^-0.6 (0.15 at the first snapshot, 0.66 at the last), then
    /// flat at 0.69 and 0.40.
    fn riser_among_flats() -> Vec<Vec<MetricsRow>> {
        let flat = |level: f64| (0..8).map(|i| level + if i % 2 == 0 { 0.004 } else { -0.004 }).collect::<Vec<f64>>();
        let riser: Vec<f64> = (1..=8).map(|i| 0.95 - 0.8 * (i as f64).powf(-0.6)).collect();
        [flat(0.80), flat(0.78), flat(0.70), riser, flat(0.69), flat(0.40)].iter().map(|a| curve(a)).collect()
    }

    /// Issue 32: the curve evidence on hand-made curves. Rank keeps the 2 best of 6 (eta 3); a
    /// slow starter, behind now but still rising fast, goes on by its curve; a flat model just
    /// behind the cutoff does not; the cap holds; the same rows give the same verdict.
    #[test]
    fn the_curve_evidence_takes_a_slow_riser_not_a_flat_loser_and_holds_the_cap() {
        let curves = riser_among_flats();
        let c: Vec<Contender> = curves.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &[], excluded: false, next_end: 320 }).collect();
        let off = Halving::with(3, 2, Promotion::noise(1.0, 2.0, 0.0).unwrap()).unwrap();
        assert_eq!(promote_rung(&off, 0, &c).promoted_models(), vec![0, 1], "without the curve evidence the riser (best 0.66) is pruned");
        let on = Halving::with(3, 2, Promotion::noise(1.0, 2.0, 0.0).unwrap().with_curve(1.0).unwrap()).unwrap();
        let v = promote_rung(&on, 0, &c);
        assert_eq!(v.promoted, vec![(0, WentOn::Rank), (1, WentOn::Rank), (3, WentOn::Curve)], "{v:?}");
        let (m, predicted) = v.forecasts[0];
        assert!(m == 3 && predicted > 0.78, "the riser's forecast at iteration 320 ({predicted}) passes the flat models' level");
        assert!(v.forecast_cutoff.is_some_and(|bar| bar <= predicted + 0.05), "{v:?}");
        assert!(v.summary().contains("1 by their curve"), "{}", v.summary());
        // Model 2 (flat at 0.70) and model 4 (flat at 0.69) are behind and flat: they stop.
        assert!(!v.promoted_models().contains(&2) && !v.promoted_models().contains(&4));
        // The cap holds: cap x1 keeps the 2 by rank only.
        let capped = Halving::with(3, 2, Promotion::noise(1.0, 1.0, 0.0).unwrap().with_curve(1.0).unwrap()).unwrap();
        assert_eq!(promote_rung(&capped, 0, &c).promoted_models(), vec![0, 1]);
        // Deterministic: the same rows, the same verdict, bit for bit.
        assert_eq!(promote_rung(&on, 0, &c), v);
        assert!(Promotion::noise(1.0, 2.0, 0.0).unwrap().with_curve(-1.0).is_err() && Promotion::Rank.with_curve(1.0).is_err());
    }

    /// Issue 32: the forecast allowance. Before the last rung's decision, the best ceil(forecast x
    /// kept) of the models that did not go on otherwise, by their curve's forecast at the next
    /// rung's end, go on beyond the cap: a slow riser goes on, a flat model just behind does not;
    /// at the decision into the last rung, or with the allowance off, nothing more goes on.
    #[test]
    fn the_forecast_allowance_takes_a_slow_riser_before_the_last_rung_only() {
        let curves = riser_among_flats();
        let c: Vec<Contender> = curves.iter().enumerate().map(|(i, r)| Contender { index: i, rows: r, axes: &[], excluded: false, next_end: 320 }).collect();
        // eta 3, 3 rungs, cap x1: 2 by rank, no ties; forecast x0.5: ceil(0.5 x 2) = 1 more at rung 0.
        let rule = Promotion::noise(1.0, 1.0, 0.0).unwrap().with_forecast(0.5).unwrap();
        let h = Halving::with(3, 3, rule).unwrap();
        let v = promote_rung(&h, 0, &c);
        assert_eq!(v.promoted, vec![(0, WentOn::Rank), (1, WentOn::Rank), (3, WentOn::Forecast)], "{v:?}");
        assert_eq!((v.cap, h.max_kept(6, 0)), (3, 3), "the cap of the decision counts the allowance");
        let (m, predicted) = v.by_forecast[0];
        assert!(m == 3 && predicted > 0.78, "the riser is forecast past the flat models ({predicted})");
        assert_eq!(v.summary(), "2 by rank and 1 by their forecast");
        // The decision into the last rung (rung 1 of 3) has no allowance: a model sent there costs
        // most of a full training.
        let last = promote_rung(&h, 1, &c);
        assert_eq!((last.promoted_models(), last.cap, h.max_kept(6, 1)), (vec![0, 1], 2, 2));
        // Off: the plain rule.
        let off = Halving::with(3, 3, Promotion::noise(1.0, 1.0, 0.0).unwrap()).unwrap();
        assert_eq!(promote_rung(&off, 0, &c).promoted_models(), vec![0, 1]);
        // A larger allowance takes the next best forecasts: ceil(1 x 2) = 2, the riser and the
        // flat model at 0.70, not those at 0.69 and 0.40.
        let wide = Halving::with(3, 3, rule.with_forecast(1.0).unwrap()).unwrap();
        let v2 = promote_rung(&wide, 0, &c);
        assert_eq!(v2.promoted, vec![(0, WentOn::Rank), (1, WentOn::Rank), (2, WentOn::Forecast), (3, WentOn::Forecast)], "{v2:?}");
        // Deterministic; the sizes of the rungs' arrays hold the allowance.
        assert_eq!(promote_rung(&h, 0, &c), v);
        assert_eq!(h.max_sizes(6), vec![6, 3, 1]);
        assert!(Promotion::Rank.with_forecast(0.5).is_err() && rule.with_forecast(4.5).is_err() && rule.with_forecast(f64::NAN).is_err());
    }
}
