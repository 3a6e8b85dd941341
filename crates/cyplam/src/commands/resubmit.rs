//! `cyplam resubmit SWEEP --failed`: submits again the models that failed, were preempted or were
//! lost (killed, node lost); each resumes from its newest checkpoint.

use crate::ctx::Ctx;
use crate::slurm::Scheduler;
use crate::state::{model_states, State};
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
        let subs = o.db.submissions(o.id).await?;
        let states = model_states(&o.sweep, &subs, Some(ctx.scheduler)).await?;
        let todo: Vec<usize> = states.iter().filter(|m| matches!(m.state, State::Failed | State::Preempted | State::Lost)).map(|m| m.index).collect();
        if todo.is_empty() {
            println!("sweep {}: no failed, preempted or lost model", o.sweep.sweep.name);
            return Ok(());
        }
        let grid = &o.sweep.sweep.grid;
        if self.dry_run {
            return dry_run(grid, &o.sweep.dir, &todo, ctx.scheduler, self.device.as_deref(), Frames::of(grid)?).await;
        }
        submit_models(&o.db, o.id, &o.sweep, &todo, ctx.scheduler, self.device.as_deref()).await
    }
}
