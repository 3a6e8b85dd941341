//! bench/halving's replayer, issue 32's probes and prototypes: early stopping on curve evidence, Hyperband-style brackets, where the full grid's good models rank at fractions
//! of the run (--ranks), and a PROTOTYPE rule with settings per rung (--proto), measured here
//! only; the rule that earned its place (the forecast allowance) is in `cyplam_core::halving`.

use super::{Set, HALVING_TOLERANCE};
use cyplam_core::halving::replay::{full, judge, replay_halving, stop_at, Judgement, Stop};
use cyplam_core::halving::settings::Halving;
use cyplam_core::metrics_csv::MetricsRow;
use cyplam_core::spec::EarlyStopping;

/// --ranks: where the full grid's good models (full-length best within the tolerance of the best)
/// stand at fractions of the run: the best rank any of them has by score so far, and by forecast
/// to 4x that point, of the set's models; the gap of the best of them to the n/4-th score, in
/// units of the jitter there.
pub(super) fn run_ranks(sets: &[Set]) {
    use cyplam_core::curve::{best_until, jitter, rows_until};
    println!("set half n good | per fraction: rank by score / rank by forecast / gap to the n/4-th in jitters");
    for s in sets {
        let base = full(&s.curves);
        let fb = base.iter().filter_map(|b| b.best).fold(f64::NEG_INFINITY, f64::max);
        let good: Vec<usize> = (0..s.curves.len()).filter(|&m| base[m].best.is_some_and(|b| b >= fb - HALVING_TOLERANCE)).collect();
        let total = s.curves.iter().filter_map(|c| c.last()).map(|r| r.iteration).max().unwrap_or(0);
        let mut line = format!("{} {} {} {:?} |", s.name, s.half, s.curves.len(), good);
        for frac in [16u64, 9, 4, 3] {
            let at = total.div_ceil(frac);
            let scores: Vec<(usize, Option<f64>)> = (0..s.curves.len()).map(|m| (m, best_until(&s.curves[m], at))).collect();
            let ranked = cyplam_core::halving::rule::rank(&scores);
            let r = good.iter().filter_map(|g| ranked.iter().position(|m| m == g)).min().unwrap_or(usize::MAX);
            let fc: Vec<(usize, Option<f64>)> = (0..s.curves.len())
                .map(|m| {
                    let pts: Vec<(f64, f64)> = rows_until(&s.curves[m], at).iter().map(|r| (r.iteration as f64, r.validation_accuracy20)).collect();
                    (m, cyplam_core::forecast::forecast(&pts, (4 * at).min(total) as f64).map(|f| f.predicted))
                })
                .collect();
            let franked = cyplam_core::halving::rule::rank(&fc);
            let fr = good.iter().filter_map(|g| franked.iter().position(|m| m == g)).min().unwrap_or(usize::MAX);
            let j = jitter(s.curves.iter().map(|c| rows_until(c, at))).unwrap_or(f64::NAN);
            let kth = scores[ranked[s.curves.len().div_ceil(4) - 1]].1.unwrap_or(f64::NAN);
            let bestgood = good.iter().filter_map(|&g| scores[g].1).fold(f64::NEG_INFINITY, f64::max);
            let mean_last: Vec<(usize, Option<f64>)> = (0..s.curves.len())
                .map(|m| {
                    let rows = rows_until(&s.curves[m], at);
                    let tail = &rows[rows.len().saturating_sub(6)..];
                    (m, (!tail.is_empty()).then(|| tail.iter().map(|r| r.validation_accuracy20).sum::<f64>() / tail.len() as f64))
                })
                .collect();
            let mr = cyplam_core::halving::rule::rank(&mean_last);
            let mrr = good.iter().filter_map(|g| mr.iter().position(|m| m == g)).min().unwrap_or(usize::MAX);
            line += &format!(" 1/{frac}: {} / {} / {} / {:.1}", r + 1, fr + 1, mrr + 1, (kth - bestgood) / j);
        }
        println!("{line}");
    }
}

/// --proto "q,noise,cap,f;q,noise,cap,f": a PROTOTYPE rule per rung (rung ends from --eta and
/// --rungs): keep ceil(n q) by score, ties within noise x jitter up to ceil(cap x kept), then the
/// best ceil(f x kept) by forecast at the next rung's end not yet kept (outside the cap).
pub(super) fn run_proto(sets: &[Set], h: &Halving, spec: &str) {
    use cyplam_core::curve::{best_until, jitter, rows_until};
    let rules: Vec<[f64; 4]> = spec
        .split(';')
        .map(|r| {
            let v: Vec<f64> = r.split(',').map(|x| x.parse().unwrap()).collect();
            [v[0], v[1], v[2], v[3]]
        })
        .collect();
    let mut rows = Vec::new();
    for s in sets {
        let ends: Vec<Vec<u64>> = s.curves.iter().map(|rows| h.rung_ends(&rows.iter().map(|r| r.iteration).collect::<Vec<_>>())).collect();
        let mut alive: Vec<usize> = (0..s.curves.len()).collect();
        let mut stop_rung = vec![0usize; s.curves.len()];
        for k in 0..h.rungs as usize {
            for &m in &alive {
                stop_rung[m] = k;
            }
            if k + 1 == h.rungs as usize {
                break;
            }
            let [q, noise, cap, f] = rules[k.min(rules.len() - 1)];
            let n = alive.len();
            let kept = ((n as f64 * q).ceil() as usize).clamp(1, n);
            let capn = ((cap * kept as f64).ceil() as usize).min(n);
            let score = |m: usize| best_until(&s.curves[m], ends[m][k]);
            let ranked = cyplam_core::halving::rule::rank(&alive.iter().map(|&m| (m, score(m))).collect::<Vec<_>>());
            let mut out: Vec<usize> = ranked.iter().take(kept).copied().collect();
            let cut = score(out[kept - 1]).unwrap_or(f64::NEG_INFINITY);
            let j = jitter(alive.iter().map(|&m| rows_until(&s.curves[m], ends[m][k])));
            for &m in ranked.iter().skip(kept) {
                if out.len() >= capn {
                    break;
                }
                let ok = match (score(m), j) {
                    (Some(x), Some(j)) => x >= cut - noise * j,
                    (Some(_), None) => true,
                    _ => false,
                };
                if !ok {
                    break;
                }
                out.push(m);
            }
            let extra = (f * kept as f64).ceil() as usize;
            if extra > 0 {
                let fc: Vec<(usize, Option<f64>)> = alive
                    .iter()
                    .map(|&m| {
                        let pts: Vec<(f64, f64)> = rows_until(&s.curves[m], ends[m][k]).iter().map(|r| (r.iteration as f64, r.validation_accuracy20)).collect();
                        (m, cyplam_core::forecast::forecast(&pts, ends[m][k + 1] as f64).map(|f| f.predicted))
                    })
                    .collect();
                let mut added = 0;
                for m in cyplam_core::halving::rule::rank(&fc) {
                    if added >= extra {
                        break;
                    }
                    if !out.contains(&m) {
                        out.push(m);
                        added += 1;
                    }
                }
            }
            out.sort_unstable();
            alive = out;
        }
        let stops: Vec<Stop> = s.curves.iter().enumerate().map(|(m, rows)| stop_at(rows, ends[m][stop_rung[m]])).collect();
        let j = judge(&full(&s.curves), &stops);
        println!("{} {} {:.3} -{:.4} {}", s.name, s.half, j.iterations_fraction, j.loss, if j.loss <= HALVING_TOLERANCE { "yes" } else { "NO" });
        rows.push((s.half.clone(), j));
    }
    for half in ["tune", "report", "all"] {
        let js: Vec<&Judgement> = rows.iter().filter(|r| half == "all" || r.0 == half).map(|r| &r.1).collect();
        let n = js.len().max(1) as f64;
        println!(
            "{half}: {} of {} found, worst -{:.4}, iterations {:.3} mean {:.3} max",
            js.iter().filter(|j| j.loss <= HALVING_TOLERANCE).count(),
            js.len(),
            js.iter().map(|j| j.loss).fold(0.0, f64::max),
            js.iter().map(|j| j.iterations_fraction).sum::<f64>() / n,
            js.iter().map(|j| j.iterations_fraction).fold(0.0, f64::max)
        );
    }
}

/// Early stopping replayed with a second rule: a model stops at the first snapshot where `es`'s
/// own rule or `also(model, its rows so far)` says so.
fn replay_es_with(es: &EarlyStopping, curves: &[Vec<MetricsRow>], also: impl Fn(usize, &[MetricsRow]) -> bool) -> Vec<Stop> {
    curves
        .iter()
        .enumerate()
        .map(|(m, rows)| {
            let end = (1..=rows.len()).find(|&n| cyplam_core::stopping::early_stop(es, &rows[..n]).is_some() || also(m, &rows[..n])).unwrap_or(rows.len());
            stop_at(rows, rows.get(end.wrapping_sub(1)).map(|r| r.iteration).unwrap_or(0))
        })
        .collect()
}

/// Whether the curve `upto`, extrapolated to iteration `at` (`forecast`), stays below `bar` even
/// optimistically: predicted + `curve` x its uncertainty.
fn forecast_below(upto: &[MetricsRow], at: f64, curve: f64, bar: f64) -> bool {
    let points: Vec<(f64, f64)> = upto.iter().filter(|r| r.is_finite()).map(|r| (r.iteration as f64, r.validation_accuracy20)).collect();
    cyplam_core::forecast::forecast(&points, at).is_some_and(|f| f.predicted + curve * (f.upper - f.predicted) < bar)
}

/// Early stopping with the curve evidence: besides `es`'s own rule, a model stops once its best
/// is `stale` snapshots old and its curve, extrapolated to its end (`forecast`), is not expected
/// to pass that best even optimistically (predicted + curve x uncertainty).
pub(super) fn replay_es_curve(es: &EarlyStopping, curve: f64, stale: usize, curves: &[Vec<MetricsRow>]) -> Vec<Stop> {
    replay_es_with(es, curves, |m, upto| {
        let total = curves[m].last().map(|r| r.iteration).unwrap_or(0) as f64;
        let Some(b) = cyplam_core::metrics_csv::best_row(upto) else { return false };
        let since = upto.iter().rev().take_while(|r| r.iteration > b.iteration).count();
        since >= stale && forecast_below(upto, total, curve, b.validation_accuracy20)
    })
}

/// Hyperband-style brackets without a driver (issue 32 item 2(b)), measured here: model m goes to
/// bracket m % B; bracket b halves its models with `rungs - b` rungs (its first rung comes later,
/// so slow starters there are judged later), and the final comparison is across the brackets'
/// survivors, by what each reached.
pub(super) fn replay_brackets(h: &Halving, brackets: u32, set: &Set) -> Vec<Stop> {
    let mut stops: Vec<Option<Stop>> = vec![None; set.curves.len()];
    for b in 0..brackets {
        let members: Vec<usize> = (0..set.curves.len()).filter(|m| m % brackets as usize == b as usize).collect();
        let hb = Halving { rungs: h.rungs.saturating_sub(b).max(1), ..*h };
        let curves: Vec<Vec<MetricsRow>> = members.iter().map(|&m| set.curves[m].clone()).collect();
        let axes: Vec<Vec<usize>> = members.iter().map(|&m| set.axes.get(m).cloned().unwrap_or_default()).collect();
        for (i, st) in replay_halving(&hb, &curves, &axes).stops.into_iter().enumerate() {
            stops[members[i]] = Some(st);
        }
    }
    stops.into_iter().map(|s| s.unwrap_or(Stop { iteration: 0, seconds: 0.0, snapshots: 0, best: None })).collect()
}

/// Early stopping against the sweep (issue 32 item 3, a PROTOTYPE measured here only): besides
/// `es`'s own rule, a model stops once it has `min` snapshots and its curve, extrapolated to its
/// end, is not expected even optimistically (predicted + curve x uncertainty) to reach the
/// sweep's cutoff there: the TOP-th best score the other models have reached by the same
/// iteration. The replay assumes every model at the same iteration at once; a real sweep trains
/// them a few at a time, so what a model would see of the others depends on the order they run
/// in, which is why this cannot be deterministic without a driver.
pub(super) fn replay_es_sweep(es: &EarlyStopping, curve: f64, min: usize, curves: &[Vec<MetricsRow>]) -> Vec<Stop> {
    use cyplam_core::curve::best_until;
    let top = cyplam_core::halving::replay::TOP;
    replay_es_with(es, curves, |m, upto| {
        if upto.len() < min {
            return false;
        }
        let total = curves[m].last().map(|r| r.iteration).unwrap_or(0) as f64;
        let it = upto[upto.len() - 1].iteration;
        let mut others: Vec<f64> = curves.iter().enumerate().filter(|(o, _)| *o != m).filter_map(|(_, c)| best_until(c, it)).collect();
        others.sort_by(|a, b| b.total_cmp(a));
        others.get(top - 1).is_some_and(|&cutoff| forecast_below(upto, total, curve, cutoff))
    })
}
