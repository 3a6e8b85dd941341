//! The SQLite results database: opened with the migrations of the top-level `migrations/`
//! applied; sweeps and their models registered at submit time, and the submissions made; the
//! workers' files ingested by `collect` (collect.rs); the queries of status and report
//! (query.rs).

mod collect;
pub mod query;

use anyhow::{Context, Result};
use cyplam_core::files::SweepFile;
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

/// What can go wrong with the database, by kind.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    #[error("{}: the database was written by a newer cyplam (it has migration {version}, which this cyplam does not know); \
             use that cyplam, or another --db. The database was not changed", path.display())]
    NewerSchema { path: std::path::PathBuf, version: i64 },
    #[error("the database is locked by another process (waited {waited:.0}s); try again when it is done")]
    Locked { waited: f64 },
    #[error("sweep {sweep} is not in the database {}", path.display())]
    NotFound { sweep: String, path: std::path::PathBuf },
    #[error("the directory of the database: {0}")]
    Dir(cyplam_core::files::FileError),
    #[error("{}: is a directory; --db (CYPLAM_DB) names the database file", path.display())]
    IsDirectory { path: std::path::PathBuf },
    #[error("opening the database {}: {error}", path.display())]
    Open { path: std::path::PathBuf, error: sqlx::Error },
    #[error("{}: applying the database migrations: {error}", path.display())]
    Migrate { path: std::path::PathBuf, error: sqlx::migrate::MigrateError },
}

/// Who runs a submission's workers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A Slurm job array; the job id is the array's.
    Slurm,
    /// `cyplam run` on one machine; the job id is `local:<host>:<pid>`.
    Local,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Slurm => "slurm",
            Backend::Local => "local",
        }
    }
    fn parse(s: &str) -> Option<Backend> {
        match s {
            "slurm" => Some(Backend::Slurm),
            "local" => Some(Backend::Local),
            _ => None,
        }
    }
}

/// A model's status as the database records it: its result's, or `new` while it has none.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordedStatus {
    New,
    Completed,
    Failed,
    Preempted,
    /// Successive halving: at the end of its rung, waiting for the rung's decision.
    Waiting,
    /// Successive halving: stopped at a rung (not among its best, or failed there).
    Pruned,
    /// Its files could not be ingested (the reason names the file and line); it keeps the rows
    /// collected before.
    Damaged,
}

impl RecordedStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RecordedStatus::New => "new",
            RecordedStatus::Completed => "completed",
            RecordedStatus::Failed => "failed",
            RecordedStatus::Preempted => "preempted",
            RecordedStatus::Waiting => "waiting",
            RecordedStatus::Pruned => "pruned",
            RecordedStatus::Damaged => "damaged",
        }
    }
    /// The stored text; anything else (a row written by another version) reads as `new`.
    fn parse(s: &str) -> RecordedStatus {
        match s {
            "completed" => RecordedStatus::Completed,
            "failed" => RecordedStatus::Failed,
            "preempted" => RecordedStatus::Preempted,
            "waiting" => RecordedStatus::Waiting,
            "pruned" => RecordedStatus::Pruned,
            "damaged" => RecordedStatus::Damaged,
            _ => RecordedStatus::New,
        }
    }
}

impl From<cyplam_core::files::ResultStatus> for RecordedStatus {
    fn from(s: cyplam_core::files::ResultStatus) -> Self {
        use cyplam_core::files::ResultStatus;
        match s {
            ResultStatus::Completed => RecordedStatus::Completed,
            ResultStatus::Failed => RecordedStatus::Failed,
            ResultStatus::Preempted => RecordedStatus::Preempted,
            ResultStatus::Waiting => RecordedStatus::Waiting,
            ResultStatus::Pruned => RecordedStatus::Pruned,
        }
    }
}

impl Db {
    pub async fn open(path: &Path) -> Result<Db, DbError> {
        if path.is_dir() {
            return Err(DbError::IsDirectory { path: path.to_path_buf() });
        }
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                cyplam_core::files::create_dir(dir).map_err(DbError::Dir)?;
            }
        }
        let opts = SqliteConnectOptions::new().filename(path).create_if_missing(true).busy_timeout(busy_timeout()).foreign_keys(true);
        let pool = SqlitePoolOptions::new().max_connections(1).connect_with(opts).await.map_err(|error| DbError::Open { path: path.to_path_buf(), error })?;
        let migrator = sqlx::migrate!("../../migrations");
        if let Err(e) = migrator.run(&pool).await {
            return Err(match e {
                sqlx::migrate::MigrateError::VersionMissing(version) => DbError::NewerSchema { path: path.to_path_buf(), version },
                sqlx::migrate::MigrateError::Execute(sqlx::Error::Database(d)) if is_busy(d.as_ref()) => {
                    DbError::Locked { waited: busy_timeout().as_secs_f64() }
                }
                error => DbError::Migrate { path: path.to_path_buf(), error },
            });
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
            "INSERT INTO sweeps (name, dir, grid_sha256, created_unix, n_models, trainings_per_node, cpus_per_training, axes_json, sweep_json)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT(name) DO UPDATE SET dir = excluded.dir, grid_sha256 = excluded.grid_sha256,
               n_models = excluded.n_models, trainings_per_node = excluded.trainings_per_node,
               cpus_per_training = excluded.cpus_per_training, axes_json = excluded.axes_json, sweep_json = excluded.sweep_json",
        )
        .bind(&sweep.name)
        .bind(dir.display().to_string())
        .bind(&sweep.grid_sha256)
        .bind(sweep.created_unix as i64)
        .bind(sweep.grid.models.len() as i64)
        .bind(sweep.grid.slurm.trainings_per_node as i64)
        .bind(sweep.grid.slurm.cpus_per_training as i64)
        .bind(axes)
        .bind(serde_json::to_string(sweep)?)
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

    /// The id of a sweep that must be in the database.
    pub async fn require_sweep(&self, name: &str) -> Result<i64> {
        match self.sweep_id(name).await? {
            Some(id) => Ok(id),
            None => Err(DbError::NotFound { sweep: name.to_string(), path: self.path.clone() }.into()),
        }
    }

    /// The frozen sweep as registered, and the directory it was in: what a report reads when the
    /// sweep directory is gone.
    pub async fn stored_sweep(&self, name: &str) -> Result<Option<(std::path::PathBuf, SweepFile)>> {
        let row: Option<(String, Option<String>)> =
            sqlx::query_as("SELECT dir, sweep_json FROM sweeps WHERE name = ?").bind(name).fetch_optional(&self.pool).await?;
        match row {
            Some((dir, Some(json))) => {
                let sweep = serde_json::from_str(&json).with_context(|| format!("{}: the stored sweep {name}", self.path.display()))?;
                Ok(Some((dir.into(), sweep)))
            }
            _ => Ok(None),
        }
    }

    pub async fn sweep_names(&self) -> Result<Vec<String>> {
        Ok(sqlx::query_scalar("SELECT name FROM sweeps ORDER BY created_unix DESC, name").fetch_all(&self.pool).await?)
    }

    /// Records a submission.
    #[allow(clippy::too_many_arguments)]
    pub async fn add_submission(
        &self,
        sweep_id: i64,
        backend: Backend,
        job_id: &str,
        array_spec: &str,
        offset: usize,
        models: &[usize],
        script: Option<&Path>,
        rung: Option<u32>,
        round: Option<u32>,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO submissions (sweep_id, backend, job_id, array_spec, array_offset, models_json, script_path, submitted_unix, rung, round)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sweep_id)
        .bind(backend.as_str())
        .bind(job_id)
        .bind(array_spec)
        .bind(offset as i64)
        .bind(serde_json::to_string(models)?)
        .bind(script.map(|p| p.display().to_string()))
        .bind(cyplam_core::files::now_unix() as i64)
        .bind(rung.map(i64::from))
        .bind(round.map(i64::from))
        .execute(&self.pool)
        .await
        .map_err(locked)?;
        Ok(())
    }

    pub async fn submissions(&self, sweep_id: i64) -> Result<Vec<Submission>> {
        let rows = sqlx::query(
            "SELECT backend, job_id, array_spec, array_offset, models_json, submitted_unix, rung, round FROM submissions WHERE sweep_id = ? ORDER BY id",
        )
        .bind(sweep_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|r| {
                let backend: &str = r.get("backend");
                Ok(Submission {
                    backend: Backend::parse(backend).with_context(|| format!("{}: a submission with backend {backend:?}", self.path.display()))?,
                    job_id: r.get("job_id"),
                    array_spec: r.get("array_spec"),
                    offset: r.get::<i64, _>("array_offset") as usize,
                    models: serde_json::from_str(r.get::<&str, _>("models_json"))?,
                    submitted_unix: r.get::<i64, _>("submitted_unix") as u64,
                    rung: r.get::<Option<i64>, _>("rung").and_then(|k| u32::try_from(k).ok()),
                    round: r.get::<Option<i64>, _>("round").and_then(|k| u32::try_from(k).ok()),
                })
            })
            .collect()
    }
}

/// A "database is locked" error, said plainly ([`DbError::Locked`]).
fn locked(e: sqlx::Error) -> anyhow::Error {
    if let sqlx::Error::Database(d) = &e {
        if is_busy(d.as_ref()) {
            return DbError::Locked { waited: busy_timeout().as_secs_f64() }.into();
        }
    }
    e.into()
}

/// SQLITE_BUSY or SQLITE_LOCKED (any extended code of them), by SQLite's result code.
fn is_busy(d: &dyn sqlx::error::DatabaseError) -> bool {
    d.code().and_then(|c| c.parse::<i32>().ok()).is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

#[derive(Debug, Clone)]
pub struct Submission {
    pub backend: Backend,
    pub job_id: String,
    pub array_spec: String,
    pub offset: usize,
    pub models: Vec<usize>,
    pub submitted_unix: u64,
    /// Successive halving: the rung this job array trains (its slots pick among the models rung
    /// `rung - 1`'s decision promoted).
    pub rung: Option<u32>,
    /// A TPE search: the round this job array trains (its slots pick among the models the round
    /// proposes).
    pub round: Option<u32>,
}
