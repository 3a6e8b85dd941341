//! Where each model of a sweep stands: its files (metrics, result, checkpoint), the submissions
//! recorded for it, and what the scheduler says of their array tasks (or whether the local run
//! that took it is alive).

use crate::db::{Backend, Submission};
use crate::slurm::script::job_name;
use crate::slurm::{Phase, Scheduler, SlurmState, TaskState};
use crate::sweep::Frozen;
use anyhow::Result;
use cyplam_core::files::{read_json, read_metrics, ModelResult, ResultStatus};
use cyplam_core::halving::decision::{check_rung, models_in, read_decisions, DecisionError, RungDecision};
use cyplam_core::packing::Packing;
use cyplam_core::search::rounds::Rounds;
use std::path::{Path, PathBuf};

/// Where a model stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Never submitted, or submitted and not started.
    New,
    Pending,
    Running,
    Completed,
    Failed,
    Preempted,
    /// Started, has no result and nothing runs it: a hard kill or a lost node.
    Lost,
    /// Its metrics or result file cannot be read (the reason names the file and line).
    Damaged,
    /// Successive halving: at the end of its rung, waiting for the rung's decision (or for the
    /// next rung to start).
    Waiting,
    /// Successive halving: stopped at its rung, with its partial best.
    Pruned,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Pending => "pending",
            State::Running => "running",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Preempted => "preempted",
            State::Lost => "lost",
            State::Damaged => "damaged",
            State::Waiting => "waiting",
            State::Pruned => "pruned",
        }
    }
    pub fn is_active(self) -> bool {
        matches!(self, State::Pending | State::Running)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelStatus {
    pub index: usize,
    pub name: String,
    pub state: State,
    /// Latest snapshot iteration, and the best so far.
    pub iteration: Option<u64>,
    pub best_accuracy20: Option<f64>,
    pub reason: Option<String>,
    /// Slurm's array task (`job_task`) or the local run.
    pub job: Option<String>,
    /// The Slurm node its array task runs on (while it runs).
    pub node: Option<String>,
    pub log: Option<PathBuf>,
    /// Successive halving: the rung it trains (or waits) in, or was pruned at.
    pub rung: Option<u32>,
}

/// The job id of this process's local run: `local:<host>:<pid>`.
pub fn local_job_id() -> String {
    format!("local:{}:{}", cyplam_core::files::hostname(), std::process::id())
}

/// Is a local run (`local:<host>:<pid>`) still alive?
pub fn local_alive(job_id: &str) -> bool {
    let mut parts = job_id.splitn(3, ':');
    let (Some("local"), Some(host), Some(pid)) = (parts.next(), parts.next(), parts.next()) else { return false };
    pid.parse().is_ok_and(|pid| alive_here(host, pid))
}

/// Whether process `pid` of host `host` runs: only a process of this machine can be told.
pub fn alive_here(host: &str, pid: u64) -> bool {
    host == cyplam_core::files::hostname() && Path::new(&format!("/proc/{pid}")).exists()
}

/// Where a sweep stands, read once for one command: its submissions, what the scheduler says of
/// their jobs (asked once), the rungs' decisions (read and checked once) and each model's state
/// from those. `submit`, its dry run, `resubmit`, `status`, `prune` and `cyplam run` each read one.
pub struct SweepView {
    pub subs: Vec<Submission>,
    /// The scheduler's word on every task of the sweep's Slurm jobs (none without a scheduler):
    /// only the tasks under the name the sweep submitted them under.
    pub tasks: Vec<TaskState>,
    /// Tasks Slurm lists under one of the sweep's job ids but another job name: a controller that
    /// crashed before saving its state lost the sweep's job and gave its id to another job. Never
    /// this sweep's (not cancelled, not waited for).
    pub strangers: Vec<TaskState>,
    decisions: Result<Vec<RungDecision>, DecisionError>,
    pub states: Vec<ModelStatus>,
}

impl SweepView {
    /// Reads the sweep's state; `scheduler` None: its Slurm jobs are not asked about (`cyplam run`).
    pub async fn read<S: Scheduler>(frozen: &Frozen, subs: Vec<Submission>, scheduler: Option<&S>) -> Result<SweepView> {
        let decisions = read_decisions(&frozen.layout(), &frozen.sweep);
        let slurm_jobs: Vec<String> = subs.iter().filter(|s| s.backend == Backend::Slurm).map(|s| s.job_id.clone()).collect();
        let listed: Vec<TaskState> = match scheduler {
            Some(s) if !slurm_jobs.is_empty() => s.states(&slurm_jobs).await?,
            _ => Vec::new(),
        };
        let (tasks, strangers): (Vec<TaskState>, Vec<TaskState>) = listed.into_iter().partition(|t| ours(&frozen.sweep.grid.name, &subs, t));
        // A decision that cannot be read leaves a later rung's arrays unmapped; `decisions()`
        // names the file to whoever needs them.
        let accounting_down = scheduler.and_then(|s| s.accounting_error()).is_some();
        let states = model_states(frozen, &subs, &tasks, &strangers, decisions.as_deref().unwrap_or(&[]), accounting_down);
        Ok(SweepView { subs, tasks, strangers, decisions, states })
    }

    /// The rungs' decisions taken so far (none without halving), or the error naming the decision
    /// file that fails its check.
    pub fn decisions(&self) -> Result<&[RungDecision]> {
        self.decisions.as_deref().map_err(|e| anyhow::anyhow!("{e}"))
    }

    /// The submitted Slurm jobs of which some task is still pending or running.
    pub fn active_jobs(&self) -> Vec<String> {
        let mut out: Vec<String> = self.tasks.iter().filter(|t| t.is_active()).map(|t| t.array_job.clone()).collect();
        out.sort();
        out.dedup();
        out
    }
}

/// Whether Slurm's task `t` is of one of the sweep's submissions: a job of that id submitted under
/// that submission's name ([`job_name`]). Slurm gives the id of a job its controller lost (a crash
/// before its state was saved) to the next job submitted, so the id alone does not tell.
fn ours(sweep: &str, subs: &[Submission], t: &TaskState) -> bool {
    subs.iter().any(|s| s.backend == Backend::Slurm && s.job_id == t.array_job && job_name(sweep, s.rung, s.round) == t.name)
}

/// Words counted in the order first seen: "3 completed, 1 running" (`status`'s line per halving
/// rung and per TPE round).
pub fn tally<'a>(words: impl IntoIterator<Item = &'a str>) -> String {
    let mut counts: Vec<(&str, usize)> = Vec::new();
    for word in words {
        match counts.iter_mut().find(|c| c.0 == word) {
            Some(c) => c.1 += 1,
            None => counts.push((word, 1)),
        }
    }
    counts.iter().map(|(w, c)| format!("{c} {w}")).collect::<Vec<_>>().join(", ")
}

/// Per-model state from the model files, the submissions, what the scheduler said of their tasks
/// and the rungs' decisions (a later rung's array slots are positions among the models the rung
/// before promoted).
/// `strangers`: tasks of other jobs that Slurm gave one of the sweep's job ids after losing it.
/// `accounting_down`: sacct could not be asked, so a task Slurm no longer lists may have ended in
/// any way; what is said of such a model says so.
fn model_states(
    frozen: &Frozen,
    subs: &[Submission],
    tasks: &[TaskState],
    strangers: &[TaskState],
    decisions: &[RungDecision],
    accounting_down: bool,
) -> Vec<ModelStatus> {
    let packing = Packing::new(frozen.sweep.grid.slurm.trainings_per_node);
    let layout = frozen.layout();
    // For each model: the newest submission's task that covers it.
    let n = frozen.sweep.grid.models.len();
    let mut slurm_of: Vec<Option<(TaskState, PathBuf, Option<u32>)>> = vec![None; n];
    let mut local_active = vec![false; n];
    // The newest Slurm job each model was submitted in (as far as its submission knew them).
    let mut submitted: Vec<Option<&str>> = vec![None; n];
    for sub in subs.iter().filter(|s| s.backend == Backend::Slurm) {
        for &m in sub.models.iter().filter(|&&m| m < n) {
            submitted[m] = Some(&sub.job_id);
        }
    }
    // The name of the job that now holds a lost job's id, by id.
    let holder = |job: &str| strangers.iter().find(|t| t.array_job == job).map(|t| t.name.as_str());
    for sub in subs {
        if sub.backend == Backend::Local {
            if local_alive(&sub.job_id) {
                for &m in &sub.models {
                    if m < n {
                        local_active[m] = true;
                    }
                }
            }
            continue;
        }
        let in_rung = match (sub.rung, sub.round) {
            (Some(k), _) if k > 0 => match models_in(k, frozen.sweep.grid.models.len(), decisions) {
                Some(models) => Some(models),
                None => continue,
            },
            // A TPE round's slot k trains the k-th model the round proposed (none before it is).
            (None, Some(r)) => match Rounds::of(&frozen.sweep.grid) {
                Some(rounds) => Some(rounds.models_of(r).filter(|&m| m < n).collect()),
                None => continue,
            },
            _ => None,
        };
        for t in tasks.iter().filter(|t| t.array_job == sub.job_id) {
            let Some(index) = t.task.checked_add(sub.offset) else { continue };
            let log = layout.slurm_log(&t.array_job, t.task);
            match &in_rung {
                // A later rung's slot k trains the k-th model of the rung.
                Some(models) => {
                    for slot in packing.models_of(index, models.len()) {
                        slurm_of[models[slot]] = Some((t.clone(), log.clone(), sub.rung));
                    }
                }
                None => {
                    for m in packing.models_of(index, n) {
                        if sub.models.contains(&m) {
                            slurm_of[m] = Some((t.clone(), log.clone(), sub.rung));
                        }
                    }
                }
            }
        }
    }
    let mut out = Vec::with_capacity(n);
    for m in &frozen.sweep.grid.models {
        let md = frozen.model_dir(&m.name);
        let mut damage: Option<String> = None;
        let rows = read_metrics(&md.metrics()).unwrap_or_else(|e| {
            damage = Some(e.to_string());
            Vec::new()
        });
        let result: Option<ModelResult> = if md.result().exists() {
            read_json::<ModelResult>(&md.result())
                .and_then(|r| r.check(&md.result(), &m.name, m.index, (damage.is_none() && md.metrics().exists()).then_some(rows.as_slice())).map(|()| r))
                .map_err(|e| damage = Some(e.to_string()))
                .ok()
        } else {
            None
        };
        // The rung a result names is believed only when the decisions allow it (a `pruned` one only
        // when a decision pruned the model).
        if let Some(r) = &result {
            if let Err(why) = check_rung(&frozen.sweep, m.index, r.status == ResultStatus::Pruned, r.rung, decisions) {
                damage = Some(format!("{}: {why}", md.result().display()));
            }
        }
        let slurm = slurm_of[m.index].clone();
        let job = slurm.as_ref().map(|(t, _, _)| format!("{}_{}", t.array_job, t.task));
        let log = slurm.as_ref().map(|(_, l, _)| l.clone()).or_else(|| Some(layout.local_log(&m.name))).filter(|p| p.exists());
        let active = slurm.as_ref().map(|(t, _, _)| t.is_active()).unwrap_or(false) || local_active[m.index];
        // Running: started and holding its nodes (the table's phase: RUNNING, and also stopped,
        // suspended, completing, ...).
        let running = slurm.as_ref().map(|(t, _, _)| t.state.phase() == Phase::Running).unwrap_or(false) || (local_active[m.index] && md.lock().exists());
        let node = slurm.as_ref().map(|(t, _, _)| t).filter(|t| t.state.phase() == Phase::Running && !t.node.is_empty()).map(|t| t.node.clone());
        // Slurm requeued the task after losing a node under it: said, rather than a bare state.
        let lost = slurm.as_ref().map(|(t, _, _)| t.lost_nodes.clone()).unwrap_or_default();
        let requeued = (!lost.is_empty()).then(|| format!("requeued after node {} failed", lost.join(", ")));
        // An active task in a state other than plain PENDING or RUNNING: which, and for a held one
        // or one whose state cannot be told, how to end the wait.
        let slurm_says = slurm.as_ref().map(|(t, _, _)| t).filter(|t| t.is_active()).and_then(|t| {
            let job = format!("{}_{}", t.array_job, t.task);
            match t.state.phase() {
                _ if t.state == SlurmState::Pending || t.state == SlurmState::Running => None,
                Phase::Held => Some(format!(
                    "Slurm holds it ({}): it runs again once released (`scontrol release {job}`); \
                    or cancel it (`scancel {job}`) and `cyplam resubmit --failed`",
                    t.state
                )),
                Phase::Unknown if t.state.is_known() => Some(format!(
                    "Slurm says {}: whether it still runs cannot be told from here; \
                    left alone until Slurm says it ended (or `scancel {job}`, then `cyplam resubmit --failed`)",
                    t.state
                )),
                Phase::Unknown => Some(format!(
                    "Slurm says {}, a state this cyplam does not know: left alone until Slurm says it ended \
                    (or `scancel {job}`, then `cyplam resubmit --failed`)",
                    t.state
                )),
                _ => Some(format!("Slurm says {}", t.state)),
            }
        });
        let active_reason = match (requeued, slurm_says) {
            (Some(a), Some(b)) => Some(format!("{a}; {b}")),
            (a, b) => a.or(b),
        };
        let rung = match &slurm {
            Some((t, _, Some(k))) if t.is_active() => Some(*k),
            _ => result.as_ref().and_then(|r| r.rung),
        };
        let (state, reason) = match &result {
            _ if damage.is_some() && !active => (State::Damaged, damage),
            Some(r) if r.status == ResultStatus::Completed => (State::Completed, None),
            Some(r) if r.status == ResultStatus::Pruned => (State::Pruned, r.reason.clone()),
            Some(r) if r.status == ResultStatus::Waiting && !active => (State::Waiting, r.reason.clone()),
            Some(r) if r.status == ResultStatus::Failed && !active => (State::Failed, r.reason.clone()),
            Some(r) if r.status == ResultStatus::Preempted && !active => (State::Preempted, r.reason.clone()),
            _ if active => (if running { State::Running } else { State::Pending }, active_reason),
            _ => match &slurm {
                Some((t, _, _)) if t.state == SlurmState::NodeFail => (State::Failed, Some(format!(
                    "node {} failed under it (Slurm says NODE_FAIL; it was not requeued) and the model has no result; `cyplam resubmit --failed` resumes it from its newest snapshot",
                    if t.node.is_empty() { "?" } else { t.node.as_str() }))),
                Some((t, _, _)) if t.state != SlurmState::Completed => (State::Failed, Some(format!(
                    "Slurm says {} (exit {}) and the model has no result", t.reason, t.exit_code.clone().unwrap_or_default()))),
                _ if !rows.is_empty() || md.has_checkpoint() => (State::Lost, Some(format!(
                    "started, but no worker runs it and it has no result (killed or node lost{}); `cyplam resubmit --failed` resumes it",
                    match submitted[m.index].and_then(|job| holder(job).map(|name| (job, name))) {
                        Some((job, name)) if slurm.is_none() => format!("; Slurm lost job {job}, whose id now belongs to another job named {name:?}"),
                        _ if accounting_down && slurm.is_none() => "; Slurm's accounting is unavailable, so how its task ended is not known".to_string(),
                        _ => String::new(),
                    }))),
                Some((t, _, _)) => (State::Lost, Some(format!("Slurm says {} but the model has no result", t.state))),
                None => match submitted[m.index] {
                    // Slurm gave the job's id to another job: it lost this one (a controller that
                    // crashed before saving its state).
                    Some(job) if holder(job).is_some() => (State::Lost, Some(format!(
                        "submitted in job {job}, which Slurm lost (a controller that crashed before saving its state): the id now belongs to another job \
                         named {:?}, and the model has no files; `cyplam resubmit --failed` submits it again", holder(job).unwrap_or_default()))),
                    // Not listed by squeue, and sacct cannot say whether it ran: not new.
                    Some(job) if accounting_down => (State::Lost, Some(format!(
                        "submitted in job {job}, which Slurm no longer lists, and it has no files; Slurm's accounting is unavailable, so whether its task ran \
                         and how it ended is not known; `cyplam resubmit --failed` submits it again"))),
                    // Listed by neither squeue (active and recently ended jobs) nor sacct (every
                    // job the controller recorded): the controller lost it (it crashed before
                    // saving its state, issue 30).
                    Some(job) => (State::Lost, Some(format!(
                        "submitted in job {job}, which Slurm no longer knows (neither squeue nor sacct lists it: a controller that crashed before saving \
                         its state loses the jobs submitted since), and it has no files; `cyplam resubmit --failed` submits it again"))),
                    None => (State::New, None),
                },
            },
        };
        out.push(ModelStatus {
            index: m.index,
            name: m.name.clone(),
            state,
            iteration: rows.last().map(|r| r.iteration),
            best_accuracy20: cyplam_core::metrics_csv::best_row(&rows).map(|r| r.validation_accuracy20),
            reason,
            job,
            node,
            log,
            rung,
        });
    }
    out
}
