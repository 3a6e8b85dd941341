//! `cyplam report [SWEEP]`: the ranking (best validation Accuracy20% first) as a table, CSV,
//! JSON or Markdown; `--model` prints one model's learning curve; `--html` and `--figures` also
//! write the figures; `--what-if` replays halving and early stopping on the recorded curves.

use crate::ctx::Ctx;
use crate::output::Format;
use crate::report::{self, html, print_curve, print_ranking, whatif};
use crate::slurm::Scheduler;
use anyhow::{bail, Result};
use cyplam_core::spec::EarlyStopping;
use cyplam_core::stopping::Halving;
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
    /// Replay the recorded curves (every model trained to the end): what successive halving and
    /// early stopping would have kept, and the compute each would have saved.
    #[arg(long, conflicts_with_all = ["model", "html", "figures"])]
    pub what_if: bool,
    /// --what-if: each rung keeps the best 1/eta of the models.
    #[arg(long, default_value_t = 3, requires = "what_if", allow_negative_numbers = true, value_parser = crate::args::positive_u32)]
    pub eta: u32,
    /// --what-if: rungs of the halving (the last ends at the end of training).
    #[arg(long, default_value_t = 4, requires = "what_if", allow_negative_numbers = true, value_parser = crate::args::positive_u32)]
    pub rungs: u32,
    /// --what-if: early stopping's patience, in snapshots without improvement.
    #[arg(long, default_value_t = 5, requires = "what_if", allow_negative_numbers = true, value_parser = crate::args::positive_u32)]
    pub patience: u32,
    /// --what-if: the smallest rise of validation Accuracy20% that counts as an improvement.
    #[arg(long, default_value_t = 0.0, requires = "what_if")]
    pub min_delta: f64,
}

impl ReportArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let o = ctx.open_sweep(self.sweep.as_deref()).await?;
        if self.what_if {
            let h = Halving::new(self.eta, self.rungs)?;
            if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
                bail!("--min-delta {}: give a number of at least 0", self.min_delta);
            }
            let es = EarlyStopping { patience: self.patience, min_delta: self.min_delta };
            let (models, curves) = whatif::complete_curves(&o.db, o.id).await?;
            return whatif::print(&models, &curves, &h, &es, self.format);
        }
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
