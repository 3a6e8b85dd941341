//! `cyplam resubmit SWEEP --failed`: submits again the models that failed, were preempted or were
//! lost (killed, node lost); each resumes from its newest checkpoint.

use crate::ctx::Ctx;
use crate::slurm::Scheduler;
use crate::halving::{Pick, Plan};
use crate::state::{active_jobs, model_states, State};
use crate::submission::{dry_run, submit_models, Frames, Stage};
use anyhow::{Context, Result};
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
        if grid.halving.is_some() {
            // Inside a halving sweep: the current rung's failed models, then the later rungs.
            let decisions = cyplam_core::halving::read_decisions(&o.sweep.layout(), &o.sweep.sweep)?;
            let active = active_jobs(&subs, ctx.scheduler).await?;
            return match crate::halving::plan(grid, &decisions, &states, &subs, &active, Pick::Failed) {
                Plan::Nothing(why) => {
                    println!("sweep {}: {why}", grid.name);
                    Ok(())
                }
                Plan::Submit { stages, rung, .. } if self.dry_run => {
                    let frames = Frames::of(grid)?;
                    let rplan = cyplam_core::halving::RungPlan::of(grid, frames.train).context("the sweep has no [halving] table")?;
                    let n_from = crate::halving::models_in(rung, grid.models.len(), &decisions).map(|m| m.len()).unwrap_or(0);
                    let extra = crate::halving::plan_text(grid, &rplan, rung, n_from, frames);
                    dry_run(grid, &o.sweep.dir, &stages, ctx.scheduler, self.device.as_deref(), frames, &extra).await
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
