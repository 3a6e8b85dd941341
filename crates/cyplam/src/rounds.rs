//! A TPE search, the coordinator's side (`strategy = "tpe"`, docs/grid.md): what `submit` and
//! `resubmit` submit (the known models not done, then one job array per round not yet proposed,
//! each waiting for the one before), the dry run's round plan, `status`'s line per round, and
//! `cyplam run`'s rounds in turn. The proposals are `cyplam_core::search::rounds`', made by each
//! round's first worker (or by `cyplam run` between rounds) from the models' files.

use crate::db::Submission;
use crate::state::{tally, ModelStatus};
use crate::submission::{estimate_core_hours, Frames, Stage};
use cyplam_core::grid::Grid;
use cyplam_core::search::rounds::Rounds;

/// The rounds not proposed yet: from the first whose models are unknown to the last.
pub fn unproposed(r: &Rounds, known: usize) -> std::ops::RangeInclusive<u32> {
    let next = if known >= r.models { r.last() + 1 } else { r.round_of(known) };
    next.max(1)..=r.last()
}

/// The arrays to submit after the known models' for a TPE search: one per round not yet
/// proposed, each waiting for the one before (the first for the known models' arrays and
/// `active_jobs`, the sweep's arrays still queued or running). Err with why while a round's array
/// is queued: it waits for the old arrays, not for new ones (`more`: the known models have arrays
/// to submit too).
pub fn later(grid: &Grid, r: &Rounds, subs: &[Submission], active_jobs: &[String], more: bool) -> Result<Vec<Stage>, String> {
    let todo = unproposed(r, grid.models.len());
    if todo.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(q) = subs.iter().find(|s| s.round.is_some() && active_jobs.contains(&s.job_id)) {
        let round = q.round.unwrap_or(0);
        return Err(if more {
            format!(
                "round {round} (job {}) is queued and waits for the arrays before it, not for new ones; `cyplam cancel {}` first, then submit again",
                q.job_id, grid.name
            )
        } else {
            format!("round {round} (job {}) is queued or running; the rounds after it were submitted with it", q.job_id)
        });
    }
    let first = *todo.start();
    Ok(todo.map(|k| Stage::round(k, r.models_of(k).len(), if k == first { active_jobs.to_vec() } else { Vec::new() })).collect())
}

/// The round plan of the dry run: how many models are known, then each round to come, and the
/// whole search's work estimated at the known models' mean.
pub fn plan_text(grid: &Grid, r: &Rounds, frames: Frames) -> String {
    let todo = unproposed(r, grid.models.len());
    let mut o = format!(
        "round plan:         TPE search, {} models: a random start of {}, then {} round(s) of {} proposed from the scores before them; {} known now\n",
        r.models,
        r.start,
        r.last(),
        r.batch,
        grid.models.len()
    );
    if !todo.is_empty() {
        o.push_str(&format!(
            "                    rounds {} to {} ({} models) are proposed by their first worker once the arrays before them end; the arithmetic above counts the known models only\n",
            todo.start(),
            todo.end(),
            r.models - grid.models.len().min(r.models)
        ));
        let known: Vec<f64> = grid.models.iter().map(|m| estimate_core_hours(m, frames.train, frames.validation)).collect();
        let mean = known.iter().sum::<f64>() / known.len().max(1) as f64;
        o.push_str(&format!(
            "                    the whole search, {} models at the known models' mean: about {:.1} single-core hours, in {} array(s) one after the other\n",
            r.models,
            mean * r.models as f64,
            r.last() + 1
        ));
    }
    o
}

/// `status`'s line per round: its models' states, or, before it is proposed, where its job array
/// stands (`subs`, the sweep's submissions; `active_jobs`, those Slurm still holds).
pub fn status_lines(grid: &Grid, r: &Rounds, states: &[ModelStatus], subs: &[Submission], active_jobs: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for k in 0..=r.last() {
        let range = r.models_of(k);
        let what = if k == 0 { "round 0 (random start)".to_string() } else { format!("round {k}") };
        if range.end > grid.models.len() {
            let array = match subs.iter().rev().find(|s| s.round == Some(k)) {
                Some(s) if active_jobs.contains(&s.job_id) => format!("its array (job {}) waits for the arrays before it", s.job_id),
                Some(s) => format!(
                    "its array (job {}) ended without proposing it (logs/{}_*.out say why: a model before it did not finish); `cyplam resubmit --failed {}` trains what did not finish and submits the rounds again",
                    s.job_id, s.job_id, grid.name
                ),
                None => "not submitted (`cyplam submit` submits it after the models before it)".to_string(),
            };
            out.push(format!("{what}: {} model(s), not proposed yet: {array}", range.len()));
            continue;
        }
        let said = tally(states.get(range.clone()).unwrap_or_default().iter().map(|st| st.state.as_str()));
        out.push(format!("{what}: {} model(s), {} ... {}: {said}", range.len(), grid.models[range.start].name, grid.models[range.end - 1].name));
    }
    out
}

/// One line per proposed round, for `report` and its HTML page: "round 1: Model-002, Model-003,
/// proposed from 2 models (the best then Model-000, 0.8312)". A round file that fails its check is
/// named instead.
pub fn report_lines(frozen: &crate::sweep::Frozen) -> Vec<String> {
    if Rounds::of(&frozen.sweep.grid).is_none() {
        return Vec::new();
    }
    match cyplam_core::search::rounds::read_rounds(&frozen.layout(), &frozen.sweep) {
        Err(e) => vec![format!("the TPE rounds cannot be used: {e}")],
        Ok(files) => files
            .iter()
            .map(|f| {
                let names: Vec<&str> = f.proposed.iter().map(|p| p.model.as_str()).collect();
                let best = f.observed.iter().filter_map(|o| o.score.map(|s| (o.model.as_str(), s))).max_by(|a, b| a.1.total_cmp(&b.1));
                let best = best.map(|(m, s)| format!("the best then {m}, {s:.4}")).unwrap_or_else(|| "none had a score".into());
                format!("round {}: {}, proposed from {} models ({best})", f.round, names.join(", "), f.observed.len())
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::Backend;

    fn grid(models: u32, batch: u32) -> Grid {
        let text = format!(
            "name = \"t\"\n[settings]\nwc1 = 5\nncv1 = 8\nwc2 = 5\nncv2 = 8\niterations = 10\nsnapshots = 1\n[search]\nstrategy = \"tpe\"\nmodels = {models}\nbatch = {batch}\n[grid]\nnfc1 = [16, 32, 64, 128]\nlearning_rate = [0.001, 0.01, 0.1]\n"
        );
        cyplam_core::grid::parse(std::path::Path::new("t.toml"), &text).unwrap()
    }

    #[test]
    fn every_round_not_proposed_is_an_array_chained_to_the_one_before() {
        let g = grid(10, 3);
        let r = Rounds::of(&g).unwrap();
        // 10 models: a start of 2, then rounds of 3, 3 and 2.
        assert_eq!((r.start, r.last()), (2, 3));
        let stages = later(&g, &r, &[], &["41".to_string()], true).unwrap();
        let shape: Vec<(Option<u32>, Vec<usize>, Vec<usize>, Vec<String>)> =
            stages.iter().map(|s| (s.round, s.slots.clone(), s.models.clone(), s.after.clone())).collect();
        assert_eq!(
            shape,
            vec![(Some(1), vec![0, 1, 2], vec![], vec!["41".to_string()]), (Some(2), vec![0, 1, 2], vec![], vec![]), (Some(3), vec![0, 1], vec![], vec![])]
        );
        let text = plan_text(&g, &r, Frames { train: 1000, validation: 500 });
        assert!(text.contains("a random start of 2, then 3 round(s) of 3"), "{text}");
        assert!(text.contains("the whole search, 10 models at the known models' mean: about"), "{text}");
        assert!(text.contains("single-core hours, in 4 array(s) one after the other"), "{text}");
    }

    #[test]
    fn a_queued_round_refuses_more() {
        let g = grid(6, 2);
        let r = Rounds::of(&g).unwrap();
        let sub = Submission {
            backend: Backend::Slurm,
            job_id: "42".into(),
            array_spec: String::new(),
            offset: 0,
            models: vec![],
            submitted_unix: 0,
            rung: None,
            round: Some(1),
        };
        let subs = std::slice::from_ref(&sub);
        assert_eq!(
            later(&g, &r, subs, &["42".to_string()], false).unwrap_err(),
            "round 1 (job 42) is queued or running; the rounds after it were submitted with it"
        );
        assert!(later(&g, &r, subs, &["42".to_string()], true).unwrap_err().contains("`cyplam cancel t` first"));
        // Once it ended, the rounds go on.
        assert_eq!(later(&g, &r, subs, &[], false).unwrap().len(), 2);
    }

    #[test]
    fn a_round_not_proposed_says_where_its_array_stands() {
        let g = grid(6, 2);
        let r = Rounds::of(&g).unwrap();
        let sub = |job: &str, round: u32| Submission {
            backend: Backend::Slurm,
            job_id: job.into(),
            array_spec: String::new(),
            offset: 0,
            models: vec![],
            submitted_unix: 0,
            rung: None,
            round: Some(round),
        };
        let subs = vec![sub("42", 1), sub("43", 2)];
        let lines = status_lines(&g, &r, &[], &subs, &["43".to_string()]);
        assert_eq!(lines[0], "round 0 (random start): 2 model(s), Model-000 ... Model-001: ");
        assert!(
            lines[1].starts_with("round 1: 2 model(s), not proposed yet: its array (job 42) ended without proposing it (logs/42_*.out say why"),
            "{}",
            lines[1]
        );
        assert_eq!(lines[2], "round 2: 2 model(s), not proposed yet: its array (job 43) waits for the arrays before it");
        let lines = status_lines(&g, &r, &[], &[], &[]);
        assert_eq!(lines[1], "round 1: 2 model(s), not proposed yet: not submitted (`cyplam submit` submits it after the models before it)");
    }

    #[test]
    fn rounds_not_yet_proposed() {
        let r = Rounds { models: 10, start: 2, batch: 3, seed: 0, lens: vec![4, 3] };
        assert_eq!(unproposed(&r, 2), 1..=3);
        assert_eq!(unproposed(&r, 5), 2..=3);
        assert!(unproposed(&r, 10).is_empty());
    }
}
