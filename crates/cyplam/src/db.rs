//! The SQLite results database: opened with the migrations of the top-level `migrations/`
//! applied; sweeps and their models registered at submit time; the workers' files ingested by
//! `collect` (idempotent, one transaction per model); queries for status and report.

use anyhow::{bail, Context, Result};
use cyplam_core::files::{read_json, read_metrics, ModelDir, ModelResult, SweepFile};
use cyplam_core::grid::model_settings;
use sqlx::sqlite::{SqliteConnectOptions, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use std::path::Path;
use std::time::Duration;

pub struct Db {
    pub pool: SqlitePool,
    /// The database file.
    pub path: std::path::PathBuf,
}

/// How long a write waits for another process's lock before giving up: `CYPLAM_DB_TIMEOUT`
/// seconds, default 20.
pub fn busy_timeout() -> Duration {
    let secs = std::env::var("CYPLAM_DB_TIMEOUT").ok().and_then(|v| v.parse::<f64>().ok()).filter(|s| *s >= 0.0).unwrap_or(20.0);
    Duration::from_secs_f64(secs)
}

impl Db {
    pub async fn open(path: &Path) -> Result<Db> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
            }
        }
        let opts = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .busy_timeout(busy_timeout())
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(opts)
            .await
            .with_context(|| format!("opening the database {}", path.display()))?;
        let migrator = sqlx::migrate!("../../migrations");
        if let Err(e) = migrator.run(&pool).await {
            match e {
                sqlx::migrate::MigrateError::VersionMissing(v) => bail!(
                    "{}: the database was written by a newer cyplam (it has migration {v}, which this cyplam does not know); \
                     use that cyplam, or another --db. The database was not changed",
                    path.display()
                ),
                sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(d)) if d.message().contains("locked") => bail!(
                    "{}: the database is locked by another process (waited {:.0}s); try again when it is done",
                    path.display(),
                    busy_timeout().as_secs_f64()
                ),
                e => return Err(e).with_context(|| format!("{}: applying the database migrations", path.display())),
            }
        }
        Ok(Db { pool, path: path.to_path_buf() })
    }

    /// Registers (or refreshes) a sweep and its models; returns the sweep id. Model rows that
    /// exist keep their results.
    pub async fn register_sweep(&self, dir: &Path, sweep: &SweepFile) -> Result<i64> {
        self.register_inner(dir, sweep).await.with_context(|| format!("registering sweep {} in {}", sweep.name, self.path.display()))
    }

    async fn register_inner(&self, dir: &Path, sweep: &SweepFile) -> Result<i64> {
        let mut tx = self.pool.begin().await.map_err(locked)?;
        let axes = serde_json::to_string(&sweep.grid.axes)?;
        sqlx::query(
            "INSERT INTO sweeps (name, dir, grid_sha256, created_unix, n_models, trainings_per_node, cpus_per_training, axes_json)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(name) DO UPDATE SET dir = excluded.dir, grid_sha256 = excluded.grid_sha256,
               n_models = excluded.n_models, trainings_per_node = excluded.trainings_per_node,
               cpus_per_training = excluded.cpus_per_training, axes_json = excluded.axes_json",
        )
        .bind(&sweep.name)
        .bind(dir.display().to_string())
        .bind(&sweep.grid_sha256)
        .bind(sweep.created_unix as i64)
        .bind(sweep.grid.models.len() as i64)
        .bind(sweep.grid.slurm.trainings_per_node as i64)
        .bind(sweep.grid.slurm.cpus_per_training as i64)
        .bind(axes)
        .execute(&mut *tx)
        .await
        .map_err(locked)?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM sweeps WHERE name = ?").bind(&sweep.name).fetch_one(&mut *tx).await?;
        for m in &sweep.grid.models {
            sqlx::query(
                "INSERT INTO models (sweep_id, idx, name, wc1, ncv1, wc2, ncv2, nfc1, activation, regularization, free_params, settings_json)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                 ON CONFLICT(sweep_id, idx) DO NOTHING",
            )
            .bind(id)
            .bind(m.index as i64)
            .bind(&m.name)
            .bind(m.wc1 as i64)
            .bind(m.ncv1 as i64)
            .bind(m.wc2 as i64)
            .bind(m.ncv2 as i64)
            .bind(m.nfc1 as i64)
            .bind(m.activation.as_str())
            .bind(m.regularization.label())
            .bind(m.free_params as i64)
            .bind(serde_json::to_string(&model_settings(m))?)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await.map_err(locked)?;
        Ok(id)
    }

    pub async fn sweep_id(&self, name: &str) -> Result<Option<i64>> {
        Ok(sqlx::query_scalar("SELECT id FROM sweeps WHERE name = ?").bind(name).fetch_optional(&self.pool).await?)
    }

    pub async fn sweep_names(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT name FROM sweeps ORDER BY created_unix DESC, name").fetch_all(&self.pool).await?)
    }

    /// Records a submission.
    pub async fn add_submission(&self, sweep_id: i64, backend: &str, job_id: &str, array_spec: &str, offset: usize, models: &[usize], script: Option<&Path>) -> Result<()> {
        sqlx::query(
            "INSERT INTO submissions (sweep_id, backend, job_id, array_spec, array_offset, models_json, script_path, submitted_unix)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sweep_id)
        .bind(backend)
        .bind(job_id)
        .bind(array_spec)
        .bind(offset as i64)
        .bind(serde_json::to_string(models)?)
        .bind(script.map(|p| p.display().to_string()))
        .bind(cyplam_core::files::now_unix() as i64)
        .execute(&self.pool)
        .await
        .map_err(locked)?;
        Ok(())
    }

    pub async fn submissions(&self, sweep_id: i64) -> Result<Vec<Submission>> {
        let rows = sqlx::query("SELECT backend, job_id, array_spec, array_offset, models_json, submitted_unix FROM submissions WHERE sweep_id = ? ORDER BY id")
            .bind(sweep_id)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Submission {
                    backend: r.get("backend"),
                    job_id: r.get("job_id"),
                    array_spec: r.get("array_spec"),
                    offset: r.get::<i64, _>("array_offset") as usize,
                    models: serde_json::from_str(r.get::<&str, _>("models_json"))?,
                    submitted_unix: r.get::<i64, _>("submitted_unix") as u64,
                })
            })
            .collect()
    }

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
            let md = ModelDir::new(dir.join("models").join(&m.name));
            if !md.root.exists() {
                continue;
            }
            let sig = files_signature(&md);
            if known.get(&(m.index as i64)).and_then(|s| s.as_deref()) == Some(sig.as_str()) {
                continue;
            }
            let rows = read_metrics(&md.metrics()).map_err(anyhow::Error::msg)?;
            let result: Option<ModelResult> = if md.result().exists() { Some(read_json(&md.result()).map_err(anyhow::Error::msg)?) } else { None };
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
                .bind(res.status.as_str())
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
                    "UPDATE models SET status = 'new', reason = NULL, best_accuracy20 = ?, best_iteration = ?, iterations_done = ?,
                       iterations_total = NULL, train_seconds = ?, host = NULL, threads = NULL, device = NULL, libtorch = NULL,
                       started_unix = NULL, finished_unix = NULL, resumes = NULL, files_sig = ? WHERE sweep_id = ? AND idx = ?",
                )
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

    /// Every model of a sweep, best validation Accuracy20% first (models without one last).
    pub async fn ranking(&self, sweep_id: i64) -> Result<Vec<ModelRow>> {
        let rows = sqlx::query(
            "SELECT idx, name, wc1, ncv1, wc2, ncv2, nfc1, activation, regularization, free_params, status, reason,
                    best_accuracy20, best_iteration, iterations_done, train_seconds, host, settings_json
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
                status: r.get("status"),
                reason: r.get("reason"),
                best_accuracy20: r.get("best_accuracy20"),
                best_iteration: r.get("best_iteration"),
                iterations_done: r.get("iterations_done"),
                train_seconds: r.get("train_seconds"),
                host: r.get("host"),
                settings: serde_json::from_str(r.get::<&str, _>("settings_json")).unwrap_or_default(),
            })
            .collect())
    }

    /// The learning curve of one model.
    pub async fn curve(&self, sweep_id: i64, model_idx: usize) -> Result<Vec<cyplam_core::files::MetricsRow>> {
        let rows = sqlx::query(
            "SELECT iteration, train_loss, train_accuracy20, validation_loss, validation_accuracy20, elapsed_seconds
             FROM snapshots WHERE sweep_id = ? AND model_idx = ? ORDER BY iteration",
        )
        .bind(sweep_id)
        .bind(model_idx as i64)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(|r| cyplam_core::files::MetricsRow {
                iteration: r.get::<i64, _>("iteration") as u64,
                train_loss: r.get("train_loss"),
                train_accuracy20: r.get("train_accuracy20"),
                validation_loss: r.get("validation_loss"),
                validation_accuracy20: r.get("validation_accuracy20"),
                elapsed_seconds: r.get("elapsed_seconds"),
            })
            .collect())
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

/// A "database is locked" error, said plainly.
fn locked(e: sqlx::Error) -> anyhow::Error {
    if let sqlx::Error::Database(d) = &e {
        if d.message().contains("locked") || d.message().contains("busy") {
            return anyhow::anyhow!(
                "the database is locked by another process (waited {:.0}s); try again when it is done",
                busy_timeout().as_secs_f64()
            );
        }
    }
    e.into()
}

#[derive(Debug, Clone)]
pub struct Submission {
    pub backend: String,
    pub job_id: String,
    pub array_spec: String,
    pub offset: usize,
    pub models: Vec<usize>,
    pub submitted_unix: u64,
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
    pub status: String,
    pub reason: Option<String>,
    pub best_accuracy20: Option<f64>,
    pub best_iteration: Option<i64>,
    pub iterations_done: Option<i64>,
    pub train_seconds: Option<f64>,
    pub host: Option<String>,
    #[serde(skip)]
    pub settings: serde_json::Map<String, serde_json::Value>,
}
