//! Successive halving over a sweep's files (docs/halving.md). The rule is `stopping`'s; this is
//! where it meets the disk: where each model's rungs end (`RungPlan`), and each rung's decision,
//! taken from the models' metrics files once the rung has ended, written atomically to
//! `halving/rung-K.json`, and read back by every later worker, `status` and `report`. The same
//! files give the same decision on every node and under `cyplam run`, whatever order the models
//! finished in, so no process has to drive the sweep: the workers of rung k+1 take rung k's
//! decision (one of them, under `halving/decide.lock`; the others read it).

use crate::files::{best_row, now_unix, read_json, read_metrics, write_json_atomic, FileError, ModelResult, ResultStatus, SweepFile};
use crate::layout::{ModelDir, SweepDir};
use crate::stopping::{best_until, promote, rank, Halving};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format of a rung's decision file.
pub const DECISION_FORMAT: u32 = 1;

/// Where each model's rungs end, for the training set at hand.
#[derive(Debug, Clone, PartialEq)]
pub struct RungPlan {
    pub halving: Halving,
    /// Per model: its iterations and snapshots.
    lengths: Vec<(u64, u32)>,
}

impl RungPlan {
    /// The plan of `sweep`'s `[halving]` for a training set of `train_frames` frames; `None`
    /// without `[halving]`.
    pub fn of(grid: &crate::grid::Grid, train_frames: u64) -> Option<RungPlan> {
        let halving = grid.halving?;
        let lengths = grid.models.iter().map(|m| (m.length.iterations(train_frames, m.batch_size as u64), m.snapshots)).collect();
        Some(RungPlan { halving, lengths })
    }

    pub fn rungs(&self) -> u32 {
        self.halving.rungs
    }

    pub fn is_last(&self, rung: u32) -> bool {
        rung + 1 >= self.halving.rungs
    }

    /// The iteration at which rung `rung` ends for model `model` (its end for the last rung).
    pub fn end(&self, model: usize, rung: u32) -> u64 {
        let (total, snapshots) = self.lengths.get(model).copied().unwrap_or((0, 1));
        self.halving.rung_end(total, snapshots, rung)
    }

    /// Model `model`'s full training length.
    pub fn total(&self, model: usize) -> u64 {
        self.lengths.get(model).map(|l| l.0).unwrap_or(0)
    }

}

/// One model at the end of a rung.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Candidate {
    pub index: usize,
    pub model: String,
    /// The iteration at which the rung ended for this model.
    pub end_iteration: u64,
    /// Its best validation Accuracy20% up to `end_iteration` (none if no finite one).
    pub best_accuracy20: Option<f64>,
    /// Why it cannot go on whatever its score (it failed, did not reach the rung's end, or its
    /// files cannot be read).
    pub excluded: Option<String>,
}

/// What was decided at the end of rung `rung`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RungDecision {
    pub format: u32,
    pub sweep: String,
    pub eta: u32,
    pub rungs: u32,
    pub rung: u32,
    /// ceil(candidates / eta): how many go on when none is excluded.
    pub kept: usize,
    /// The models that trained in the rung, in model order.
    pub candidates: Vec<Candidate>,
    /// The models that go on to rung `rung + 1`, in model order.
    pub promoted: Vec<usize>,
    pub decided_unix: u64,
}

impl RungDecision {
    /// The candidates that did not go on.
    pub fn pruned(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| !self.promoted.contains(&c.index))
    }

    /// Why `c` stopped here, for its result.json.
    pub fn why_pruned(&self, c: &Candidate) -> String {
        let r = self.rung;
        if let Some(why) = &c.excluded {
            return format!("pruned at rung {r}: {why}");
        }
        let scores: Vec<(usize, Option<f64>)> = self.candidates.iter().filter(|c| c.excluded.is_none()).map(|c| (c.index, c.best_accuracy20)).collect();
        let place = rank(&scores).iter().position(|&m| m == c.index).map(|p| p + 1).unwrap_or(0);
        format!(
            "pruned at rung {r}: best validation Accuracy20% {} by iteration {}, ranked {place} of {}; the best {} went on",
            c.best_accuracy20.map(|b| format!("{b:.4}")).unwrap_or_else(|| "none".into()), c.end_iteration, self.candidates.len(), self.promoted.len()
        )
    }

    /// Checks a decision read from `path` against the sweep and the models that trained in its
    /// rung (`candidates`): a file from another sweep or plan, or one naming other models, is
    /// refused.
    pub fn check(&self, path: &Path, sweep: &SweepFile, h: Halving, rung: u32, candidates: &[usize]) -> Result<(), DecisionError> {
        let bad = |message: String| Err(DecisionError::Invalid { path: path.to_path_buf(), message });
        if self.format > DECISION_FORMAT {
            return bad(format!("format {} is newer than this cyplam's ({DECISION_FORMAT})", self.format));
        }
        if self.sweep != sweep.name || self.rung != rung || self.eta != h.eta || self.rungs != h.rungs {
            return bad(format!(
                "the decision of sweep {} rung {} (eta {}, {} rungs), not of sweep {} rung {rung} (eta {}, {} rungs)",
                self.sweep, self.rung, self.eta, self.rungs, sweep.name, h.eta, h.rungs
            ));
        }
        let listed: Vec<usize> = self.candidates.iter().map(|c| c.index).collect();
        if listed != candidates {
            return bad(format!("lists models {listed:?} as rung {rung}'s, but the models that trained in it are {candidates:?}"));
        }
        if self.kept != h.kept(candidates.len()) {
            return bad(format!("keeps {} of {} models; eta {} keeps {}", self.kept, candidates.len(), h.eta, h.kept(candidates.len())));
        }
        if self.promoted.len() > self.kept || self.promoted.windows(2).any(|w| w[0] >= w[1]) || self.promoted.iter().any(|m| !listed.contains(m)) {
            return bad(format!("promotes {:?}: not a sorted subset of at most {} of its candidates", self.promoted, self.kept));
        }
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: {message}; remove it to take the decision again", .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("rung {rung} cannot be decided yet: {model} may still be training ({why})")]
    StillTraining { rung: u32, model: String, why: String },
    #[error("rung {rung} does not exist: the sweep's [halving] has {rungs} rung(s) (0 ... {})", .rungs.saturating_sub(1))]
    NoSuchRung { rung: u32, rungs: u32 },
    #[error("writing {}: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// The models that train in rung `rung`: every model for rung 0, else the ones rung `rung - 1`'s
/// decision promoted (taken now if it was not yet, see [`decide`]).
pub fn alive(dir: &SweepDir, sweep: &SweepFile, plan: &RungPlan, rung: u32, check: &dyn Fn(&ModelDir) -> Result<(), String>) -> Result<Vec<usize>, DecisionError> {
    if rung >= plan.rungs() {
        return Err(DecisionError::NoSuchRung { rung, rungs: plan.rungs() });
    }
    let mut models: Vec<usize> = (0..sweep.grid.models.len()).collect();
    for k in 0..rung {
        models = decide_among(dir, sweep, plan, k, &models, check)?.promoted;
    }
    Ok(models)
}

/// Rung `rung`'s decision: read back when it was taken before, else taken now from the models'
/// files (`check` is asked first whether each may still be training) and written atomically.
/// Either way, every model it prunes then has a `pruned` result.json.
pub fn decide(dir: &SweepDir, sweep: &SweepFile, plan: &RungPlan, rung: u32, check: &dyn Fn(&ModelDir) -> Result<(), String>) -> Result<RungDecision, DecisionError> {
    if plan.is_last(rung) {
        return Err(DecisionError::NoSuchRung { rung, rungs: plan.rungs().saturating_sub(1) });
    }
    let candidates = alive(dir, sweep, plan, rung, check)?;
    decide_among(dir, sweep, plan, rung, &candidates, check)
}

fn decide_among(dir: &SweepDir, sweep: &SweepFile, plan: &RungPlan, rung: u32, candidates: &[usize], check: &dyn Fn(&ModelDir) -> Result<(), String>) -> Result<RungDecision, DecisionError> {
    let path = dir.rung_decision(rung);
    let decision = if path.exists() {
        let d: RungDecision = read_json(&path)?;
        d.check(&path, sweep, plan.halving, rung, candidates)?;
        d
    } else {
        let d = take(dir, sweep, plan, rung, candidates, check)?;
        crate::files::create_dir(&dir.halving_dir())?;
        write_json_atomic(&path, &d).map_err(|source| DecisionError::Write { path: path.clone(), source })?;
        d
    };
    for c in decision.pruned() {
        mark_pruned(dir, sweep, &decision, c)?;
    }
    Ok(decision)
}

/// Takes rung `rung`'s decision among `candidates` from their files.
fn take(dir: &SweepDir, sweep: &SweepFile, plan: &RungPlan, rung: u32, candidates: &[usize], check: &dyn Fn(&ModelDir) -> Result<(), String>) -> Result<RungDecision, DecisionError> {
    let mut out = Vec::with_capacity(candidates.len());
    for &m in candidates {
        let Some(spec) = sweep.grid.models.get(m) else { continue };
        let md = dir.model(&spec.name);
        check(&md).map_err(|why| DecisionError::StillTraining { rung, model: spec.name.clone(), why })?;
        let end = plan.end(m, rung);
        let result: Option<ModelResult> = md.result().exists().then(|| read_json(&md.result()).ok()).flatten();
        let (best, excluded) = match read_metrics(&md.metrics()) {
            Err(e) => (None, Some(format!("its metrics cannot be read ({e})"))),
            Ok(rows) => {
                let last = rows.last().map(|r| r.iteration).unwrap_or(0);
                let status = result.as_ref().map(|r| r.status);
                let excluded = match &result {
                    Some(r) if r.status == ResultStatus::Failed => Some(format!("failed: {}", r.reason.as_deref().unwrap_or("no reason given"))),
                    // Stopped early (early stopping) before the rung's end: it competes with what it reached.
                    _ if status == Some(ResultStatus::Completed) => None,
                    _ if last < end => Some(format!(
                        "did not reach iteration {end}, the end of rung {rung} (its last snapshot is at iteration {last}; {})",
                        match &result {
                            Some(r) => format!("result.json says {}{}", r.status.as_str(), r.reason.as_deref().map(|x| format!(": {x}")).unwrap_or_default()),
                            None => "no result.json: killed, or its node lost".into(),
                        }
                    )),
                    _ => None,
                };
                (best_until(&rows, end), excluded)
            }
        };
        out.push(Candidate { index: m, model: spec.name.clone(), end_iteration: end, best_accuracy20: best, excluded });
    }
    let kept = plan.halving.kept(out.len());
    let scores: Vec<(usize, Option<f64>)> = out.iter().filter(|c| c.excluded.is_none()).map(|c| (c.index, c.best_accuracy20)).collect();
    Ok(RungDecision {
        format: DECISION_FORMAT,
        sweep: sweep.name.clone(),
        eta: plan.halving.eta,
        rungs: plan.halving.rungs,
        rung,
        kept,
        promoted: promote(&scores, kept),
        candidates: out,
        decided_unix: now_unix(),
    })
}

/// Gives a model the decision pruned a `pruned` result.json (once: one that says so already is
/// left), keeping what its earlier result said of where it ran, with its counts and best from its
/// metrics.
fn mark_pruned(dir: &SweepDir, sweep: &SweepFile, d: &RungDecision, c: &Candidate) -> Result<(), DecisionError> {
    let md = dir.model(&c.model);
    crate::files::create_dir(&md.root)?;
    let prev: Option<ModelResult> = md.result().exists().then(|| read_json(&md.result()).ok()).flatten();
    if prev.as_ref().is_some_and(|p| p.status == ResultStatus::Pruned && p.rung == Some(d.rung)) {
        return Ok(());
    }
    let rows = read_metrics(&md.metrics()).unwrap_or_default();
    let best = best_row(&rows);
    let Some(spec) = sweep.grid.models.get(c.index) else { return Ok(()) };
    let base = prev.unwrap_or_else(|| ModelResult::empty(&sweep.name, spec, ResultStatus::Pruned));
    let r = ModelResult {
        status: ResultStatus::Pruned,
        reason: Some(d.why_pruned(c)),
        best_accuracy20: best.map(|b| b.validation_accuracy20),
        best_iteration: best.map(|b| b.iteration),
        iterations_done: rows.last().map(|r| r.iteration).unwrap_or(0),
        snapshots_done: rows.len() as u32,
        train_seconds: rows.last().map(|r| r.elapsed_seconds).unwrap_or(base.train_seconds),
        finished_unix: now_unix(),
        rung: Some(d.rung),
        ..base
    };
    write_json_atomic(&md.result(), &r).map_err(|source| DecisionError::Write { path: md.result(), source })
}

/// The decisions taken so far, from rung 0 on, read only (for `status` and `report`): stops at the
/// first rung without a decision file. A file that cannot be read is an error naming it.
pub fn read_decisions(dir: &SweepDir, sweep: &SweepFile) -> Result<Vec<RungDecision>, DecisionError> {
    let Some(h) = sweep.grid.halving else { return Ok(Vec::new()) };
    let mut out: Vec<RungDecision> = Vec::new();
    let mut candidates: Vec<usize> = (0..sweep.grid.models.len()).collect();
    for k in 0..h.rungs.saturating_sub(1) {
        let path = dir.rung_decision(k);
        if !path.exists() {
            break;
        }
        let d: RungDecision = read_json(&path)?;
        d.check(&path, sweep, h, k, &candidates)?;
        candidates = d.promoted.clone();
        out.push(d);
    }
    Ok(out)
}

/// The models that train in rung `rung` of a sweep of `n` models by the decisions taken
/// (`decisions` from [`read_decisions`]): all of them in rung 0, else those rung `rung - 1`'s
/// decision promoted; `None` while that decision is not taken.
pub fn models_in(rung: u32, n: usize, decisions: &[RungDecision]) -> Option<Vec<usize>> {
    match rung {
        0 => Some((0..n).collect()),
        k => decisions.get(k as usize - 1).map(|d| d.promoted.clone()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{MetricsRow, FORMAT_VERSION, METRICS_HEADER};

    fn sweep(n: usize, halving: Halving) -> SweepFile {
        let text = format!(
            "name = \"h\"\n[halving]\neta = {}\nrungs = {}\n[settings]\nwc1 = 5\nncv1 = 2\nwc2 = 5\nncv2 = 2\niterations = 90\nsnapshots = 9\n[grid]\nnfc1 = [{}]\n",
            halving.eta, halving.rungs, (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        );
        let grid = crate::grid::parse(std::path::Path::new("h.toml"), &text).unwrap();
        SweepFile { format: FORMAT_VERSION, name: "h".into(), source: "h.toml".into(), grid_sha256: String::new(), created_unix: 0, grid }
    }

    fn write_curve(dir: &SweepDir, name: &str, acc: &[f64]) {
        let md = dir.model(name);
        std::fs::create_dir_all(&md.root).unwrap();
        let mut text = format!("{METRICS_HEADER}\n");
        for (i, &a) in acc.iter().enumerate() {
            let row = MetricsRow { iteration: (i as u64 + 1) * 10, train_loss: 1.0, train_accuracy20: 0.5, validation_loss: 1.0, validation_accuracy20: a, elapsed_seconds: i as f64 };
            text.push_str(&row.to_csv_line());
        }
        std::fs::write(md.metrics(), text).unwrap();
    }

    #[test]
    fn decisions_are_taken_once_from_the_files_and_prune_with_a_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SweepDir::new(tmp.path());
        let h = Halving::new(3, 2).unwrap();
        let s = sweep(5, h);
        let plan = RungPlan::of(&s.grid, 1000).unwrap();
        assert_eq!((plan.end(0, 0), plan.end(0, 1)), (30, 90));
        assert_eq!(plan.halving.sizes(5), vec![5, 2]);
        let ok = |_: &ModelDir| Ok(());
        // Model 0: a late bloomer (pruned); 1 and 3 tie at rung 0 (index breaks it); 2 stopped
        // short; 4 never started.
        write_curve(&dir, "Model-000", &[0.1, 0.2, 0.3, 0.9]);
        write_curve(&dir, "Model-001", &[0.4, 0.6, 0.5]);
        write_curve(&dir, "Model-002", &[0.9, 0.9]);
        write_curve(&dir, "Model-003", &[0.6, 0.5, 0.6]);
        let d = decide(&dir, &s, &plan, 0, &ok).unwrap();
        assert_eq!(d.promoted, vec![1, 3], "kept ceil(5/3) = 2, by best up to iteration 30, ties by index");
        assert!(d.candidates[2].excluded.as_deref().unwrap().starts_with("did not reach iteration 30"), "{:?}", d.candidates[2]);
        assert!(d.candidates[4].excluded.as_deref().unwrap().contains("no result.json"));
        let r0: ModelResult = read_json(&dir.model("Model-000").result()).unwrap();
        assert_eq!((r0.status, r0.rung, r0.iterations_done), (ResultStatus::Pruned, Some(0), 40));
        assert_eq!(r0.reason.as_deref(), Some("pruned at rung 0: best validation Accuracy20% 0.3000 by iteration 30, ranked 3 of 5; the best 2 went on"));
        assert_eq!(r0.best_accuracy20, Some(0.9), "the result keeps the model's own best, from every row it has");
        // Read back, not taken again: files changed since do not change it.
        write_curve(&dir, "Model-000", &[0.9, 0.9, 0.9]);
        assert_eq!(decide(&dir, &s, &plan, 0, &ok).unwrap(), d);
        assert_eq!(alive(&dir, &s, &plan, 1, &ok).unwrap(), vec![1, 3]);
        assert_eq!(read_decisions(&dir, &s).unwrap(), vec![d.clone()]);
        assert_eq!(models_in(0, 5, &[d.clone()]), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!((models_in(1, 5, &[d.clone()]), models_in(2, 5, &[d.clone()])), (Some(vec![1, 3]), None));
        // A worker still training blocks the decision of another rung file.
        std::fs::remove_file(dir.rung_decision(0)).unwrap();
        let e = decide(&dir, &s, &plan, 0, &|m: &ModelDir| if m.root.ends_with("Model-002") { Err("locked".into()) } else { Ok(()) }).unwrap_err();
        assert_eq!(e.to_string(), "rung 0 cannot be decided yet: Model-002 may still be training (locked)");
        // A decision file of other models is refused, naming it.
        let mut other = d.clone();
        other.candidates.pop();
        write_json_atomic(&dir.rung_decision(0), &other).unwrap();
        let e = decide(&dir, &s, &plan, 0, &ok).unwrap_err().to_string();
        assert!(e.contains("rung-0.json: lists models [0, 1, 2, 3] as rung 0's"), "{e}");
        assert!(matches!(decide(&dir, &s, &plan, 1, &ok), Err(DecisionError::NoSuchRung { .. })), "the last rung has no decision");
    }
}
