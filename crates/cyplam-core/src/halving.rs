//! Successive halving over a sweep's files (docs/halving.md). The rule is `stopping`'s; this is
//! where it meets the disk: where each model's rungs end (`RungPlan`), and each rung's decision,
//! taken from the models' metrics files once the rung has ended, written atomically to
//! `halving/rung-K.json`, and read back by every later worker, `status` and `report`. The same
//! files give the same decision on every node and under `cyplam run`, whatever order the models
//! finished in, so no process has to drive the sweep: the workers of rung k+1 take rung k's
//! decision (one of them, under `halving/decide.lock`; the others read it).

use crate::files::{best_row, now_unix, read_json, read_metrics, write_json_atomic, FileError, MetricsRow, ModelResult, ResultStatus, SweepFile};
use crate::layout::{ModelDir, SweepDir};
use crate::stopping::{best_until, promote_rung, rank, rows_until, Contender, Halving, Promotion, Verdict, WentOn};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format of a rung's decision file (2: the promotion rule, the noise, the cutoff and the ties).
pub const DECISION_FORMAT: u32 = 2;

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
    /// The rule that chose (format 1 files ranked).
    #[serde(default = "Promotion::rank")]
    pub promotion: Promotion,
    pub rung: u32,
    /// ceil(candidates / eta): how many go on by rank.
    pub kept: usize,
    /// At most how many go on (format 1: `kept`).
    #[serde(default)]
    pub cap: Option<usize>,
    /// The rung's jitter of validation Accuracy20% (one snapshot's standard deviation), when it
    /// could be measured.
    #[serde(default)]
    pub noise: Option<f64>,
    /// How far below the cutoff a model counted as tied (the noise factor x `noise`).
    #[serde(default)]
    pub margin: Option<f64>,
    /// The score of the last model kept by rank.
    #[serde(default)]
    pub cutoff: Option<f64>,
    /// The models that trained in the rung, in model order.
    pub candidates: Vec<Candidate>,
    /// The models that go on to rung `rung + 1`, in model order.
    pub promoted: Vec<usize>,
    /// Of `promoted`, those that went on as ties within `margin` of the cutoff.
    #[serde(default)]
    pub ties: Vec<usize>,
    /// Of `promoted`, those that went on to keep a value of a grid axis.
    #[serde(default)]
    pub by_axis: Vec<usize>,
    pub decided_unix: u64,
}

impl RungDecision {
    /// The candidates that did not go on.
    pub fn pruned(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| !self.promoted.contains(&c.index))
    }

    /// The decision as the rule's verdict (for summaries).
    pub fn verdict(&self) -> Verdict {
        let how = |m: usize| if self.ties.contains(&m) { WentOn::Tie } else if self.by_axis.contains(&m) { WentOn::Axis } else { WentOn::Rank };
        Verdict {
            kept: self.kept,
            cap: self.cap.unwrap_or(self.kept),
            noise: self.noise,
            margin: self.margin,
            cutoff: self.cutoff,
            promoted: self.promoted.iter().map(|&m| (m, how(m))).collect(),
        }
    }

    /// Why `c` stopped here, for its result.json.
    pub fn why_pruned(&self, c: &Candidate) -> String {
        let r = self.rung;
        if let Some(why) = &c.excluded {
            return format!("pruned at rung {r}: {why}");
        }
        let scores: Vec<(usize, Option<f64>)> = self.candidates.iter().filter(|c| c.excluded.is_none()).map(|c| (c.index, c.best_accuracy20)).collect();
        let place = rank(&scores).iter().position(|&m| m == c.index).map(|p| p + 1).unwrap_or(0);
        let margin = match (self.cutoff, self.margin, self.promotion) {
            (_, _, Promotion::Rank) => String::new(),
            (Some(cut), Some(m), _) => format!(", more than the noise margin {m:.4} below the cutoff {cut:.4}"),
            (_, None, _) => format!(", past the cap of {}", self.cap.unwrap_or(self.kept)),
            _ => String::new(),
        };
        format!(
            "pruned at rung {r}: best validation Accuracy20% {} by iteration {}, ranked {place} of {}{margin}; {} went on ({})",
            c.best_accuracy20.map(|b| format!("{b:.4}")).unwrap_or_else(|| "none".into()), c.end_iteration, self.candidates.len(), self.promoted.len(),
            self.verdict().summary()
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
        if self.sweep != sweep.name || self.rung != rung || self.eta != h.eta || self.rungs != h.rungs || self.promotion != h.promotion {
            return bad(format!(
                "the decision of sweep {} rung {} (eta {}, {} rungs, {}), not of sweep {} rung {rung} (eta {}, {} rungs, {})",
                self.sweep, self.rung, self.eta, self.rungs, self.promotion.describe(), sweep.name, h.eta, h.rungs, h.promotion.describe()
            ));
        }
        let listed: Vec<usize> = self.candidates.iter().map(|c| c.index).collect();
        if listed != candidates {
            return bad(format!("lists models {listed:?} as rung {rung}'s, but the models that trained in it are {candidates:?}"));
        }
        if self.kept != h.kept(candidates.len()) {
            return bad(format!("keeps {} of {} models; eta {} keeps {}", self.kept, candidates.len(), h.eta, h.kept(candidates.len())));
        }
        let cap = h.max_kept(candidates.len());
        if self.promoted.len() > cap || self.promoted.windows(2).any(|w| w[0] >= w[1]) || self.promoted.iter().any(|m| !listed.contains(m)) {
            return bad(format!("promotes {:?}: not a sorted subset of at most {cap} of its candidates", self.promoted));
        }
        Ok(())
    }

    /// Checks that the decision is what the rule gives for the models' files: every candidate's
    /// score is the best of its metrics rows up to the rung's end, an excluded one failed by
    /// itself (its result.json says so), and `promoted`, the ties, the noise and the cutoff are
    /// what [`promote_rung`] gives for those rows. A decision copied from another run, or edited,
    /// is refused naming the model and both values.
    pub fn verify(&self, path: &Path, dir: &SweepDir, sweep: &SweepFile, plan: &RungPlan) -> Result<(), DecisionError> {
        let bad = |message: String| Err(DecisionError::Invalid { path: path.to_path_buf(), message });
        let mut rows_of: Vec<Vec<MetricsRow>> = Vec::with_capacity(self.candidates.len());
        for c in &self.candidates {
            let Some(spec) = sweep.grid.models.get(c.index) else { return bad(format!("names model {}, which the sweep does not have", c.index)) };
            if c.model != spec.name {
                return bad(format!("calls model {} {}; the sweep calls it {}", c.index, c.model, spec.name));
            }
            let end = plan.end(c.index, self.rung);
            if c.end_iteration != end {
                return bad(format!("{}: the rung ends at iteration {} here, at {end} by the sweep's plan", c.model, c.end_iteration));
            }
            let md = dir.model(&c.model);
            if let Some(why) = &c.excluded {
                let result = read_result(&md);
                let backed = result.as_ref().is_some_and(|r| r.status == ResultStatus::Failed || (r.status == ResultStatus::Pruned && r.rung == Some(self.rung)));
                if !backed {
                    return bad(format!(
                        "{} is excluded here ({why}), but its result.json says {}",
                        c.model, result.map(|r| r.status.as_str().to_string()).unwrap_or_else(|| "nothing (there is none)".into())
                    ));
                }
                rows_of.push(Vec::new());
                continue;
            }
            let rows = match read_metrics(&md.metrics()) {
                Ok(rows) => rows,
                Err(e) => return bad(format!("{}: best_accuracy20 {} here, but its metrics cannot be read ({e})", c.model, show(c.best_accuracy20))),
            };
            let upto = rows_until(&rows, end);
            let from_files = best_until(&rows, end);
            let same = match (c.best_accuracy20, from_files) {
                (Some(a), Some(b)) => (a - b).abs() <= 1e-12,
                (None, None) => true,
                _ => false,
            };
            if !same {
                return bad(format!("{}: best_accuracy20 {} here, {} from its metrics.csv up to iteration {end}", c.model, show(c.best_accuracy20), show(from_files)));
            }
            let reached = upto.last().is_some_and(|r| r.iteration == end) || rows.last().is_some_and(|r| r.iteration > end);
            let completed = read_result(&md).is_some_and(|r| r.status == ResultStatus::Completed);
            if !reached && !completed {
                return bad(format!("{}: counted as reaching iteration {end}, but its metrics.csv ends at iteration {}", c.model, upto.last().map(|r| r.iteration).unwrap_or(0)));
            }
            rows_of.push(upto.to_vec());
        }
        let v = rule_verdict(sweep, &plan.halving, &self.candidates, &rows_of);
        let mine = self.verdict();
        if v.promoted_models() != self.promoted {
            return bad(format!("promotes {:?}, but the rule gives {:?} for these scores ({})", self.promoted, v.promoted_models(), v.summary()));
        }
        // JSON numbers read back may differ from the written ones in the last bit.
        let near = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => (x - y).abs() <= 1e-12,
            (None, None) => true,
            _ => false,
        };
        if v.promoted != mine.promoted || v.cap != mine.cap || !near(v.noise, self.noise) || !near(v.margin, self.margin) || !near(v.cutoff, self.cutoff) {
            return bad(format!(
                "says noise {}, margin {}, cutoff {}, {}; the rule gives noise {}, margin {}, cutoff {}, {}",
                show(self.noise), show(self.margin), show(self.cutoff), mine.summary(), show(v.noise), show(v.margin), show(v.cutoff), v.summary()
            ));
        }
        Ok(())
    }
}

fn show(v: Option<f64>) -> String {
    v.map(|x| format!("{x:.6}")).unwrap_or_else(|| "none".into())
}

/// The rule's verdict on `candidates` (each with its rows up to the rung's end, `rows[i]`; none
/// for an excluded one): what taking a decision writes and what checking one recomputes. The rule
/// sees the grid's axis values only when it protects axes.
fn rule_verdict(sweep: &SweepFile, h: &Halving, candidates: &[Candidate], rows: &[Vec<MetricsRow>]) -> Verdict {
    let protects = matches!(h.promotion, Promotion::Noise { axes, .. } if axes > 0.0);
    let axes: Vec<Vec<usize>> = candidates.iter().map(|c| if protects { sweep.grid.axis_values(c.index) } else { Vec::new() }).collect();
    let contenders: Vec<Contender> = candidates
        .iter()
        .zip(rows)
        .zip(&axes)
        .map(|((c, rows), axes)| Contender { index: c.index, rows, axes, excluded: c.excluded.is_some() })
        .collect();
    promote_rung(h, &contenders)
}

/// A model's result.json, if it has one that can be read.
fn read_result(md: &ModelDir) -> Option<ModelResult> {
    md.result().exists().then(|| read_json(&md.result()).ok()).flatten()
}

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: {message}; remove it to take the decision again", .path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("rung {rung} cannot be decided yet: {model} may still be training ({why})")]
    StillTraining { rung: u32, model: String, why: String },
    #[error("rung {rung} of sweep {sweep} cannot be decided yet: {model} {why}; a fault is not a verdict, so the decision waits for it: resume it (`cyplam run` again, or `cyplam resubmit {sweep} --failed` on Slurm), or withdraw it (`cyplam prune {sweep} {model}`)")]
    Unfinished { sweep: String, rung: u32, model: String, why: String },
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
        d.verify(&path, dir, sweep, plan)?;
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

/// Takes rung `rung`'s decision among `candidates` from their files. A model that failed by
/// itself (its result.json says failed: diverged, bad input, withdrawn) is excluded; one that did
/// not reach the rung's end for any other reason (killed, node lost, cancelled, preempted), or
/// whose metrics cannot be read, stops the decision: a fault is not a verdict.
fn take(dir: &SweepDir, sweep: &SweepFile, plan: &RungPlan, rung: u32, candidates: &[usize], check: &dyn Fn(&ModelDir) -> Result<(), String>) -> Result<RungDecision, DecisionError> {
    let mut out = Vec::with_capacity(candidates.len());
    let mut rows_of: Vec<Vec<MetricsRow>> = Vec::with_capacity(candidates.len());
    for &m in candidates {
        let Some(spec) = sweep.grid.models.get(m) else { continue };
        let md = dir.model(&spec.name);
        check(&md).map_err(|why| DecisionError::StillTraining { rung, model: spec.name.clone(), why })?;
        let end = plan.end(m, rung);
        let result = read_result(&md);
        let unfinished = |why: String| DecisionError::Unfinished { sweep: sweep.name.clone(), rung, model: spec.name.clone(), why };
        if let Some(r) = result.as_ref().filter(|r| r.status == ResultStatus::Failed) {
            out.push(Candidate { index: m, model: spec.name.clone(), end_iteration: end, best_accuracy20: None, excluded: Some(format!("failed: {}", r.reason.as_deref().unwrap_or("no reason given"))) });
            rows_of.push(Vec::new());
            continue;
        }
        // Excluded from this rung's decision before (the decision file was removed since): excluded again.
        let prefix = format!("pruned at rung {rung}: failed: ");
        if let Some(why) = result.as_ref().filter(|r| r.status == ResultStatus::Pruned && r.rung == Some(rung)).and_then(|r| r.reason.as_deref()).and_then(|w| w.strip_prefix(&prefix)) {
            out.push(Candidate { index: m, model: spec.name.clone(), end_iteration: end, best_accuracy20: None, excluded: Some(format!("failed: {why}")) });
            rows_of.push(Vec::new());
            continue;
        }
        let rows = match read_metrics(&md.metrics()) {
            Ok(rows) => rows,
            Err(e) if md.metrics().exists() => return Err(unfinished(format!("has metrics that cannot be read ({e})"))),
            Err(_) => Vec::new(),
        };
        let last = rows.last().map(|r| r.iteration).unwrap_or(0);
        // Stopped early (early stopping) before the rung's end: it competes with what it reached.
        let completed = result.as_ref().is_some_and(|r| r.status == ResultStatus::Completed);
        if last < end && !completed {
            return Err(unfinished(format!(
                "did not reach iteration {end}, the end of rung {rung} (its last snapshot is at iteration {last}; {})",
                match &result {
                    Some(r) => format!("result.json says {}{}", r.status.as_str(), r.reason.as_deref().map(|x| format!(": {x}")).unwrap_or_default()),
                    None => "no result.json: its worker was killed, its node lost or its task cancelled".into(),
                }
            )));
        }
        out.push(Candidate { index: m, model: spec.name.clone(), end_iteration: end, best_accuracy20: best_until(&rows, end), excluded: None });
        rows_of.push(rows_until(&rows, end).to_vec());
    }
    let v = rule_verdict(sweep, &plan.halving, &out, &rows_of);
    let of = |how: WentOn| v.promoted.iter().filter(|p| p.1 == how).map(|p| p.0).collect::<Vec<_>>();
    Ok(RungDecision {
        format: DECISION_FORMAT,
        sweep: sweep.name.clone(),
        eta: plan.halving.eta,
        rungs: plan.halving.rungs,
        promotion: plan.halving.promotion,
        rung,
        kept: v.kept,
        cap: Some(v.cap),
        noise: v.noise,
        margin: v.margin,
        cutoff: v.cutoff,
        ties: of(WentOn::Tie),
        by_axis: of(WentOn::Axis),
        promoted: v.promoted_models(),
        candidates: out,
        decided_unix: now_unix(),
    })
}

/// Withdraws `model` from the sweep's halving (`cyplam prune`): gives it a failed result.json
/// saying so, so that the decision of the rung it is in is taken without it. Refused for a model
/// that completed, was pruned already, or is not in the sweep.
pub fn withdraw(dir: &SweepDir, sweep: &SweepFile, model: &str) -> Result<ModelResult, DecisionError> {
    let invalid = |message: String| DecisionError::Invalid { path: dir.model(model).result(), message };
    let Some(spec) = sweep.grid.models.iter().find(|m| m.name == model) else {
        return Err(invalid(format!("sweep {} has no model {model}", sweep.name)));
    };
    let md = dir.model(&spec.name);
    let prev = read_result(&md);
    if let Some(p) = prev.as_ref().filter(|p| matches!(p.status, ResultStatus::Completed | ResultStatus::Pruned)) {
        return Err(invalid(format!("{model} is {} already; nothing to withdraw", p.status.as_str())));
    }
    crate::files::create_dir(&md.root)?;
    let rows = read_metrics(&md.metrics()).unwrap_or_default();
    let best = best_row(&rows);
    let base = prev.unwrap_or_else(|| ModelResult::empty(&sweep.name, spec, ResultStatus::Failed));
    let r = ModelResult {
        status: ResultStatus::Failed,
        reason: Some("withdrawn by the user (cyplam prune): the halving decision goes on without it".into()),
        best_accuracy20: best.map(|b| b.validation_accuracy20),
        best_iteration: best.map(|b| b.iteration),
        iterations_done: rows.last().map(|r| r.iteration).unwrap_or(0),
        snapshots_done: rows.len() as u32,
        finished_unix: now_unix(),
        ..base
    };
    write_json_atomic(&md.result(), &r).map_err(|source| DecisionError::Write { path: md.result(), source })?;
    Ok(r)
}

/// Gives a model the decision pruned a `pruned` result.json (once: one that says so already is
/// left), keeping what its earlier result said of where it ran, with its counts and best from its
/// metrics.
fn mark_pruned(dir: &SweepDir, sweep: &SweepFile, d: &RungDecision, c: &Candidate) -> Result<(), DecisionError> {
    let md = dir.model(&c.model);
    crate::files::create_dir(&md.root)?;
    let prev = read_result(&md);
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
    // The plan needs the training set's size; where its header cannot be read here, the files
    // are checked for their shape only.
    let plan = sweep.grid.data.as_ref().and_then(|d| crate::data::check_dataset(&d.train).ok()).and_then(|s| RungPlan::of(&sweep.grid, s.frames as u64));
    let mut out: Vec<RungDecision> = Vec::new();
    let mut candidates: Vec<usize> = (0..sweep.grid.models.len()).collect();
    for k in 0..h.rungs.saturating_sub(1) {
        let path = dir.rung_decision(k);
        if !path.exists() {
            break;
        }
        let d: RungDecision = read_json(&path)?;
        d.check(&path, sweep, h, k, &candidates)?;
        if let Some(plan) = &plan {
            d.verify(&path, dir, sweep, plan)?;
        }
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
            "name = \"h\"\n[halving]\neta = {}\nrungs = {}\n{}[settings]\nwc1 = 5\nncv1 = 2\nwc2 = 5\nncv2 = 2\niterations = 90\nsnapshots = 9\n[grid]\nnfc1 = [{}]\n",
            halving.eta, halving.rungs, if halving.promotion == Promotion::Rank { "promote = \"rank\"\n" } else { "" }, (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
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

    fn rank_rule() -> Halving {
        Halving::with(3, 2, Promotion::Rank).unwrap()
    }

    #[test]
    fn decisions_are_taken_once_from_the_files_and_prune_with_a_reason() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SweepDir::new(tmp.path());
        let h = rank_rule();
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
        // A fault is not a verdict: Model-002 stopped short without a word (killed), so the
        // decision waits for it, and says how to go on.
        let e = decide(&dir, &s, &plan, 0, &ok).unwrap_err().to_string();
        assert!(e.starts_with("rung 0 of sweep h cannot be decided yet: Model-002 did not reach iteration 30, the end of rung 0 (its last snapshot is at iteration 20; no result.json: its worker was killed"), "{e}");
        assert!(e.contains("`cyplam resubmit h --failed`") && e.contains("`cyplam prune h Model-002`"), "{e}");
        assert!(!dir.rung_decision(0).exists(), "no decision written");
        // Model-002 diverged (a failure of its own) and Model-004 is withdrawn by the user: both
        // are excluded and pruned with their reason.
        let mut failed = ModelResult::empty("h", &s.grid.models[2], ResultStatus::Failed);
        failed.reason = Some("diverged: the training loss is NaN".into());
        write_json_atomic(&dir.model("Model-002").result(), &failed).unwrap();
        let w = withdraw(&dir, &s, "Model-004").unwrap();
        assert!(w.reason.as_deref().unwrap().starts_with("withdrawn by the user"));
        assert!(withdraw(&dir, &s, "Model-009").unwrap_err().to_string().contains("sweep h has no model Model-009"));
        let d = decide(&dir, &s, &plan, 0, &ok).unwrap();
        assert_eq!(d.promoted, vec![1, 3], "kept ceil(5/3) = 2, by best up to iteration 30, ties by index");
        assert_eq!(d.candidates[2].excluded.as_deref(), Some("failed: diverged: the training loss is NaN"));
        assert!(d.candidates[4].excluded.as_deref().unwrap().contains("withdrawn by the user"));
        let r0: ModelResult = read_json(&dir.model("Model-000").result()).unwrap();
        assert_eq!((r0.status, r0.rung, r0.iterations_done), (ResultStatus::Pruned, Some(0), 40));
        assert_eq!(r0.reason.as_deref(), Some("pruned at rung 0: best validation Accuracy20% 0.3000 by iteration 30, ranked 3 of 5; 2 went on (2 by rank)"));
        assert_eq!(r0.best_accuracy20, Some(0.9), "the result keeps the model's own best, from every row it has");
        let r2: ModelResult = read_json(&dir.model("Model-002").result()).unwrap();
        assert_eq!((r2.status, r2.reason.as_deref()), (ResultStatus::Pruned, Some("pruned at rung 0: failed: diverged: the training loss is NaN")));
        // Read back, not taken again; rows past the rung's end do not change it.
        write_curve(&dir, "Model-000", &[0.1, 0.2, 0.3, 0.95, 0.97]);
        assert_eq!(decide(&dir, &s, &plan, 0, &ok).unwrap(), d);
        assert_eq!(alive(&dir, &s, &plan, 1, &ok).unwrap(), vec![1, 3]);
        assert_eq!(read_decisions(&dir, &s).unwrap(), vec![d.clone()]);
        assert_eq!(models_in(0, 5, &[d.clone()]), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!((models_in(1, 5, &[d.clone()]), models_in(2, 5, &[d.clone()])), (Some(vec![1, 3]), None));
        // A worker still training blocks the decision of another rung file.
        std::fs::remove_file(dir.rung_decision(0)).unwrap();
        let e = decide(&dir, &s, &plan, 0, &|m: &ModelDir| if m.root.ends_with("Model-003") { Err("locked".into()) } else { Ok(()) }).unwrap_err();
        assert_eq!(e.to_string(), "rung 0 cannot be decided yet: Model-003 may still be training (locked)");
        // A decision file of other models is refused, naming it.
        let mut other = d.clone();
        other.candidates.pop();
        write_json_atomic(&dir.rung_decision(0), &other).unwrap();
        let e = decide(&dir, &s, &plan, 0, &ok).unwrap_err().to_string();
        assert!(e.contains("rung-0.json: lists models [0, 1, 2, 3] as rung 0's"), "{e}");
        assert!(matches!(decide(&dir, &s, &plan, 1, &ok), Err(DecisionError::NoSuchRung { .. })), "the last rung has no decision");
    }

    /// Issue 24: a decision is only as good as its files.
    #[test]
    fn a_forged_or_edited_decision_is_refused_naming_the_model_and_both_values() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = SweepDir::new(tmp.path());
        let h = Halving::new(3, 2).unwrap();
        let s = sweep(6, h);
        let plan = RungPlan::of(&s.grid, 1000).unwrap();
        let ok = |_: &ModelDir| Ok(());
        let curves = [[0.50, 0.52, 0.51], [0.60, 0.62, 0.61], [0.70, 0.69, 0.71], [0.40, 0.41, 0.40], [0.61, 0.60, 0.615], [0.30, 0.31, 0.30]];
        for (i, c) in curves.iter().enumerate() {
            write_curve(&dir, &format!("Model-00{i}"), c);
        }
        let d = decide(&dir, &s, &plan, 0, &ok).unwrap();
        assert_eq!(d.promotion, h.promotion);
        assert_eq!(d.noise.is_some(), true, "3 snapshots x 6 models: 6 residuals");
        let good = std::fs::read(dir.rung_decision(0)).unwrap();
        // An edited score.
        let mut e1 = d.clone();
        e1.candidates[5].best_accuracy20 = Some(0.9);
        write_json_atomic(&dir.rung_decision(0), &e1).unwrap();
        let e = decide(&dir, &s, &plan, 0, &ok).unwrap_err().to_string();
        assert!(e.contains("rung-0.json: Model-005: best_accuracy20 0.900000 here, 0.310000 from its metrics.csv up to iteration 30"), "{e}");
        // An edited promoted list.
        let mut e2 = d.clone();
        e2.promoted = vec![0, 2];
        write_json_atomic(&dir.rung_decision(0), &e2).unwrap();
        let e = decide(&dir, &s, &plan, 0, &ok).unwrap_err().to_string();
        assert!(e.contains(&format!("promotes [0, 2], but the rule gives {:?} for these scores", d.promoted)), "{e}");
        // An edited noise level.
        let mut e3 = d.clone();
        e3.noise = Some(0.5);
        e3.margin = Some(1.0);
        write_json_atomic(&dir.rung_decision(0), &e3).unwrap();
        let e = decide(&dir, &s, &plan, 0, &ok).unwrap_err().to_string();
        assert!(e.contains("says noise 0.500000, margin 1.000000"), "{e}");
        std::fs::write(dir.rung_decision(0), &good).unwrap();
        assert_eq!(decide(&dir, &s, &plan, 0, &ok).unwrap(), d, "the real one is accepted");

        // A decision copied in before the rung trained: the models have no curve yet.
        let tmp2 = tempfile::tempdir().unwrap();
        let dir2 = SweepDir::new(tmp2.path());
        std::fs::create_dir_all(dir2.halving_dir()).unwrap();
        std::fs::write(dir2.rung_decision(0), &good).unwrap();
        let e = decide(&dir2, &s, &plan, 0, &ok).unwrap_err().to_string();
        assert!(e.contains("rung-0.json: Model-000: best_accuracy20 0.520000 here, none from its metrics.csv up to iteration 30"), "{e}");
        assert!(!dir2.model("Model-003").result().exists(), "nothing was pruned on it");
    }
}
