//! The queries `status` and `report` read: the ranking of a sweep's models and their learning
//! curves.

use super::{Db, RecordedStatus};
use anyhow::Result;
use cyplam_core::metrics_csv::MetricsRow;
use sqlx::Row;
use std::collections::HashMap;

impl Db {
    /// Every model of a sweep, best validation Accuracy20% first (models without one last).
    pub async fn ranking(&self, sweep_id: i64) -> Result<Vec<ModelRow>> {
        let rows = sqlx::query(
            "SELECT idx, name, wc1, ncv1, wc2, ncv2, nfc1, activation, regularization, free_params, status, reason,
                    best_accuracy20, best_iteration, iterations_done, iterations_total, train_seconds, host, settings_json, rung,
                    EXISTS (SELECT 1 FROM snapshots s WHERE s.sweep_id = models.sweep_id AND s.model_idx = models.idx
                            AND (s.validation_accuracy20 IS NULL OR s.validation_loss IS NULL OR s.train_loss IS NULL
                                 OR s.train_accuracy20 IS NULL OR abs(s.validation_loss) > 1e308 OR abs(s.train_loss) > 1e308)) AS diverged
             FROM models WHERE sweep_id = ?
             ORDER BY best_accuracy20 IS NULL, best_accuracy20 DESC, best_iteration, idx",
        )
        .bind(sweep_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| ModelRow {
                index: r.get::<i64, _>("idx") as usize,
                name: r.get("name"),
                wc1: r.get("wc1"),
                ncv1: r.get("ncv1"),
                wc2: r.get("wc2"),
                ncv2: r.get("ncv2"),
                nfc1: r.get("nfc1"),
                activation: r.get("activation"),
                regularization: r.get("regularization"),
                free_params: r.get("free_params"),
                status: RecordedStatus::parse(r.get("status")),
                reason: r.get("reason"),
                best_accuracy20: r.get("best_accuracy20"),
                best_iteration: r.get("best_iteration"),
                iterations_done: r.get("iterations_done"),
                iterations_total: r.get("iterations_total"),
                train_seconds: r.get("train_seconds"),
                host: r.get("host"),
                settings: serde_json::from_str(r.get::<&str, _>("settings_json")).unwrap_or_default(),
                diverged: r.get::<i64, _>("diverged") != 0,
                rung: r.get::<Option<i64>, _>("rung").and_then(|k| u32::try_from(k).ok()),
            })
            .collect())
    }

    /// The learning curve of one model.
    pub async fn curve(&self, sweep_id: i64, model_idx: usize) -> Result<Vec<MetricsRow>> {
        let rows = sqlx::query(
            "SELECT iteration, train_loss, train_accuracy20, validation_loss, validation_accuracy20, elapsed_seconds
             FROM snapshots WHERE sweep_id = ? AND model_idx = ? ORDER BY iteration",
        )
        .bind(sweep_id)
        .bind(model_idx as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(metrics_row).collect())
    }

    /// Every model's learning curve, in one query: model index -> rows in iteration order.
    pub async fn curves(&self, sweep_id: i64) -> Result<HashMap<usize, Vec<MetricsRow>>> {
        let rows = sqlx::query(
            "SELECT model_idx, iteration, train_loss, train_accuracy20, validation_loss, validation_accuracy20, elapsed_seconds
             FROM snapshots WHERE sweep_id = ? ORDER BY model_idx, iteration",
        )
        .bind(sweep_id)
        .fetch_all(&self.pool)
        .await?;
        let mut out: HashMap<usize, Vec<MetricsRow>> = HashMap::new();
        for r in &rows {
            out.entry(r.get::<i64, _>("model_idx") as usize).or_default().push(metrics_row(r));
        }
        Ok(out)
    }
}

/// A snapshot row; a NULL metric is the NaN SQLite stored it as.
fn metrics_row(r: &sqlx::sqlite::SqliteRow) -> MetricsRow {
    let v = |c: &str| r.get::<Option<f64>, _>(c).unwrap_or(f64::NAN);
    MetricsRow {
        iteration: r.get::<i64, _>("iteration") as u64,
        train_loss: v("train_loss"),
        train_accuracy20: v("train_accuracy20"),
        validation_loss: v("validation_loss"),
        validation_accuracy20: v("validation_accuracy20"),
        elapsed_seconds: r.get("elapsed_seconds"),
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelRow {
    pub index: usize,
    pub name: String,
    pub wc1: i64,
    pub ncv1: i64,
    pub wc2: i64,
    pub ncv2: i64,
    pub nfc1: i64,
    pub activation: String,
    pub regularization: String,
    pub free_params: i64,
    pub status: RecordedStatus,
    pub reason: Option<String>,
    pub best_accuracy20: Option<f64>,
    pub best_iteration: Option<i64>,
    pub iterations_done: Option<i64>,
    /// What it was to train (from result.json; none while it trains).
    pub iterations_total: Option<i64>,
    pub train_seconds: Option<f64>,
    pub host: Option<String>,
    #[serde(skip)]
    pub settings: serde_json::Map<String, serde_json::Value>,
    /// A snapshot of it has a NaN or infinite metric: it diverged.
    pub diverged: bool,
    /// Successive halving: the rung it trained in last (where it was pruned, for a pruned one).
    pub rung: Option<u32>,
}
