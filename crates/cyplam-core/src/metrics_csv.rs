//! `metrics.csv`, a model's learning curve: its rows (one per snapshot), their text form, the
//! checks a row must pass, and the best row. Imports nothing of the crate, so the early-stopping
//! and halving rules (`stopping`) read curves without reaching the file formats (`files`), which
//! take the grid.

use serde::{Deserialize, Serialize};

/// One learning-curve point: a row of `metrics.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    pub iteration: u64,
    pub train_loss: f64,
    pub train_accuracy20: f64,
    pub validation_loss: f64,
    pub validation_accuracy20: f64,
    /// Training seconds up to this snapshot (summed over resumes).
    pub elapsed_seconds: f64,
}

pub const METRICS_HEADER: &str = "iteration,train_loss,train_accuracy20,validation_loss,validation_accuracy20,elapsed_seconds";

impl MetricsRow {
    pub fn to_csv_line(&self) -> String {
        format!(
            "{},{:.9e},{:.9},{:.9e},{:.9},{:.3}\n",
            self.iteration, self.train_loss, self.train_accuracy20, self.validation_loss, self.validation_accuracy20, self.elapsed_seconds
        )
    }
}

/// A line of a metrics file that does not parse, or a row that breaks a rule (1-based line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct MetricsLineError {
    pub line: usize,
    pub message: String,
}

impl MetricsLineError {
    fn new(line: usize, message: String) -> MetricsLineError {
        MetricsLineError { line, message }
    }
}

/// Parses metrics text (what `files::read_metrics` reads): a line cut by a crash (no final
/// newline) is ignored; a complete line that does not parse is an error with its 1-based number.
pub fn parse_metrics(text: &str) -> Result<Vec<MetricsRow>, MetricsLineError> {
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut rows = Vec::new();
    for (i, line) in complete.lines().enumerate() {
        if i == 0 {
            if line != METRICS_HEADER {
                return Err(MetricsLineError::new(1, format!("unexpected header {line:?}; expected {METRICS_HEADER:?}")));
            }
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            return Err(MetricsLineError::new(i + 1, format!("expected 6 fields, found {}", f.len())));
        }
        let num = |j: usize| -> Result<f64, MetricsLineError> {
            f[j].parse::<f64>().map_err(|e| MetricsLineError::new(i + 1, format!("field {} {:?}: {e}", j + 1, f[j])))
        };
        let iteration = f[0].parse::<u64>().map_err(|e| MetricsLineError::new(i + 1, format!("iteration {:?}: {e}", f[0])))?;
        let row = MetricsRow {
            iteration,
            train_loss: num(1)?,
            train_accuracy20: num(2)?,
            validation_loss: num(3)?,
            validation_accuracy20: num(4)?,
            elapsed_seconds: num(5)?,
        };
        if let Some(problem) = row_problem(&row, rows.last()) {
            return Err(MetricsLineError::new(i + 1, problem));
        }
        rows.push(row);
    }
    Ok(rows)
}

/// What is wrong with a metrics row, if anything. A row may hold: iterations that rise from row to row, Accuracy20% between 0 and 1
/// and losses of at least 0 (or NaN and infinity, what a diverged model really computes), and
/// a finite, non-negative time.
fn row_problem(row: &MetricsRow, previous: Option<&MetricsRow>) -> Option<String> {
    if let Some(p) = previous {
        if row.iteration <= p.iteration {
            return Some(format!("iteration {} after iteration {}: the rows must rise", row.iteration, p.iteration));
        }
    }
    for (name, v) in [("train_accuracy20", row.train_accuracy20), ("validation_accuracy20", row.validation_accuracy20)] {
        if (v.is_finite() && !(0.0..=1.0).contains(&v)) || v.is_infinite() {
            return Some(format!("{name} {v} is not between 0 and 1"));
        }
    }
    for (name, v) in [("train_loss", row.train_loss), ("validation_loss", row.validation_loss)] {
        if v < 0.0 {
            return Some(format!("{name} {v} is negative"));
        }
    }
    if !(row.elapsed_seconds.is_finite() && row.elapsed_seconds >= 0.0) {
        return Some(format!("elapsed_seconds {} is not a time", row.elapsed_seconds));
    }
    None
}

impl MetricsRow {
    /// Whether the validation pass gave numbers (a diverged model's give NaN or infinity).
    pub fn is_finite(&self) -> bool {
        [self.train_loss, self.train_accuracy20, self.validation_loss, self.validation_accuracy20].iter().all(|v| v.is_finite())
    }
}

/// The row with the best validation Accuracy20% (the first one on ties); rows whose values are
/// not finite (a diverged model's) are never the best.
pub fn best_row(rows: &[MetricsRow]) -> Option<&MetricsRow> {
    rows.iter().filter(|r| r.is_finite()).fold(None, |best: Option<&MetricsRow>, r| match best {
        Some(b) if b.validation_accuracy20 >= r.validation_accuracy20 => Some(b),
        _ => Some(r),
    })
}
