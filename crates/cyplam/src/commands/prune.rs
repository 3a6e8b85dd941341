//! `cyplam prune SWEEP MODEL...`: withdraws models from a halving sweep, so that the decision of
//! the rung they are in is taken without them. A model whose worker was killed, whose node was
//! lost or whose task was cancelled holds its rung's decision back until it is resumed (a fault
//! is not a verdict, docs/halving.md); this is how a user decides to go on without it.

use crate::ctx::Ctx;
use crate::output::{outln, Said};
use crate::slurm::Scheduler;
use crate::state::SweepView;
use anyhow::{bail, Result};
use clap::Args;

#[derive(Args, Debug)]
pub struct PruneArgs {
    /// Sweep name (or directory).
    pub sweep: String,
    /// The models to withdraw (e.g. Model-004).
    #[arg(required = true)]
    pub models: Vec<String>,
}

impl PruneArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let o = ctx.open_sweep(Some(&self.sweep)).await?;
        let f = &o.sweep;
        if f.sweep.grid.halving.is_none() {
            bail!("sweep {} has no [halving] table: there is no decision to take without a model", f.sweep.name);
        }
        let states = SweepView::read(f, o.db.submissions(o.id).await?, Some(ctx.scheduler)).await?.states;
        for name in &self.models {
            let Some(st) = states.iter().find(|s| &s.name == name) else {
                bail!(
                    "sweep {} has no model {name} (models: {} ... {})",
                    f.sweep.name,
                    states.first().map(|s| s.name.as_str()).unwrap_or(""),
                    states.last().map(|s| s.name.as_str()).unwrap_or("")
                );
            };
            if st.state.is_active() {
                bail!("{name} is {}; cancel it first (`cyplam cancel {}`), then prune it", st.state.as_str(), f.sweep.name);
            }
        }
        // A closed stdout stops no withdrawal half way: its error comes back at the end.
        let mut said = Said::default();
        for name in &self.models {
            cyplam_core::halving::take::withdraw(&f.layout(), &f.sweep, name)?;
            said.keep(outln!("{name}: withdrawn (failed: withdrawn by the user); its rung's decision goes on without it"));
        }
        o.db.collect(o.id, &f.dir, &f.sweep).await?;
        said.keep(outln!("next: `cyplam resubmit {} --failed` on Slurm, or `cyplam run` again, takes the decision and goes on", f.sweep.name));
        Ok(said.done()?)
    }
}
