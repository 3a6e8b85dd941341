//! `cyplam scale`: the scalability study (SPEC.md section 5.4) and packing advice. Trains each
//! model of a grid with 1, 2, ... N threads, R times each, on one node (locally, or inside one
//! exclusive Slurm job with `srun -c N` per run); then runs candidate packings (k trainings of c
//! cores at once, k x c = node cores) concurrently and recommends the one with the most trainings
//! per hour. Every time goes to the database; `cyplam submit --packing auto` uses the
//! recommendation stored for the partition.

use crate::cli::{Format, Global};
use crate::db::Db;
use crate::slurm::script::shell_quote;
use crate::slurm::Scheduler;
use crate::sweep::{self, Frozen};
use anyhow::{bail, Context, Result};
use clap::Args;
use cyplam_core::files::{read_json, write_json_atomic, ModelResult, ResultStatus, SweepDir};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Args, Debug)]
pub struct ScaleArgs {
    /// The grid of the models to measure (examples/scaling.toml).
    pub grid: PathBuf,
    /// Core counts to measure; default 1, 2, 4, ... up to the node's cores, and the node's cores.
    #[arg(long, value_delimiter = ',')]
    pub cores: Option<Vec<u32>>,
    /// Runs per model and core count.
    #[arg(long, default_value_t = 5)]
    pub repeats: u32,
    /// Run on this machine instead of in a Slurm job.
    #[arg(long)]
    pub local: bool,
    /// Cores of the node to plan packings for; default: this machine's (local) or
    /// trainings_per_node x cpus_per_training of the grid (Slurm).
    #[arg(long)]
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

fn default_cores(node: u32) -> Vec<u32> {
    let mut v = Vec::new();
    let mut c = 1;
    while c < node {
        v.push(c);
        c *= 2;
    }
    v.push(node.max(1));
    v
}

/// Packings that fill a node of `node` cores: k trainings of c cores, k * c = node.
pub fn candidate_packings(node: u32) -> Vec<(u32, u32)> {
    (1..=node).filter(|k| node % k == 0).map(|k| (k, node / k)).collect()
}

/// Writes a run directory: a copy of the sweep whose workers write under it.
fn prepare(frozen: &Frozen, tag: &str) -> Result<PathBuf> {
    let dir = frozen.dir.join("scale").join(tag);
    if dir.exists() {
        std::fs::remove_dir_all(&dir).with_context(|| format!("clearing {}", dir.display()))?;
    }
    std::fs::create_dir_all(dir.join("models"))?;
    write_json_atomic(&SweepDir::new(&dir).sweep_json(), &frozen.sweep)?;
    Ok(dir)
}

fn run_seconds(frozen: &Frozen, tag: &str, model: usize) -> Result<(f64, u64)> {
    let name = &frozen.sweep.grid.models[model].name;
    let p = frozen.dir.join("scale").join(tag).join("models").join(name).join("result.json");
    let r: ModelResult = read_json(&p).map_err(anyhow::Error::msg)?;
    if r.status != ResultStatus::Completed {
        bail!("{}: the run did not complete: {}", p.display(), r.reason.unwrap_or_default());
    }
    Ok((r.train_seconds, r.iterations_done))
}

fn worker_cmd(worker: &Path, dir: &Path, model: usize, threads: u32) -> tokio::process::Command {
    let mut c = tokio::process::Command::new(worker);
    c.arg("--sweep").arg(dir).arg("--model").arg(model.to_string()).arg("--threads").arg(threads.to_string())
        .env_remove("SLURM_JOB_ID").env_remove("SLURM_PROCID").env_remove("CYPLAM_WORKER_THREADS")
        .stdin(std::process::Stdio::null()).stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped());
    c
}

async fn run_local(worker: &Path, dir: &Path, model: usize, threads: u32) -> Result<()> {
    let out = worker_cmd(worker, dir, model, threads).output().await?;
    if !out.status.success() {
        bail!("the worker failed in {}: {}", dir.display(), String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
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

fn render_slurm_script(frozen: &Frozen, worker: &Path, node: u32, runs: &[Run], packs: &[Pack], pack_model: usize) -> String {
    let s = &frozen.sweep.grid.slurm;
    let q = |p: &Path| shell_quote(&p.display().to_string());
    let mut o = String::from("#!/bin/bash\n");
    o.push_str(&format!("# Rendered by cyplam {}: the scaling study of sweep {}.\n", env!("CARGO_PKG_VERSION"), frozen.sweep.name));
    o.push_str(&format!("#SBATCH --job-name=cyplam-scale-{}\n#SBATCH --nodes=1\n#SBATCH --exclusive\n#SBATCH --ntasks=1\n#SBATCH --cpus-per-task={node}\n", frozen.sweep.name));
    for (k, v) in [("partition", &s.partition), ("account", &s.account), ("qos", &s.qos), ("time", &s.time), ("constraint", &s.constraint)] {
        if let Some(v) = v {
            o.push_str(&format!("#SBATCH --{k}={v}\n"));
        }
    }
    o.push_str("\nset -u\n");
    for l in &s.setup {
        o.push_str(l);
        o.push('\n');
    }
    let scale = frozen.dir.join("scale");
    o.push_str(&format!("scale={}\nworker={}\n", q(&scale), q(worker)));
    o.push_str("run() { srun --exact --ntasks=1 --cpus-per-task=\"$3\" \"$worker\" --sweep \"$scale/$1\" --model \"$2\" --threads \"$3\"; }\n\n");
    for r in runs {
        o.push_str(&format!("run {} {} {}\n", shell_quote(&r.tag), r.model, r.threads));
    }
    for p in packs {
        o.push_str(&format!("\n# {} trainings x {} cores at once\nt0=$(date +%s.%N)\n", p.trainings, p.cores_each));
        for i in 0..p.trainings {
            o.push_str(&format!("run {} {pack_model} {} &\n", shell_quote(&format!("{}/{i}", p.tag)), p.cores_each));
        }
        o.push_str(&format!("wait\nt1=$(date +%s.%N)\necho \"$t0 $t1\" > \"$scale/{}.time\"\n", p.tag));
    }
    o
}

pub async fn run<S: Scheduler>(g: &Global, a: &ScaleArgs, sched: &S) -> Result<()> {
    let frozen = sweep::freeze(&g.runs_dir, &a.grid)?;
    let db = g.open_db().await?;
    let id = db.register_sweep(&frozen.dir, &frozen.sweep).await?;
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
    let node_key = if a.local {
        format!("local:{}", cyplam_core::files::hostname())
    } else {
        format!("partition:{}", grid.slurm.partition.as_deref().unwrap_or("default"))
    };
    let worker = crate::worker_path()?;
    let pack_model = pick_model(&frozen, &a.packing_model)?;

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
        prepare(&frozen, &r.tag)?;
    }
    for p in &packs {
        for i in 0..p.trainings {
            prepare(&frozen, &format!("{}/{i}", p.tag))?;
        }
    }
    eprintln!(
        "scale {}: {} models x cores {:?} x {} repeats = {} timed trainings, then {} packings of a {node}-core node with {} ({})",
        grid.name, grid.models.len(), cores, a.repeats.max(1), runs.len(), packs.len(), grid.models[pack_model].name,
        if a.local { "locally" } else { "in one exclusive Slurm job" }
    );

    let mut pack_walls: Vec<f64> = Vec::new();
    if a.local {
        for (i, r) in runs.iter().enumerate() {
            eprintln!("[{}/{}] {} with {} thread(s), run {}", i + 1, runs.len(), grid.models[r.model].name, r.threads, r.repeat + 1);
            run_local(&worker, &frozen.dir.join("scale").join(&r.tag), r.model, r.threads).await?;
        }
        for p in &packs {
            eprintln!("packing {} x {} cores", p.trainings, p.cores_each);
            let t0 = Instant::now();
            let mut children = Vec::new();
            for i in 0..p.trainings {
                children.push(worker_cmd(&worker, &frozen.dir.join("scale").join(format!("{}/{i}", p.tag)), pack_model, p.cores_each).spawn()?);
            }
            for c in children {
                let out = c.wait_with_output().await?;
                if !out.status.success() {
                    bail!("a packing run failed: {}", String::from_utf8_lossy(&out.stderr).lines().last().unwrap_or(""));
                }
            }
            pack_walls.push(t0.elapsed().as_secs_f64());
        }
    } else {
        let script = render_slurm_script(&frozen, &worker, node, &runs, &packs, pack_model);
        let path = frozen.dir.join("scale").join("scale.sbatch");
        cyplam_core::files::write_atomic(&path, script.as_bytes())?;
        let out = format!("--output={}/slurm-%j.out", frozen.dir.join("scale").display());
        let job = sched.submit(&path, &[out]).await?;
        eprintln!("submitted job {job} ({}); waiting for it", path.display());
        let t0 = Instant::now();
        loop {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let st = sched.states(std::slice::from_ref(&job)).await?;
            if st.iter().all(|t| !t.is_active()) && t0.elapsed() > Duration::from_secs(5) {
                break;
            }
        }
        for p in &packs {
            let f = frozen.dir.join("scale").join(format!("{}.time", p.tag));
            let text = std::fs::read_to_string(&f).with_context(|| format!("{} is missing: did the job fail? see {}/slurm-{job}.out", f.display(), frozen.dir.join("scale").display()))?;
            let t: Vec<f64> = text.split_whitespace().filter_map(|x| x.parse().ok()).collect();
            if t.len() != 2 {
                bail!("{}: expected two times, found {text:?}", f.display());
            }
            pack_walls.push(t[1] - t[0]);
        }
    }

    // Store and print.
    let now = cyplam_core::files::now_unix() as i64;
    for r in &runs {
        let (secs, iters) = run_seconds(&frozen, &r.tag, r.model)?;
        sqlx::query("INSERT INTO scaling_runs (sweep_id, node_key, model_idx, cores, repeat, iterations, seconds, measured_unix) VALUES (?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(id).bind(&node_key).bind(r.model as i64).bind(r.threads as i64).bind(r.repeat as i64).bind(iters as i64).bind(secs).bind(now)
            .execute(&db.pool).await?;
    }
    let iters = match packs.first() {
        Some(p) => run_seconds(&frozen, &format!("{}/0", p.tag), pack_model)?.1,
        None => 0,
    };
    let tph: Vec<f64> = packs.iter().zip(&pack_walls).map(|(p, w)| p.trainings as f64 * 3600.0 / w.max(1e-9)).collect();
    let best = tph.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
    for (i, (p, w)) in packs.iter().zip(&pack_walls).enumerate() {
        sqlx::query("INSERT INTO packings (sweep_id, node_key, node_cores, trainings, cores_each, model_idx, iterations, wall_seconds, trainings_per_hour, recommended, measured_unix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(id).bind(&node_key).bind(node as i64).bind(p.trainings as i64).bind(p.cores_each as i64).bind(pack_model as i64)
            .bind(iters as i64).bind(*w).bind(tph[i]).bind((Some(i) == best) as i64).bind(now)
            .execute(&db.pool).await?;
    }
    // Printed from what was just stored, by the printer `cyplam report` uses for the same study.
    let mut s = crate::html::load_scaling(&db, id, &frozen).await?.context("the scaling study just stored is not in the database")?;
    if packs.is_empty() {
        s.packings.clear(); // --no-packing: the packings of an earlier run are not this run's
    }
    crate::report::print_scaling(&s, a.format)
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 { (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (m, sd)
}

/// The packing recommended for a grid's partition (or this machine), from the database.
pub async fn recommended_packing(db: &Db, partition: Option<&str>) -> Result<(u32, u32)> {
    let key = format!("partition:{}", partition.unwrap_or("default"));
    let local = format!("local:{}", cyplam_core::files::hostname());
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT trainings, cores_each FROM packings WHERE recommended = 1 AND node_key IN (?, ?) ORDER BY node_key = ? DESC, measured_unix DESC, id DESC LIMIT 1")
        .bind(&key).bind(&local).bind(&key).fetch_optional(&db.pool).await?;
    match row {
        Some((k, c)) => Ok((k as u32, c as u32)),
        None => bail!("no packing has been measured for {key}; run `cyplam scale GRID` on that partition first (or `--local` here)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packings_fill_the_node() {
        assert_eq!(candidate_packings(24), vec![(1, 24), (2, 12), (3, 8), (4, 6), (6, 4), (8, 3), (12, 2), (24, 1)]);
        assert_eq!(candidate_packings(2), vec![(1, 2), (2, 1)]);
        assert_eq!(default_cores(24), vec![1, 2, 4, 8, 16, 24]);
        assert_eq!(default_cores(2), vec![1, 2]);
        assert_eq!(default_cores(1), vec![1]);
    }
}
