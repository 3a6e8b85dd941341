//! What every command starts from: the global options (runs directory, database), the scheduler,
//! and the one sequence that opens a sweep: open the database, pick (or freeze) the sweep,
//! register it, and collect what its workers wrote.

use crate::db::Db;
use crate::slurm::{Scheduler, Slurm};
use crate::sweep::{self, Frozen};
use anyhow::Result;
use clap::Args;
use std::path::{Path, PathBuf};

/// The options every command takes.
#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Where sweeps live: RUNS/<sweep>/.
    #[arg(long, global = true, env = "CYPLAM_RUNS", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// The results database; default RUNS/cyplam.db.
    #[arg(long, global = true, env = "CYPLAM_DB")]
    pub db: Option<PathBuf>,
}

impl Global {
    pub fn db_path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(|| self.runs_dir.join("cyplam.db"))
    }
}

/// A command's context: the global options and the scheduler it talks to (the real Slurm
/// commands, or a fake in tests).
pub struct Ctx<'s, S: Scheduler = Slurm> {
    pub global: Global,
    pub scheduler: &'s S,
}

/// A sweep opened by a command: its database (with the sweep registered and its files
/// collected), its id there, and its directory.
pub struct Opened {
    pub db: Db,
    pub id: i64,
    pub sweep: Frozen,
    /// Models whose files were read by this collect.
    pub collected: usize,
}

impl<'s, S: Scheduler> Ctx<'s, S> {
    pub fn new(global: Global, scheduler: &'s S) -> Self {
        Ctx { global, scheduler }
    }

    pub async fn open_db(&self) -> Result<Db> {
        Ok(Db::open(&self.global.db_path()).await?)
    }

    /// Opens the sweep named (or in a directory), or the newest one in the database.
    pub async fn open_sweep(&self, which: Option<&str>) -> Result<Opened> {
        let db = self.open_db().await?;
        let sweep = sweep::pick(&self.global.runs_dir, &db, which).await?;
        self.register(db, sweep).await
    }

    /// Freezes a grid file, read by [`sweep::load_grid`], into its sweep directory (the same grid
    /// again reopens it), and opens it.
    pub async fn freeze_sweep(&self, path: &Path, grid: sweep::GridFile) -> Result<Opened> {
        let sweep = sweep::freeze_grid(&self.global.runs_dir, path, grid)?;
        let db = self.open_db().await?;
        self.register(db, sweep).await
    }

    async fn register(&self, db: Db, sweep: Frozen) -> Result<Opened> {
        let id = db.register_sweep(&sweep.dir, &sweep.sweep).await?;
        let collected = db.collect(id, &sweep.dir, &sweep.sweep).await?;
        Ok(Opened { db, id, sweep, collected })
    }
}
