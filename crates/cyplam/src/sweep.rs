//! Sweep directories: reading a grid file with its data headers, freezing it into
//! `RUNS/<name>/` (refusing a changed grid under the same name), finding a sweep again.

use crate::db::Db;
use anyhow::{bail, Context, Result};
use cyplam_core::files::{write_json_atomic, SweepFile, FORMAT_VERSION};
use cyplam_core::grid::{self, model_settings, DataConfig, Grid, InputScale};
use cyplam_core::halving::settings::Halving;
use cyplam_core::layout::{ModelDir, SweepDir};
use cyplam_core::memory;
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
        self.layout().model(name)
    }
    /// Creates the sweep's models/, logs/ and submit/ directories, or makes again those removed
    /// since (the workers' logs go to logs/; a model's files are made in models/ by its worker).
    pub fn ensure_dirs(&self) -> Result<()> {
        make_dirs(&self.layout())
    }
}

/// The directories of a sweep: models/, logs/, submit/ (those there are kept).
fn make_dirs(sd: &SweepDir) -> Result<()> {
    for d in [sd.models_dir(), sd.logs_dir(), sd.submit_dir()] {
        crate::output::create_dir(&d)?;
    }
    Ok(())
}

/// A grid file read and checked, with its data headers, before anything is written.
pub struct GridFile {
    pub grid: Grid,
    /// SHA-256 of the file's text.
    pub sha256: String,
    /// Frames in the training and validation sets, from their headers.
    pub train_frames: u64,
    pub validation_frames: u64,
}

/// Reads and checks a grid file and its data, without writing anything: the headers of both
/// sets, the models a worker could only fail on, then every value of both sets (streamed once).
pub fn load_grid(path: &Path) -> Result<GridFile> {
    let text = std::fs::read_to_string(path).with_context(|| format!("{}: cannot read the grid file", path.display()))?;
    let mut g = grid::parse(path, &text)?;
    let data = g.data.as_mut().with_context(|| {
        format!(
            "{}: the grid has no [data] table; name the training and validation sets:\n  [data]\n  train = \"data/train\"\n  validation = \"data/validation\"",
            path.display()
        )
    })?;
    let mut frames = [0u64; 2];
    for (k, (what, p)) in [("training", &mut data.train), ("validation", &mut data.validation)].into_iter().enumerate() {
        frames[k] = cyplam_core::data::check_dataset(p).with_context(|| format!("{}: the {what} set", path.display()))?.frames as u64;
        *p = std::fs::canonicalize(&*p)?;
    }
    check_distinct_sets(path, data)?;
    check_trainable(path, &g, frames[0], frames[1])?;
    check_values(path, &g)?;
    let sha256 = format!("{:x}", Sha256::digest(text.as_bytes()));
    Ok(GridFile { grid: g, sha256, train_frames: frames[0], validation_frames: frames[1] })
}

/// Refuses a validation set that is the training set (the same directory, or a frames file that
/// is the training set's, through a link or as a copy of the same bytes) unless the grid says it
/// is meant (`data.validation_is_train = true`): validation accuracy would then measure the fit
/// to the training frames and overstate accuracy by design.
fn check_distinct_sets(path: &Path, data: &DataConfig) -> Result<()> {
    if data.validation_is_train {
        return Ok(());
    }
    let (tf, vf) = (data.train.join("frames.npy"), data.validation.join("frames.npy"));
    let how = if data.train == data.validation {
        "the same directory".to_string()
    } else if same_file(&tf, &vf)? {
        format!("its frames.npy is the training set's file {}", tf.display())
    } else if same_bytes(&tf, &vf)? {
        format!("its frames.npy holds the same bytes as {}", tf.display())
    } else {
        return Ok(());
    };
    bail!(
        "{}: key `data.validation`: the validation set {} is the training set ({how}); validating on the frames a model trained on \
         measures its fit, not how it does on new frames, and overstates accuracy. Name a set of other recordings, or set \
         `validation_is_train = true` in [data] if that is meant",
        path.display(),
        data.validation.display()
    )
}

/// Whether `a` and `b` are the same file (one inode, whatever the links to it).
fn same_file(a: &Path, b: &Path) -> Result<bool> {
    use std::os::unix::fs::MetadataExt;
    let (x, y) = (std::fs::metadata(a).with_context(|| a.display().to_string())?, std::fs::metadata(b).with_context(|| b.display().to_string())?);
    Ok(x.dev() == y.dev() && x.ino() == y.ino())
}

/// Whether two files hold the same bytes: read only when their lengths are equal, and only until
/// they differ.
fn same_bytes(a: &Path, b: &Path) -> Result<bool> {
    use std::io::Read;
    let open = |p: &Path| std::fs::File::open(p).with_context(|| p.display().to_string());
    let (mut x, mut y) = (open(a)?, open(b)?);
    if x.metadata()?.len() != y.metadata()?.len() {
        return Ok(false);
    }
    let (mut bx, mut by) = (vec![0u8; 1 << 20], vec![0u8; 1 << 20]);
    loop {
        let n = read_full(&mut x, &mut bx).with_context(|| a.display().to_string())?;
        let m = read_full(&mut y, &mut by).with_context(|| b.display().to_string())?;
        if n != m || bx[..n] != by[..m] {
            return Ok(false);
        }
        if n == 0 {
            return Ok(true);
        }
    }
    fn read_full(f: &mut std::fs::File, buf: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..])? {
                0 => break,
                k => n += k,
            }
        }
        Ok(n)
    }
}

/// Reads every value of both sets once, a chunk at a time, and refuses what the worker would
/// refuse on the compute node after the job waited in the queue: a frame value that is NaN or
/// infinite, a laser power or process speed that is not finite and > 0 (the file, the row and the
/// value named); and training frames that are all zero under `input_scale = "max"`.
fn check_values(path: &Path, g: &Grid) -> Result<()> {
    let Some(data) = &g.data else { return Ok(()) };
    let train = cyplam_core::data::check_values(&data.train).with_context(|| format!("{}: the training set", path.display()))?;
    if data.validation != data.train {
        cyplam_core::data::check_values(&data.validation).with_context(|| format!("{}: the validation set", path.display()))?;
    }
    if data.input_scale == InputScale::Max && train.max_frame.partial_cmp(&0.0) != Some(std::cmp::Ordering::Greater) {
        bail!(
            "{}: every training frame of {} is {} or less, so input_scale = \"max\" has nothing to divide by; \
             check the data (`cyplam data show`) or set data.input_scale to a factor",
            path.display(),
            data.train.display(),
            train.max_frame
        );
    }
    Ok(())
}

/// Refuses a halving plan whose rungs would end at the same snapshot for a model (rungs end on
/// snapshots, so more rungs than its snapshots can tell apart): the later rung would train
/// nothing and decide again on the same rows (issue 33: it was accepted without a word). Says how
/// many rungs its snapshots allow, and how many snapshots its rungs need.
fn check_rungs(path: &Path, model: &str, h: Halving, iterations: u64, snapshots: u32) -> Result<()> {
    let distinct = |h: Halving, s: u32| (1..h.rungs).all(|k| h.rung_end(iterations, s, k - 1) < h.rung_end(iterations, s, k));
    if distinct(h, snapshots) {
        return Ok(());
    }
    let k = (1..h.rungs).find(|&k| h.rung_end(iterations, snapshots, k - 1) >= h.rung_end(iterations, snapshots, k)).unwrap_or(1);
    let most = (1..h.rungs).rev().find(|&r| distinct(Halving { rungs: r, ..h }, snapshots)).unwrap_or(1);
    let cap = u32::try_from(iterations).unwrap_or(u32::MAX);
    let need = (snapshots..=cap.min(snapshots.saturating_add(1_000_000)))
        .find(|&s| distinct(h, s))
        .map(|s| format!(", or snapshots = {s} or more"))
        .unwrap_or_default();
    bail!(
        "{}: {model}: [halving] rungs = {} with eta {}: rungs {} and {k} both end at iteration {} ({snapshots} snapshots of {iterations} iterations), so rung {k} would train nothing; give rungs = {most} or fewer{need}",
        path.display(), h.rungs, h.eta, k - 1, h.rung_end(iterations, snapshots, k)
    )
}

/// Refuses, before anything is submitted, what a worker could only fail on or overrun: a batch
/// larger than the training set, more snapshots than iterations, a model whose memory need is
/// more than its share of `[slurm] mem` (or, without it, [`memory::DEFAULT_LIMIT_BYTES`]). From
/// the headers alone: the values are checked after ([`check_values`]).
fn check_trainable(path: &Path, g: &Grid, train_frames: u64, val_frames: u64) -> Result<()> {
    let per_training = match &g.slurm.mem {
        Some(m) => memory::parse_slurm_mem(m).map(|b| (b as f64 / g.slurm.trainings_per_node.max(1) as f64, true)),
        None => None,
    };
    let (limit, from_mem) = per_training.unwrap_or((memory::DEFAULT_LIMIT_BYTES, false));
    for m in &g.models {
        if m.batch_size as u64 > train_frames {
            bail!(
                "{}: {}: batch_size {} is larger than the training set ({train_frames} frames); valid: 1 to {train_frames}",
                path.display(),
                m.name,
                m.batch_size
            );
        }
        let iterations = m.length.iterations(train_frames, m.batch_size as u64);
        if m.snapshots as u64 > iterations {
            bail!("{}: {}: snapshots {} is more than the {iterations} iterations it trains; valid: 1 to {iterations}", path.display(), m.name, m.snapshots);
        }
        if let Some(h) = g.halving {
            check_rungs(path, &m.name, h, iterations, m.snapshots)?;
        }
        let need = memory::need(m, train_frames, val_frames);
        if need.total() > limit {
            let against = if from_mem {
                format!(
                    "its share of [slurm] mem = {:?} ({} for each of {} trainings per node)",
                    g.slurm.mem.as_deref().unwrap_or_default(),
                    memory::human_bytes(limit),
                    g.slurm.trainings_per_node
                )
            } else {
                format!("cyplam's limit of {} per training without [slurm] mem (set mem to allow more)", memory::human_bytes(limit))
            };
            bail!(
                "{}: {} ({}, {} free parameters) needs about {} of memory (weights and Adam {}, activations {}, data {}), more than {against}",
                path.display(),
                m.name,
                m.arch_label(),
                m.free_params,
                memory::human_bytes(need.total()),
                memory::human_bytes(need.weights),
                memory::human_bytes(need.activations),
                memory::human_bytes(need.data)
            );
        }
    }
    Ok(())
}

/// The differences between two grids that would change what the workers train, listed. A
/// sampled sweep (`[search]`) may grow: more `models` under the same axes and seed keep the
/// first ones, so only the models both have are compared ([`growth`] says whether it grew).
fn differences(old: &Grid, new: &Grid) -> Vec<String> {
    let mut d = Vec::new();
    if old.data != new.data {
        d.push(format!("[data]: {:?} -> {:?}", old.data, new.data));
    }
    // The rungs and the rule decide which models train how far: a changed [halving] would go on
    // under decisions taken by the old one (issue 33: it was ignored without a word).
    if old.halving != new.halving {
        let show = |h: &Option<Halving>| {
            h.map(|h| format!("eta {}, {} rungs, {}", h.eta, h.rungs, h.promotion.describe())).unwrap_or_else(|| "none (no halving)".into())
        };
        d.push(format!("[halving]: {} -> {}", show(&old.halving), show(&new.halving)));
    }
    // A TPE search's rounds follow from its models and batch too: its random start is a quarter
    // of `models`, and each round proposes `batch`.
    let search = |g: &Grid| {
        g.search
            .map(|s| match s.batch {
                Some(b) => format!("strategy {}, seed {}, models {}, batch {b}", s.strategy.as_str(), s.seed, s.models),
                None => format!("strategy {}, seed {}", s.strategy.as_str(), s.seed),
            })
            .unwrap_or_else(|| "none (the axes crossed)".into())
    };
    if search(old) != search(new) {
        d.push(format!("[search]: {} -> {}", search(old), search(new)));
    }
    let labels = |g: &Grid| g.axes.iter().map(|a| a.label()).collect::<Vec<_>>().join(", ");
    if old.search.is_some() && labels(old) != labels(new) {
        d.push(format!("[grid] axes: {} -> {}", labels(old), labels(new)));
    }
    if old.slurm.trainings_per_node != new.slurm.trainings_per_node {
        d.push(format!("slurm.trainings_per_node: {} -> {}", old.slurm.trainings_per_node, new.slurm.trainings_per_node));
    }
    let grows = old.search.is_some() && new.search.is_some() && new.models.len() > old.models.len();
    if old.models.len() != new.models.len() && !grows {
        let only =
            if old.search.is_some() && new.search.is_some() { " (a sampled sweep may grow, not shrink: its trained models stay part of it)" } else { "" };
        d.push(format!("models: {} -> {}{only}", old.models.len(), new.models.len()));
    }
    if let Some((a, b)) = old.models.iter().zip(&new.models).find(|(a, b)| a.name != b.name) {
        d.push(format!(
            "model names: {} -> {}: names have as many digits as the largest index needs, so a sampled sweep grows up to {} models; start a new sweep for more",
            a.name,
            b.name,
            10usize.pow(old.models.len().saturating_sub(1).to_string().len().max(3) as u32)
        ));
        return d;
    }
    for (a, b) in old.models.iter().zip(&new.models) {
        let (sa, sb) = (model_settings(a), model_settings(b));
        let changed: Vec<String> = sa
            .iter()
            .filter(|(k, v)| sb.get(*k) != Some(v))
            .map(|(k, v)| format!("{k} {} -> {}", v, sb.get(k).map(|x| x.to_string()).unwrap_or_else(|| "unset".into())))
            .collect();
        if !changed.is_empty() {
            d.push(format!("{}: {}", a.name, changed.join(", ")));
        }
    }
    d
}

/// How many models a sampled sweep gains from `old` to `new` (same axes and seed, more
/// `models`), once [`differences`] found none; refused for a halving sweep, whose rungs decide
/// among all its models.
fn growth(path: &Path, old: &Grid, new: &Grid) -> Result<usize> {
    let more = new.models.len().saturating_sub(old.models.len());
    if more > 0 && old.halving.is_some() {
        bail!(
            "{}: sweep {:?} has {} models and the grid now draws {}; a halving sweep cannot grow: its rungs decide among all its models and its later rungs are planned for {}. \
             Give the grid another `name` to draw a new sweep (with another `seed` in [search] for other models)",
            path.display(), old.name, old.models.len(), new.models.len(), old.models.len()
        );
    }
    Ok(more)
}
/// Freezes a grid into `runs/<name>/`. The same grid again is fine (a resubmission); a grid that
/// would train other models under the same name is refused with the differences.
pub fn freeze(runs: &Path, grid_path: &Path) -> Result<Frozen> {
    freeze_grid(runs, grid_path, load_grid(grid_path)?)
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

/// The sweep already frozen under the grid's name in `runs`, if there is one; a grid that would
/// train other models under that name is refused with the differences. Writes nothing (what
/// `submit --dry-run` asks, as the real submit does).
pub fn existing(runs: &Path, grid_path: &Path, grid: &Grid) -> Result<Option<Frozen>> {
    existing_grown(runs, grid_path, grid)?.map(|(f, _)| with_rounds(f)).transpose()
}

/// A frozen sweep with the models a TPE search's rounds proposed so far (each round file checked:
/// `cyplam_core::search::rounds::with_proposals`); any other sweep as it is. What every command
/// sees; sweep.json itself keeps the random start alone.
fn with_rounds(f: Frozen) -> Result<Frozen> {
    let Frozen { dir, sweep } = f;
    let sweep = cyplam_core::search::rounds::with_proposals(&SweepDir::new(&dir), sweep)?;
    Ok(Frozen { dir, sweep })
}

/// [`existing`], and how many models a sampled sweep gains: the frozen sweep is then given the
/// grown grid (in memory; [`freeze_grid`] writes it).
fn existing_grown(runs: &Path, grid_path: &Path, grid: &Grid) -> Result<Option<(Frozen, usize)>> {
    let dir = runs.join(&grid.name);
    let sd = SweepDir::new(&dir);
    if !sd.sweep_json().exists() {
        return Ok(None);
    }
    let old = sd.load()?;
    let diff = differences(&old.grid, grid);
    if !diff.is_empty() {
        let shown: Vec<&String> = diff.iter().take(12).collect();
        bail!(
            "{}: sweep {:?} already exists in {} with other settings; its workers read the frozen copy, so it is not changed.\n\
             Differences ({}):\n  {}{}\nGive the grid another `name` to start a new sweep.",
            grid_path.display(),
            grid.name,
            dir.display(),
            diff.len(),
            shown.iter().map(|s| s.as_str()).collect::<Vec<_>>().join("\n  "),
            if diff.len() > shown.len() { format!("\n  ... and {} more", diff.len() - shown.len()) } else { String::new() }
        );
    }
    let more = growth(grid_path, &old.grid, grid)?;
    let mut old = old;
    if more > 0 {
        old.grid = grid.clone();
    }
    Ok(Some((Frozen { dir, sweep: old }, more)))
}

/// [`freeze`] of a grid already read (and perhaps re-packed with [`apply_packing`]).
pub fn freeze_grid(runs: &Path, grid_path: &Path, file: GridFile) -> Result<Frozen> {
    let GridFile { grid, sha256: sha, .. } = file;
    crate::output::create_dir(runs)?;
    let runs = std::fs::canonicalize(runs)?;
    if let Some((mut old, more)) = existing_grown(&runs, grid_path, &grid)? {
        if more > 0 {
            // A grown sampled sweep: the grid copy first, then sweep.json, which the workers read.
            let text = std::fs::read(grid_path).with_context(|| format!("reading {}", grid_path.display()))?;
            cyplam_core::files::write_atomic(&old.layout().grid_copy(), &text).with_context(|| format!("writing {}", old.layout().grid_copy().display()))?;
            old.sweep.grid_sha256 = sha;
            write_json_atomic(&old.layout().sweep_json(), &old.sweep)?;
            eprintln!(
                "cyplam: sweep {} grows from {} to {} models; the first {} are drawn as before and keep their files",
                old.sweep.name,
                old.sweep.grid.models.len() - more,
                old.sweep.grid.models.len(),
                old.sweep.grid.models.len() - more
            );
            return with_rounds(old);
        }
        // Scheduling settings (partition, time, throttle, ...) may change between submissions.
        if old.sweep.grid.slurm != grid.slurm {
            old.sweep.grid.slurm = grid.slurm.clone();
            write_json_atomic(&old.layout().sweep_json(), &old.sweep)?;
        }
        return with_rounds(old);
    }
    let dir = runs.join(&grid.name);
    let sd = SweepDir::new(&dir);
    make_dirs(&sd)?;
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
    let dir = if SweepDir::is_sweep(as_path) { as_path.to_path_buf() } else { runs.join(which) };
    let sd = SweepDir::new(&dir);
    if !sd.sweep_json().exists() {
        let known: Vec<String> = std::fs::read_dir(runs)
            .map(|rd| rd.flatten().filter(|e| SweepDir::is_sweep(&e.path())).map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        bail!("no sweep {which:?} in {} (sweeps there: {})", runs.display(), if known.is_empty() { "none".to_string() } else { known.join(", ") });
    }
    let sweep = sd.load()?;
    with_rounds(Frozen { dir: std::fs::canonicalize(&dir)?, sweep })
}

/// Picks the sweep: the one named, or the only/newest one in the database. A sweep whose
/// directory is gone is read from the database, which keeps the frozen sweep (the report of a
/// sweep whose files were cleaned up still works).
pub async fn pick(runs: &Path, db: &Db, which: Option<&str>) -> Result<Frozen> {
    let name = match which {
        Some(w) => w.to_string(),
        None => match db.sweep_names().await?.into_iter().next() {
            Some(n) => n,
            None => bail!("no sweep yet in this database; start one with `cyplam submit GRID` or `cyplam run GRID`"),
        },
    };
    match open(runs, &name) {
        Ok(f) => Ok(f),
        Err(e) => match db.stored_sweep(&name).await? {
            Some((dir, sweep)) if !SweepDir::is_sweep(&dir) => {
                eprintln!("cyplam: {} is gone; showing sweep {name} as the database {} recorded it", dir.display(), db.path.display());
                Ok(Frozen { dir, sweep })
            }
            _ => Err(e),
        },
    }
}

/// Moves a failed or preempted result aside so the next worker trains (resumes) the model.
pub fn archive_result(md: &ModelDir) -> Result<()> {
    if md.result().exists() {
        let dest = md.archived_result(cyplam_core::files::now_unix());
        std::fs::rename(md.result(), &dest).with_context(|| format!("moving {} aside", md.result().display()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 33: rungs that end at the same snapshot were accepted without a word.
    #[test]
    fn rungs_that_end_at_the_same_snapshot_are_refused_with_what_would_do() {
        let h = Halving::new(4, 4).unwrap();
        // 4 snapshots of 800 iterations (every 200): rung targets 13, 50, 200, 800 all round up
        // to the first snapshot for rungs 0 to 2.
        let e = check_rungs(Path::new("g.toml"), "Model-000", h, 800, 4).unwrap_err().to_string();
        assert_eq!(
            e,
            "g.toml: Model-000: [halving] rungs = 4 with eta 4: rungs 0 and 1 both end at iteration 200 (4 snapshots of 800 iterations), so rung 1 would train nothing; give rungs = 2 or fewer, or snapshots = 17 or more"
        );
        // What it says works: 2 rungs, or 17 snapshots (and more), where 16 still does not.
        assert!(check_rungs(Path::new("g.toml"), "Model-000", Halving::new(4, 2).unwrap(), 800, 4).is_ok());
        for s in [17, 18, 20, 50, 800] {
            assert!(check_rungs(Path::new("g.toml"), "Model-000", h, 800, s).is_ok(), "{s} snapshots");
        }
        assert!(check_rungs(Path::new("g.toml"), "Model-000", h, 800, 16).is_err());
        // One rung is always fine.
        assert!(check_rungs(Path::new("g.toml"), "Model-000", Halving::new(4, 1).unwrap(), 10, 1).is_ok());
    }
}
