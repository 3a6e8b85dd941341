//! A learning curve's measures, shared by the rules that read curves (successive halving's and
//! early stopping's): its rows up to an iteration, its best there, and its snapshot-to-snapshot
//! jitter. Every function takes the metrics rows alone, so the same rows give the same number on
//! every machine.

use crate::metrics_csv::{best_row, MetricsRow};

/// The rows up to `iteration` (rows rise by iteration).
pub fn rows_until(rows: &[MetricsRow], iteration: u64) -> &[MetricsRow] {
    &rows[..rows.partition_point(|r| r.iteration <= iteration)]
}

/// The best finite validation Accuracy20% among rows up to `iteration`.
pub fn best_until(rows: &[MetricsRow], iteration: u64) -> Option<f64> {
    best_row(rows_until(rows, iteration)).map(|r| r.validation_accuracy20)
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

/// A curve of validation Accuracy20% `acc`, one snapshot every 10 iterations and one second, for
/// the unit tests of the rules.
#[cfg(test)]
pub(crate) fn test_curve(acc: &[f64]) -> Vec<MetricsRow> {
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
