//! `cyplam resubmit SWEEP --failed`: submits again the models that failed, were preempted or were
//! lost (killed, node lost); each resumes from its newest checkpoint.

use crate::ctx::Ctx;
use crate::slurm::Scheduler;
use crate::halving::{plan_for, plan_text, Pick, Plan};
use crate::state::{model_states, State};
use crate::submission::{dry_run, submit_models, Frames, Stage};
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
        let subs = o.db.submissions(o.id).await?;
        let states = model_states(&o.sweep, &subs, Some(ctx.scheduler)).await?;
        let grid = &o.sweep.sweep.grid;
        if let Some(h) = grid.halving {
            // Inside a halving sweep: the current rung's failed models, then the later rungs.
            return match plan_for(&o.sweep, h, &subs, &states, ctx.scheduler, Pick::Failed).await? {
                Plan::Nothing(why) => {
                    println!("sweep {}: {why}", grid.name);
                    Ok(())
                }
                Plan::Submit { stages, .. } if self.dry_run => {
                    let frames = Frames::of(grid)?;
                    dry_run(grid, &o.sweep.dir, &stages, ctx.scheduler, self.device.as_deref(), frames, &plan_text(grid, &stages, frames)?).await
                }
                Plan::Submit { stages, .. } => submit_models(&o.db, o.id, &o.sweep, &stages, ctx.scheduler, self.device.as_deref()).await,
            };
        }
        let todo: Vec<usize> = states.iter().filter(|m| matches!(m.state, State::Failed | State::Preempted | State::Lost)).map(|m| m.index).collect();
        if todo.is_empty() {
            println!("sweep {}: no failed, preempted or lost model", o.sweep.sweep.name);
            return Ok(());
        }
        if self.dry_run {
            return dry_run(grid, &o.sweep.dir, &[Stage::plain(&todo)], ctx.scheduler, self.device.as_deref(), Frames::of(grid)?, "").await;
        }
        submit_models(&o.db, o.id, &o.sweep, &[Stage::plain(&todo)], ctx.scheduler, self.device.as_deref()).await
    }
}
