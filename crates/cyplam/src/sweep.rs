//! Sweep directories: freezing a grid file into `RUNS/<name>/` (refusing a changed grid under the
//! same name), finding a sweep again, and where each model of it stands (files + scheduler).

use crate::db::{Db, Submission};
use crate::slurm::{Scheduler, TaskState};
use anyhow::{bail, Context, Result};
use cyplam_core::files::{read_json, read_metrics, write_json_atomic, ModelDir, ModelResult, ResultStatus, SweepDir, SweepFile, FORMAT_VERSION};
use cyplam_core::grid::{self, model_settings, Grid};
use sha2::{Digest, Sha256};
use std::path::{Path, PathBuf};

/// A sweep on disk.
pub struct Frozen {
    pub dir: PathBuf,
    pub sweep: SweepFile,
}

impl Frozen {
    pub fn layout(&self) -> SweepDir {
        SweepDir::new(&self.dir)
    }
    pub fn model_dir(&self, name: &str) -> ModelDir {
        ModelDir::new(self.dir.join("models").join(name))
    }
}

/// Reads and checks a grid file and its data headers, without writing anything.
pub fn load_grid(path: &Path) -> Result<(Grid, String)> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the grid file", path.display()))?;
    let mut g = grid::parse(path, &text)?;
    let data = g.data.as_mut().with_context(|| format!(
        "{}: the grid has no [data] table; name the training and validation sets:\n  [data]\n  train = \"data/train\"\n  validation = \"data/validation\"",
        path.display()))?;
    for (what, p) in [("training", &mut data.train), ("validation", &mut data.validation)] {
        cyplam_core::data::check_dataset(p).with_context(|| format!("{}: the {what} set", path.display()))?;
        *p = std::fs::canonicalize(&*p)?;
    }
    let sha = format!("{:x}", Sha256::digest(text.as_bytes()));
    Ok((g, sha))
}

/// The differences between two grids that would change what the workers train, listed.
fn differences(old: &Grid, new: &Grid) -> Vec<String> {
    let mut d = Vec::new();
    if old.data != new.data {
        d.push(format!("[data]: {:?} -> {:?}", old.data, new.data));
    }
    if old.slurm.trainings_per_node != new.slurm.trainings_per_node {
        d.push(format!("slurm.trainings_per_node: {} -> {}", old.slurm.trainings_per_node, new.slurm.trainings_per_node));
    }
    if old.models.len() != new.models.len() {
        d.push(format!("models: {} -> {}", old.models.len(), new.models.len()));
    }
    for (a, b) in old.models.iter().zip(&new.models) {
        let (sa, sb) = (model_settings(a), model_settings(b));
        let changed: Vec<String> = sa.iter().filter(|(k, v)| sb.get(*k) != Some(v))
            .map(|(k, v)| format!("{k} {} -> {}", v, sb.get(k).map(|x| x.to_string()).unwrap_or_else(|| "unset".into())))
            .collect();
        if !changed.is_empty() {
            d.push(format!("{}: {}", a.name, changed.join(", ")));
        }
    }
    d
}

/// Freezes a grid into `runs/<name>/`. The same grid again is fine (a resubmission); a grid that
/// would train other models under the same name is refused with the differences.
pub fn freeze(runs: &Path, grid_path: &Path) -> Result<Frozen> {
    freeze_packed(runs, grid_path, None)
}

/// Sets trainings per node and cores per training (`--packing`); models whose `threads` followed
/// cpus_per_training follow the new value.
pub fn apply_packing(grid: &mut Grid, packing: Option<(u32, u32)>) {
    if let Some((k, c)) = packing {
        let old = grid.slurm.cpus_per_training;
        grid.slurm.trainings_per_node = k;
        grid.slurm.cpus_per_training = c;
        for m in &mut grid.models {
            if m.threads == old {
                m.threads = c;
            }
        }
    }
}

/// [`freeze`] with a packing that overrides the grid's.
pub fn freeze_packed(runs: &Path, grid_path: &Path, packing: Option<(u32, u32)>) -> Result<Frozen> {
    let (mut grid, sha) = load_grid(grid_path)?;
    apply_packing(&mut grid, packing);
    std::fs::create_dir_all(runs).with_context(|| format!("creating {}", runs.display()))?;
    let runs = std::fs::canonicalize(runs)?;
    let dir = runs.join(&grid.name);
    let sd = SweepDir::new(&dir);
    if sd.sweep_json().exists() {
        let mut old = sd.load().map_err(anyhow::Error::msg)?;
        let diff = differences(&old.grid, &grid);
        if !diff.is_empty() {
            let shown: Vec<&String> = diff.iter().take(12).collect();
            bail!(
                "{}: sweep {:?} already exists in {} with other settings; its workers read the frozen copy, so it is not changed.\n\
                 Differences ({}):\n  {}{}\nGive the grid another `name` to start a new sweep.",
                grid_path.display(), grid.name, dir.display(), diff.len(),
                shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
                if diff.len() > shown.len() { format!("\n  ... and {} more", diff.len() - shown.len()) } else { String::new() }
            );
        }
        // Scheduling settings (partition, time, throttle, ...) may change between submissions.
        if old.grid.slurm != grid.slurm {
            old.grid.slurm = grid.slurm.clone();
            write_json_atomic(&sd.sweep_json(), &old)?;
        }
        return Ok(Frozen { dir, sweep: old });
    }
    for d in [sd.models_dir(), sd.logs_dir(), sd.submit_dir()] {
        std::fs::create_dir_all(&d).with_context(|| format!("creating {}", d.display()))?;
    }
    std::fs::copy(grid_path, sd.grid_copy()).with_context(|| format!("copying {} into {}", grid_path.display(), dir.display()))?;
    let sweep = SweepFile {
        format: FORMAT_VERSION,
        name: grid.name.clone(),
        source: std::fs::canonicalize(grid_path)?,
        grid_sha256: sha,
        created_unix: cyplam_core::files::now_unix(),
        grid,
    };
    write_json_atomic(&sd.sweep_json(), &sweep)?;
    Ok(Frozen { dir, sweep })
}

/// Finds a sweep by name (in `runs`) or by directory.
pub fn open(runs: &Path, which: &str) -> Result<Frozen> {
    let as_path = Path::new(which);
    let dir = if as_path.join("sweep.json").exists() { as_path.to_path_buf() } else { runs.join(which) };
    let sd = SweepDir::new(&dir);
    if !sd.sweep_json().exists() {
        let known: Vec<String> = std::fs::read_dir(runs).map(|rd| rd.flatten()
            .filter(|e| e.path().join("sweep.json").exists())
            .map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
        bail!("no sweep {which:?} in {} (sweeps there: {})", runs.display(),
            if known.is_empty() { "none".to_string() } else { known.join(", ") });
    }
    let sweep = sd.load().map_err(anyhow::Error::msg)?;
    Ok(Frozen { dir: std::fs::canonicalize(&dir)?, sweep })
}

/// Picks the sweep: the one named, or the only/newest one in the database.
pub async fn pick(runs: &Path, db: &Db, which: Option<&str>) -> Result<Frozen> {
    match which {
        Some(w) => open(runs, w),
        None => {
            let names = db.sweep_names().await?;
            match names.first() {
                Some(n) => open(runs, n),
                None => bail!("no sweep yet in this database; start one with `cyplam submit GRID` or `cyplam run GRID`"),
            }
        }
    }
}

/// Where a model stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    /// Never submitted, or submitted and not started.
    New,
    Pending,
    Running,
    Completed,
    Failed,
    Preempted,
    /// Started, has no result and nothing runs it: a hard kill or a lost node.
    Lost,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Pending => "pending",
            State::Running => "running",
            State::Completed => "completed",
            State::Failed => "failed",
            State::Preempted => "preempted",
            State::Lost => "lost",
        }
    }
    pub fn is_active(self) -> bool {
        matches!(self, State::Pending | State::Running)
    }
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelStatus {
    pub index: usize,
    pub name: String,
    pub state: State,
    /// Latest snapshot iteration, and the best so far.
    pub iteration: Option<u64>,
    pub best_accuracy20: Option<f64>,
    pub reason: Option<String>,
    /// Slurm's array task (`job_task`) or the local run.
    pub job: Option<String>,
    pub log: Option<PathBuf>,
}

/// Is a local run (`local:<host>:<pid>`) still alive?
pub fn local_alive(job_id: &str) -> bool {
    let mut parts = job_id.splitn(3, ':');
    let (Some("local"), Some(host), Some(pid)) = (parts.next(), parts.next(), parts.next()) else { return false };
    let me = cyplam_core::files::hostname();
    host == me && Path::new(&format!("/proc/{pid}")).exists()
}

/// Per-model state from the model files, the submissions and what the scheduler says.
pub async fn model_states<S: Scheduler>(frozen: &Frozen, subs: &[Submission], scheduler: Option<&S>) -> Result<Vec<ModelStatus>> {
    let tpn = frozen.sweep.grid.slurm.trainings_per_node as usize;
    let slurm_jobs: Vec<String> = subs.iter().filter(|s| s.backend == "slurm").map(|s| s.job_id.clone()).collect();
    let tasks: Vec<TaskState> = match scheduler {
        Some(s) if !slurm_jobs.is_empty() => s.states(&slurm_jobs).await?,
        _ => Vec::new(),
    };
    // For each model: the newest submission's task that covers it.
    let n = frozen.sweep.grid.models.len();
    let mut slurm_of: Vec<Option<(TaskState, PathBuf)>> = vec![None; n];
    let mut local_active = vec![false; n];
    for sub in subs {
        if sub.backend == "local" {
            if local_alive(&sub.job_id) {
                for &m in &sub.models {
                    if m < n {
                        local_active[m] = true;
                    }
                }
            }
            continue;
        }
        for t in tasks.iter().filter(|t| t.array_job == sub.job_id) {
            let index = t.task + sub.offset;
            let log = frozen.dir.join("logs").join(format!("{}_{}.out", t.array_job, t.task));
            for p in 0..tpn {
                let m = index * tpn + p;
                if m < n && sub.models.contains(&m) {
                    slurm_of[m] = Some((t.clone(), log.clone()));
                }
            }
        }
    }
    let mut out = Vec::with_capacity(n);
    for m in &frozen.sweep.grid.models {
        let md = frozen.model_dir(&m.name);
        let rows = read_metrics(&md.metrics()).unwrap_or_default();
        let result: Option<ModelResult> = if md.result().exists() { read_json(&md.result()).ok() } else { None };
        let slurm = slurm_of[m.index].clone();
        let job = slurm.as_ref().map(|(t, _)| format!("{}_{}", t.array_job, t.task));
        let log = slurm.as_ref().map(|(_, l)| l.clone()).or_else(|| Some(frozen.dir.join("logs").join(format!("local-{}.log", m.name)))).filter(|p| p.exists());
        let active = slurm.as_ref().map(|(t, _)| t.is_active()).unwrap_or(false) || local_active[m.index];
        let running = slurm.as_ref().map(|(t, _)| t.state == "RUNNING").unwrap_or(false) || (local_active[m.index] && md.lock().exists());
        let (state, reason) = match &result {
            Some(r) if r.status == ResultStatus::Completed => (State::Completed, None),
            Some(r) if r.status == ResultStatus::Failed && !active => (State::Failed, r.reason.clone()),
            Some(r) if r.status == ResultStatus::Preempted && !active => (State::Preempted, r.reason.clone()),
            _ if active => (if running { State::Running } else { State::Pending }, None),
            _ => match &slurm {
                Some((t, _)) if t.state != "COMPLETED" => (State::Failed, Some(format!(
                    "Slurm says {} (exit {}) and the model has no result", t.reason, t.exit_code.clone().unwrap_or_default()))),
                _ if !rows.is_empty() || md.checkpoint_dir().join("state.json").exists() => (State::Lost, Some(
                    "started, but no worker runs it and it has no result (killed or node lost); `cyplam resubmit --failed` resumes it".into())),
                Some((t, _)) => (State::Lost, Some(format!("Slurm says {} but the model has no result", t.state))),
                None => (State::New, None),
            },
        };
        out.push(ModelStatus {
            index: m.index,
            name: m.name.clone(),
            state,
            iteration: rows.last().map(|r| r.iteration),
            best_accuracy20: cyplam_core::files::best_row(&rows).map(|r| r.validation_accuracy20),
            reason,
            job,
            log,
        });
    }
    Ok(out)
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

/// Moves a failed or preempted result aside so the next worker trains (resumes) the model.
pub fn archive_result(md: &ModelDir) -> Result<()> {
    if md.result().exists() {
        let dest = md.root.join(format!("result.{}.json", cyplam_core::files::now_unix()));
        std::fs::rename(md.result(), &dest).with_context(|| format!("moving {} aside", md.result().display()))?;
    }
    Ok(())
}
