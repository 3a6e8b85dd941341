//! `cyplam report [SWEEP]`: the ranking (best validation Accuracy20% first) as a table, CSV,
//! JSON or Markdown; `--model` prints one model's learning curve; `--html` and `--figures` also
//! write the figures.

use crate::ctx::Ctx;
use crate::output::Format;
use crate::report::{self, html, print_curve, print_ranking};
use crate::slurm::Scheduler;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Sweep name (or directory); default: the newest sweep in the database.
    pub sweep: Option<String>,
    /// How many models to list.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true, value_parser = crate::args::count)]
    pub top: usize,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Print this model's learning curve instead (Model-108 or 108).
    #[arg(long, conflicts_with_all = ["html", "figures"])]
    pub model: Option<String>,
    /// Also write the report as one self-contained page, DIR/index.html, with every figure.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
    /// Also write each figure as its own SVG file in DIR (loss.svg, accuracy.svg, ...).
    #[arg(long, value_name = "DIR")]
    pub figures: Option<PathBuf>,
}

impl ReportArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let o = ctx.open_sweep(self.sweep.as_deref()).await?;
        match &self.model {
            Some(m) => print_curve(&o.db, o.id, &o.sweep, m, self.format).await,
            None => {
                let loaded = report::load(&o.db, o.id, &o.sweep).await?;
                print_ranking(&loaded, &o.sweep, self.top, self.format)?;
                html::write(&o.db, o.id, &o.sweep, loaded, self.top, self.html.as_deref(), self.figures.as_deref()).await
            }
        }
    }
}
