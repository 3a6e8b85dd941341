//! `cyplam cancel [SWEEP]`: cancels a sweep's Slurm jobs; the workers checkpoint on SIGTERM and a
//! later `cyplam submit` resumes them.

use crate::ctx::Ctx;
use crate::db::Backend;
use crate::output::outln;
use crate::slurm::Scheduler;
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct CancelArgs {
    /// Sweep name (or directory); default: the newest sweep in the database.
    pub sweep: Option<String>,
}

impl CancelArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let db = ctx.open_db().await?;
        let f = crate::sweep::pick(&ctx.global.runs_dir, &db, self.sweep.as_deref()).await?;
        let id = db.require_sweep(&f.sweep.name).await?;
        let jobs: Vec<String> = db.submissions(id).await?.into_iter().filter(|s| s.backend == Backend::Slurm).map(|s| s.job_id).collect();
        if jobs.is_empty() {
            outln!("sweep {} has no Slurm jobs", f.sweep.name)?;
            return Ok(());
        }
        ctx.scheduler.cancel(&jobs).await?;
        outln!("cancelled job(s) {} of sweep {}; workers checkpoint on SIGTERM, `cyplam submit` resumes them", jobs.join(", "), f.sweep.name)?;
        Ok(())
    }
}
