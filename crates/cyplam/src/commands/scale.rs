//! `cyplam scale GRID`: the scalability study (SPEC.md section 5.4) and packing advice. Trains
//! each model of a grid with 1, 2, ... N threads, R times each, on one node (locally, or inside
//! one exclusive Slurm job with `srun -c N` per run); then runs candidate packings (k trainings of
//! c cores at once, k x c = node cores) concurrently and recommends the one with the most
//! trainings per hour. This file is the orchestration only: the study's data, storage and tables
//! are in `scaling/`, its job script in `slurm::script::render_scale`.

use crate::ctx::Ctx;
use crate::output::Format;
use crate::scaling::store::{self, MeasuredPacking, TimedRun};
use crate::scaling::{candidate_packings, default_cores, NodeKey};
use crate::slurm::script::{render_scale, ScaleGroup, ScaleStep};
use crate::slurm::Scheduler;
use crate::sweep::{self, Frozen};
use anyhow::{bail, Context, Result};
use clap::Args;
use cyplam_core::files::{read_json, write_json_atomic, ModelResult, ResultStatus};
use cyplam_core::invocation::{Target, WorkerInvocation};
use cyplam_core::layout::SweepDir;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// The grid of the models to measure (examples/scaling.toml).
    pub grid: PathBuf,
    /// Core counts to measure; default 1, 2, 4, ... up to the node's cores, and the node's cores.
    #[arg(long, value_delimiter = ',', allow_negative_numbers = true, value_parser = crate::args::positive_u32)]
    pub cores: Option<Vec<u32>>,
    /// Runs per model and core count.
    #[arg(long, default_value_t = 5, allow_negative_numbers = true, value_parser = crate::args::positive_u32)]
    pub repeats: u32,
    /// Run on this machine instead of in a Slurm job.
    #[arg(long)]
    pub local: bool,
    /// Cores of the node to plan packings for; default: this machine's (local) or
    /// trainings_per_node x cpus_per_training of the grid (Slurm).
    #[arg(long, allow_negative_numbers = true, value_parser = crate::args::positive_u32)]
    pub node_cores: Option<u32>,
    /// The model the packings train (name or index); default: the middle one.
    #[arg(long)]
    pub packing_model: Option<String>,
    /// Skip the packing measurement.
    #[arg(long)]
    pub no_packing: bool,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

/// One training to time.
#[derive(Debug, Clone)]
struct Run {
    tag: String,
    model: usize,
    threads: u32,
    repeat: u32,
}

/// A packing: `trainings` concurrent runs of `cores_each` threads.
#[derive(Debug, Clone)]
struct Pack {
    tag: String,
    trainings: u32,
    cores_each: u32,
}

impl Pack {
    /// The tag of its `i`-th training.
    fn run_tag(&self, i: u32) -> String {
        format!("{}/{i}", self.tag)
    }
}

/// Writes a run directory: a copy of the sweep whose worker writes under it, and nowhere else.
fn prepare(frozen: &Frozen, tag: &str) -> Result<SweepDir> {
    let dir = frozen.layout().scale_run(tag);
    if dir.root.exists() {
        std::fs::remove_dir_all(&dir.root).with_context(|| format!("clearing {}", dir.root.display()))?;
    }
    std::fs::create_dir_all(dir.models_dir()).with_context(|| format!("creating {}", dir.models_dir().display()))?;
    write_json_atomic(&dir.sweep_json(), &frozen.sweep).with_context(|| format!("writing {}", dir.sweep_json().display()))?;
    Ok(dir)
}

/// The seconds and iterations of one finished run.
fn run_seconds(frozen: &Frozen, tag: &str, model: usize) -> Result<(f64, u64)> {
    let name = &frozen.sweep.grid.models[model].name;
    let p = frozen.layout().scale_run(tag).model(name).result();
    let r: ModelResult = read_json(&p)?;
    if r.status != ResultStatus::Completed {
        bail!("{}: the run did not complete: {}", p.display(), r.reason.unwrap_or_default());
    }
    Ok((r.train_seconds, r.iterations_done))
}

/// The worker of one run: model `model` with `threads` threads, in the run's own directory.
fn invocation(worker: &Path, frozen: &Frozen, tag: &str, model: usize, threads: u32) -> WorkerInvocation {
    WorkerInvocation {
        worker: worker.to_path_buf(),
        sweep: frozen.layout().scale_run(tag).root,
        target: Target::Model(model),
        threads: Some(threads),
        device: None,
        rung: None,
        round: None,
    }
}

/// Starts a run here; its stderr is kept for the error message.
fn spawn(inv: &WorkerInvocation) -> Result<tokio::process::Child> {
    let mut c = tokio::process::Command::from(inv.command());
    c.stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    c.spawn().with_context(|| format!("starting {}", inv.worker.display()))
}

async fn wait_ok(child: tokio::process::Child, inv: &WorkerInvocation) -> Result<()> {
    let out = child.wait_with_output().await?;
    if !out.status.success() {
        bail!("the worker failed in {}: {}", inv.sweep.display(), String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
    }
    Ok(())
}

fn pick_model(frozen: &Frozen, which: &Option<String>) -> Result<usize> {
    let n = frozen.sweep.grid.models.len();
    match which {
        None => Ok(n / 2),
        Some(w) => match w.parse::<usize>() {
            Ok(i) if i < n => Ok(i),
            _ => frozen.sweep.model_by_name(w).map(|m| m.index).with_context(|| format!("no model {w:?} in the grid")),
        },
    }
}

impl ScaleArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let a = self;
        let o = ctx.freeze_sweep(&a.grid, sweep::load_grid(&a.grid)?).await?;
        let (db, id, frozen) = (&o.db, o.id, &o.sweep);
        let grid = &frozen.sweep.grid;
        let node = match a.node_cores {
            Some(n) => n,
            None if a.local => std::thread::available_parallelism().map(|n| n.get() as u32).unwrap_or(1),
            None => grid.slurm.trainings_per_node * grid.slurm.cpus_per_training,
        };
        let cores = a.cores.clone().unwrap_or_else(|| default_cores(node));
        if cores.iter().any(|&c| c == 0 || c > node) {
            bail!("--cores {cores:?}: each must be between 1 and the node's {node} cores");
        }
        let node_key = if a.local { NodeKey::this_machine() } else { NodeKey::partition(grid.slurm.partition.as_deref()) };
        let worker = crate::worker::worker_path()?;
        let pack_model = pick_model(frozen, &a.packing_model)?;

        let mut runs = Vec::new();
        for m in 0..grid.models.len() {
            for &c in &cores {
                for r in 0..a.repeats.max(1) {
                    runs.push(Run { tag: format!("m{m}-c{c}-r{r}"), model: m, threads: c, repeat: r });
                }
            }
        }
        let packs: Vec<Pack> = if a.no_packing {
            Vec::new()
        } else {
            candidate_packings(node).into_iter().map(|(k, c)| Pack { tag: format!("pack-{k}x{c}"), trainings: k, cores_each: c }).collect()
        };
        for r in &runs {
            prepare(frozen, &r.tag)?;
        }
        for p in &packs {
            for i in 0..p.trainings {
                prepare(frozen, &p.run_tag(i))?;
            }
        }
        eprintln!(
            "scale {}: {} models x cores {:?} x {} repeats = {} timed trainings, then {} packings of a {node}-core node with {} ({})",
            grid.name,
            grid.models.len(),
            cores,
            a.repeats.max(1),
            runs.len(),
            packs.len(),
            grid.models[pack_model].name,
            if a.local { "locally" } else { "in one exclusive Slurm job" }
        );

        let layout = frozen.layout();
        let mut pack_walls: Vec<f64> = Vec::new();
        if a.local {
            for (i, r) in runs.iter().enumerate() {
                eprintln!("[{}/{}] {} with {} thread(s), run {}", i + 1, runs.len(), grid.models[r.model].name, r.threads, r.repeat + 1);
                let inv = invocation(&worker, frozen, &r.tag, r.model, r.threads);
                wait_ok(spawn(&inv)?, &inv).await?;
            }
            for p in &packs {
                eprintln!("packing {} x {} cores", p.trainings, p.cores_each);
                let t0 = Instant::now();
                let mut children = Vec::new();
                for i in 0..p.trainings {
                    let inv = invocation(&worker, frozen, &p.run_tag(i), pack_model, p.cores_each);
                    children.push((spawn(&inv)?, inv));
                }
                for (c, inv) in children {
                    wait_ok(c, &inv).await.context("a packing run failed")?;
                }
                pack_walls.push(t0.elapsed().as_secs_f64());
            }
        } else {
            let steps: Vec<ScaleStep> =
                runs.iter().map(|r| ScaleStep { worker: invocation(&worker, frozen, &r.tag, r.model, r.threads), cores: r.threads }).collect();
            let groups: Vec<ScaleGroup> = packs
                .iter()
                .map(|p| ScaleGroup {
                    comment: format!("{} trainings x {} cores at once", p.trainings, p.cores_each),
                    steps: (0..p.trainings)
                        .map(|i| ScaleStep { worker: invocation(&worker, frozen, &p.run_tag(i), pack_model, p.cores_each), cores: p.cores_each })
                        .collect(),
                    times: layout.scale_times(&p.tag),
                })
                .collect();
            let script = render_scale(&frozen.sweep.name, &grid.slurm, node, &steps, &groups);
            let path = layout.scale_script();
            cyplam_core::files::write_atomic(&path, script.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
            let out = format!("--output={}", layout.scale_log_pattern().display());
            let job = ctx.scheduler.submit(&path, &[out]).await?;
            eprintln!("submitted job {job} ({}); waiting for it", path.display());
            let t0 = Instant::now();
            loop {
                tokio::time::sleep(Duration::from_secs(3)).await;
                let st = ctx.scheduler.states(std::slice::from_ref(&job)).await?;
                if st.iter().all(|t| !t.is_active()) && t0.elapsed() > Duration::from_secs(5) {
                    break;
                }
            }
            for p in &packs {
                let f = layout.scale_times(&p.tag);
                let text = std::fs::read_to_string(&f)
                    .with_context(|| format!("{} is missing: did the job fail? see {}", f.display(), layout.scale_log(&job).display()))?;
                let t: Vec<f64> = text.split_whitespace().filter_map(|x| x.parse().ok()).collect();
                if t.len() != 2 {
                    bail!("{}: expected two times, found {text:?}", f.display());
                }
                pack_walls.push(t[1] - t[0]);
            }
        }

        // Store and print.
        let mut timed = Vec::with_capacity(runs.len());
        for r in &runs {
            let (seconds, iterations) = run_seconds(frozen, &r.tag, r.model)?;
            timed.push(TimedRun { model: r.model, cores: r.threads, repeat: r.repeat, iterations, seconds });
        }
        let iters = match packs.first() {
            Some(p) => run_seconds(frozen, &p.run_tag(0), pack_model)?.1,
            None => 0,
        };
        let measured: Vec<MeasuredPacking> =
            packs.iter().zip(&pack_walls).map(|(p, w)| MeasuredPacking { trainings: p.trainings, cores_each: p.cores_each, wall_seconds: *w }).collect();
        let now = cyplam_core::files::now_unix() as i64;
        store::store(db, id, &node_key, node, &timed, &measured, pack_model, iters, now).await?;
        // Printed from what was just stored, by the printer `cyplam report` uses for the same study.
        let mut s = store::load(db, id, frozen).await?.context("the scaling study just stored is not in the database")?;
        if packs.is_empty() {
            s.packings.clear(); // --no-packing: the packings of an earlier run are not this run's
        }
        crate::scaling::print::print_scaling(&s, a.format)
    }
}
