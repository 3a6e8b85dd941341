//! `cyplam submit` and `cyplam resubmit`: freeze the sweep, pick the models that need a worker,
//! render the sbatch script(s) and submit them; `--dry-run` shows all of it and submits nothing.

use crate::cli::Global;
use crate::db::Db;
use crate::slurm::script::{plan_arrays, render, task_indices, ScriptInput};
use crate::slurm::Scheduler;
use crate::sweep::{self, Frozen, State};
use anyhow::{Context, Result};
use clap::Args;
use cyplam_core::grid::Grid;
use cyplam_core::spec::ModelSpec;
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Print the script(s) and the arithmetic; submit nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Device of the workers (cpu, cuda).
    #[arg(long)]
    pub device: Option<String>,
    /// Trainings per node x cores each, overriding the grid: `4x6`, or `auto` for the packing
    /// `cyplam scale` recommended for the grid's partition.
    #[arg(long)]
    pub packing: Option<String>,
}

#[derive(Args, Debug)]
pub struct ResubmitArgs {
    /// Sweep name (or directory).
    pub sweep: String,
    /// Submit the models that failed, were preempted, or were lost (killed, node lost).
    #[arg(long, required = true)]
    pub failed: bool,
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long)]
    pub device: Option<String>,
}

/// Forward FLOPs of one frame through the network.
pub fn forward_flops(m: &ModelSpec) -> f64 {
    let (wc1, ncv1, wc2, ncv2, nfc1) = (m.wc1 as f64, m.ncv1 as f64, m.wc2 as f64, m.ncv2 as f64, m.nfc1 as f64);
    2.0 * (784.0 * ncv1 * wc1 * wc1 + 196.0 * ncv2 * ncv1 * wc2 * wc2 + 49.0 * ncv2 * nfc1 + 2.0 * nfc1)
}

/// Single-thread throughput the estimates assume, calibrated on 5-8-5-32-700 (about 50 ms per
/// training iteration of 128 frames on one core with libtorch 2.11).
pub const REFERENCE_FLOPS_PER_SECOND: f64 = 3.0 * 5.02e6 * 128.0 / 0.050;

/// Estimated single-core hours of a model: training (3x the forward work) plus validation passes.
pub fn estimate_core_hours(m: &ModelSpec, train_frames: u64, val_frames: u64) -> f64 {
    let iters = m.length.iterations(train_frames, m.batch_size as u64) as f64;
    let f = forward_flops(m);
    let flops = 3.0 * f * m.batch_size as f64 * iters + f * (train_frames + val_frames) as f64 * m.snapshots as f64;
    flops / REFERENCE_FLOPS_PER_SECOND / 3600.0
}

fn arithmetic(grid: &Grid, models: &[usize], tasks: usize, arrays: usize) -> Result<String> {
    let s = &grid.slurm;
    let data = grid.data.as_ref().context("no [data]")?;
    let nt = cyplam_core::data::check_dataset(&data.train)?.frames as u64;
    let nv = cyplam_core::data::check_dataset(&data.validation)?.frames as u64;
    let core_hours: f64 = models.iter().map(|&i| estimate_core_hours(&grid.models[i], nt, nv)).sum();
    let iters: u64 = models.iter().map(|&i| grid.models[i].length.iterations(nt, grid.models[i].batch_size as u64)).sum();
    let cores = tasks as u64 * s.trainings_per_node as u64 * s.cpus_per_training as u64;
    let mut o = String::new();
    o.push_str(&format!("models to submit:   {} of {}\n", models.len(), grid.models.len()));
    o.push_str(&format!("array tasks:        {tasks} in {arrays} array(s), {} training(s) x {} core(s) each\n", s.trainings_per_node, s.cpus_per_training));
    o.push_str(&format!("nodes:              {tasks} node-task(s) of 1 node{}\n",
        s.throttle.map(|t| format!(", at most {t} at once")).unwrap_or_default()));
    o.push_str(&format!("cores:              {cores} in all ({} per node-task)\n", s.trainings_per_node * s.cpus_per_training));
    o.push_str(&format!("iterations:         {iters} in all ({nt} training, {nv} validation frames)\n"));
    o.push_str(&format!(
        "estimated work:     {core_hours:.1} single-core hours (FLOP count at {:.1} GFLOP/s per core, the rate of 5-8-5-32-700 on one thread);\n                    \
         with {} cores per training expect more core-hours and less wall time: libtorch does not scale linearly\n",
        REFERENCE_FLOPS_PER_SECOND / 1e9, s.cpus_per_training));
    if let Some(t) = &s.time {
        o.push_str(&format!("time limit:         {t} per array task\n"));
    }
    Ok(o)
}

fn worker_args(device: &Option<String>) -> Vec<String> {
    match device {
        Some(d) => vec!["--device".into(), d.clone()],
        None => Vec::new(),
    }
}

/// The packing asked for with `--packing`: `KxC` or `auto`.
async fn packing(g: &Global, a: &SubmitArgs) -> Result<Option<(u32, u32)>> {
    let Some(p) = &a.packing else { return Ok(None) };
    if p == "auto" {
        let (grid, _) = sweep::load_grid(&a.grid)?;
        let db = g.open_db().await?;
        let (k, c) = crate::scale::recommended_packing(&db, grid.slurm.partition.as_deref()).await?;
        println!("packing: {k} trainings x {c} cores per node (measured by `cyplam scale`)");
        return Ok(Some((k, c)));
    }
    let parse = |s: &str| s.trim().parse::<u32>().ok().filter(|v| *v > 0);
    match p.split_once('x').map(|(k, c)| (parse(k), parse(c))) {
        Some((Some(k), Some(c))) => Ok(Some((k, c))),
        _ => anyhow::bail!("--packing {p:?}: give TRAININGSxCORES such as 4x6, or auto"),
    }
}

pub async fn submit<S: Scheduler>(g: &Global, a: &SubmitArgs, s: &S) -> Result<()> {
    let pack = packing(g, a).await?;
    if a.dry_run {
        let (mut grid, _) = sweep::load_grid(&a.grid)?;
        sweep::apply_packing(&mut grid, pack);
        let runs = std::path::absolute(&g.runs_dir)?;
        let dir = runs.join(&grid.name);
        let all: Vec<usize> = (0..grid.models.len()).collect();
        return dry_run(&grid, &dir, &all, s, &worker_args(&a.device)).await;
    }
    let frozen = sweep::freeze_packed(&g.runs_dir, &a.grid, pack)?;
    let db = g.open_db().await?;
    let id = db.register_sweep(&frozen.dir, &frozen.sweep).await?;
    db.collect(id, &frozen.dir, &frozen.sweep).await?;
    let subs = db.submissions(id).await?;
    let states = sweep::model_states(&frozen, &subs, Some(s)).await?;
    let todo: Vec<usize> = states.iter().filter(|m| m.state != State::Completed && !m.state.is_active()).map(|m| m.index).collect();
    let done = states.iter().filter(|m| m.state == State::Completed).count();
    let active = states.iter().filter(|m| m.state.is_active()).count();
    if todo.is_empty() {
        println!("nothing to submit for sweep {}: {done} completed, {active} pending or running", frozen.sweep.name);
        return Ok(());
    }
    submit_models(&db, id, &frozen, &todo, s, &worker_args(&a.device)).await?;
    if done + active > 0 {
        println!("skipped {done} completed and {active} pending or running model(s)");
    }
    Ok(())
}

pub async fn resubmit<S: Scheduler>(g: &Global, a: &ResubmitArgs, s: &S) -> Result<()> {
    let db = g.open_db().await?;
    let frozen = sweep::open(&g.runs_dir, &a.sweep)?;
    let id = db.register_sweep(&frozen.dir, &frozen.sweep).await?;
    db.collect(id, &frozen.dir, &frozen.sweep).await?;
    let subs = db.submissions(id).await?;
    let states = sweep::model_states(&frozen, &subs, Some(s)).await?;
    let todo: Vec<usize> = states.iter().filter(|m| matches!(m.state, State::Failed | State::Preempted | State::Lost)).map(|m| m.index).collect();
    if todo.is_empty() {
        println!("sweep {}: no failed, preempted or lost model", frozen.sweep.name);
        return Ok(());
    }
    if a.dry_run {
        return dry_run(&frozen.sweep.grid, &frozen.dir, &todo, s, &worker_args(&a.device)).await;
    }
    submit_models(&db, id, &frozen, &todo, s, &worker_args(&a.device)).await
}

async fn dry_run<S: Scheduler>(grid: &Grid, dir: &Path, models: &[usize], s: &S, wargs: &[String]) -> Result<()> {
    let (max, note) = match s.max_array_size().await {
        Ok(m) => (m, String::new()),
        Err(e) => (1001, format!("(MaxArraySize unknown: {e:#}; assuming Slurm's default 1001)\n")),
    };
    let tasks = task_indices(models, grid.slurm.trainings_per_node);
    let plans = plan_arrays(&tasks, max);
    let worker = crate::worker_path().unwrap_or_else(|_| PathBuf::from("cyplam-worker"));
    for (k, plan) in plans.iter().enumerate() {
        println!("# ---- script {} of {} (submitted with --output={}/logs/%A_%a.out) ----", k + 1, plans.len(), dir.display());
        print!("{}", render(&ScriptInput { sweep_name: &grid.name, sweep_dir: dir, worker: &worker, slurm: &grid.slurm, plan, n_models: grid.models.len(), worker_args: wargs }));
    }
    println!("# ---- dry run: nothing was submitted or written ----");
    print!("{note}{}", arithmetic(grid, models, tasks.len(), plans.len())?);
    Ok(())
}

async fn submit_models<S: Scheduler>(db: &Db, id: i64, frozen: &Frozen, todo: &[usize], s: &S, wargs: &[String]) -> Result<()> {
    let grid = &frozen.sweep.grid;
    let tpn = grid.slurm.trainings_per_node as usize;
    // Ask the controller first: if it is down, nothing is changed or recorded.
    let max = s.max_array_size().await?;
    let worker = crate::worker_path()?;
    for &m in todo {
        sweep::archive_result(&frozen.model_dir(&grid.models[m].name))?;
    }
    let tasks = task_indices(todo, grid.slurm.trainings_per_node);
    let plans = plan_arrays(&tasks, max);
    let layout = frozen.layout();
    let stamp = cyplam_core::files::now_unix();
    let mut jobs = Vec::new();
    for (k, plan) in plans.iter().enumerate() {
        let script = render(&ScriptInput { sweep_name: &grid.name, sweep_dir: &frozen.dir, worker: &worker, slurm: &grid.slurm, plan, n_models: grid.models.len(), worker_args: wargs });
        let path = layout.submit_dir().join(format!("{stamp}-{k}.sbatch"));
        std::fs::create_dir_all(layout.submit_dir())?;
        cyplam_core::files::write_atomic(&path, script.as_bytes())?;
        let args = vec![format!("--output={}/%A_%a.out", layout.logs_dir().display())];
        let job = s.submit(&path, &args).await.with_context(|| format!("submitting {}", path.display()))?;
        let covered: Vec<usize> = plan.indices().iter()
            .flat_map(|i| (0..tpn).map(move |p| i * tpn + p))
            .filter(|m| todo.contains(m))
            .collect();
        let spec = plan.spec(grid.slurm.throttle);
        db.add_submission(id, "slurm", &job, &spec, plan.offset, &covered, Some(&path)).await?;
        let mut f = std::fs::OpenOptions::new().create(true).append(true).open(layout.submit_dir().join("jobs.txt"))?;
        writeln!(f, "{job} array={spec} offset={} models={} script={}", plan.offset, covered.len(), path.display())?;
        println!("submitted job {job}: array {spec}, {} model(s) of sweep {} (script {})", covered.len(), grid.name, path.display());
        jobs.push(job);
    }
    println!("follow it with `cyplam status {}`", grid.name);
    Ok(())
}
