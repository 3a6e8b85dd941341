//! Submitting models of a sweep to Slurm, shared by `cyplam submit` and `cyplam resubmit`: plan
//! the job arrays, render their scripts, submit them and record each submission (in the database
//! and `submit/jobs.txt`); or, for `--dry-run`, print all of it with the arithmetic (models,
//! tasks, cores, iterations, estimated core-hours) and submit nothing.

use crate::db::{Backend, Db};
use crate::output::{out, outln, Said};
use crate::slurm::script::{plan_arrays, render, ArrayPlan, ScriptInput};
use crate::slurm::Scheduler;
use crate::sweep::Frozen;
use anyhow::{Context, Result};
use cyplam_core::grid::model_settings;
use cyplam_core::grid::Grid;
use cyplam_core::packing::Packing;
use cyplam_core::spec::ModelSpec;
use std::io::Write;
use std::path::{Path, PathBuf};

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

/// What submitting `models` costs, in words.
pub fn arithmetic(grid: &Grid, models: &[usize], tasks: usize, arrays: usize, frames: Frames) -> String {
    let s = &grid.slurm;
    let Frames { train: nt, validation: nv } = frames;
    let core_hours: f64 = models.iter().map(|&i| estimate_core_hours(&grid.models[i], nt, nv)).sum();
    let iters: u64 = models.iter().map(|&i| grid.models[i].length.iterations(nt, grid.models[i].batch_size as u64)).sum();
    let cores = tasks as u64 * s.trainings_per_node as u64 * s.cpus_per_training as u64;
    let mut o = String::new();
    o.push_str(&format!("models to submit:   {} of {}\n", models.len(), grid.models.len()));
    o.push_str(&format!("array tasks:        {tasks} in {arrays} array(s), {} training(s) x {} core(s) each\n", s.trainings_per_node, s.cpus_per_training));
    o.push_str(&format!("nodes:              {tasks} node-task(s) of 1 node{}\n", s.throttle.map(|t| format!(", at most {t} at once")).unwrap_or_default()));
    o.push_str(&format!("cores:              {cores} in all ({} per node-task)\n", s.trainings_per_node * s.cpus_per_training));
    o.push_str(&format!("iterations:         {iters} in all ({nt} training, {nv} validation frames)\n"));
    o.push_str(&format!(
        "estimated work:     {core_hours:.1} single-core hours (FLOP count at {:.1} GFLOP/s per core, the rate of 5-8-5-32-700 on one thread);\n                    \
         with {} cores per training expect more core-hours and less wall time: libtorch does not scale linearly\n",
        REFERENCE_FLOPS_PER_SECOND / 1e9, s.cpus_per_training));
    if let Some(t) = &s.time {
        o.push_str(&format!("time limit:         {t} per array task\n"));
    }
    if let Some((m, need)) =
        models.iter().map(|&i| (&grid.models[i], cyplam_core::memory::need(&grid.models[i], nt, nv).total())).max_by(|a, b| a.1.total_cmp(&b.1))
    {
        let share = match s.mem.as_deref().and_then(cyplam_core::memory::parse_slurm_mem) {
            Some(b) => format!(
                "; [slurm] mem {} gives each of {} trainings {}",
                s.mem.as_deref().unwrap_or_default(),
                s.trainings_per_node,
                cyplam_core::memory::human_bytes(b as f64 / s.trainings_per_node.max(1) as f64)
            ),
            None => "; set [slurm] mem to reserve it".to_string(),
        };
        o.push_str(&format!(
            "memory:             about {} for the largest model ({}, {}){share}\n",
            cyplam_core::memory::human_bytes(need),
            m.name,
            m.arch_label()
        ));
    }
    o
}

/// Frames of the training and validation sets (from their headers).
#[derive(Debug, Clone, Copy)]
pub struct Frames {
    pub train: u64,
    pub validation: u64,
}

impl Frames {
    /// Reads the data headers of a frozen grid.
    pub fn of(grid: &Grid) -> Result<Frames> {
        let data = grid.data.as_ref().context("the sweep has no [data] table")?;
        Ok(Frames {
            train: cyplam_core::data::check_dataset(&data.train)?.frames as u64,
            validation: cyplam_core::data::check_dataset(&data.validation)?.frames as u64,
        })
    }
}

/// Job arrays of one rung to submit (or of the whole sweep outside halving): the array task
/// slots to fill, sorted (model indices outside halving and in rung 0; positions among the rung's models,
/// in model order, in a later rung) and the models they are known to train (for the record; a
/// later rung's are known once the rung before is decided).
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    pub rung: Option<u32>,
    /// A TPE search's round (its slots pick among the models the round proposes; `models` empty).
    pub round: Option<u32>,
    pub slots: Vec<usize>,
    pub models: Vec<usize>,
    /// Jobs submitted earlier that this stage waits for too (a rung's arrays still running).
    pub after: Vec<String>,
}

impl Stage {
    /// The models `todo` of a sweep without halving.
    pub fn plain(todo: &[usize]) -> Stage {
        Stage { rung: None, round: None, slots: todo.to_vec(), models: todo.to_vec(), after: Vec::new() }
    }

    /// Round `round` of a TPE search: `batch` slots, its models proposed by its first worker.
    pub fn round(round: u32, batch: usize, after: Vec<String>) -> Stage {
        Stage { rung: None, round: Some(round), slots: (0..batch).collect(), models: Vec::new(), after }
    }

    /// What the stage before it is called in the dry run's dependency placeholder.
    fn before(&self) -> String {
        match (self.rung, self.round) {
            (Some(k), _) => format!("<rung {}'s job ids>", k.saturating_sub(1)),
            (None, Some(1)) => "<the random start's job ids>".into(),
            (None, Some(r)) => format!("<round {}'s job ids>", r - 1),
            (None, None) => "<the job ids before>".into(),
        }
    }
}

/// Prints the scripts that submitting `stages` would submit, and the arithmetic of the first
/// (`extra` follows it: the rung plan of a halving sweep).
pub async fn dry_run<S: Scheduler>(grid: &Grid, dir: &Path, stages: &[Stage], s: &S, device: Option<&str>, frames: Frames, extra: &str) -> Result<()> {
    let (max, note) = match s.max_array_size().await {
        Ok(m) => (m, String::new()),
        Err(e) => (1001, format!("(MaxArraySize unknown: {e:#}; assuming Slurm's default 1001)\n")),
    };
    let packing = Packing::new(grid.slurm.trainings_per_node);
    let worker = crate::worker::worker_path().unwrap_or_else(|_| PathBuf::from("cyplam-worker"));
    let layout = cyplam_core::layout::SweepDir::new(dir);
    let all: Vec<(usize, &Stage, ArrayPlan)> =
        stages.iter().enumerate().flat_map(|(k, st)| plan_arrays(&packing.tasks_of(&st.slots), max).into_iter().map(move |p| (k, st, p))).collect();
    let (mut tasks, mut arrays) = (0, 0);
    for (n, (k, st, plan)) in all.iter().enumerate() {
        let mut after: Vec<String> = if *k == 0 { Vec::new() } else { vec![st.before()] };
        after.extend(st.after.iter().cloned());
        outln!("# ---- script {} of {} (submitted with --output={}) ----", n + 1, all.len(), layout.slurm_log_pattern().display())?;
        out!(
            "{}",
            render(&ScriptInput {
                sweep_name: &grid.name,
                sweep_dir: dir,
                worker: &worker,
                slurm: &grid.slurm,
                plan,
                n_models: grid.models.len(),
                device,
                rung: st.rung,
                round: st.round,
                after: &after
            })
        )?;
        if *k == 0 {
            tasks += plan.tasks.len();
            arrays += 1;
        }
    }
    outln!("# ---- dry run: nothing was submitted or written ----")?;
    let first = stages.first().map(|s| s.models.as_slice()).unwrap_or_default();
    out!("{note}{}{extra}", arithmetic(grid, first, tasks, arrays, frames))?;
    if grid.search.is_some() {
        out!("{}", sampled_table(grid, first))?;
    }
    Ok(())
}

/// Rows of the sampled table the dry run prints; `cyplam grid FILE` lists every model.
const SAMPLED_ROWS: usize = 40;

/// A sampled sweep's models to submit, one line each with the settings drawn (floats to four
/// significant figures; sweep.json and `cyplam grid --format json` hold them exactly).
pub fn sampled_table(grid: &Grid, models: &[usize]) -> String {
    let Some(search) = grid.search else { return String::new() };
    let varying = grid.varying_settings();
    let mut o = format!(
        "search:             {}, seed {}, {} models drawn over {}\n",
        search.strategy.as_str(),
        search.seed,
        grid.models.len(),
        grid.axes.iter().map(|a| a.label()).collect::<Vec<_>>().join(", ")
    );
    for &i in models.iter().take(SAMPLED_ROWS) {
        let s = model_settings(&grid.models[i]);
        let cells: Vec<String> = varying.iter().map(|k| format!("{k}={}", s.get(*k).map(crate::output::short).unwrap_or_default())).collect();
        o.push_str(&format!("  {}  {}\n", grid.models[i].name, cells.join(" ")));
    }
    if models.len() > SAMPLED_ROWS {
        o.push_str(&format!("  ... and {} more (`cyplam grid FILE` lists them all)\n", models.len() - SAMPLED_ROWS));
    }
    o
}

/// Submits `stages` in turn, each stage's arrays waiting for the arrays of the stage before and
/// for its own `after` (`--dependency=afterany`): archives the old results of the first
/// stage's models, renders one script per job array, submits it and records the submission. Asks
/// the controller first: if it is down, nothing is changed or recorded.
pub async fn submit_models<S: Scheduler>(db: &Db, id: i64, frozen: &Frozen, stages: &[Stage], s: &S, device: Option<&str>) -> Result<()> {
    let grid = &frozen.sweep.grid;
    let packing = Packing::new(grid.slurm.trainings_per_node);
    let max = s.max_array_size().await?;
    let worker = crate::worker::worker_path()?;
    for &m in stages.first().map(|s| s.models.as_slice()).unwrap_or_default() {
        crate::sweep::archive_result(&frozen.model_dir(&grid.models[m].name))?;
    }
    let layout = frozen.layout();
    let stamp = cyplam_core::files::now_unix();
    // submit/ for the scripts, and logs/ for the jobs' output: Slurm fails a job whose --output
    // directory is missing before its script runs, leaving no log to say why.
    frozen.ensure_dirs()?;
    let mut previous: Vec<String> = Vec::new();
    let mut k = 0;
    // A closed stdout stops no submission half way: its error comes back once all are made.
    let mut said = Said::default();
    for st in stages {
        let before: Vec<String> = previous.iter().chain(&st.after).cloned().collect();
        let mut jobs = Vec::new();
        for plan in plan_arrays(&packing.tasks_of(&st.slots), max) {
            let script = render(&ScriptInput {
                sweep_name: &grid.name,
                sweep_dir: &frozen.dir,
                worker: &worker,
                slurm: &grid.slurm,
                plan: &plan,
                n_models: grid.models.len(),
                device,
                rung: st.rung,
                round: st.round,
                after: &before,
            });
            let path = layout.script(stamp, k);
            k += 1;
            cyplam_core::files::write_atomic(&path, script.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            let args = vec![format!("--output={}", layout.slurm_log_pattern().display())];
            let job = s.submit(&path, &args).await.with_context(|| format!("submitting {}", path.display()))?;
            let covered_slots = packing.covered(&plan.indices(), &st.slots);
            let covered: Vec<usize> = if st.models.len() == st.slots.len() {
                covered_slots.iter().filter_map(|c| st.slots.binary_search(c).ok().map(|p| st.models[p])).collect()
            } else {
                Vec::new()
            };
            let spec = plan.spec(grid.slurm.throttle);
            db.add_submission(id, Backend::Slurm, &job, &spec, plan.offset, &covered, Some(&path), st.rung, st.round).await?;
            let mut f = std::fs::OpenOptions::new().create(true).append(true).open(layout.jobs_txt())?;
            let rung = st.rung.map(|r| format!(" rung={r}")).or(st.round.map(|r| format!(" round={r}"))).unwrap_or_default();
            let dep = if before.is_empty() { String::new() } else { format!(" after={}", before.join(":")) };
            writeln!(f, "{job} array={spec} offset={}{rung}{dep} models={} script={}", plan.offset, covered_slots.len(), path.display())?;
            match (st.rung, st.round) {
                (None, Some(r)) => said.keep(outln!(
                    "submitted job {job}: round {r}, array {spec}, {} slot(s) of sweep {} for the models the round proposes{} (script {})",
                    covered_slots.len(),
                    grid.name,
                    if before.is_empty() { String::new() } else { format!(", after job(s) {}", before.join(", ")) },
                    path.display()
                )),
                (Some(r), _) => said.keep(outln!(
                    "submitted job {job}: rung {r}, array {spec}, {} slot(s) of sweep {}{} (script {})",
                    covered_slots.len(),
                    grid.name,
                    if before.is_empty() { String::new() } else { format!(", after job(s) {}", before.join(", ")) },
                    path.display()
                )),
                (None, None) => {
                    said.keep(outln!("submitted job {job}: array {spec}, {} model(s) of sweep {} (script {})", covered.len(), grid.name, path.display()))
                }
            }
            jobs.push(job);
        }
        previous = jobs;
    }
    said.keep(outln!("follow it with `cyplam status {}`", grid.name));
    Ok(said.done()?)
}
