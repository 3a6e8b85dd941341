//! The rounds of a sweep with `strategy = "tpe"` (docs/grid.md, "Model-based proposals"): the
//! random start (round 0, drawn with the grid like any sampled sweep), then rounds of `batch`
//! models, each proposed by the TPE ([`super::tpe`]) from the scores of every model before it.
//!
//! No process drives the sweep. A round is proposed by the first worker of its job array (or by
//! `cyplam run` between rounds), under `search/propose.lock`, from the models' `result.json`
//! files, once every model before it has finished (completed, or failed by itself); it is written
//! atomically to `search/round-R.json` with the scores it was proposed from. Every reader
//! ([`with_proposals`]: the workers, `status`, `report`, `submit`) checks each round file by
//! proposing the round again from the scores it records, so a round edited or written by another
//! grid is refused, naming the file. The models a round proposed join the sweep's model list
//! (`Model-NNN`, numbered on after the models before them) from then on; the models of a round
//! not yet proposed are not known to anyone.

use super::tpe::{self, TpeError};
use crate::files::{now_unix, read_json, write_json_atomic, FileError, ModelResult, ResultStatus, SweepFile};
use crate::grid::{Grid, GridError};
use crate::layout::SweepDir;
use crate::search::Strategy;
use crate::spec::model_name;
use serde::{Deserialize, Serialize};
use std::ops::Range;
use std::path::PathBuf;

/// The format of `search/round-R.json` this cyplam writes.
pub const ROUND_FORMAT: u32 = 1;

/// The shape of a TPE sweep's rounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rounds {
    /// `models` of `[search]`: how many the sweep trains in all.
    pub models: usize,
    /// The random start, round 0.
    pub start: usize,
    pub batch: usize,
    pub seed: u64,
    /// How many values each axis has.
    pub lens: Vec<usize>,
}

impl Rounds {
    /// The rounds of a grid with `strategy = "tpe"`; None for any other grid.
    pub fn of(grid: &Grid) -> Option<Rounds> {
        let s = grid.search.filter(|s| s.strategy == Strategy::Tpe)?;
        let models = s.models as usize;
        Some(Rounds {
            models,
            start: tpe::first_random(models),
            batch: s.batch.unwrap_or(tpe::DEFAULT_BATCH).max(1) as usize,
            seed: s.seed,
            lens: grid.axes.iter().map(|a| a.len.max(1)).collect(),
        })
    }

    /// The proposed rounds, 1 to this (0 when the random start is all).
    pub fn last(&self) -> u32 {
        (tpe::rounds(self.models, self.batch) - 1) as u32
    }

    /// The models (numbers) of round `round`: 0 is the random start.
    pub fn models_of(&self, round: u32) -> Range<usize> {
        if round == 0 {
            return 0..self.start;
        }
        let from = self.start.saturating_add((round as usize - 1).saturating_mul(self.batch)).min(self.models);
        from..from.saturating_add(self.batch).min(self.models)
    }

    /// The round model `m` belongs to.
    pub fn round_of(&self, m: usize) -> u32 {
        if m < self.start {
            0
        } else {
            ((m - self.start) / self.batch + 1) as u32
        }
    }
}

/// One model a round was proposed from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Observed {
    pub model: String,
    /// Its best validation Accuracy20% over its whole curve; None: it failed (the worst).
    pub score: Option<f64>,
}

/// One model a round proposes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Proposed {
    pub model: String,
    /// Which of each axis's values it takes (from 0, in the grid's order; an `int` range's i-th
    /// value is lo + i x step).
    pub values: Vec<usize>,
}

/// `search/round-R.json`: what round R proposed, and from what.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoundFile {
    pub format: u32,
    pub round: u32,
    /// `[search]` as it was: the seed, the batch and the models in all.
    pub seed: u64,
    pub batch: u32,
    pub models: u32,
    /// Every model before the round, in model order, with its score.
    pub observed: Vec<Observed>,
    pub proposed: Vec<Proposed>,
    /// The TPE's random stream: where this round started drawing (where the round before
    /// ended; 0 for round 1) and where it ended.
    pub stream_from: u64,
    pub stream_to: u64,
    pub taken_unix: u64,
    pub host: String,
}

#[derive(Debug, thiserror::Error)]
pub enum RoundError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: {message}; a round file is written by the worker that proposes it and must not be edited (remove it, and every later round file, to propose it again)", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("round {round} cannot be proposed yet: {model} (round {of}) {why}; `cyplam resubmit --failed` trains it again, and the next worker of round {round} proposes it")]
    Unfinished { round: u32, model: String, of: u32, why: String },
    #[error("round {round} cannot be proposed before round {before} is (rounds are proposed in turn, each from every model before it)")]
    NotYet { round: u32, before: u32 },
    #[error("the sweep has rounds 1 to {last} after its random start; there is no round {round}")]
    NoSuchRound { round: u32, last: u32 },
    #[error("writing {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Tpe(#[from] TpeError),
    #[error("{0}")]
    Grid(#[from] GridError),
}

/// Round `round`'s proposals (value indices of its models), from the models before it: `before`,
/// their value indices in model order, and `scores`, theirs in the same order; the TPE's stream
/// starts `from` numbers in (where the round before left it). Also where the stream ends.
pub fn propose(r: &Rounds, round: u32, before: &[Vec<usize>], scores: &[Option<f64>], from: u64) -> Result<(Vec<Vec<usize>>, u64), String> {
    let models = r.models_of(round);
    if round == 0 || models.is_empty() || before.len() != models.start || scores.len() != models.start {
        return Err(format!("round {round} follows {} models, not {}", models.start, before.len()));
    }
    let mut observed = Vec::with_capacity(before.len());
    for (v, s) in before.iter().zip(scores) {
        if v.len() != r.lens.len() || v.iter().zip(&r.lens).any(|(&i, &n)| i >= n) {
            return Err(format!("values {v:?} do not fit axes of {:?} values", r.lens));
        }
        observed.push((tpe::index(&r.lens, v), s.unwrap_or(f64::NAN)));
    }
    let mut rng = tpe::Stream::at(r.seed, from);
    let chosen = tpe::round(&r.lens, &observed, models.len(), &mut rng).map_err(|e| e.to_string())?;
    Ok((chosen.iter().map(|&m| tpe::positions(&r.lens, m)).collect(), rng.n))
}

impl RoundFile {
    /// Checks round file `path`, round `round` of `sweep` (a TPE search; its random start and the
    /// rounds before, `earlier`, checked already): its round and `[search]`, the models before it,
    /// its models' names, and its proposal and stream made again from the scores it records.
    pub fn check(&self, path: &std::path::Path, sweep: &SweepFile, round: u32, earlier: &[RoundFile]) -> Result<(), RoundError> {
        let bad = |message: String| RoundError::Invalid { path: path.to_path_buf(), message };
        let Some(r) = Rounds::of(&sweep.grid) else { return Err(bad(format!("sweep {} is not a TPE search", sweep.name))) };
        let r = &r;
        if round == 0 || round > r.last() || earlier.len() + 1 != round as usize {
            return Err(bad(format!("round {round} does not follow {} round(s) of a search with rounds 1 to {}", earlier.len(), r.last())));
        }
        let (names, before) = known_before(sweep, r, earlier);
        let from = earlier.last().map_or(0, |p| p.stream_to);
        if self.format > ROUND_FORMAT {
            return Err(FileError::NewerFormat { path: path.to_path_buf(), found: self.format }.into());
        }
        if self.round != round {
            return Err(bad(format!("it says round {}, its name round {round}", self.round)));
        }
        if (self.seed, self.batch as usize, self.models as usize) != (r.seed, r.batch, r.models) {
            return Err(bad(format!(
                "it was proposed for seed {}, batch {}, models {}; the sweep's [search] has seed {}, batch {}, models {}",
                self.seed, self.batch, self.models, r.seed, r.batch, r.models
            )));
        }
        let seen: Vec<&str> = self.observed.iter().map(|o| o.model.as_str()).collect();
        let want: Vec<&str> = names.iter().map(String::as_str).collect();
        if seen != want {
            return Err(bad(format!(
                "it was proposed from {} model(s) ({}); the models before round {round} are {} ({})",
                seen.len(),
                ends(&seen),
                want.len(),
                ends(&want)
            )));
        }
        if let Some(o) = self.observed.iter().find(|o| o.score.is_some_and(|s| !s.is_finite())) {
            return Err(bad(format!("{}'s score {:?} is not a finite number", o.model, o.score)));
        }
        let range = r.models_of(round);
        let want: Vec<String> = range.clone().map(|m| model_name(m, r.models)).collect();
        let got: Vec<String> = self.proposed.iter().map(|p| p.model.clone()).collect();
        if got != want {
            return Err(bad(format!(
                "it proposes {} ({} model(s)); round {round} holds {} ({} model(s))",
                got.join(", "),
                got.len(),
                want.join(", "),
                want.len()
            )));
        }
        if self.stream_from != from {
            return Err(bad(format!("its random stream starts at {}; the round before ended it at {from}", self.stream_from)));
        }
        let scores: Vec<Option<f64>> = self.observed.iter().map(|o| o.score).collect();
        let (again, to) = propose(r, round, &before, &scores, from).map_err(bad)?;
        let recorded: Vec<Vec<usize>> = self.proposed.iter().map(|p| p.values.clone()).collect();
        if again != recorded {
            let first = recorded.iter().zip(&again).position(|(a, b)| a != b).unwrap_or(0);
            return Err(bad(format!(
                "its proposal is not what the TPE proposes from the scores it records: {} has values {:?}, the TPE gives {:?}",
                self.proposed[first].model,
                recorded.get(first).cloned().unwrap_or_default(),
                again.get(first).cloned().unwrap_or_default()
            )));
        }
        if self.stream_to != to {
            return Err(bad(format!("its random stream ends at {}; proposing it again ends it at {to}", self.stream_to)));
        }
        Ok(())
    }
}

/// The models before the round that follows `earlier` (the rounds proposed so far), names and
/// value indices in model order: the random start's, as `sweep` holds them (frozen, or with its
/// proposals: only its start is read), then each earlier round's, as its file says.
fn known_before(sweep: &SweepFile, r: &Rounds, earlier: &[RoundFile]) -> (Vec<String>, Vec<Vec<usize>>) {
    let start = r.start.min(sweep.grid.models.len()).min(sweep.grid.positions.len());
    let later = || earlier.iter().flat_map(|f| &f.proposed);
    let names = sweep.grid.models[..start].iter().map(|m| m.name.clone()).chain(later().map(|p| p.model.clone())).collect();
    let values = sweep.grid.positions[..start].iter().cloned().chain(later().map(|p| p.values.clone())).collect();
    (names, values)
}

/// The first and last of a list of names.
fn ends(names: &[&str]) -> String {
    match names {
        [] => "none".into(),
        [one] => one.to_string(),
        [first, .., last] => format!("{first} ... {last}"),
    }
}

/// The rounds proposed so far, read in turn from `search/round-1.json` on and each checked; the
/// first missing one ends them. `sweep` is the sweep as frozen (its random start alone).
pub fn read_rounds(dir: &SweepDir, sweep: &SweepFile) -> Result<Vec<RoundFile>, RoundError> {
    let Some(r) = Rounds::of(&sweep.grid) else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for round in 1..=r.last() {
        let path = dir.round_file(round);
        if !path.exists() {
            break;
        }
        let f: RoundFile = read_json(&path)?;
        f.check(&path, sweep, round, &out)?;
        out.push(f);
    }
    Ok(out)
}

/// The sweep with the models its rounds proposed so far: `sweep` as frozen (the random start)
/// and every checked round's models after it, resolved from the frozen grid copy. Any other sweep
/// is returned as it is.
pub fn with_proposals(dir: &SweepDir, mut sweep: SweepFile) -> Result<SweepFile, RoundError> {
    let Some(r) = Rounds::of(&sweep.grid) else { return Ok(sweep) };
    // A sweep read back from its database copy may hold proposed models already.
    sweep.grid.models.truncate(r.start);
    sweep.grid.positions.truncate(r.start);
    let rounds = read_rounds(dir, &sweep)?;
    if rounds.is_empty() {
        return Ok(sweep);
    }
    let proposed: Vec<Vec<usize>> = rounds.iter().flat_map(|f| f.proposed.iter().map(|p| p.values.clone())).collect();
    let path = dir.grid_copy();
    let text = std::fs::read_to_string(&path).map_err(|error| FileError::Io { path: path.clone(), error })?;
    let grid = crate::grid::parse_proposed(&path, &text, &proposed)?;
    let start: Vec<&str> = sweep.grid.models.iter().map(|m| m.name.as_str()).collect();
    let again: Vec<&str> = grid.models.iter().take(r.start).map(|m| m.name.as_str()).collect();
    if Rounds::of(&grid).as_ref() != Some(&r) || start != again || grid.positions[..r.start] != sweep.grid.positions[..] {
        return Err(RoundError::Invalid { path, message: "the grid copy no longer draws the sweep's random start (sweep.json)".into() });
    }
    let (cpus_then, cpus_now) = (grid.slurm.cpus_per_training, sweep.grid.slurm.cpus_per_training);
    for (mut m, p) in grid.models.into_iter().zip(grid.positions).skip(r.start) {
        // As `--packing` set the frozen models' threads.
        if m.threads == cpus_then {
            m.threads = cpus_now;
        }
        sweep.grid.models.push(m);
        sweep.grid.positions.push(p);
    }
    Ok(sweep)
}

/// A model's score for a round, from its result.json: Ok(Some) completed (its best Accuracy20%),
/// Ok(None) failed by itself (diverged, bad input: the worst), Err(why) not finished.
fn score_of(dir: &SweepDir, name: &str) -> Result<Option<f64>, String> {
    let path = dir.model(name).result();
    if !path.exists() {
        return Err("has not finished (no result.json: pending, running, killed or lost)".into());
    }
    let res: ModelResult = read_json(&path).map_err(|e| format!("cannot be read: {e}"))?;
    match res.status {
        ResultStatus::Completed => Ok(res.best_accuracy20.filter(|s| s.is_finite())),
        ResultStatus::Failed => Ok(None),
        other => Err(format!("stopped {} before its end", other.as_str())),
    }
}

/// Round `round` of the sweep in `dir`: read back if proposed before, else proposed now from the
/// models' result.json files and written. `sweep` is the sweep as frozen or with its proposals
/// (the models before the round are its random start and the round files'). The caller holds
/// `search/propose.lock`.
pub fn take(dir: &SweepDir, sweep: &SweepFile, round: u32) -> Result<RoundFile, RoundError> {
    let Some(r) = Rounds::of(&sweep.grid) else { return Err(RoundError::NoSuchRound { round, last: 0 }) };
    if round == 0 || round > r.last() {
        return Err(RoundError::NoSuchRound { round, last: r.last() });
    }
    let mut proposed = read_rounds(dir, sweep)?;
    if proposed.len() >= round as usize {
        return Ok(proposed.swap_remove(round as usize - 1));
    }
    if proposed.len() + 1 < round as usize {
        return Err(RoundError::NotYet { round, before: proposed.len() as u32 + 1 });
    }
    let path = dir.round_file(round);
    let (names, before) = known_before(sweep, &r, &proposed);
    let mut observed = Vec::with_capacity(names.len());
    for (m, name) in names.into_iter().enumerate() {
        let score = score_of(dir, &name).map_err(|why| RoundError::Unfinished { round, model: name.clone(), of: r.round_of(m), why })?;
        observed.push(Observed { model: name, score });
    }
    let scores: Vec<Option<f64>> = observed.iter().map(|o| o.score).collect();
    let from = proposed.last().map_or(0, |p| p.stream_to);
    let (values, to) = propose(&r, round, &before, &scores, from).map_err(|message| RoundError::Invalid { path: path.clone(), message })?;
    let f = RoundFile {
        format: ROUND_FORMAT,
        round,
        seed: r.seed,
        batch: r.batch as u32,
        models: r.models as u32,
        observed,
        proposed: r.models_of(round).zip(values).map(|(m, values)| Proposed { model: model_name(m, r.models), values }).collect(),
        stream_from: from,
        stream_to: to,
        taken_unix: now_unix(),
        host: crate::files::hostname(),
    };
    crate::files::create_dir(&dir.search_dir())?;
    write_json_atomic(&path, &f).map_err(|source| RoundError::Write { path: path.clone(), source })?;
    Ok(f)
}

#[cfg(test)]
mod tests;
