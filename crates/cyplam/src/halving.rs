//! Successive halving, the coordinator's side (docs/halving.md): what `submit` and `resubmit`
//! submit for a halving sweep (the rung to go on from, then one job array per later rung, each
//! waiting for the one before), the rung plan the dry run prints, `status`'s line per rung, and
//! `cyplam run`'s check that no model of an ended rung is still training. The decisions are
//! `cyplam_core::halving`'s, taken by the workers of the next rung (or by `cyplam run` between
//! rungs) from the models' files.

use crate::db::Submission;
use crate::state::{tally, ModelStatus, State, SweepView};
use crate::submission::{estimate_core_hours, Frames, Stage};
use crate::sweep::Frozen;
use anyhow::Result;
use cyplam_core::files::SweepFile;
use cyplam_core::grid::Grid;
use cyplam_core::halving::decision::{models_in, RungDecision, RungPlan};
use cyplam_core::halving::settings::Halving;
use cyplam_core::layout::ModelDir;

/// Which models of the current rung `submit` takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pick {
    /// Every one not done with the rung, not pending or running and not damaged (`submit`).
    Unfinished,
    /// Those that failed, were preempted or were lost (`resubmit --failed`).
    Failed,
}

/// What submitting a sweep does (a sweep without halving is a sweep of one rung).
#[derive(Debug)]
pub enum Plan {
    /// Nothing to submit, and why.
    Nothing(String),
    /// The arrays to submit, the first at rung `rung` (0 without halving); `done` and `active`
    /// models of that rung are left alone, and so are the `damaged`.
    Submit { rung: u32, stages: Vec<Stage>, done: usize, active: usize, damaged: Vec<String> },
}

impl Plan {
    /// What the models left alone were, for the line `submit` prints (None when there were none).
    pub fn skipped(&self, grid: &Grid) -> Option<String> {
        let Plan::Submit { rung, done, active, .. } = self else { return None };
        match grid.halving {
            _ if done + active == 0 => None,
            None => Some(format!("skipped {done} completed and {active} pending or running model(s)")),
            Some(_) => Some(format!("rung {rung}: skipped {done} model(s) done with it and {active} pending or running")),
        }
    }

    /// The same for the dry run, with the damaged models (None when none would be skipped).
    pub fn would_skip(&self, grid: &Grid) -> Option<String> {
        let Plan::Submit { rung, done, active, damaged, .. } = self else { return None };
        let damaged = damaged.len();
        match grid.halving {
            _ if done + active + damaged == 0 => None,
            None => Some(format!("# would skip {done} completed, {active} pending or running and {damaged} damaged model(s)")),
            Some(_) => Some(format!("# would skip, in rung {rung}, {done} model(s) done with it, {active} pending or running and {damaged} damaged")),
        }
    }
}

/// The first rung without a decision: where the sweep stands.
pub fn current_rung(decisions: &[RungDecision]) -> u32 {
    decisions.len() as u32
}

/// What to submit: the current rung's models that `pick` takes (the sweep's models, for a sweep
/// without halving: `h` None, one rung, nothing decided), then an array per later rung (slots for
/// as many as the rule may promote of the rung before's: ceil(n/eta), or up to its cap with ties;
/// slots past the promoted models exit at once), each waiting for the one before. When the
/// current rung has nothing to submit but has not been decided, the later rungs alone (waiting
/// for the current rung's arrays still running, `active_jobs`). Refused while a later rung's
/// array is queued: it waits for the current rung's old arrays, not for new ones.
pub fn plan(
    grid: &Grid,
    h: impl Into<Option<Halving>>,
    decisions: &[RungDecision],
    states: &[ModelStatus],
    subs: &[Submission],
    active_jobs: &[String],
    pick: Pick,
) -> Plan {
    let h: Option<Halving> = h.into();
    let rungs = h.map_or(1, |h| h.rungs);
    let r = current_rung(decisions).min(rungs.saturating_sub(1));
    let n = grid.models.len();
    let alive = models_in(r, n, decisions).unwrap_or_default();
    let (mut todo, mut done, mut active, mut damaged) = (Vec::new(), 0, 0, Vec::new());
    for (pos, &m) in alive.iter().enumerate() {
        // A model without a state yet (a sweep not frozen, for the dry run) is new.
        let (state, rung) = states.get(m).map(|s| (s.state, s.rung)).unwrap_or((State::New, None));
        match state {
            State::Completed | State::Pruned => done += 1,
            State::Waiting if rung.is_some_and(|k| k >= r) => done += 1,
            s if s.is_active() => active += 1,
            State::Damaged => damaged.push(grid.models[m].name.clone()),
            State::Failed | State::Preempted | State::Lost => todo.push((pos, m)),
            _ if pick == Pick::Unfinished => todo.push((pos, m)),
            _ => {}
        }
    }
    let Some(h) = h else { return one_rung(todo, done, active, damaged, pick) };
    let active_of =
        |pred: &dyn Fn(u32) -> bool| -> Vec<&Submission> { subs.iter().filter(|s| s.rung.is_some_and(pred) && active_jobs.contains(&s.job_id)).collect() };
    if let Some(queued) = active_of(&|k| k > r).first() {
        let why = if todo.is_empty() {
            format!("rung {} (job {}) is queued or running", queued.rung.unwrap_or(0), queued.job_id)
        } else {
            format!(
                "rung {} (job {}) is queued and waits for rung {r}'s arrays, not for new ones; `cyplam cancel {}` first, then submit again",
                queued.rung.unwrap_or(0),
                queued.job_id,
                grid.name
            )
        };
        return Plan::Nothing(why);
    }
    // Rung `from` holds `n_from` models: each later rung gets slots for as many as the rule may
    // promote of the one before.
    let later = |from: u32, n_from: usize, after: Vec<String>| -> Vec<Stage> {
        let sizes = h.max_sizes(n_from);
        (from + 1..rungs)
            .map(|k| {
                let size = sizes[(k - from) as usize];
                Stage {
                    rung: Some(k),
                    round: None,
                    slots: (0..size).collect(),
                    models: Vec::new(),
                    after: if k == from + 1 { after.clone() } else { Vec::new() },
                }
            })
            .collect()
    };
    let this_rung_jobs: Vec<String> = active_of(&|k| k == r).iter().map(|s| s.job_id.clone()).collect();
    if todo.is_empty() {
        return match pick {
            Pick::Failed => Plan::Nothing(format!("no failed, preempted or lost model in rung {r}")),
            _ if r + 1 >= rungs => Plan::Nothing(format!("{done} done with the last rung ({r}), {active} pending or running")),
            _ if active == 0 && done == 0 => Plan::Nothing(format!("no model can go on in rung {r}")),
            _ => Plan::Submit { rung: r + 1, stages: later(r, alive.len(), this_rung_jobs), done, active, damaged },
        };
    }
    let mut stages =
        vec![Stage { rung: Some(r), round: None, slots: todo.iter().map(|t| t.0).collect(), models: todo.iter().map(|t| t.1).collect(), after: Vec::new() }];
    stages.extend(later(r, alive.len(), this_rung_jobs));
    Plan::Submit { rung: r, stages, done, active, damaged }
}

/// The plan of a sweep without halving: the models `pick` takes (`todo`: position, model).
fn one_rung(todo: Vec<(usize, usize)>, done: usize, active: usize, damaged: Vec<String>, pick: Pick) -> Plan {
    if todo.is_empty() {
        return Plan::Nothing(match pick {
            Pick::Failed => "no failed, preempted or lost model".to_string(),
            Pick::Unfinished => format!("{done} completed, {active} pending or running"),
        });
    }
    let models: Vec<usize> = todo.iter().map(|t| t.1).collect();
    Plan::Submit { rung: 0, stages: vec![Stage::plain(&models)], done, active, damaged }
}

/// [`plan`] for a frozen sweep, from one view of it: its own `[halving]`, the decisions taken so
/// far and, for a halving sweep, the jobs Slurm still runs (a sweep of one rung has no later rung
/// to wait for them). A decision file that fails its check is an error naming it.
pub fn plan_for(frozen: &Frozen, view: &SweepView, pick: Pick) -> Result<Plan> {
    let grid = &frozen.sweep.grid;
    if let Some(r) = cyplam_core::search::rounds::Rounds::of(grid) {
        // A TPE search: its known models as a sweep of one rung, then the rounds to come.
        return Ok(with_rounds(grid, &r, plan(grid, None, &[], &view.states, &view.subs, &[], pick), &view.states, &view.subs, &view.active_jobs()));
    }
    let active = if grid.halving.is_some() { view.active_jobs() } else { Vec::new() };
    Ok(plan(grid, grid.halving, view.decisions()?, &view.states, &view.subs, &active, pick))
}

/// A TPE search's plan: `base`, its known models' (the random start and every round proposed;
/// `states`, theirs), then [`crate::rounds::later`]'s array per round not yet proposed.
pub fn with_rounds(
    grid: &Grid,
    r: &cyplam_core::search::rounds::Rounds,
    base: Plan,
    states: &[ModelStatus],
    subs: &[Submission],
    active_jobs: &[String],
) -> Plan {
    let more = matches!(base, Plan::Submit { .. });
    match (crate::rounds::later(grid, r, subs, active_jobs, more), base) {
        (Err(why), _) => Plan::Nothing(why),
        (Ok(rounds), base) if rounds.is_empty() => base,
        (Ok(rounds), Plan::Submit { rung, mut stages, done, active, damaged }) => {
            stages.extend(rounds);
            Plan::Submit { rung, stages, done, active, damaged }
        }
        (Ok(rounds), Plan::Nothing(_)) => Plan::Submit {
            rung: 0,
            stages: rounds,
            done: states.iter().filter(|m| m.state == State::Completed).count(),
            active: states.iter().filter(|m| m.state.is_active()).count(),
            damaged: states.iter().filter(|m| m.state == State::Damaged).map(|m| m.name.clone()).collect(),
        },
    }
}

/// The rung plan of `stages` in words, for the dry run: the models and iterations of each rung
/// submitted, and the estimated core-hours against the full grid's, from no ties (ceil(n/eta) go
/// on at every rung) to every rung promoting up to its cap (nothing without halving).
pub fn plan_text(grid: &Grid, stages: &[Stage], frames: Frames) -> Result<String> {
    let Some(plan) = RungPlan::of(grid, frames.train) else { return Ok(String::new()) };
    let h = plan.halving;
    let Some(first) = grid.models.first() else { return Ok(String::new()) };
    let total = plan.total(0).max(1);
    let full: Vec<f64> = grid.models.iter().map(|m| estimate_core_hours(m, frames.train, frames.validation)).collect();
    let mean = full.iter().sum::<f64>() / full.len().max(1) as f64;
    let mut o = format!(
        "rung plan:          successive halving, eta {}, {} rungs, promotion {} (ends for {}, {} iterations)\n",
        h.eta,
        h.rungs,
        h.promotion.describe(),
        first.name,
        total
    );
    // Each rung trains its models from the end of the rung before.
    let mut before = match stages.first().and_then(|s| s.rung) {
        Some(k) if k > 0 => plan.end(0, k - 1),
        _ => 0,
    };
    // The fewest models per stage: the first as submitted, then ceil(n/eta) of the one before.
    let least = stages.first().map(|s| h.sizes(s.slots.len())).unwrap_or_default();
    let (mut low, mut high) = (0.0, 0.0);
    for (i, st) in stages.iter().enumerate() {
        let Some(k) = st.rung else { continue };
        let (size, end) = (st.slots.len(), plan.end(0, k));
        let min = least.get(i).copied().unwrap_or(size).min(size);
        let share = mean * end.saturating_sub(before) as f64 / total as f64;
        low += min as f64 * share;
        high += size as f64 * share;
        let count = if min == size { format!("{size} model(s)") } else { format!("{min} to {size} model(s)") };
        o.push_str(&format!(
            "  rung {k}:           {count} to iteration {end} ({:.1} % of the length){}\n",
            100.0 * end as f64 / total as f64,
            if plan.is_last(k) { ", the end" } else { "" }
        ));
        before = end;
    }
    let full_sum: f64 = full.iter().sum::<f64>().max(1e-12);
    let pct = |w: f64| 100.0 * w / full_sum;
    if (high - low).abs() < 1e-9 {
        o.push_str(&format!("halving work:       about {low:.1} single-core hours against {full_sum:.1} for the full grid ({:.0} %)\n", pct(low)));
    } else {
        o.push_str(&format!(
            "halving work:       about {low:.1} (no ties) to {high:.1} (every rung at its cap) single-core hours against {full_sum:.1} for the full grid ({:.0} to {:.0} %)\n",
            pct(low), pct(high)
        ));
    }
    Ok(o)
}

/// `status`'s line per rung: its models, where it ends, and how far it is.
pub fn status_lines(sweep: &SweepFile, plan: Option<&RungPlan>, decisions: &[RungDecision], states: &[ModelStatus]) -> Vec<String> {
    let Some(h) = sweep.grid.halving else { return Vec::new() };
    let n = sweep.grid.models.len();
    let mut out = Vec::new();
    for (k, size) in (0..h.rungs).zip(h.max_sizes(n)) {
        let end = plan.map(|p| format!(" to iteration {}", p.end(0, k))).unwrap_or_default();
        let line = match models_in(k, n, decisions) {
            None => format!("rung {k}: up to {size} model(s){end}: waits for rung {}'s decision", k - 1),
            Some(models) => {
                let said = tally(models.iter().filter_map(|&m| {
                    let st = states.get(m)?;
                    // A model promoted past this rung is done with it.
                    Some(if decisions.get(k as usize).is_some_and(|d| d.promoted.contains(&m)) {
                        "went on"
                    } else {
                        match st.state {
                            State::Waiting if st.rung.is_some_and(|r| r > k) => "went on",
                            s => s.as_str(),
                        }
                    })
                }));
                let decided = match decisions.get(k as usize) {
                    Some(d) => format!(" (decided: {})", d.verdict().summary()),
                    None => String::new(),
                };
                format!("rung {k}: {} model(s){end}{decided}: {said}", models.len())
            }
        };
        out.push(line);
    }
    out
}

/// One line per decided rung, for `report` and its HTML page: "rung 1: 9 models, 3 by rank and 2
/// within noise of the cutoff (0.011); noise 0.0055, cutoff 0.8123". A decision file that fails
/// its check is named instead.
pub fn decision_lines(frozen: &Frozen) -> Vec<String> {
    match cyplam_core::halving::decision::read_decisions(&frozen.layout(), &frozen.sweep) {
        Err(e) => vec![format!("the halving decisions cannot be used: {e}")],
        Ok(ds) => ds
            .iter()
            .map(|d| {
                let v = d.verdict();
                let measured = match (d.noise, d.cutoff) {
                    (Some(n), Some(c)) => format!("; noise {n:.4}, cutoff {c:.4}"),
                    (None, Some(c)) => format!("; noise not measurable yet, cutoff {c:.4}"),
                    _ => String::new(),
                };
                let named = match d.beyond_rank() {
                    n if n.is_empty() => String::new(),
                    n => format!(" ({n})"),
                };
                format!("rung {}: {} models, {} went on: {}{measured}{named}", d.rung, d.candidates.len(), d.promoted.len(), v.summary())
            })
            .collect(),
    }
}

/// A model's lock held by a worker that may still be training it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Held {
    /// A live process of this machine.
    #[error("{} is held by pid {pid}", lock.display())]
    Here { lock: std::path::PathBuf, pid: u64 },
    /// A worker of another host (a Slurm job's, on a node): whether it still runs cannot be told
    /// from here, so it is not taken for killed (issue 33).
    #[error("{} is held by a worker on {host}{job}, which cannot be checked from this machine; if it no longer runs{check}, remove the lock and run again", lock.display())]
    Elsewhere { lock: std::path::PathBuf, host: String, job: String, check: String },
}

/// `cyplam run`'s check before it takes a rung's decision: a model whose lock names a live
/// process on this machine, or any worker on another host, may still be training.
pub fn local_not_training(md: &ModelDir) -> Result<(), Held> {
    let Ok(text) = std::fs::read(md.lock()) else { return Ok(()) };
    let v: serde_json::Value = serde_json::from_slice(&text).unwrap_or_default();
    let host = v.get("host").and_then(|h| h.as_str()).unwrap_or_default();
    if !host.is_empty() && host != cyplam_core::files::hostname() {
        let job = v.get("slurm_job").and_then(|j| j.as_str()).filter(|j| !j.is_empty());
        return Err(Held::Elsewhere {
            lock: md.lock(),
            host: host.to_string(),
            job: job.map(|j| format!(" (Slurm job {j})")).unwrap_or_default(),
            check: job.map(|j| format!(" (`squeue -j {j}` lists nothing)")).unwrap_or_default(),
        });
    }
    match v.get("pid").and_then(|p| p.as_u64()) {
        Some(pid) if crate::state::alive_here(host, pid) => Err(Held::Here { lock: md.lock(), pid }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend;
    use cyplam_core::halving::decision::Candidate;

    const H: Halving = Halving { eta: 3, rungs: 3, promotion: cyplam_core::halving::settings::Promotion::Rank };

    fn grid(n: usize) -> Grid {
        let text = format!(
            "name = \"h\"\n[halving]\neta = 3\nrungs = 3\n[settings]\nwc1 = 5\nncv1 = 2\nwc2 = 5\nncv2 = 2\niterations = 90\nsnapshots = 9\n[grid]\nnfc1 = [{}]\n",
            (1..=n).map(|i| i.to_string()).collect::<Vec<_>>().join(", ")
        );
        cyplam_core::grid::parse(std::path::Path::new("h.toml"), &text).unwrap()
    }

    fn st(index: usize, state: State, rung: Option<u32>) -> ModelStatus {
        ModelStatus {
            index,
            name: format!("Model-00{index}"),
            state,
            iteration: None,
            best_accuracy20: None,
            reason: None,
            job: None,
            node: None,
            log: None,
            rung,
        }
    }

    fn decision(rung: u32, candidates: &[usize], promoted: &[usize]) -> RungDecision {
        RungDecision {
            format: 2,
            sweep: "h".into(),
            eta: 3,
            rungs: 3,
            promotion: H.promotion,
            rung,
            kept: candidates.len().div_ceil(3),
            cap: None,
            noise: None,
            margin: None,
            cutoff: None,
            candidates: candidates
                .iter()
                .map(|&i| Candidate { index: i, model: format!("Model-00{i}"), end_iteration: 10, best_accuracy20: Some(0.5), excluded: None })
                .collect(),
            promoted: promoted.to_vec(),
            ties: Vec::new(),
            by_axis: Vec::new(),
            by_curve: Vec::new(),
            forecast_cutoff: None,
            by_forecast: Vec::new(),
            decided_unix: 0,
        }
    }

    fn sub(job: &str, rung: u32) -> Submission {
        Submission {
            backend: Backend::Slurm,
            job_id: job.into(),
            array_spec: String::new(),
            offset: 0,
            models: Vec::new(),
            submitted_unix: 0,
            rung: Some(rung),
            round: None,
        }
    }

    fn stages(p: Plan) -> (u32, Vec<(Option<u32>, Vec<usize>, Vec<usize>, Vec<String>)>) {
        match p {
            Plan::Submit { rung, stages, .. } => (rung, stages.into_iter().map(|s| (s.rung, s.slots, s.models, s.after)).collect()),
            Plan::Nothing(why) => panic!("nothing: {why}"),
        }
    }

    /// Issue 23: submit, resubmit and the dry run plan a grid without [halving] the same way, as a
    /// sweep of one rung: one stage of the models `pick` takes, nothing decided, no later rung.
    #[test]
    fn a_plain_grid_is_planned_as_a_sweep_of_one_rung() {
        let mut g = grid(5);
        g.halving = None;
        let fresh = stages(plan(&g, None, &[], &[], &[], &[], Pick::Unfinished));
        assert_eq!(fresh, (0, vec![(None, (0..5).collect(), (0..5).collect(), vec![])]));
        let states =
            vec![st(0, State::Completed, None), st(1, State::Failed, None), st(2, State::Running, None), st(3, State::Damaged, None), st(4, State::New, None)];
        let p = plan(&g, None, &[], &states, &[], &[], Pick::Unfinished);
        assert_eq!(p.skipped(&g).as_deref(), Some("skipped 1 completed and 1 pending or running model(s)"));
        assert_eq!(p.would_skip(&g).as_deref(), Some("# would skip 1 completed, 1 pending or running and 1 damaged model(s)"));
        match p {
            Plan::Submit { rung: 0, stages, done: 1, active: 1, damaged } => {
                assert_eq!(damaged, vec!["Model-003".to_string()]);
                assert_eq!(stages, vec![Stage { rung: None, round: None, slots: vec![1, 4], models: vec![1, 4], after: vec![] }]);
            }
            p => panic!("{p:?}"),
        }
        // resubmit --failed: the failed one alone.
        assert_eq!(stages(plan(&g, None, &[], &states, &[], &[], Pick::Failed)).1, vec![(None, vec![1], vec![1], vec![])]);
        // Nothing left: what submit and resubmit say.
        let done: Vec<ModelStatus> = (0..5).map(|i| st(i, if i == 2 { State::Pending } else { State::Completed }, None)).collect();
        assert!(matches!(plan(&g, None, &[], &done, &[], &[], Pick::Unfinished), Plan::Nothing(w) if w == "4 completed, 1 pending or running"));
        assert!(matches!(plan(&g, None, &[], &done, &[], &[], Pick::Failed), Plan::Nothing(w) if w == "no failed, preempted or lost model"));
    }

    #[test]
    fn a_fresh_sweep_submits_every_rung_and_a_later_submit_goes_on_from_the_first_undecided() {
        let g = grid(9);
        let fresh = stages(plan(&g, H, &[], &[], &[], &[], Pick::Unfinished));
        assert_eq!(fresh.0, 0);
        assert_eq!(
            fresh.1,
            vec![(Some(0), (0..9).collect(), (0..9).collect(), vec![]), (Some(1), vec![0, 1, 2], vec![], vec![]), (Some(2), vec![0], vec![], vec![]),]
        );
        // Rung 0 decided (2, 5, 7 went on); 5 was preempted in rung 1, 2 waits after it, 7 is new.
        let d = [decision(0, &(0..9).collect::<Vec<_>>(), &[2, 5, 7])];
        let mut states: Vec<ModelStatus> = (0..9).map(|i| st(i, State::Pruned, Some(0))).collect();
        states[2] = st(2, State::Waiting, Some(1));
        states[5] = st(5, State::Preempted, Some(1));
        states[7] = st(7, State::Waiting, Some(0));
        let (r, s) = stages(plan(&g, H, &d, &states, &[], &[], Pick::Unfinished));
        assert_eq!(r, 1);
        assert_eq!(s, vec![(Some(1), vec![1, 2], vec![5, 7], vec![]), (Some(2), vec![0], vec![], vec![])], "slots are positions among rung 1's models");
        // resubmit --failed takes the preempted one only.
        let (_, s) = stages(plan(&g, H, &d, &states, &[], &[], Pick::Failed));
        assert_eq!(s[0], (Some(1), vec![1], vec![5], vec![]));
        // A queued later rung: nothing, and why.
        let subs = [sub("40", 1), sub("41", 2)];
        match plan(&g, H, &d, &states, &subs, &["41".to_string()], Pick::Unfinished) {
            Plan::Nothing(why) => assert!(why.contains("rung 2 (job 41) is queued and waits for rung 1's arrays") && why.contains("cyplam cancel h"), "{why}"),
            p => panic!("{p:?}"),
        }
        // Rung 1 running with nothing left to submit in it, the chain after it cancelled: the later
        // rungs alone, waiting for rung 1's running array.
        states[5] = st(5, State::Running, Some(1));
        states[7] = st(7, State::Waiting, Some(1));
        let (r, s) = stages(plan(&g, H, &d, &states, &subs, &["40".to_string()], Pick::Unfinished));
        assert_eq!((r, s), (2, vec![(Some(2), vec![0], vec![], vec!["40".to_string()])]));
        // Everything decided and the winner completed: nothing.
        let d2 = [d[0].clone(), decision(1, &[2, 5, 7], &[5])];
        states[5] = st(5, State::Completed, Some(2));
        assert!(matches!(plan(&g, H, &d2, &states, &subs, &[], Pick::Unfinished), Plan::Nothing(w) if w.contains("done with the last rung (2)")));
    }

    #[test]
    fn with_ties_the_later_rungs_get_slots_up_to_the_cap() {
        let g = grid(9);
        let h = Halving::new(3, 3).unwrap();
        assert_eq!(
            h.max_sizes(9),
            vec![9, 5, 3],
            "cap x1.25 of ceil(9/3) = 3 is 4, and 1 by forecast at rung 0 (ceil(0.25 x 3)); then cap x1.25 of ceil(5/3) = 2 is 3 (none by forecast into the last rung)"
        );
        let (_, s) = stages(plan(&g, h, &[], &[], &[], &[], Pick::Unfinished));
        assert_eq!(s.iter().map(|s| s.1.len()).collect::<Vec<_>>(), vec![9, 5, 3]);
    }

    /// Issue 33: a lock held by a worker on another host (a Slurm job's) is a model that may still
    /// train, said as such, not taken for a killed worker; a dead local pid's lock is not.
    #[test]
    fn a_lock_from_another_host_holds_the_decision_and_says_how_to_check() {
        let tmp = tempfile::tempdir().unwrap();
        let md = cyplam_core::layout::SweepDir::new(tmp.path()).model("Model-000");
        std::fs::create_dir_all(&md.root).unwrap();
        assert_eq!(local_not_training(&md), Ok(()), "no lock");
        std::fs::write(md.lock(), r#"{"host":"n2","pid":4242,"slurm_job":"77_5","slurm_node":"n2","since_unix":0}"#).unwrap();
        let e = local_not_training(&md).unwrap_err().to_string();
        assert!(e.ends_with("is held by a worker on n2 (Slurm job 77_5), which cannot be checked from this machine; if it no longer runs (`squeue -j 77_5` lists nothing), remove the lock and run again"), "{e}");
        let here = cyplam_core::files::hostname();
        std::fs::write(md.lock(), format!(r#"{{"host":"{here}","pid":{},"since_unix":0}}"#, std::process::id())).unwrap();
        assert!(matches!(local_not_training(&md), Err(Held::Here { .. })), "this process is alive");
        std::fs::write(md.lock(), format!(r#"{{"host":"{here}","pid":4294967295,"since_unix":0}}"#)).unwrap();
        assert_eq!(local_not_training(&md), Ok(()), "a dead local pid holds nothing");
    }
}
