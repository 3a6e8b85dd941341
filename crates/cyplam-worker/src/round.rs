//! A worker's part in a TPE search (`--round R`, `strategy = "tpe"`): which models round R
//! trains, proposing the round first under the sweep's round lock if no worker did yet (one
//! worker proposes it, the others read it), from the `result.json` of every model before it.

use crate::lock;
use anyhow::{bail, Context, Result};
use cyplam_core::files::SweepFile;
use cyplam_core::layout::SweepDir;
use cyplam_core::search::rounds::{self, Rounds};
use std::ops::Range;
use std::time::Duration;

/// How long a worker waits for another to finish proposing a round.
const PROPOSE_WAIT: Duration = Duration::from_secs(600);

/// Round `round` of the sweep in `dir` (`sweep` as frozen): the sweep with the round's models
/// known, and their numbers.
pub fn models_of_round(dir: &SweepDir, sweep: SweepFile, round: u32) -> Result<(SweepFile, Range<usize>)> {
    let Some(r) = Rounds::of(&sweep.grid) else {
        bail!("--round {round}: sweep {} is not a TPE search (its grid has no [search] with strategy = \"tpe\")", sweep.name)
    };
    if round == 0 || round > r.last() {
        bail!("--round {round}: sweep {}'s TPE search has rounds 1 to {} after its random start (round 0 is trained with --index)", sweep.name, r.last());
    }
    cyplam_core::files::create_dir(&dir.search_dir())?;
    let _held = lock::acquire_waiting(&dir.round_lock(), PROPOSE_WAIT).context("taking the lock of the search's rounds")?;
    let f = rounds::take(dir, &sweep, round)?;
    let names: Vec<&str> = f.proposed.iter().map(|p| p.model.as_str()).collect();
    tracing::info!("round {round}: {} model(s) proposed from {} before them ({})", names.len(), f.observed.len(), names.join(", "));
    let known = rounds::with_proposals(dir, sweep)?;
    Ok((known, r.models_of(round)))
}
