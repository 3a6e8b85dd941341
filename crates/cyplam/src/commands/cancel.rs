//! `cyplam cancel [SWEEP]`: cancels a sweep's Slurm jobs; the workers checkpoint on SIGTERM and a
//! later `cyplam submit` resumes them.

use crate::ctx::Ctx;
use crate::db::Backend;
use crate::output::outln;
use crate::slurm::Scheduler;
use crate::state::SweepView;
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
        let subs = db.submissions(id).await?;
        let mut jobs: Vec<String> = subs.iter().filter(|s| s.backend == Backend::Slurm).map(|s| s.job_id.clone()).collect();
        if jobs.is_empty() {
            outln!("sweep {} has no Slurm jobs", f.sweep.name)?;
            return Ok(());
        }
        // A job id Slurm lists only under another job's name was lost by Slurm and given to that
        // job (a controller that crashed before saving its state): not the sweep's to cancel.
        let view = SweepView::read(&f, subs, Some(ctx.scheduler)).await?;
        let others: Vec<String> =
            jobs.iter().filter(|j| view.strangers.iter().any(|t| &t.array_job == *j) && !view.tasks.iter().any(|t| &t.array_job == *j)).cloned().collect();
        jobs.retain(|j| !others.contains(j));
        for j in &others {
            let name = view.strangers.iter().find(|t| &t.array_job == j).map(|t| t.name.as_str()).unwrap_or_default();
            eprintln!("cyplam: job {j} of sweep {} is not cancelled: Slurm lost it, and the id now belongs to another job named {name:?}", f.sweep.name);
        }
        if jobs.is_empty() {
            outln!("sweep {} has no Slurm jobs left to cancel", f.sweep.name)?;
            return Ok(());
        }
        ctx.scheduler.cancel(&jobs).await?;
        outln!("cancelled job(s) {} of sweep {}; workers checkpoint on SIGTERM, `cyplam submit` resumes them", jobs.join(", "), f.sweep.name)?;
        Ok(())
    }
}
