//! A rung's decision file (`halving/rung-K.json`): what it holds, its check against the sweep and
//! its verification against the metrics it claims, reading the decisions back (for `status`,
//! `report` and submit), and where each model's rungs end (`RungPlan`). Taking a decision is
//! `take.rs`'s.

use crate::curve::{best_until, rows_until};
use crate::files::{read_json, read_metrics, FileError, ModelResult, ResultStatus, SweepFile};
use crate::halving::rule::{promote_rung, rank, Contender, Verdict, WentOn};
use crate::halving::settings::{Halving, Promotion};
use crate::layout::{ModelDir, SweepDir};
use crate::metrics_csv::MetricsRow;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Format of a rung's decision file (2: the promotion rule, the noise, the cutoff and the ties;
/// 3: the models that went on by their curve, with their forecasts and the forecast cutoff;
/// 4: the models that went on by the forecast allowance, with their forecasts).
pub const DECISION_FORMAT: u32 = 4;

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
    /// Of `promoted`, those that went on by their curve, each with its forecast score at the next
    /// rung's end.
    #[serde(default)]
    pub by_curve: Vec<(usize, f64)>,
    /// The bar of the curve evidence: the forecast score of the last model kept by forecast.
    #[serde(default)]
    pub forecast_cutoff: Option<f64>,
    /// Of `promoted`, those that went on by the forecast allowance, each with its forecast score
    /// at the next rung's end.
    #[serde(default)]
    pub by_forecast: Vec<(usize, f64)>,
    pub decided_unix: u64,
}

impl RungDecision {
    /// The candidates that did not go on.
    pub fn pruned(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates.iter().filter(|c| !self.promoted.contains(&c.index))
    }

    /// The decision as the rule's verdict (for summaries).
    pub fn verdict(&self) -> Verdict {
        let how = |m: usize| {
            if self.ties.contains(&m) {
                WentOn::Tie
            } else if self.by_axis.contains(&m) {
                WentOn::Axis
            } else if self.by_curve.iter().any(|c| c.0 == m) {
                WentOn::Curve
            } else if self.by_forecast.iter().any(|c| c.0 == m) {
                WentOn::Forecast
            } else {
                WentOn::Rank
            }
        };
        Verdict {
            kept: self.kept,
            cap: self.cap.unwrap_or(self.kept),
            noise: self.noise,
            margin: self.margin,
            cutoff: self.cutoff,
            promoted: self.promoted.iter().map(|&m| (m, how(m))).collect(),
            forecast_cutoff: self.forecast_cutoff,
            forecasts: self.by_curve.clone(),
            by_forecast: self.by_forecast.clone(),
        }
    }

    /// Which models went on other than by rank, by name: "ties: Model-003; by their curve:
    /// Model-012 (forecast 0.8312)" (empty when all went on by rank).
    pub fn beyond_rank(&self) -> String {
        let name = |m: usize| self.candidates.iter().find(|c| c.index == m).map(|c| c.model.clone()).unwrap_or_else(|| format!("model {m}"));
        let mut parts = Vec::new();
        if !self.ties.is_empty() {
            parts.push(format!("ties: {}", self.ties.iter().map(|&m| name(m)).collect::<Vec<_>>().join(", ")));
        }
        if !self.by_axis.is_empty() {
            parts.push(format!("to keep an axis value: {}", self.by_axis.iter().map(|&m| name(m)).collect::<Vec<_>>().join(", ")));
        }
        if !self.by_curve.is_empty() {
            parts.push(format!(
                "by their curve: {}",
                self.by_curve.iter().map(|&(m, f)| format!("{} (forecast {f:.4})", name(m))).collect::<Vec<_>>().join(", ")
            ));
        }
        if !self.by_forecast.is_empty() {
            parts.push(format!("by their forecast: {}", self.by_forecast.iter().map(|&(m, f)| format!("{} ({f:.4})", name(m))).collect::<Vec<_>>().join(", ")));
        }
        parts.join("; ")
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
            c.best_accuracy20.map(|b| format!("{b:.4}")).unwrap_or_else(|| "none".into()),
            c.end_iteration,
            self.candidates.len(),
            self.promoted.len(),
            self.verdict().summary()
        )
    }

    /// Checks a decision read from `path` against the sweep and the models that trained in its
    /// rung (`candidates`): a file from another sweep or plan, or one naming other models, is
    /// refused.
    pub fn check(&self, path: &Path, dir: &SweepDir, sweep: &SweepFile, h: Halving, rung: u32, candidates: &[usize]) -> Result<(), DecisionError> {
        let bad = |message: String| Err(DecisionError::Invalid { path: path.to_path_buf(), message });
        if self.format > DECISION_FORMAT {
            return bad(format!("format {} is newer than this cyplam's ({DECISION_FORMAT})", self.format));
        }
        if self.sweep == sweep.name && self.rung == rung && (self.eta != h.eta || self.rungs != h.rungs || self.promotion != h.promotion) {
            // This sweep's own decision under another plan: the plan changed since (issue 33: the
            // rung file was blamed for an edited sweep.json).
            return Err(DecisionError::OtherPlan {
                path: path.to_path_buf(),
                sweep_json: dir.sweep_json(),
                grid_copy: dir.grid_copy(),
                message: format!(
                    "taken under eta {}, {} rungs, {}; sweep.json says eta {}, {} rungs, {}",
                    self.eta,
                    self.rungs,
                    self.promotion.describe(),
                    h.eta,
                    h.rungs,
                    h.promotion.describe()
                ),
            });
        }
        if self.sweep != sweep.name || self.rung != rung || self.eta != h.eta || self.rungs != h.rungs || self.promotion != h.promotion {
            return bad(format!(
                "the decision of sweep {} rung {} (eta {}, {} rungs, {}), not of sweep {} rung {rung} (eta {}, {} rungs, {})",
                self.sweep,
                self.rung,
                self.eta,
                self.rungs,
                self.promotion.describe(),
                sweep.name,
                h.eta,
                h.rungs,
                h.promotion.describe()
            ));
        }
        let listed: Vec<usize> = self.candidates.iter().map(|c| c.index).collect();
        if listed != candidates {
            return bad(format!("lists models {listed:?} as rung {rung}'s, but the models that trained in it are {candidates:?}"));
        }
        if self.kept != h.kept(candidates.len()) {
            return bad(format!("keeps {} of {} models; eta {} keeps {}", self.kept, candidates.len(), h.eta, h.kept(candidates.len())));
        }
        let cap = h.max_kept(candidates.len(), rung);
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
                let backed =
                    result.as_ref().is_some_and(|r| r.status == ResultStatus::Failed || (r.status == ResultStatus::Pruned && r.rung == Some(self.rung)));
                if !backed {
                    return bad(format!(
                        "{} is excluded here ({why}), but its result.json says {}",
                        c.model,
                        result.map(|r| r.status.as_str().to_string()).unwrap_or_else(|| "nothing (there is none)".into())
                    ));
                }
                rows_of.push(Vec::new());
                continue;
            }
            let rows = match read_metrics(&md.metrics()) {
                Ok(rows) => rows,
                // A damaged metrics file is the metrics' fault, not the decision's (issue 33: the
                // user was told to remove the genuine decision).
                Err(source) if md.metrics().exists() => return Err(DecisionError::Unverifiable { path: path.to_path_buf(), model: c.model.clone(), source }),
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
                let message =
                    format!("{}: best_accuracy20 {} here, {} from its metrics.csv up to iteration {end}", c.model, show(c.best_accuracy20), show(from_files));
                return Err(DecisionError::Disagrees { path: path.to_path_buf(), metrics: md.metrics(), message });
            }
            let reached = upto.last().is_some_and(|r| r.iteration == end) || rows.last().is_some_and(|r| r.iteration > end);
            let completed = read_result(&md).is_some_and(|r| r.status == ResultStatus::Completed);
            if !reached && !completed {
                let message = format!(
                    "{}: counted as reaching iteration {end}, but its metrics.csv ends at iteration {}",
                    c.model,
                    upto.last().map(|r| r.iteration).unwrap_or(0)
                );
                return Err(DecisionError::Disagrees { path: path.to_path_buf(), metrics: md.metrics(), message });
            }
            rows_of.push(upto.to_vec());
        }
        let v = rule_verdict(sweep, plan, self.rung, &self.candidates, &rows_of);
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
        let same = |x: &[(usize, f64)], y: &[(usize, f64)]| x.len() == y.len() && x.iter().zip(y).all(|(a, b)| a.0 == b.0 && near(Some(a.1), Some(b.1)));
        let same_forecasts = same(&v.forecasts, &mine.forecasts) && same(&v.by_forecast, &mine.by_forecast);
        if v.promoted != mine.promoted
            || v.cap != mine.cap
            || !near(v.noise, self.noise)
            || !near(v.margin, self.margin)
            || !near(v.cutoff, self.cutoff)
            || !near(v.forecast_cutoff, self.forecast_cutoff)
            || !same_forecasts
        {
            return bad(format!(
                "says noise {}, margin {}, cutoff {}, {}; the rule gives noise {}, margin {}, cutoff {}, {}",
                show(self.noise),
                show(self.margin),
                show(self.cutoff),
                mine.summary(),
                show(v.noise),
                show(v.margin),
                show(v.cutoff),
                v.summary()
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
pub(super) fn rule_verdict(sweep: &SweepFile, plan: &RungPlan, rung: u32, candidates: &[Candidate], rows: &[Vec<MetricsRow>]) -> Verdict {
    let h = &plan.halving;
    let protects = matches!(h.promotion, Promotion::Noise { axes, .. } if axes > 0.0);
    let axes: Vec<Vec<usize>> = candidates.iter().map(|c| if protects { sweep.grid.axis_values(c.index) } else { Vec::new() }).collect();
    let contenders: Vec<Contender> = candidates
        .iter()
        .zip(rows)
        .zip(&axes)
        .map(|((c, rows), axes)| Contender { index: c.index, rows, axes, excluded: c.excluded.is_some(), next_end: plan.end(c.index, rung + 1) })
        .collect();
    promote_rung(h, rung, &contenders)
}

/// A model's result.json, if it has one that can be read.
pub(super) fn read_result(md: &ModelDir) -> Option<ModelResult> {
    md.result().exists().then(|| read_json(&md.result()).ok()).flatten()
}

/// Why a model of an ended rung may still be training (its lock is held, its process alive): the
/// error of whoever said so, kept whole.
pub type Busy = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum DecisionError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{}: {message}; remove it to take the decision again", .path.display())]
    Invalid { path: PathBuf, message: String },
    /// This sweep's own decision, taken under another `[halving]` than sweep.json's now.
    #[error("{}: {message}: sweep.json ({}) was changed after this decision was taken (cyplam refuses an edited [halving] in the grid file, so sweep.json itself was edited, or this decision was copied from another sweep of the same name); restore sweep.json's [halving] as the frozen grid copy {} has it, or remove a decision that was copied in",
        .path.display(), .sweep_json.display(), .grid_copy.display())]
    OtherPlan { path: PathBuf, sweep_json: PathBuf, grid_copy: PathBuf, message: String },
    /// A candidate's metrics cannot be read: the decision cannot be checked, and is not at fault.
    #[error("{}: cannot be checked: {model}'s metrics cannot be read ({source}); the decision file is not at fault, keep it: repair or restore that metrics file, then run again", .path.display())]
    Unverifiable { path: PathBuf, model: String, source: FileError },
    /// The decision and a candidate's metrics disagree: either may have changed.
    #[error("{}: {message}; the decision and {} disagree: if that metrics file was cut short or replaced since the decision (a torn copy, a restore from an older backup), put the full file back; if the decision was edited, remove it to take it again",
        .path.display(), .metrics.display())]
    Disagrees { path: PathBuf, metrics: PathBuf, message: String },
    #[error("rung {rung} cannot be decided yet: {model} may still be training ({why})")]
    StillTraining { rung: u32, model: String, why: Busy },
    #[error("rung {rung} of sweep {sweep} cannot be decided yet: {model} {why}; a fault is not a verdict, so the decision waits for it: resume it (`cyplam run` again, or `cyplam resubmit {sweep} --failed` on Slurm), or withdraw it (`cyplam prune {sweep} {model}`)")]
    Unfinished { sweep: String, rung: u32, model: String, why: String },
    #[error("rung {rung} does not exist: the sweep's [halving] has {rungs} rung(s) (0 ... {})", .rungs.saturating_sub(1))]
    NoSuchRung { rung: u32, rungs: u32 },
    #[error("writing {}: {source}", .path.display())]
    Write { path: PathBuf, source: std::io::Error },
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
        d.check(&path, dir, sweep, h, k, &candidates)?;
        if let Some(plan) = &plan {
            d.verify(&path, dir, sweep, plan)?;
        }
        candidates = d.promoted.clone();
        out.push(d);
    }
    Ok(out)
}

/// Whether the rung a model's result.json names is one the decisions allow (issue 33: `status`
/// and `report` believed an edited one): a `pruned` result must be backed by the decision of its
/// rung (which lists the model and did not promote it); any other result naming rung k must name
/// a rung of the sweep's `[halving]`, and the model must train in rung k by the decisions taken
/// so far. `Err` says what is wrong, and what to do, for a result that was edited or copied in.
pub fn check_rung(sweep: &SweepFile, model: usize, pruned: bool, rung: Option<u32>, decisions: &[RungDecision]) -> Result<(), String> {
    let fix = format!(
        "remove this result.json, and `cyplam run` again (or `cyplam resubmit {} --failed` on Slurm) resumes the model from its newest snapshot and writes it anew",
        sweep.name
    );
    let rungs = sweep.grid.halving.map(|h| h.rungs);
    match (rung, rungs) {
        (Some(k), None) => return Err(format!("names rung {k}, but sweep {} has no [halving]; {fix}", sweep.name)),
        (Some(k), Some(r)) if k >= r => return Err(format!("names rung {k}, but the sweep's [halving] has {r} rung(s) (0 to {}); {fix}", r - 1)),
        _ => {}
    }
    if pruned {
        let why = match rung {
            None => "it names no rung".to_string(),
            Some(k) => match decisions.get(k as usize) {
                None => format!("rung {k} has no decision (halving/rung-{k}.json has not been taken)"),
                Some(d) if !d.candidates.iter().any(|c| c.index == model) => format!("halving/rung-{k}.json does not list it among the rung's models"),
                Some(d) if d.promoted.contains(&model) => format!("halving/rung-{k}.json promoted it to rung {}", k + 1),
                Some(_) => return Ok(()),
            },
        };
        return Err(format!("says pruned, but no decision pruned this model: {why}. Only a rung's decision prunes; {fix}"));
    }
    match rung.and_then(|k| models_in(k, sweep.grid.models.len(), decisions).map(|m| (k, m))) {
        Some((k, models)) if !models.contains(&model) => {
            Err(format!("says it trained in rung {k}, but halving/rung-{}.json did not promote it to rung {k}; {fix}", k - 1))
        }
        _ => Ok(()),
    }
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
