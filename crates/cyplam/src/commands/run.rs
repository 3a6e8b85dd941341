//! `cyplam run GRID`: the same sweep on this machine, without Slurm. Each model gets the same
//! worker binary, started as the slot of its array task (`--index` and `SLURM_PROCID`, through
//! `WorkerInvocation`, by `launch::Launcher`), N at a time; Ctrl-C stops them cleanly (they
//! checkpoint) and a later `cyplam run` resumes. The ranking is printed at the end; a model not
//! completed makes the command fail, saying why.

use crate::ctx::Ctx;
use crate::db::{Backend, Db};
use crate::launch::{failure_lines, Failure, Launcher};
use crate::output::Format;
use crate::slurm::Scheduler;
use crate::state::{State, SweepView};
use crate::sweep::{self, Frozen};
use anyhow::{bail, Context, Result};
use clap::Args;
use cyplam_core::halving::decision::{Busy, RungPlan};
use cyplam_core::halving::take::Rungs;
use cyplam_core::invocation::Target;
use cyplam_core::layout::ModelDir;
use cyplam_core::packing::Packing;
use cyplam_core::search::rounds::Rounds;
use std::path::PathBuf;

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
    /// A TPE search on this machine: its known models not completed, then each round in turn,
    /// proposed here from the models' files (the workers' rule, `cyplam_core::search::rounds`),
    /// then its models. Returns the sweep with every round proposed, the models that did not
    /// complete, and whether Ctrl-C stopped it.
    async fn rounds<S: Scheduler>(
        &self,
        ctx: &Ctx<'_, S>,
        db: &Db,
        id: i64,
        first: &Frozen,
        jobs: usize,
        job_id: &str,
    ) -> Result<(Frozen, Vec<Failure>, bool)> {
        let reopen = || sweep::open(&ctx.global.runs_dir, &first.dir.display().to_string());
        let mut current = reopen()?;
        let Some(r) = Rounds::of(&current.sweep.grid) else { bail!("sweep {} is not a TPE search", current.sweep.name) };
        let grid = &current.sweep.grid;
        let (cpus, packing) = (grid.slurm.cpus_per_training, Packing::new(grid.slurm.trainings_per_node));
        let states = SweepView::read::<S>(&current, db.submissions(id).await?, None).await?.states;
        let mut todo: Vec<usize> = states.iter().filter(|m| m.state != State::Completed).map(|m| m.index).collect();
        let mut failed = Vec::new();
        loop {
            let grid = &current.sweep.grid;
            let known = grid.models.len();
            let round = r.round_of(known.saturating_sub(1));
            eprintln!(
                "sweep {}: TPE round {round} of {}: {} model(s) to train ({} of {} known, {} in all), {jobs} at a time; logs in {}",
                grid.name,
                r.last(),
                todo.len(),
                known - todo.len(),
                known,
                r.models,
                current.layout().logs_dir().display()
            );
            if !todo.is_empty() {
                db.add_submission(id, Backend::Local, job_id, "", 0, &todo, None, None, None).await?;
                let launcher = Launcher { worker: crate::worker::worker_path()?, frozen: &current, jobs, device: self.device.clone() };
                let items = todo.iter().map(|&m| (m, Target::Task { task: packing.task_of(m), slot: packing.slot_of(m), cpus })).collect();
                let l = launcher.launch(items, None).await?;
                failed.extend(l.failed);
                if l.stopped {
                    return Ok((current, failed, true));
                }
            }
            if known >= r.models {
                return Ok((current, failed, false));
            }
            let next = round + 1;
            if let Err(e) = cyplam_core::search::rounds::take(&current.layout(), &current.sweep, next) {
                // Collect what the round before left, then say why the search cannot go on.
                db.collect(id, &current.dir, &current.sweep).await?;
                if !failed.is_empty() {
                    eprintln!("{} model(s) did not complete:\n  {}", failed.len(), failure_lines(&failed).join("\n  "));
                }
                return Err(e.into());
            }
            current = reopen()?;
            db.register_sweep(&current.dir, &current.sweep).await?;
            todo = r.models_of(next).collect();
        }
    }

    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let a = self;
        let o = ctx.freeze_sweep(&a.grid, sweep::load_grid(&a.grid)?).await?;
        let (db, id, frozen) = (&o.db, o.id, &o.sweep);
        let states = SweepView::read::<S>(frozen, db.submissions(id).await?, None).await?.states;
        if let Some(m) = states.iter().find(|m| m.state.is_active()) {
            let (sweep, state) = (&frozen.sweep.name, m.state.as_str());
            match m.job.as_deref() {
                Some(job) => bail!("{} of sweep {sweep} is {state} in Slurm job {job}; wait for it (`cyplam status {sweep}`), or stop the sweep's jobs with `cyplam cancel {sweep}` first", m.name),
                None => bail!("{} of sweep {sweep} is {state} in another `cyplam run` on this machine; wait for it, or stop it (Ctrl-C there) first", m.name),
            }
        }
        // A logs/ or models/ removed since is made again (what it held is gone either way: the
        // workers start those models anew), before anything is recorded.
        frozen.ensure_dirs()?;
        let grid = &frozen.sweep.grid;
        let cpus = grid.slurm.cpus_per_training as usize;
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        let jobs = a.jobs.unwrap_or((cores / cpus.max(1)).max(1)).max(1);
        let launcher = Launcher { worker: crate::worker::worker_path()?, frozen, jobs, device: a.device.clone() };
        let packing = Packing::new(grid.slurm.trainings_per_node);
        let job_id = crate::state::local_job_id();
        let mut failed: Vec<Failure> = Vec::new();
        let mut interrupted = false;
        // A TPE search ends with more models known than it started with: the sweep as it stands then.
        let last: Frozen;
        let mut frozen = frozen;
        match grid.halving {
            None if Rounds::of(grid).is_some() => {
                let (f, fails, stopped) = self.rounds(ctx, db, id, frozen, jobs, &job_id).await?;
                last = f;
                frozen = &last;
                failed = fails;
                interrupted = stopped;
            }
            None => {
                let todo: Vec<usize> = states.iter().filter(|m| m.state != State::Completed).map(|m| m.index).collect();
                if !todo.is_empty() {
                    db.add_submission(id, Backend::Local, &job_id, "", 0, &todo, None, None, None).await?;
                }
                eprintln!(
                    "sweep {}: {} model(s) to train ({} already completed), {jobs} at a time with {cpus} thread(s) each; logs in {}",
                    grid.name,
                    todo.len(),
                    grid.models.len() - todo.len(),
                    frozen.layout().logs_dir().display()
                );
                let items = todo.iter().map(|&m| (m, Target::Task { task: packing.task_of(m), slot: packing.slot_of(m), cpus: cpus as u32 })).collect();
                let l = launcher.launch(items, None).await?;
                failed.extend(l.failed);
                interrupted = l.stopped;
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
                    let todo: Vec<(usize, usize)> = models
                        .iter()
                        .copied()
                        .enumerate()
                        .filter(|&(_, m)| match states[m].state {
                            State::Completed | State::Pruned => false,
                            State::Waiting => states[m].rung.is_none_or(|r| r < k),
                            _ => true,
                        })
                        .collect();
                    eprintln!(
                        "sweep {}: rung {k} of {}: {} model(s) to train to iteration {} ({} of the rung's {} done), {jobs} at a time; logs in {}",
                        grid.name,
                        h.rungs,
                        todo.len(),
                        plan.end(models.first().copied().unwrap_or(0), k),
                        models.len() - todo.len(),
                        models.len(),
                        frozen.layout().logs_dir().display()
                    );
                    if todo.is_empty() {
                        continue;
                    }
                    let todo_models: Vec<usize> = todo.iter().map(|t| t.1).collect();
                    db.add_submission(id, Backend::Local, &job_id, "", 0, &todo_models, None, Some(k), None).await?;
                    let items =
                        todo.iter().map(|&(pos, m)| (m, Target::Task { task: packing.task_of(pos), slot: packing.slot_of(pos), cpus: cpus as u32 })).collect();
                    let l = launcher.launch(items, Some(k)).await?;
                    failed.extend(l.failed);
                    if l.stopped {
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
            bail!("{} model(s) did not complete:\n  {}", failed.len(), failure_lines(&failed).join("\n  "));
        }
        Ok(())
    }
}
