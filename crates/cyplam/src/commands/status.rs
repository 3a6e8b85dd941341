//! `cyplam status [SWEEP]`: per-model state (from the sweep's files, one batched squeue call, and
//! sacct where accounting exists) with summary counts; `--watch` repeats it.

use crate::ctx::Ctx;
use crate::output::{outln, print_rows, tail, Format};
use crate::slurm::Scheduler;
use crate::state::{State, SweepView};
use anyhow::Result;
use clap::Args;
use cyplam_core::halving::decision::RungPlan;
use cyplam_core::search::rounds::Rounds;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Sweep name (or directory); default: the newest sweep in the database.
    pub sweep: Option<String>,
    /// Refresh every N seconds until nothing is pending or running.
    #[arg(long, num_args = 0..=1, default_missing_value = "10", allow_negative_numbers = true, value_parser = crate::args::seconds)]
    pub watch: Option<u64>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Lines of log shown for each failed model.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true, value_parser = crate::args::count)]
    pub log_lines: usize,
}

impl StatusArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let a = self;
        loop {
            let o = ctx.open_sweep(a.sweep.as_deref()).await?;
            let f = &o.sweep;
            let view = SweepView::read(f, o.db.submissions(o.id).await?, Some(ctx.scheduler)).await?;
            let states = &view.states;
            let total = f.sweep.grid.models.len();
            let halving = f.sweep.grid.halving.is_some();
            if a.format == Format::Json {
                outln!("{}", serde_json::to_string_pretty(&states)?)?;
            } else {
                let mut header = vec!["name", "state", "iteration", "best acc20", "job", "node", "reason"];
                if halving {
                    header.insert(2, "rung");
                }
                let rows: Vec<Vec<String>> = states
                    .iter()
                    .map(|m| {
                        let mut row = vec![
                            m.name.clone(),
                            m.state.as_str().to_string(),
                            m.iteration.map(|i| i.to_string()).unwrap_or_default(),
                            m.best_accuracy20.map(|a| format!("{a:.4}")).unwrap_or_default(),
                            m.job.clone().unwrap_or_default(),
                            m.node.clone().unwrap_or_default(),
                            m.reason.clone().unwrap_or_default(),
                        ];
                        if halving {
                            row.insert(2, m.rung.map(|k| k.to_string()).unwrap_or_default());
                        }
                        row
                    })
                    .collect();
                print_rows(&header, &rows, a.format)?;
                for m in states.iter().filter(|m| matches!(m.state, State::Failed | State::Lost | State::Damaged)) {
                    if let Some(log) = &m.log {
                        outln!("--- {} ({}): last lines of {} ---\n{}", m.name, m.state.as_str(), log.display(), tail(log, a.log_lines))?;
                    }
                }
                let count = |st: State| states.iter().filter(|m| m.state == st).count();
                outln!(
                    "sweep {}: {total} models: {} completed, {} running, {} pending, {} failed, {} preempted, {} lost, {} not submitted",
                    f.sweep.name,
                    count(State::Completed),
                    count(State::Running),
                    count(State::Pending),
                    count(State::Failed),
                    count(State::Preempted),
                    count(State::Lost),
                    count(State::New)
                )?;
                if halving {
                    // The rung plan needs the training set's size; without the data it is left out.
                    let plan = crate::submission::Frames::of(&f.sweep.grid).ok().and_then(|fr| RungPlan::of(&f.sweep.grid, fr.train));
                    match view.decisions() {
                        Ok(decisions) => {
                            for line in crate::halving::status_lines(&f.sweep, plan.as_ref(), decisions, states) {
                                outln!("{line}")?;
                            }
                        }
                        Err(e) => outln!("the rungs' decisions cannot be read: {e}")?,
                    }
                    outln!("{} waiting at the end of their rung, {} pruned", count(State::Waiting), count(State::Pruned))?;
                }
                if let Some(r) = Rounds::of(&f.sweep.grid) {
                    outln!("TPE search: {} of {} models known (a random start of {}, then rounds of {} proposed in turn)", total, r.models, r.start, r.batch)?;
                    for line in crate::rounds::status_lines(&f.sweep.grid, &r, states, &view.subs, &view.active_jobs()) {
                        outln!("{line}")?;
                    }
                }
                if count(State::Damaged) > 0 {
                    outln!("{} damaged: their files cannot be read (see the reasons above); they are not submitted until fixed", count(State::Damaged))?;
                }
            }
            match a.watch {
                // A TPE search's later rounds are arrays whose models are not known yet.
                Some(secs) if states.iter().any(|m| m.state.is_active()) || (Rounds::of(&f.sweep.grid).is_some() && !view.active_jobs().is_empty()) => {
                    tokio::time::sleep(std::time::Duration::from_secs(secs.max(1))).await;
                }
                _ => return Ok(()),
            }
        }
    }
}
