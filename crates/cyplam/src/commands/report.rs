//! `cyplam report [SWEEP]`: the ranking (best validation Accuracy20% first) as a table, CSV,
//! JSON or Markdown; `--model` prints one model's learning curve; `--html` and `--figures` also
//! write the figures; `--what-if` replays halving and early stopping on the recorded curves, or
//! with `--search` a sampled search on the recorded full grid.

use crate::ctx::Ctx;
use crate::output::Format;
use crate::report::{self, html, print_curve, print_ranking, whatif};
use crate::slurm::Scheduler;
use anyhow::{bail, Result};
use clap::Args;
use cyplam_core::halving::settings::{
    Halving, Promotion, DEFAULT_AXES, DEFAULT_CAP, DEFAULT_CURVE, DEFAULT_ETA, DEFAULT_FORECAST, DEFAULT_NOISE, DEFAULT_RUNGS,
};
use cyplam_core::search::replay::{SampleSpec, DEFAULT_DRAWS, MAX_DRAWS};
use cyplam_core::spec::EarlyStopping;
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
    /// --what-if: each rung keeps the best 1/eta of the models; a list (2,3,4) replays each.
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_ETA], requires = "what_if", allow_negative_numbers = true, value_parser = crate::args::eta)]
    pub eta: Vec<u32>,
    /// --what-if: rungs of the halving (the last ends at the end of training); a list replays each.
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_RUNGS], requires = "what_if", allow_negative_numbers = true, value_parser = crate::args::positive_u32)]
    pub rungs: Vec<u32>,
    /// --what-if: the promotion rule, noise (ties within noise of the cutoff go on) or rank (the
    /// best ceil(n/eta) only); a list replays each.
    #[arg(long, value_delimiter = ',', default_values_t = ["noise".to_string()], requires = "what_if")]
    pub promote: Vec<String>,
    /// --what-if: the noise rule's factor: models within this many times the rung's jitter of the
    /// cutoff go on; a list replays each.
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_NOISE], requires = "what_if", allow_negative_numbers = true)]
    pub noise: Vec<f64>,
    /// --what-if: the noise rule's cap: at most this many times ceil(n/eta) go on; a list replays each.
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_CAP], requires = "what_if", allow_negative_numbers = true)]
    pub cap: Vec<f64>,
    /// --what-if: the noise rule's curve evidence: models whose curve, extrapolated to the next
    /// rung's end, comes within this many times its uncertainty of the forecast cutoff go on
    /// (0: off); a list replays each.
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_CURVE], requires = "what_if", allow_negative_numbers = true)]
    pub curve: Vec<f64>,
    /// --what-if: the noise rule's forecast allowance: before the last rung's decision, the best
    /// ceil(this x ceil(n/eta)) of the others by their curve's forecast also go on (0: off); a
    /// list replays each.
    #[arg(long, value_delimiter = ',', default_values_t = [DEFAULT_FORECAST], requires = "what_if", allow_negative_numbers = true)]
    pub forecast: Vec<f64>,
    /// --what-if: early stopping's patience, in snapshots without improvement; a list replays each.
    #[arg(long, value_delimiter = ',', default_values_t = [EarlyStopping::DEFAULT_PATIENCE], requires = "what_if", allow_negative_numbers = true, value_parser = crate::args::positive_u32)]
    pub patience: Vec<u32>,
    /// --what-if: early stopping's noise factor: a rise must exceed this many times the curve's
    /// jitter to count; a list replays each.
    #[arg(long, value_delimiter = ',', default_values_t = [EarlyStopping::DEFAULT_NOISE], requires = "what_if", allow_negative_numbers = true)]
    pub es_noise: Vec<f64>,
    /// --what-if: early stopping's drop factor: stop only once the last `patience` snapshots
    /// average this many jitters below the best; a list replays each.
    #[arg(long, value_delimiter = ',', default_values_t = [EarlyStopping::DEFAULT_DROP], requires = "what_if", allow_negative_numbers = true)]
    pub es_drop: Vec<f64>,
    /// --what-if: the smallest rise of validation Accuracy20% that counts as an improvement.
    #[arg(long, default_value_t = 0.0, requires = "what_if", allow_negative_numbers = true)]
    pub min_delta: f64,
    /// --what-if: replay a sampled search ([search] in a grid file) of K models on this full grid
    /// instead, alone and with the halving settings asked: STRATEGY:K[,K...], random or sobol
    /// (random:16,32 or sobol:16), or tpe, a model-based proposer in rounds of 2 models (tpeB:
    /// of B; tpe:16, tpe4:16), not yet a [search] strategy; repeat for more strategies.
    #[arg(long, value_name = "STRATEGY:K,...", requires = "what_if", value_parser = |s: &str| s.parse::<SampleSpec>())]
    pub search: Vec<SampleSpec>,
    /// --search: seeded draws per strategy and K (seeds 0 to D-1), 1 to 100,000.
    #[arg(long, value_name = "D", default_value_t = DEFAULT_DRAWS, requires = "search", value_parser = crate::args::positive_u32)]
    pub draws: u32,
}

impl ReportArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let o = ctx.open_sweep(self.sweep.as_deref()).await?;
        if self.what_if {
            let mut halvings = Vec::new();
            for &eta in &self.eta {
                for &rungs in &self.rungs {
                    for rule in &self.promote {
                        match rule.as_str() {
                            "rank" => halvings.push(Halving::with(eta, rungs, Promotion::Rank)?),
                            "noise" => {
                                for &noise in &self.noise {
                                    for &cap in &self.cap {
                                        for &curve in &self.curve {
                                            for &forecast in &self.forecast {
                                                let p = Promotion::noise(noise, cap, DEFAULT_AXES)
                                                    .and_then(|p| p.with_curve(curve))
                                                    .and_then(|p| p.with_forecast(forecast))
                                                    .map_err(|e| anyhow::anyhow!("--noise/--cap/--curve/--forecast: {e}"))?;
                                                halvings.push(Halving::with(eta, rungs, p)?);
                                            }
                                        }
                                    }
                                }
                            }
                            other => bail!("--promote {other}: give noise or rank"),
                        }
                    }
                }
            }
            if !(self.min_delta.is_finite() && self.min_delta >= 0.0) {
                bail!("--min-delta {}: give a number of at least 0", self.min_delta);
            }
            let mut stoppings = Vec::new();
            for &patience in &self.patience {
                for &noise in &self.es_noise {
                    for &drop in &self.es_drop {
                        for (flag, v) in [("--es-noise", noise), ("--es-drop", drop)] {
                            if !(v.is_finite() && (0.0..=100.0).contains(&v)) {
                                bail!("{flag} {v}: give a number from 0 to 100");
                            }
                        }
                        stoppings.push(EarlyStopping { patience, min_delta: self.min_delta, noise, drop });
                    }
                }
            }
            if !self.search.is_empty() {
                return self.replay_search(&o, &halvings).await;
            }
            if halvings.len() * stoppings.len().max(1) > 10_000 {
                bail!("--what-if: {} settings asked; give at most 10,000 combinations", halvings.len() * stoppings.len().max(1));
            }
            let (models, curves) = whatif::complete_curves(&o.db, o.id).await?;
            let grid = &o.sweep.sweep.grid;
            let axes: Vec<Vec<usize>> = models.iter().map(|m| grid.axis_values(m.index)).collect();
            return whatif::print(&models, &curves, &axes, &halvings, &stoppings, self.format);
        }
        match &self.model {
            Some(m) => print_curve(&o.db, o.id, &o.sweep, m, self.format).await,
            None => {
                let loaded = report::load(&o.db, o.id, &o.sweep).await?;
                // The page and figures are written even when nothing reads stdout any more
                // (`| head`); the ranking's error comes after them.
                let printed = print_ranking(&loaded, &o.sweep, self.top, self.format);
                html::write(&o.db, o.id, &o.sweep, loaded, self.top, self.html.as_deref(), self.figures.as_deref()).await?;
                printed
            }
        }
    }
}

impl ReportArgs {
    /// `--what-if --search`: the sampled searches asked, replayed on the sweep's full grid.
    async fn replay_search(&self, o: &crate::ctx::Opened, halvings: &[Halving]) -> Result<()> {
        let grid = &o.sweep.sweep.grid;
        if let Some(s) = &grid.search {
            bail!(
                "--what-if --search replays a sampled search on a full grid (every combination of the axes trained); sweep {} is itself sampled ([search] strategy = \"{}\", models = {})",
                grid.name, s.strategy.as_str(), s.models
            );
        }
        if self.draws > MAX_DRAWS {
            bail!("--draws {}: give 1 to {MAX_DRAWS}", self.draws);
        }
        let n = grid.models.len();
        for spec in &self.search {
            if let Some(k) = spec.counts.iter().find(|&&k| k as usize > n) {
                bail!("--search {}:{k}: the full grid has {n} models; give a number of models from 1 to {n}", spec.sampler.name());
            }
        }
        let replays = self.draws as u64 * self.search.iter().map(|s| s.counts.len() as u64).sum::<u64>() * (halvings.len() as u64 + 1);
        if replays > 10_000_000 {
            bail!("--what-if --search: {replays} replays asked (draws x counts x (halving settings + 1)); give at most 10,000,000: fewer --draws, counts or halving settings");
        }
        let (models, curves) = whatif::complete_curves(&o.db, o.id).await?;
        let axes: Vec<Vec<usize>> = models.iter().map(|m| grid.axis_values(m.index)).collect();
        let lens: Vec<usize> = grid.axes.iter().map(|a| a.len).collect();
        whatif::print_search(&models, &curves, &axes, &lens, &self.search, self.draws, halvings, self.format)
    }
}
