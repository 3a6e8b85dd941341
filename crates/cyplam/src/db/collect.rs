//! `collect`: ingests the workers' files (metrics rows, result.json) of every model of a sweep
//! into the database, in one transaction; idempotent, and a model whose files did not change
//! since the last collect is not read again.

use super::{locked, Db, RecordedStatus};
use anyhow::{Context, Result};
use cyplam_core::files::{read_json, read_metrics, ModelDir, ModelResult, SweepDir, SweepFile};
use std::path::Path;

impl Db {
    /// Ingests every model directory of a sweep, in one transaction. Idempotent: a model's row and
    /// its snapshot rows are replaced by what its files say now; models whose files have not
    /// changed since the last collect (same sizes and modification times) are skipped. Returns
    /// the number of models whose files were read.
    pub async fn collect(&self, sweep_id: i64, dir: &Path, sweep: &SweepFile) -> Result<usize> {
        self.collect_inner(sweep_id, dir, sweep).await.with_context(|| format!("collecting sweep {} into {}", sweep.name, self.path.display()))
    }

    async fn collect_inner(&self, sweep_id: i64, dir: &Path, sweep: &SweepFile) -> Result<usize> {
        let known: std::collections::HashMap<i64, Option<String>> = sqlx::query_as::<_, (i64, Option<String>)>(
            "SELECT idx, files_sig FROM models WHERE sweep_id = ?")
            .bind(sweep_id)
            .fetch_all(&self.pool)
            .await?
            .into_iter()
            .collect();
        let mut tx = self.pool.begin().await.map_err(locked)?;
        let mut n = 0;
        for m in &sweep.grid.models {
            let md = SweepDir::new(dir).model(&m.name);
            if !md.root.exists() {
                continue;
            }
            let sig = files_signature(&md);
            if known.get(&(m.index as i64)).and_then(|s| s.as_deref()) == Some(sig.as_str()) {
                continue;
            }
            let rows = read_metrics(&md.metrics())?;
            let result: Option<ModelResult> = if md.result().exists() { Some(read_json::<ModelResult>(&md.result())?) } else { None };
            sqlx::query("DELETE FROM snapshots WHERE sweep_id = ? AND model_idx = ?")
                .bind(sweep_id)
                .bind(m.index as i64)
                .execute(&mut *tx)
                .await
                .map_err(locked)?;
            // Multi-row inserts: one statement per 250 rows rather than one per row.
            for chunk in rows.chunks(250) {
                let values = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
                let sql = format!(
                    "INSERT INTO snapshots (sweep_id, model_idx, iteration, train_loss, train_accuracy20, validation_loss, validation_accuracy20, elapsed_seconds) VALUES {values}"
                );
                let mut q = sqlx::query(&sql);
                for r in chunk {
                    q = q
                        .bind(sweep_id)
                        .bind(m.index as i64)
                        .bind(r.iteration as i64)
                        .bind(r.train_loss)
                        .bind(r.train_accuracy20)
                        .bind(r.validation_loss)
                        .bind(r.validation_accuracy20)
                        .bind(r.elapsed_seconds);
                }
                q.execute(&mut *tx).await.map_err(locked)?;
            }
            let best = cyplam_core::files::best_row(&rows);
            let q = match &result {
                Some(res) => sqlx::query(
                    "UPDATE models SET status = ?, reason = ?, best_accuracy20 = ?, best_iteration = ?, iterations_done = ?,
                       iterations_total = ?, train_seconds = ?, host = ?, threads = ?, device = ?, libtorch = ?,
                       started_unix = ?, finished_unix = ?, resumes = ?, files_sig = ? WHERE sweep_id = ? AND idx = ?",
                )
                .bind(RecordedStatus::from(res.status).as_str())
                .bind(res.reason.clone())
                .bind(res.best_accuracy20)
                .bind(res.best_iteration.map(|i| i as i64))
                .bind(res.iterations_done as i64)
                .bind(res.iterations_total as i64)
                .bind(res.train_seconds)
                .bind(res.host.clone())
                .bind(res.threads as i64)
                .bind(res.device.clone())
                .bind(res.libtorch.clone())
                .bind(res.started_unix as i64)
                .bind(res.finished_unix as i64)
                .bind(res.resumes as i64)
                .bind(&sig),
                // Still training (or interrupted): the learning curve so far, no final status.
                None => sqlx::query(
                    "UPDATE models SET status = ?, reason = NULL, best_accuracy20 = ?, best_iteration = ?, iterations_done = ?,
                       iterations_total = NULL, train_seconds = ?, host = NULL, threads = NULL, device = NULL, libtorch = NULL,
                       started_unix = NULL, finished_unix = NULL, resumes = NULL, files_sig = ? WHERE sweep_id = ? AND idx = ?",
                )
                .bind(RecordedStatus::New.as_str())
                .bind(best.map(|b| b.validation_accuracy20))
                .bind(best.map(|b| b.iteration as i64))
                .bind(rows.last().map(|r| r.iteration as i64))
                .bind(rows.last().map(|r| r.elapsed_seconds))
                .bind(&sig),
            };
            q.bind(sweep_id).bind(m.index as i64).execute(&mut *tx).await.map_err(locked)?;
            n += 1;
        }
        tx.commit().await.map_err(locked)?;
        Ok(n)
    }

}

/// Sizes and modification times of a model's metrics and result files.
fn files_signature(md: &ModelDir) -> String {
    let one = |p: std::path::PathBuf| match std::fs::metadata(p) {
        Ok(m) => {
            let t = m.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map(|d| d.as_nanos()).unwrap_or(0);
            format!("{}@{}", m.len(), t)
        }
        Err(_) => "-".into(),
    };
    format!("{} {}", one(md.metrics()), one(md.result()))
}

