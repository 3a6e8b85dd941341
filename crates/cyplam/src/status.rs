//! `cyplam status`: per-model state (from the sweep's files, one batched squeue call, and sacct
//! where accounting exists) with summary counts; `--watch` repeats it.

use crate::cli::{Format, Global};
use crate::slurm::Scheduler;
use crate::sweep::{self, State};
use anyhow::Result;
use clap::Args;

#[derive(Args, Debug)]
pub struct StatusArgs {
    /// Sweep name (or directory); default: the newest sweep in the database.
    pub sweep: Option<String>,
    /// Refresh every N seconds until nothing is pending or running.
    #[arg(long, num_args = 0..=1, default_missing_value = "10")]
    pub watch: Option<u64>,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Lines of log shown for each failed model.
    #[arg(long, default_value_t = 5)]
    pub log_lines: usize,
}

pub async fn run<S: Scheduler>(g: &Global, a: &StatusArgs, s: &S) -> Result<()> {
    loop {
        let db = g.open_db().await?;
        let f = sweep::pick(&g.runs_dir, &db, a.sweep.as_deref()).await?;
        let id = db.register_sweep(&f.dir, &f.sweep).await?;
        db.collect(id, &f.dir, &f.sweep).await?;
        let subs = db.submissions(id).await?;
        let states = sweep::model_states(&f, &subs, if subs.iter().any(|s| s.backend == "slurm") { Some(s) } else { None }).await?;
        let total = f.sweep.grid.models.len();
        if a.format == Format::Json {
            println!("{}", serde_json::to_string_pretty(&states)?);
        } else {
            let header = ["name", "state", "iteration", "best acc20", "job", "reason"];
            let rows: Vec<Vec<String>> = states.iter().map(|m| vec![
                m.name.clone(),
                m.state.as_str().to_string(),
                m.iteration.map(|i| i.to_string()).unwrap_or_default(),
                m.best_accuracy20.map(|a| format!("{a:.4}")).unwrap_or_default(),
                m.job.clone().unwrap_or_default(),
                m.reason.clone().unwrap_or_default(),
            ]).collect();
            crate::report::print_rows(&header, &rows, a.format)?;
            for m in states.iter().filter(|m| matches!(m.state, State::Failed | State::Lost)) {
                if let Some(log) = &m.log {
                    println!("--- {} ({}): last lines of {} ---\n{}", m.name, m.state.as_str(), log.display(), sweep::tail(log, a.log_lines));
                }
            }
            let count = |st: State| states.iter().filter(|m| m.state == st).count();
            println!(
                "sweep {}: {total} models: {} completed, {} running, {} pending, {} failed, {} preempted, {} lost, {} not submitted",
                f.sweep.name, count(State::Completed), count(State::Running), count(State::Pending),
                count(State::Failed), count(State::Preempted), count(State::Lost), count(State::New)
            );
        }
        match a.watch {
            Some(secs) if states.iter().any(|m| m.state.is_active()) => {
                tokio::time::sleep(std::time::Duration::from_secs(secs.max(1))).await;
            }
            _ => return Ok(()),
        }
    }
}
