//! Early stopping of one model, decided from its metrics rows alone (so a resumed run decides as
//! an uninterrupted one, and a finished sweep's curves can replay the decision), and its replay on
//! the recorded curves of a sweep whose models ran to the end. Successive halving, the rule across
//! models, is `halving/`.

use crate::curve::jitter;
use crate::halving::replay::{stop_at, Stop};
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::test_curve as curve;

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
    fn early_stopping_replay_on_hand_made_curves() {
        let curves = vec![
            curve(&[0.1, 0.2, 0.3, 0.9, 0.9, 0.9, 0.9, 0.9, 0.9]),
            curve(&[0.4, 0.5, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6, 0.6]),
            curve(&[0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]),
        ];
        let es = EarlyStopping { patience: 2, min_delta: 0.0, noise: 0.0, drop: 0.0 };
        let e = replay_early_stopping(&es, &curves);
        assert_eq!(e.iter().map(|s| s.iteration).collect::<Vec<_>>(), vec![60, 50, 30]);
    }
}
