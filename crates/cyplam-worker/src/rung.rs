//! A worker's part in successive halving (`--rung K`): which models train in rung K, taking the
//! decisions of the rungs before it under the sweep's decision lock (one worker takes each, the
//! others read it), after checking that no model of the ended rung is still being trained.

use crate::lock;
use anyhow::{bail, Context, Result};
use cyplam_core::files::SweepFile;
use cyplam_core::halving::decision::{Busy, RungPlan};
use cyplam_core::halving::take::Rungs;
use cyplam_core::layout::{ModelDir, SweepDir};
use std::time::Duration;

/// The models of one rung, and where it ends.
pub struct Rung {
    pub rung: u32,
    pub plan: RungPlan,
    /// The models that train in it, in model order.
    pub models: Vec<usize>,
}

impl Rung {
    /// Where model `m` stops in this rung: the rung's end, or `None` in the last rung (its end).
    pub fn stop_at(&self, m: usize) -> Option<u64> {
        (!self.plan.is_last(self.rung)).then(|| self.plan.end(m, self.rung))
    }
}

/// How long a worker waits for another to finish taking a decision.
const DECISION_WAIT: Duration = Duration::from_secs(600);

/// Whether a model of an ended rung may still be training: its lock can be taken (and is let go
/// at once), or it has no directory.
fn not_training(md: &ModelDir) -> Result<(), Busy> {
    if !md.root.exists() {
        return Ok(());
    }
    lock::acquire(&md.lock()).map(drop).map_err(Busy::from)
}

/// Rung `k` of the sweep in `dir`: its plan (for the training set's frames), and its models.
pub fn models_of_rung(dir: &SweepDir, sweep: &SweepFile, k: u32) -> Result<Rung> {
    let Some(h) = sweep.grid.halving else { bail!("--rung {k}: sweep {} has no [halving] table", sweep.name) };
    if k >= h.rungs {
        bail!("--rung {k}: sweep {}'s [halving] has {} rung(s) (0 ... {})", sweep.name, h.rungs, h.rungs - 1);
    }
    let data = sweep.grid.data.as_ref().context("the sweep has no [data] table")?;
    let frames = cyplam_core::data::check_dataset(&data.train)?.frames as u64;
    let plan = RungPlan::of(&sweep.grid, frames).context("the sweep has no [halving] table")?;
    if k == 0 {
        return Ok(Rung { rung: 0, plan, models: (0..sweep.grid.models.len()).collect() });
    }
    cyplam_core::files::create_dir(&dir.halving_dir())?;
    // Another worker of the rung may be taking the decisions: said at once, for whom and how long
    // at most (issue 33: it waited up to 10 minutes without a word).
    let _held = lock::acquire_waiting(&dir.decision_lock(), DECISION_WAIT).context("taking the lock of the rungs' decisions")?;
    let models = Rungs { dir, sweep, plan: &plan, busy: &not_training }.alive(k)?;
    tracing::info!("rung {k}: {} model(s) train in it ({})", models.len(), rung_names(sweep, &models));
    Ok(Rung { rung: k, plan, models })
}

fn rung_names(sweep: &SweepFile, models: &[usize]) -> String {
    let names: Vec<&str> = models.iter().filter_map(|&m| sweep.grid.models.get(m)).map(|m| m.name.as_str()).collect();
    if names.len() > 8 {
        format!("{} ... {}", names[..4].join(", "), names[names.len() - 2..].join(", "))
    } else {
        names.join(", ")
    }
}
