//! `cyplam collect [SWEEP]`: ingests the workers' files into the database (status and report
//! do it too).

use crate::ctx::Ctx;
use crate::output::outln;
use crate::slurm::Scheduler;
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct CollectArgs {
    /// Sweep name (or directory); default: the newest sweep in the database.
    pub sweep: Option<String>,
}

impl CollectArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let o = ctx.open_sweep(self.sweep.as_deref()).await?;
        outln!("collected {} model(s) of sweep {} into {}", o.collected, o.sweep.sweep.name, ctx.global.db_path().display())?;
        Ok(())
    }
}
