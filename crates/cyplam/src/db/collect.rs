//! `collect`: ingests the workers' files (metrics rows, result.json) of every model of a sweep
//! into the database, in one transaction; idempotent, and a model whose files did not change
//! since the last collect is not read again.

use super::{locked, Db, RecordedStatus};
use anyhow::{Context, Result};
use cyplam_core::files::{read_json, read_metrics, ModelResult, ResultStatus, SweepFile};
use cyplam_core::halving::decision::{check_rung, read_decisions, RungDecision};
use cyplam_core::layout::{ModelDir, SweepDir};
use cyplam_core::metrics_csv::MetricsRow;
use cyplam_core::spec::ModelSpec;
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
        let known: std::collections::HashMap<i64, Option<String>> =
            sqlx::query_as::<_, (i64, Option<String>)>("SELECT idx, files_sig FROM models WHERE sweep_id = ?")
                .bind(sweep_id)
                .fetch_all(&self.pool)
                .await?
                .into_iter()
                .collect();
        // The rungs' decisions, which a result's rung must be backed by: read (and verified against
        // the metrics) only once a changed result names a rung, not on every collect.
        let mut decisions: Option<Result<Vec<RungDecision>, String>> = None;
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
            n += 1;
            let files = match read_model(&md, m).and_then(|f| {
                if let Some(r) = f.result.as_ref().filter(|r| r.status == ResultStatus::Pruned || r.rung.is_some()) {
                    let d = decisions
                        .get_or_insert_with(|| read_decisions(&SweepDir::new(dir), sweep).map_err(|e| format!("the rungs' decisions cannot be read ({e})")));
                    d.as_deref()
                        .map_err(String::clone)
                        .and_then(|d| check_rung(sweep, m.index, r.status == ResultStatus::Pruned, r.rung, d))
                        .map_err(|why| anyhow::anyhow!("{}: {why}", md.result().display()))?;
                }
                Ok(f)
            }) {
                Ok(f) => f,
                Err(e) => {
                    // One model's bad file never stops the others: it is recorded as damaged, with
                    // the file and line, and keeps the rows collected before.
                    tracing::warn!("{}: {e:#}", m.name);
                    sqlx::query("UPDATE models SET status = ?, reason = ?, files_sig = ? WHERE sweep_id = ? AND idx = ?")
                        .bind(RecordedStatus::Damaged.as_str())
                        .bind(format!("{e:#}"))
                        .bind(&sig)
                        .bind(sweep_id)
                        .bind(m.index as i64)
                        .execute(&mut *tx)
                        .await
                        .map_err(locked)?;
                    continue;
                }
            };
            // A metrics file that is gone (deleted, or the directory lost) takes nothing away:
            // the rows collected before stay the record.
            if let Some(rows) = &files.rows {
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
            }
            let rows = files.rows.as_deref().unwrap_or_default();
            let best = cyplam_core::metrics_csv::best_row(rows);
            let q = match &files.result {
                Some(res) => sqlx::query(
                    "UPDATE models SET status = ?, reason = ?, best_accuracy20 = ?, best_iteration = ?, iterations_done = ?,
                       iterations_total = ?, train_seconds = ?, host = ?, threads = ?, device = ?, libtorch = ?,
                       started_unix = ?, finished_unix = ?, resumes = ?, rung = ?, files_sig = ? WHERE sweep_id = ? AND idx = ?",
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
                .bind(res.rung.map(i64::from))
                .bind(&sig),
                // Still training (or interrupted): the learning curve so far, no final status.
                None => sqlx::query(
                    "UPDATE models SET status = ?, reason = NULL, best_accuracy20 = ?, best_iteration = ?, iterations_done = ?,
                       iterations_total = NULL, train_seconds = ?, host = NULL, threads = NULL, device = NULL, libtorch = NULL,
                       started_unix = NULL, finished_unix = NULL, resumes = NULL, rung = NULL, files_sig = ? WHERE sweep_id = ? AND idx = ?",
                )
                .bind(RecordedStatus::New.as_str())
                .bind(best.map(|b| b.validation_accuracy20))
                .bind(best.map(|b| b.iteration as i64))
                .bind(rows.last().map(|r| r.iteration as i64))
                .bind(rows.last().map(|r| r.elapsed_seconds))
                .bind(&sig),
            };
            if files.rows.is_none() && files.result.is_none() {
                // Nothing on disk to say otherwise: the record stands.
                continue;
            }
            q.bind(sweep_id).bind(m.index as i64).execute(&mut *tx).await.map_err(locked)?;
        }
        tx.commit().await.map_err(locked)?;
        Ok(n)
    }
}

/// A model's files as collect reads them: its rows (`None` when there is no metrics file) and
/// its result.
struct ModelFiles {
    rows: Option<Vec<MetricsRow>>,
    result: Option<ModelResult>,
}

/// Reads and checks one model's files: the metrics rows (each in range, see
/// `cyplam_core::files::read_metrics`) and result.json, which must be this model's and whose best
/// must be a row of the metrics file.
fn read_model(md: &ModelDir, m: &ModelSpec) -> Result<ModelFiles> {
    let rows = if md.metrics().exists() { Some(read_metrics(&md.metrics())?) } else { None };
    let result = if md.result().exists() { Some(read_json::<ModelResult>(&md.result())?) } else { None };
    if let Some(r) = &result {
        r.check(&md.result(), &m.name, m.index, rows.as_deref()).context("the file was not ingested")?;
    }
    Ok(ModelFiles { rows, result })
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
