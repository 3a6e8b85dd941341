//! `cyplam run GRID`: the same sweep on this machine, without Slurm. Each model gets the same
//! worker binary, started as the slot of its array task (`--index` and `SLURM_PROCID`, through
//! `WorkerInvocation`), N at a time; Ctrl-C stops them cleanly (they checkpoint) and a later
//! `cyplam run` resumes. The ranking is printed at the end.

use crate::ctx::Ctx;
use crate::db::Backend;
use crate::output::Format;
use crate::slurm::Scheduler;
use crate::state::{State, SweepView};
use crate::sweep;
use anyhow::{bail, Context, Result};
use cyplam_core::halving::decision::{Busy, RungPlan};
use cyplam_core::halving::take::Rungs;
use cyplam_core::layout::ModelDir;
use clap::Args;
use cyplam_core::invocation::{Target, WorkerInvocation};
use cyplam_core::packing::Packing;
use indicatif::{ProgressBar, ProgressStyle};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use tokio::process::Command;
use tokio::sync::Semaphore;

#[derive(Args, Debug)]
pub struct RunArgs {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Trainings at a time; default: cores / cpus_per_training, at least 1.
    #[arg(long, short, allow_negative_numbers = true, value_parser = crate::args::positive)]
    pub jobs: Option<usize>,
    /// Device of the workers (cpu, cuda).
    #[arg(long)]
    pub device: Option<String>,
    /// How many models the final ranking shows.
    #[arg(long, default_value_t = 10, allow_negative_numbers = true, value_parser = crate::args::count)]
    pub top: usize,
    /// Format of the final ranking.
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// `cyplam run` was stopped by Ctrl-C (the workers checkpointed): the command exits 130, as an
/// interrupted command does.
#[derive(Debug, thiserror::Error)]
#[error("interrupted")]
pub struct Interrupted;

impl RunArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let a = self;
        let o = ctx.freeze_sweep(&a.grid, sweep::load_grid(&a.grid)?).await?;
        let (db, id, frozen) = (&o.db, o.id, &o.sweep);
        let states = SweepView::read::<S>(frozen, db.submissions(id).await?, None).await?.states;
        if let Some(m) = states.iter().find(|m| m.state.is_active()) {
            bail!("{} of sweep {} is {} in another `cyplam run`; wait for it or stop it first", m.name, frozen.sweep.name, m.state.as_str());
        }
        let grid = &frozen.sweep.grid;
        let cpus = grid.slurm.cpus_per_training as usize;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let jobs = a.jobs.unwrap_or((cores / cpus.max(1)).max(1)).max(1);
        let launcher = Launcher { worker: crate::worker::worker_path()?, frozen, jobs, device: a.device.clone() };
        let packing = Packing::new(grid.slurm.trainings_per_node);
        let job_id = crate::state::local_job_id();
        let mut failed: Vec<String> = Vec::new();
        let mut interrupted = false;
        match grid.halving {
            None => {
                let todo: Vec<usize> = states.iter().filter(|m| m.state != State::Completed).map(|m| m.index).collect();
                if !todo.is_empty() {
                    db.add_submission(id, Backend::Local, &job_id, "", 0, &todo, None, None).await?;
                }
                eprintln!(
                    "sweep {}: {} model(s) to train ({} already completed), {jobs} at a time with {cpus} thread(s) each; logs in {}",
                    grid.name, todo.len(), grid.models.len() - todo.len(), frozen.layout().logs_dir().display()
                );
                let items = todo.iter().map(|&m| (m, Target::Task { task: packing.task_of(m), slot: packing.slot_of(m), cpus: cpus as u32 })).collect();
                let (f, stopped) = launcher.launch(items, None).await?;
                failed.extend(f);
                interrupted = stopped;
            }
            Some(h) => {
                // The rungs in turn: before each, the decision of the rung before (the workers'
                // rule, from the same files), then its models, each to the rung's end.
                let frames = crate::submission::Frames::of(grid)?;
                let plan = RungPlan::of(grid, frames.train).context("the sweep has no [halving] table")?;
                let decisions = cyplam_core::halving::decision::read_decisions(&frozen.layout(), &frozen.sweep)?;
                let start = crate::halving::current_rung(&decisions).min(h.rungs - 1);
                for k in start..h.rungs {
                    let layout = frozen.layout();
                    let busy = |md: &ModelDir| crate::halving::local_not_training(md).map_err(Busy::from);
                    let models = match (Rungs { dir: &layout, sweep: &frozen.sweep, plan: &plan, busy: &busy }).alive(k) {
                        Ok(models) => models,
                        Err(e) => {
                            // Collect what the rung before left, then say why the sweep cannot go on.
                            db.collect(id, &frozen.dir, &frozen.sweep).await?;
                            return Err(e.into());
                        }
                    };
                    let states = SweepView::read::<S>(frozen, db.submissions(id).await?, None).await?.states;
                    let todo: Vec<(usize, usize)> = models.iter().copied().enumerate().filter(|&(_, m)| match states[m].state {
                        State::Completed | State::Pruned => false,
                        State::Waiting => states[m].rung.is_none_or(|r| r < k),
                        _ => true,
                    }).collect();
                    eprintln!(
                        "sweep {}: rung {k} of {}: {} model(s) to train to iteration {} ({} of the rung's {} done), {jobs} at a time; logs in {}",
                        grid.name, h.rungs, todo.len(), plan.end(models.first().copied().unwrap_or(0), k), models.len() - todo.len(), models.len(),
                        frozen.layout().logs_dir().display()
                    );
                    if todo.is_empty() {
                        continue;
                    }
                    let todo_models: Vec<usize> = todo.iter().map(|t| t.1).collect();
                    db.add_submission(id, Backend::Local, &job_id, "", 0, &todo_models, None, Some(k)).await?;
                    let items = todo.iter().map(|&(pos, m)| (m, Target::Task { task: packing.task_of(pos), slot: packing.slot_of(pos), cpus: cpus as u32 })).collect();
                    let (f, stopped) = launcher.launch(items, Some(k)).await?;
                    failed.extend(f);
                    if stopped {
                        interrupted = true;
                        break;
                    }
                }
            }
        }
        db.collect(id, &frozen.dir, &frozen.sweep).await?;
        if interrupted {
            eprintln!("stopped; `cyplam run {}` resumes where the workers left off", a.grid.display());
            return Err(Interrupted.into());
        }
        let loaded = crate::report::load(db, id, frozen).await?;
        crate::report::print_ranking(&loaded, frozen, a.top, a.format)?;
        if !failed.is_empty() {
            bail!("{} model(s) did not complete: {} (`cyplam status {}` says why)", failed.len(), failed.join(", "), grid.name);
        }
        Ok(())
    }
}

/// Starts workers on this machine, `jobs` at a time, each as the slot of its array task.
struct Launcher<'a> {
    worker: PathBuf,
    frozen: &'a crate::sweep::Frozen,
    jobs: usize,
    device: Option<String>,
}

impl Launcher<'_> {
    /// Runs a worker for each `(model, target)` (in `rung`, for successive halving) and waits for
    /// them; Ctrl-C asks them to checkpoint. Returns the models whose worker did not exit 0, and
    /// whether it was stopped.
    async fn launch(&self, items: Vec<(usize, Target)>, rung: Option<u32>) -> Result<(Vec<String>, bool)> {
        let grid = &self.frozen.sweep.grid;
        let bar = ProgressBar::new(items.len() as u64);
        bar.set_style(ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} models {msg}").unwrap_or_else(|_| ProgressStyle::default_bar()).progress_chars("=> "));
        let sem = Arc::new(Semaphore::new(self.jobs));
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let pids = Arc::new(std::sync::Mutex::new(Vec::<u32>::new()));
        let mut handles = Vec::new();
        for (m, target) in items {
            let spec = grid.models[m].clone();
            sweep::archive_result(&self.frozen.model_dir(&spec.name))?;
            let (sem, stop, pids, bar) = (sem.clone(), stop.clone(), pids.clone(), bar.clone());
            let log = self.frozen.layout().local_log(&spec.name);
            let invocation = WorkerInvocation {
                worker: self.worker.clone(),
                sweep: self.frozen.dir.clone(),
                target,
                threads: None,
                device: self.device.clone(),
                rung,
            };
            handles.push(tokio::spawn(async move {
                let _permit = sem.acquire_owned().await.ok()?;
                if stop.load(std::sync::atomic::Ordering::SeqCst) {
                    return None;
                }
                let logf = std::fs::OpenOptions::new().create(true).append(true).open(&log).ok()?;
                let mut cmd = Command::from(invocation.command());
                cmd.stdin(Stdio::null())
                    .stdout(logf.try_clone().ok()?)
                    .stderr(logf)
                    .kill_on_drop(false);
                // Own process group: a terminal's Ctrl-C reaches cyplam, which stops the workers itself.
                cmd.process_group(0);
                let mut child = cmd.spawn().ok()?;
                if let Some(pid) = child.id() {
                    pids.lock().ok()?.push(pid);
                }
                bar.set_message(format!("(started {})", spec.name));
                let status = child.wait().await.ok()?;
                bar.inc(1);
                let code = status.code();
                bar.println(format!("{} {}", spec.name, match code {
                    Some(0) => "done".to_string(),
                    Some(75) => "stopped (checkpoint written)".to_string(),
                    Some(c) => format!("exited with {c} (see {})", log.display()),
                    None => "killed by a signal".to_string(),
                }));
                Some((m, code))
            }));
        }

        let mut all = Box::pin(futures_join(handles));
        let results = tokio::select! {
            r = &mut all => r,
            _ = tokio::signal::ctrl_c() => {
                stop.store(true, std::sync::atomic::Ordering::SeqCst);
                bar.println("stopping: asking the workers to checkpoint (Ctrl-C again is not needed)");
                for pid in pids.lock().map(|p| p.clone()).unwrap_or_default() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
                }
                all.await
            }
        };
        bar.finish_and_clear();
        let failed = results.iter().flatten().filter(|(_, c)| *c != Some(0)).map(|(m, _)| grid.models[*m].name.clone()).collect();
        Ok((failed, stop.load(std::sync::atomic::Ordering::SeqCst)))
    }
}

async fn futures_join<T>(handles: Vec<tokio::task::JoinHandle<T>>) -> Vec<T> {
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

