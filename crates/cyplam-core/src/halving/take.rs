//! Taking a rung's decision from the models' files (docs/halving.md): once the rung has ended,
//! from their metrics up to its end, written atomically to `halving/rung-K.json` and read back by
//! every later worker, `status` and `report`. The same files give the same decision on every node
//! and under `cyplam run`, whatever order the models finished in, so no process has to drive the
//! sweep: the workers of rung k+1 take rung k's decision (one of them, under
//! `halving/decide.lock`; the others read it). Also `withdraw` (`cyplam prune`) and the `pruned`
//! result.json of each model a decision stopped.

use crate::curve::{best_until, rows_until};
use crate::files::{now_unix, read_json, read_metrics, write_json_atomic, ModelResult, ResultStatus, SweepFile};
use crate::halving::decision::{read_result, rule_verdict, Busy, Candidate, DecisionError, RungDecision, RungPlan, DECISION_FORMAT};
use crate::halving::rule::WentOn;
use crate::layout::{ModelDir, SweepDir};
use crate::metrics_csv::{best_row, MetricsRow};

/// A halving sweep's rungs on disk, as one process sees them: the sweep's directory and frozen
/// file, where its rungs end for the training set at hand, and how to tell whether a model of an
/// ended rung may still be training. What the workers (`--rung K`) and `cyplam run` take the
/// decisions through.
#[derive(Clone, Copy)]
pub struct Rungs<'a> {
    pub dir: &'a SweepDir,
    pub sweep: &'a SweepFile,
    pub plan: &'a RungPlan,
    /// Asked of each model before a decision counts it: an error while its worker may still train it.
    pub busy: &'a dyn Fn(&ModelDir) -> Result<(), Busy>,
}

impl Rungs<'_> {
    /// The models that train in rung `rung`: every model for rung 0, else the ones rung
    /// `rung - 1`'s decision promoted (taken now if it was not yet, see [`Rungs::decide`]).
    pub fn alive(&self, rung: u32) -> Result<Vec<usize>, DecisionError> {
        if rung >= self.plan.rungs() {
            return Err(DecisionError::NoSuchRung { rung, rungs: self.plan.rungs() });
        }
        let mut models: Vec<usize> = (0..self.sweep.grid.models.len()).collect();
        for k in 0..rung {
            models = self.decide_among(k, &models)?.promoted;
        }
        Ok(models)
    }

    /// Rung `rung`'s decision: read back when it was taken before, else taken now from the
    /// models' files (`busy` is asked first whether each may still be training) and written
    /// atomically. Either way, every model it prunes then has a `pruned` result.json.
    pub fn decide(&self, rung: u32) -> Result<RungDecision, DecisionError> {
        if self.plan.is_last(rung) {
            return Err(DecisionError::NoSuchRung { rung, rungs: self.plan.rungs().saturating_sub(1) });
        }
        let candidates = self.alive(rung)?;
        self.decide_among(rung, &candidates)
    }

    fn decide_among(&self, rung: u32, candidates: &[usize]) -> Result<RungDecision, DecisionError> {
        let (dir, sweep, plan) = (self.dir, self.sweep, self.plan);
        let path = dir.rung_decision(rung);
        let decision = if path.exists() {
            let d: RungDecision = read_json(&path)?;
            d.check(&path, dir, sweep, plan.halving, rung, candidates)?;
            d.verify(&path, dir, sweep, plan)?;
            d
        } else {
            let d = self.take(rung, candidates)?;
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
    /// itself (its result.json says failed: diverged, bad input, withdrawn) is excluded; one that
    /// did not reach the rung's end for any other reason (killed, node lost, cancelled,
    /// preempted), or whose metrics cannot be read, stops the decision: a fault is not a verdict.
    fn take(&self, rung: u32, candidates: &[usize]) -> Result<RungDecision, DecisionError> {
        let (dir, sweep, plan) = (self.dir, self.sweep, self.plan);
        let mut out = Vec::with_capacity(candidates.len());
        let mut rows_of: Vec<Vec<MetricsRow>> = Vec::with_capacity(candidates.len());
        for &m in candidates {
            let Some(spec) = sweep.grid.models.get(m) else { continue };
            let md = dir.model(&spec.name);
            (self.busy)(&md).map_err(|why| DecisionError::StillTraining { rung, model: spec.name.clone(), why })?;
            let end = plan.end(m, rung);
            let result = read_result(&md);
            let unfinished = |why: String| DecisionError::Unfinished { sweep: sweep.name.clone(), rung, model: spec.name.clone(), why };
            if let Some(r) = result.as_ref().filter(|r| r.status == ResultStatus::Failed) {
                out.push(Candidate {
                    index: m,
                    model: spec.name.clone(),
                    end_iteration: end,
                    best_accuracy20: None,
                    excluded: Some(format!("failed: {}", r.reason.as_deref().unwrap_or("no reason given"))),
                });
                rows_of.push(Vec::new());
                continue;
            }
            // Excluded from this rung's decision before (the decision file was removed since): excluded again.
            let prefix = format!("pruned at rung {rung}: failed: ");
            if let Some(why) = result
                .as_ref()
                .filter(|r| r.status == ResultStatus::Pruned && r.rung == Some(rung))
                .and_then(|r| r.reason.as_deref())
                .and_then(|w| w.strip_prefix(&prefix))
            {
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
        let v = rule_verdict(sweep, plan, rung, &out, &rows_of);
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
            by_curve: v.forecasts.clone(),
            forecast_cutoff: v.forecast_cutoff,
            by_forecast: v.by_forecast.clone(),
            promoted: v.promoted_models(),
            candidates: out,
            decided_unix: now_unix(),
        })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::FORMAT_VERSION;
    use crate::halving::decision::{models_in, read_decisions};
    use crate::halving::settings::{Halving, Promotion};
    use crate::metrics_csv::METRICS_HEADER;

    fn decide(
        dir: &SweepDir,
        sweep: &SweepFile,
        plan: &RungPlan,
        rung: u32,
        busy: &dyn Fn(&ModelDir) -> Result<(), Busy>,
    ) -> Result<RungDecision, DecisionError> {
        Rungs { dir, sweep, plan, busy }.decide(rung)
    }

    fn alive(dir: &SweepDir, sweep: &SweepFile, plan: &RungPlan, rung: u32, busy: &dyn Fn(&ModelDir) -> Result<(), Busy>) -> Result<Vec<usize>, DecisionError> {
        Rungs { dir, sweep, plan, busy }.alive(rung)
    }

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
            let row = MetricsRow {
                iteration: (i as u64 + 1) * 10,
                train_loss: 1.0,
                train_accuracy20: 0.5,
                validation_loss: 1.0,
                validation_accuracy20: a,
                elapsed_seconds: i as f64,
            };
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
        // Issue 33: the rung a result.json names must be one the decisions allow.
        use crate::halving::decision::check_rung;
        let ds = [d.clone()];
        assert_eq!(check_rung(&s, 1, false, Some(1), &ds), Ok(()), "promoted to rung 1");
        assert_eq!(check_rung(&s, 0, true, Some(0), &ds), Ok(()), "pruned at rung 0");
        let e = check_rung(&s, 0, false, Some(1), &ds).unwrap_err();
        assert!(e.starts_with("says it trained in rung 1, but halving/rung-0.json did not promote it to rung 1; remove this result.json"), "{e}");
        let e = check_rung(&s, 1, true, Some(0), &ds).unwrap_err();
        assert!(e.starts_with("says pruned, but no decision pruned this model: halving/rung-0.json promoted it to rung 1"), "{e}");
        let e = check_rung(&s, 1, false, Some(5), &ds).unwrap_err();
        assert!(e.starts_with("names rung 5, but the sweep's [halving] has 2 rung(s) (0 to 1)"), "{e}");
        assert_eq!(models_in(0, 5, std::slice::from_ref(&d)), Some(vec![0, 1, 2, 3, 4]));
        assert_eq!((models_in(1, 5, std::slice::from_ref(&d)), models_in(2, 5, std::slice::from_ref(&d))), (Some(vec![1, 3]), None));
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
        assert!(d.noise.is_some(), "3 snapshots x 6 models: 6 residuals");
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

        // Issue 33: damaged metrics were reported as a bad decision file, with advice to remove the
        // genuine decision. Now the metrics file is named, and the decision kept.
        let metrics = dir.model("Model-002").metrics();
        let whole = std::fs::read(&metrics).unwrap();
        std::fs::write(&metrics, format!("{METRICS_HEADER}\n10,1,0.5,1,oops,1\n")).unwrap();
        let e = decide(&dir, &s, &plan, 0, &ok).unwrap_err().to_string();
        assert!(
            e.contains("rung-0.json: cannot be checked: Model-002's metrics cannot be read") && e.contains("the decision file is not at fault, keep it"),
            "{e}"
        );
        assert!(!e.contains("remove it"), "{e}");
        // Cut short (a torn copy): the two disagree, and the message says what to do for either.
        std::fs::write(&metrics, format!("{METRICS_HEADER}\n")).unwrap();
        let e = decide(&dir, &s, &plan, 0, &ok).unwrap_err().to_string();
        assert!(e.contains("the decision and") && e.contains("metrics.csv disagree: if that metrics file was cut short"), "{e}");
        std::fs::write(&metrics, &whole).unwrap();
        assert_eq!(decide(&dir, &s, &plan, 0, &ok).unwrap(), d);

        // Issue 33: an edited sweep.json (another [halving]) was reported as a bad rung file.
        let other = sweep(6, Halving::new(2, 2).unwrap());
        let plan2 = RungPlan::of(&other.grid, 1000).unwrap();
        let e = decide(&dir, &other, &plan2, 0, &ok).unwrap_err().to_string();
        assert!(e.contains("rung-0.json: taken under eta 3, 2 rungs, ties within 1 x noise, cap x1.25, forecast x0.25; sweep.json says eta 2, 2 rungs"), "{e}");
        assert!(e.contains("sweep.json") && e.contains("was changed after this decision was taken") && e.contains("grid.toml"), "{e}");
    }
}
