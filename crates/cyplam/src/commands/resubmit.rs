//! `cyplam resubmit SWEEP --failed`: submits again the models that failed, were preempted or were
//! lost (killed, node lost); each resumes from its newest checkpoint.

use crate::ctx::Ctx;
use crate::halving::{plan_for, plan_text, Pick, Plan};
use crate::output::outln;
use crate::slurm::Scheduler;
use crate::state::SweepView;
use crate::submission::{dry_run, submit_models, Frames};
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct ResubmitArgs {
    /// Sweep name (or directory).
    pub sweep: String,
    /// Submit the models that failed, were preempted, or were lost (killed, node lost).
    #[arg(long, required = true)]
    pub failed: bool,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub device: Option<String>,
}

impl ResubmitArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let o = ctx.open_sweep(Some(&self.sweep)).await?;
        let view = SweepView::read(&o.sweep, o.db.submissions(o.id).await?, Some(ctx.scheduler)).await?;
        let grid = &o.sweep.sweep.grid;
        // One path for every sweep: the failed models of the current rung (of the one rung of a
        // sweep without halving), then a halving sweep's later rungs.
        match plan_for(&o.sweep, &view, Pick::Failed)? {
            Plan::Nothing(why) => {
                outln!("sweep {}: {why}", grid.name)?;
                Ok(())
            }
            Plan::Submit { stages, .. } if self.dry_run => {
                let frames = Frames::of(grid)?;
                dry_run(grid, &o.sweep.dir, &stages, ctx.scheduler, self.device.as_deref(), frames, &plan_text(grid, &stages, frames)?).await
            }
            Plan::Submit { stages, .. } => submit_models(&o.db, o.id, &o.sweep, &stages, ctx.scheduler, self.device.as_deref()).await,
        }
    }
}
