//! `cyplam doctor`'s checks, one function each: whether a study would run here, said before the
//! first job waits in the queue. Each check gives a [`Check`]: ok, a note (works, with something
//! worth knowing), or a problem (the study would fail), with what to do. The command
//! (`commands/doctor.rs`) runs them in order and prints each as it ends. Every question to Slurm
//! goes through the [`Scheduler`] (the real commands in `slurm/mod.rs`), so the checks are tested
//! against a fake one below.

use crate::ctx::Global;
use crate::slurm::script::plan_arrays;
use crate::slurm::{self, NodeRow, Ping, Scheduler};
use cyplam_core::grid::{Grid, SlurmConfig};
use cyplam_core::memory;
use cyplam_core::packing::Packing;
use cyplam_core::probe::WorkerProbe;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

pub mod job;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Ok,
    Note,
    Problem,
}

impl Verdict {
    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Ok => "ok",
            Verdict::Note => "note",
            Verdict::Problem => "problem",
        }
    }
}

/// One check's outcome: what was checked, what was found, what to do about it.
#[derive(Debug, Clone)]
pub struct Check {
    pub verdict: Verdict,
    pub what: &'static str,
    pub detail: String,
    pub fix: Option<String>,
}

impl Check {
    pub fn ok(what: &'static str, detail: impl Into<String>) -> Check {
        Check { verdict: Verdict::Ok, what, detail: detail.into(), fix: None }
    }
    pub fn note(what: &'static str, detail: impl Into<String>, fix: Option<String>) -> Check {
        Check { verdict: Verdict::Note, what, detail: detail.into(), fix }
    }
    pub fn problem(what: &'static str, detail: impl Into<String>, fix: impl Into<String>) -> Check {
        Check { verdict: Verdict::Problem, what, detail: detail.into(), fix: Some(fix.into()) }
    }

    /// `ok       worker     detail`, and `what to do: ...` under it.
    pub fn render(&self) -> String {
        let mut s = format!("{:<8} {:<10} {}\n", self.verdict.as_str(), self.what, self.detail);
        if let Some(f) = &self.fix {
            s.push_str(&format!("{:<8} {:<10} what to do: {f}\n", "", ""));
        }
        s
    }
}

/// Slurm's megabyte (RealMemory, DefMemPerCPU, `--mem` without a unit).
const MIB: f64 = 1048576.0;

/// How long one Slurm command may take before doctor says the controller does not answer.
const COMMAND_LIMIT: Duration = Duration::from_secs(30);

/// A question to the scheduler (`command`, as the user would type it, names it in the messages),
/// given at most [`COMMAND_LIMIT`].
async fn within<T>(command: &str, asked: impl std::future::Future<Output = anyhow::Result<T>>) -> Result<T, String> {
    match tokio::time::timeout(COMMAND_LIMIT, asked).await {
        Err(_) => Err(format!("`{command}` did not answer within {} s", COMMAND_LIMIT.as_secs())),
        Ok(Err(e)) => Err(e.to_string()),
        Ok(Ok(out)) => Ok(out),
    }
}

/// The worker starts, loads its libraries and computes: `cyplam-worker probe --json`.
pub async fn worker() -> (Check, Option<WorkerProbe>) {
    const W: &str = "worker";
    let path = match crate::worker::worker_path() {
        Ok(p) => p,
        Err(e) => {
            return (
                Check::problem(
                    W,
                    format!("{e:#}"),
                    "unpack the whole bundle (bin/ and lib/ side by side) and run its bin/cyplam, or set CYPLAM_WORKER to the worker",
                ),
                None,
            )
        }
    };
    let run = tokio::process::Command::new(&path).args(["probe", "--json"]).kill_on_drop(true).output();
    let out = match tokio::time::timeout(Duration::from_secs(120), run).await {
        Err(_) => return (Check::problem(W, format!("{} probe did not answer within 120 s", path.display()), "run it by hand to see where it hangs"), None),
        Ok(Err(e)) => {
            return (
                Check::problem(W, format!("{} cannot be started: {e}", path.display()), "check that the file is the worker of this cyplam and is executable"),
                None,
            )
        }
        Ok(Ok(o)) => o,
    };
    let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
    if !out.status.success() {
        let fix = if stderr.contains("error while loading shared libraries") {
            "the worker's libraries are missing: keep the bundle's lib/ beside its bin/ (unpack the whole tarball, move the folder as one), or rebuild from source (docs/install.md)"
        } else {
            "run `cyplam-worker probe` by hand; docs/install.md lists what the worker needs"
        };
        return (Check::problem(W, format!("{} probe failed ({}): {}", path.display(), out.status, last_lines(&stderr, 3)), fix), None);
    }
    let probe: WorkerProbe = match serde_json::from_slice(&out.stdout) {
        Ok(p) => p,
        Err(e) => {
            return (
                Check::problem(
                    W,
                    format!("{} probe printed something doctor cannot read ({e}): is it the worker of another cyplam?", path.display()),
                    "use the cyplam and cyplam-worker of one build or bundle",
                ),
                None,
            )
        }
    };
    let mine = env!("CARGO_PKG_VERSION");
    if probe.version != mine {
        return (
            Check::problem(
                W,
                format!("{} is cyplam-worker {} but this is cyplam {mine}", path.display(), probe.version),
                "use the cyplam and cyplam-worker of one build or bundle (or set CYPLAM_WORKER to the right one)",
            ),
            Some(probe),
        );
    }
    if !probe.compute_ok {
        return (
            Check::problem(
                W,
                format!("{}: libtorch gave wrong sums on this CPU ({})", path.display(), probe.summary()),
                "report it with `cyplam-worker probe` output; do not train here",
            ),
            Some(probe),
        );
    }
    (Check::ok(W, format!("{}: {}", path.display(), probe.summary())), Some(probe))
}

pub(crate) fn last_lines(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join(" | ")
}

/// The runs directory can be made and written, and the database opens there.
pub async fn runs(global: &Global) -> Check {
    const W: &str = "runs";
    let dir = &global.runs_dir;
    let fix = "choose a runs directory you can write, on a file system the compute nodes see: --runs-dir DIR or CYPLAM_RUNS";
    if let Err(e) = std::fs::create_dir_all(dir) {
        return Check::problem(W, format!("cannot create the runs directory {}: {e}", dir.display()), fix);
    }
    let abs = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
    let probe = abs.join(format!(".doctor-write-{}", std::process::id()));
    if let Err(e) = std::fs::write(&probe, b"cyplam doctor\n").and_then(|_| std::fs::remove_file(&probe)) {
        return Check::problem(W, format!("cannot write in the runs directory {}: {e}", abs.display()), fix);
    }
    let db = global.db_path();
    if let Err(e) = crate::db::Db::open(&db).await {
        return Check::problem(W, format!("the database {} does not open: {e}", db.display()), "choose another place with --db or CYPLAM_DB");
    }
    Check::ok(W, format!("{} is writable; the database {} opens", abs.display(), db.display()))
}

/// Slurm's commands are on PATH, and their version; `false` when sbatch is missing or does not
/// run, and the other Slurm checks are then skipped.
pub async fn slurm_commands<S: Scheduler>(s: &S) -> (Check, bool) {
    const W: &str = "slurm";
    let missing: Vec<&str> = slurm::COMMANDS.iter().copied().filter(|c| s.command_path(c).is_none()).collect();
    if missing.contains(&"sbatch") {
        return (
            Check::problem(W, format!("{} not found on PATH: this machine is not a Slurm login node (or Slurm's module is not loaded)", missing.join(", ")),
                "run `cyplam doctor` on the cluster's login node (after `module load slurm` where the site needs it); to run the sweep on this machine instead: `cyplam run GRID` (`cyplam doctor --local` checks what that needs)"),
            false,
        );
    }
    let version = match within("sbatch --version", s.version()).await {
        Ok(v) => v.trim().to_string(),
        Err(e) => return (Check::problem(W, format!("`sbatch --version` failed: {e}"), "check the Slurm installation with the cluster's admins"), false),
    };
    let dir = s.command_path("sbatch").and_then(|p| p.parent().map(Path::to_path_buf)).unwrap_or_default();
    if !missing.is_empty() {
        return (
            Check::problem(
                W,
                format!("{version} ({}), but {} not found on PATH", dir.display(), missing.join(", ")),
                "cyplam needs sbatch, squeue, sacct, scontrol, sinfo and scancel: load the site's full Slurm module",
            ),
            true,
        );
    }
    (Check::ok(W, format!("{}: {version} ({})", slurm::COMMANDS.join(", "), dir.display())), true)
}

/// The controller answers (`scontrol ping`, which prints `... is DOWN` and exits 1 when not).
pub async fn controller<S: Scheduler>(s: &S) -> (Check, bool) {
    const W: &str = "controller";
    let fix = "slurmctld is down or cannot be reached from here: nothing can be submitted until it answers; ask the cluster's admins (a study already queued resumes by itself)";
    match tokio::time::timeout(COMMAND_LIMIT, s.ping()).await {
        Err(_) => (Check::problem(W, format!("`scontrol ping` did not answer within {} s", COMMAND_LIMIT.as_secs()), fix), false),
        Ok(Err(e)) => (Check::problem(W, format!("`scontrol ping` could not run: {e}"), fix), false),
        Ok(Ok(Ping { up: true, text })) => (Check::ok(W, text.lines().find(|l| l.contains("is UP")).unwrap_or("").trim().to_string()), true),
        Ok(Ok(Ping { up: false, text })) => {
            let said: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty() && !l.starts_with("**")).collect();
            (Check::problem(W, format!("`scontrol ping`: {}", said.join(" | ")), fix), false)
        }
    }
}

/// `scontrol show config`, as a map, or a problem.
pub async fn config<S: Scheduler>(s: &S) -> Result<BTreeMap<String, String>, Check> {
    within("scontrol show config", s.config())
        .await
        .map_err(|e| Check::problem("config", format!("`scontrol show config` failed: {e}"), "ask the cluster's admins"))
}

/// MaxArraySize against the grid's array tasks.
pub fn array_size(cfg: &BTreeMap<String, String>, grid: Option<&Grid>) -> Check {
    const W: &str = "arrays";
    let Some(max) = cfg.get("MaxArraySize").and_then(|v| v.parse::<usize>().ok()) else {
        return Check::note(W, "`scontrol show config` does not say MaxArraySize; cyplam assumes Slurm's default, 1001", None);
    };
    match grid {
        None => Check::ok(W, format!("MaxArraySize {max}")),
        Some(g) => {
            let (tasks, arrays) = arrays_for(g.models.len(), g.slurm.trainings_per_node, max);
            if arrays <= 1 {
                Check::ok(W, format!("MaxArraySize {max}: the grid's {} models in {tasks} array task(s), one array", g.models.len()))
            } else {
                Check::ok(
                    W,
                    format!("MaxArraySize {max}: the grid's {} models in {tasks} array tasks, which cyplam submits as {arrays} arrays", g.models.len()),
                )
            }
        }
    }
}

/// (array tasks, job arrays) that submitting `models` models packed `per_task` to a task makes
/// under MaxArraySize `max`: the packing and array planner submit uses.
fn arrays_for(models: usize, per_task: u32, max: usize) -> (usize, usize) {
    let all: Vec<usize> = (0..models).collect();
    let tasks = Packing::new(per_task).tasks_of(&all);
    (tasks.len(), plan_arrays(&tasks, max).len())
}

/// Accounting (slurmdbd): on and answering, or off.
pub async fn accounting<S: Scheduler>(s: &S, cfg: &BTreeMap<String, String>) -> Check {
    const W: &str = "accounting";
    let kind = cfg.get("AccountingStorageType").cloned().unwrap_or_default();
    if kind.is_empty() || kind.ends_with("/none") {
        return Check::note(W, "accounting is off (AccountingStorageType none): `cyplam status` sees a task while squeue lists it, and afterwards only through the files its worker left; a task killed before it wrote anything shows as lost", Some("`cyplam resubmit --failed` resubmits lost models too".into()));
    }
    match within("sacct -n -X -P -o JobID -S now", s.accounting()).await {
        Ok(_) => Check::ok(W, format!("on ({kind}); sacct answers")),
        Err(e) => Check::note(
            W,
            format!("on ({kind}) but sacct fails: {e}"),
            Some("`cyplam status` then sees ended tasks only through the workers' files; tell the admins if it lasts".into()),
        ),
    }
}

/// The partition the study goes to and its nodes (`sinfo`).
pub async fn partition<S: Scheduler>(s: &S, slurm_cfg: &SlurmConfig) -> Result<(Check, String, Vec<NodeRow>), Check> {
    const W: &str = "partition";
    let rows = within(&format!("sinfo -h -N -o {}", slurm::SINFO_NODE_FORMAT), s.nodes())
        .await
        .map_err(|e| Check::problem(W, format!("`sinfo` failed: {e}"), "ask the cluster's admins"))?;
    let mut names: Vec<String> = rows.iter().map(|r| if r.default_partition { format!("{}*", r.partition) } else { r.partition.clone() }).collect();
    names.sort();
    names.dedup();
    let name = match &slurm_cfg.partition {
        Some(p) => p.clone(),
        None => match rows.iter().find(|r| r.default_partition) {
            Some(r) => r.partition.clone(),
            None => {
                return Err(Check::problem(
                    W,
                    format!("the cluster has no default partition (partitions: {})", names.join(", ")),
                    "name one in the grid: [slurm] partition = \"...\"",
                ))
            }
        },
    };
    let mine: Vec<NodeRow> = rows.into_iter().filter(|r| r.partition == name).collect();
    if mine.is_empty() {
        return Err(Check::problem(
            W,
            format!("partition {name:?} does not exist here (partitions: {}; * is the default)", names.join(", ")),
            "set [slurm] partition to one of them",
        ));
    }
    if !mine[0].partition_up {
        return Err(Check::problem(W, format!("partition {name} is not up"), "ask the cluster's admins, or choose another partition"));
    }
    let usable: Vec<NodeRow> = mine.iter().filter(|r| usable(r)).cloned().collect();
    let mut states: BTreeMap<String, usize> = BTreeMap::new();
    for r in &mine {
        *states.entry(r.state.clone()).or_default() += 1;
    }
    let states: Vec<String> = states.iter().map(|(s, n)| format!("{n} {s}")).collect();
    let shapes = shapes(&mine);
    let detail =
        format!("{name}{}: {} node(s), {shapes}; {}", if slurm_cfg.partition.is_none() { " (the default)" } else { "" }, mine.len(), states.join(", "));
    if usable.is_empty() {
        return Err(Check::problem(W, format!("{detail}: no node is up"), "ask the cluster's admins, or choose another partition"));
    }
    Ok((Check::ok(W, detail), name, usable))
}

/// A node that takes jobs (or will, once its jobs end).
fn usable(r: &NodeRow) -> bool {
    let s = r.state.trim_end_matches(['*', '~', '#', '!', '%', '$', '@', '^', '-']);
    !(s.starts_with("down")
        || s.starts_with("drain")
        || s.starts_with("fail")
        || s.starts_with("inval")
        || s.starts_with("unk")
        || s.starts_with("future")
        || s.starts_with("maint")
        || s.starts_with("reboot"))
}

/// `24 CPUs and 21 GB each`, or the distinct shapes: `12 x (28 CPUs, 192 GB), 2 x (16 CPUs, 64 GB)`.
fn shapes(rows: &[NodeRow]) -> String {
    let mut by: BTreeMap<(u32, u64), usize> = BTreeMap::new();
    for r in rows {
        *by.entry((r.cpus, r.memory_mb)).or_default() += 1;
    }
    let gb = |mb: u64| memory::human_bytes(mb as f64 * MIB);
    if by.len() == 1 {
        let ((c, m), _) = by.iter().next().map(|(k, v)| (*k, *v)).unwrap_or(((0, 0), 0));
        return format!("{c} CPUs and {} each", gb(m));
    }
    by.iter().rev().map(|((c, m), n)| format!("{n} x ({c} CPUs, {})", gb(*m))).collect::<Vec<_>>().join(", ")
}

/// The packing (trainings per node x cores each) against the partition's nodes.
pub fn packing(slurm_cfg: &SlurmConfig, partition: &str, nodes: &[NodeRow], from_grid: bool) -> Check {
    const W: &str = "packing";
    let (k, c) = (slurm_cfg.trainings_per_node, slurm_cfg.cpus_per_training);
    let need = k as u64 * c as u64;
    let whose = if from_grid { "the grid's" } else { "the default" };
    let fit: Vec<&NodeRow> = nodes.iter().filter(|r| r.cpus as u64 >= need).collect();
    let most = nodes.iter().map(|r| r.cpus).max().unwrap_or(0);
    if fit.is_empty() {
        let mut ways = Vec::new();
        if c <= most {
            let k2 = most / c.max(1);
            ways.push(format!("trainings_per_node = {k2} ({k2} x {c} = {})", k2 * c));
        }
        if k <= most {
            let c2 = most / k.max(1);
            ways.push(format!("cpus_per_training = {c2} ({k} x {c2} = {})", k * c2));
        }
        let fix = if ways.is_empty() {
            format!("no packing of the grid fits nodes of {most} CPUs")
        } else {
            format!("set [slurm] {} in the grid (or `cyplam scale` to measure which packing is fastest)", ways.join(", or "))
        };
        return Check::problem(W, format!("{whose} {k} x {c} = {need} cores per array task do not fit on the nodes of partition {partition} (at most {most} CPUs): the jobs would never start"), fix);
    }
    let spare: Vec<u32> = fit.iter().map(|r| r.cpus - need as u32).collect();
    let sizes: Vec<String> = {
        let mut v: Vec<u32> = fit.iter().map(|r| r.cpus).collect();
        v.sort_unstable();
        v.dedup();
        v.iter().map(u32::to_string).collect()
    };
    let mut detail = format!("{whose} {k} x {c} cores fit on the {}-core nodes of partition {partition}", sizes.join("/"));
    if fit.len() < nodes.len() {
        detail.push_str(&format!(" ({} of its {} usable nodes; the others are too small)", fit.len(), nodes.len()));
    }
    let idle = spare.iter().copied().min().unwrap_or(0);
    if idle > 0 {
        detail.push_str(&format!("; {idle} or more cores of each stay idle (`cyplam scale` measures whether another packing is faster)"));
    }
    Check::ok(W, detail)
}

/// One training's memory (the largest model's) against what Slurm gives it and the nodes have.
pub fn memory_check(g: &Grid, train_frames: u64, val_frames: u64, cfg: &BTreeMap<String, String>, nodes: &[NodeRow]) -> Check {
    const W: &str = "memory";
    let Some((need, name)) = g.models.iter().map(|m| (memory::need(m, train_frames, val_frames).total(), m.name.as_str())).max_by(|a, b| a.0.total_cmp(&b.0))
    else {
        return Check::ok(W, "the grid has no models");
    };
    let k = g.slurm.trainings_per_node.max(1) as f64;
    let node_max = nodes.iter().map(|r| r.memory_mb).max().unwrap_or(0) as f64 * MIB;
    let h = memory::human_bytes;
    let per_node_need = need * k;
    let base = format!("the largest model ({name}) needs about {} per training, {} for {} per node", h(need), h(per_node_need), g.slurm.trainings_per_node);
    if let Some(mem) = g.slurm.mem.as_deref().and_then(memory::parse_slurm_mem) {
        let mem = mem as f64;
        if mem > node_max && node_max > 0.0 {
            return Check::problem(
                W,
                format!("{base}; [slurm] mem = {} asks more than any node has ({})", g.slurm.mem.as_deref().unwrap_or_default(), h(node_max)),
                "lower [slurm] mem to what the nodes have: the jobs would never start",
            );
        }
        return Check::ok(W, format!("{base}; [slurm] mem = {} of the nodes' {}", g.slurm.mem.as_deref().unwrap_or_default(), h(node_max)));
    }
    if per_node_need > node_max && node_max > 0.0 {
        return Check::problem(
            W,
            format!("{base}, more than the nodes have ({})", h(node_max)),
            "fewer trainings per node ([slurm] trainings_per_node), or smaller models",
        );
    }
    // Without [slurm] mem a job gets the site's default memory per CPU, where it has one.
    if let Some(per_cpu) = cfg.get("DefMemPerCPU").and_then(|v| v.parse::<f64>().ok()) {
        let given = per_cpu * MIB * g.slurm.cpus_per_training as f64;
        if given < need {
            let want = ((per_node_need * 1.2) / 1e9).ceil() as u64;
            return Check::problem(W, format!("{base}, but [slurm] mem is unset and the site's DefMemPerCPU ({per_cpu} MB) gives a training of {} cores only {}: it would be killed out of memory", g.slurm.cpus_per_training, h(given)), format!("set [slurm] mem = \"{want}G\" in the grid"));
        }
    }
    Check::ok(W, format!("{base}; the nodes have {}", h(node_max)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(spec: &[(u32, u64, &str)]) -> Vec<NodeRow> {
        spec.iter()
            .enumerate()
            .map(|(i, (c, m, s))| NodeRow {
                node: format!("n{i}"),
                partition: "cpu".into(),
                default_partition: true,
                partition_up: true,
                cpus: *c,
                memory_mb: *m,
                state: s.to_string(),
            })
            .collect()
    }

    #[test]
    fn packing_fits_or_says_what_would() {
        let cfg = SlurmConfig::default();
        let c = packing(&cfg, "cpu", &rows(&[(28, 192_000, "idle"), (28, 192_000, "mixed")]), false);
        assert_eq!(c.verdict, Verdict::Ok);
        assert!(c.detail.contains("2 x 12 cores fit on the 28-core nodes") && c.detail.contains("4 or more cores"), "{}", c.detail);
        let c = packing(&cfg, "cpu", &rows(&[(16, 64_000, "idle")]), true);
        assert_eq!(c.verdict, Verdict::Problem);
        assert!(c.detail.contains("2 x 12 = 24 cores per array task do not fit") && c.detail.contains("at most 16 CPUs"), "{}", c.detail);
        let fix = c.fix.unwrap();
        assert!(fix.contains("trainings_per_node = 1") && fix.contains("cpus_per_training = 8"), "{fix}");
        let c = packing(&cfg, "cpu", &rows(&[(24, 1, "idle"), (16, 1, "idle")]), true);
        assert!(c.verdict == Verdict::Ok && c.detail.contains("1 of its 2 usable nodes"), "{}", c.detail);
    }

    #[test]
    fn array_counts_are_submits() {
        // 1001 tasks (0..=1000) fit one array of MaxArraySize 1001; one more task takes a second.
        assert_eq!(arrays_for(2002, 2, 1001), (1001, 1));
        assert_eq!(arrays_for(2003, 2, 1001), (1002, 2));
        assert_eq!(arrays_for(192, 2, 1001), (96, 1));
        assert_eq!(arrays_for(5, 2, 2), (3, 2));
    }

    #[test]
    fn node_states_that_take_no_jobs() {
        let r = rows(&[(24, 1, "idle"), (24, 1, "down*"), (24, 1, "drained"), (24, 1, "mixed-"), (24, 1, "allocated"), (24, 1, "draining")]);
        assert_eq!(r.iter().filter(|r| usable(r)).count(), 3);
    }

    /// A cluster as doctor sees it, each answer scripted; it runs no job.
    struct Fake {
        commands: Vec<&'static str>,
        ping: Ping,
        config: BTreeMap<String, String>,
        accounting: Result<(), &'static str>,
        nodes: Vec<NodeRow>,
    }

    impl Fake {
        /// Every command installed, the controller up, accounting on and answering, two idle
        /// nodes of the default partition `cpu`.
        fn healthy() -> Fake {
            Fake {
                commands: slurm::COMMANDS.to_vec(),
                ping: Ping { up: true, text: "Slurmctld(primary) at ctl is UP\n".into() },
                config: [("AccountingStorageType", "accounting_storage/slurmdbd"), ("MaxArraySize", "1001")]
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .into(),
                accounting: Ok(()),
                nodes: rows(&[(28, 192_000, "idle"), (28, 192_000, "idle")]),
            }
        }
    }

    impl Scheduler for Fake {
        async fn submit(&self, _script: &Path, _args: &[String]) -> anyhow::Result<String> {
            anyhow::bail!("no job in these tests")
        }
        async fn states(&self, _jobs: &[String]) -> anyhow::Result<Vec<crate::slurm::TaskState>> {
            Ok(Vec::new())
        }
        async fn cancel(&self, _jobs: &[String]) -> anyhow::Result<()> {
            Ok(())
        }
        async fn max_array_size(&self) -> anyhow::Result<usize> {
            Ok(1001)
        }
        fn command_path(&self, command: &str) -> Option<std::path::PathBuf> {
            self.commands.contains(&command).then(|| Path::new("/usr/bin").join(command))
        }
        async fn version(&self) -> anyhow::Result<String> {
            Ok("slurm-wlm 22.05.8\n".into())
        }
        async fn ping(&self) -> anyhow::Result<Ping> {
            Ok(self.ping.clone())
        }
        async fn config(&self) -> anyhow::Result<BTreeMap<String, String>> {
            Ok(self.config.clone())
        }
        async fn accounting(&self) -> anyhow::Result<()> {
            self.accounting.map_err(anyhow::Error::msg)
        }
        async fn nodes(&self) -> anyhow::Result<Vec<NodeRow>> {
            Ok(self.nodes.clone())
        }
    }

    fn block_on<T>(f: impl std::future::Future<Output = T>) -> T {
        tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime").block_on(f)
    }

    #[test]
    fn a_controller_that_is_down_is_a_problem_saying_what_to_do() {
        let (c, up) = block_on(controller(&Fake::healthy()));
        assert!(up && c.verdict == Verdict::Ok && c.detail == "Slurmctld(primary) at ctl is UP", "{c:?}");
        // What scontrol prints (and exits 1 with) when slurmctld does not answer.
        let down = Fake {
            ping: Ping { up: false, text: "Slurmctld(primary) at ctl is DOWN\n*****************************************\n** RESTORE SLURMCTLD DAEMON TO SERVICE **\n*****************************************\n".into() },
            ..Fake::healthy()
        };
        let (c, up) = block_on(controller(&down));
        assert!(!up, "the Slurm checks after it are skipped");
        assert_eq!(c.verdict, Verdict::Problem);
        assert_eq!(c.detail, "`scontrol ping`: Slurmctld(primary) at ctl is DOWN");
        let fix = c.fix.unwrap_or_default();
        assert!(fix.contains("slurmctld is down or cannot be reached from here") && fix.contains("ask the cluster's admins"), "{fix}");
    }

    #[test]
    fn accounting_off_or_not_answering_is_a_note_naming_it() {
        let fake = Fake::healthy();
        let c = block_on(accounting(&fake, &fake.config));
        assert!(c.verdict == Verdict::Ok && c.detail == "on (accounting_storage/slurmdbd); sacct answers", "{c:?}");
        // slurmdbd down: sacct fails; status then sees ended tasks through the workers' files.
        let failing = Fake {
            accounting: Err("`sacct -n -X -P -o JobID -S now` failed (exit status: 1): sacct: error: Problem talking to the database: Connection refused"),
            ..Fake::healthy()
        };
        let c = block_on(accounting(&failing, &failing.config));
        assert_eq!(c.verdict, Verdict::Note);
        assert!(
            c.detail.starts_with("on (accounting_storage/slurmdbd) but sacct fails: ")
                && c.detail.ends_with("Problem talking to the database: Connection refused"),
            "{}",
            c.detail
        );
        assert!(c.fix.unwrap_or_default().contains("only through the workers' files"));
        // No accounting at all: never asked.
        let mut off = Fake { accounting: Err("sacct must not be asked"), ..Fake::healthy() };
        off.config.insert("AccountingStorageType".into(), "accounting_storage/none".into());
        let c = block_on(accounting(&off, &off.config));
        assert_eq!(c.verdict, Verdict::Note);
        assert!(c.detail.starts_with("accounting is off (AccountingStorageType none)"), "{}", c.detail);
        assert!(c.fix.unwrap_or_default().contains("`cyplam resubmit --failed` resubmits lost models too"));
    }

    #[test]
    fn missing_slurm_commands_are_named() {
        let (c, found) = block_on(slurm_commands(&Fake::healthy()));
        assert!(found && c.verdict == Verdict::Ok, "{c:?}");
        assert_eq!(c.detail, "sbatch, squeue, sacct, scontrol, sinfo, scancel: slurm-wlm 22.05.8 (/usr/bin)");
        let partial = Fake { commands: vec!["sbatch", "squeue", "scontrol", "sinfo"], ..Fake::healthy() };
        let (c, found) = block_on(slurm_commands(&partial));
        assert!(found && c.verdict == Verdict::Problem, "{c:?}");
        assert_eq!(c.detail, "slurm-wlm 22.05.8 (/usr/bin), but sacct, scancel not found on PATH");
        let none = Fake { commands: Vec::new(), ..Fake::healthy() };
        let (c, found) = block_on(slurm_commands(&none));
        assert!(!found && c.verdict == Verdict::Problem, "{c:?}");
        assert!(
            c.detail.starts_with("sbatch, squeue, sacct, scontrol, sinfo, scancel not found on PATH: this machine is not a Slurm login node"),
            "{}",
            c.detail
        );
    }

    #[test]
    fn the_partition_must_exist_and_have_a_node_up() {
        let fake = Fake::healthy();
        let (c, name, nodes) = block_on(partition(&fake, &SlurmConfig::default())).expect("the default partition");
        assert!(c.verdict == Verdict::Ok && name == "cpu" && nodes.len() == 2, "{c:?}");
        assert_eq!(c.detail, "cpu (the default): 2 node(s), 28 CPUs and 201.33 GB each; 2 idle");
        let gpu = SlurmConfig { partition: Some("gpu".into()), ..SlurmConfig::default() };
        let c = block_on(partition(&fake, &gpu)).expect_err("no partition gpu");
        assert!(c.verdict == Verdict::Problem && c.detail == "partition \"gpu\" does not exist here (partitions: cpu*; * is the default)", "{c:?}");
        let down = Fake { nodes: rows(&[(28, 192_000, "down*"), (28, 192_000, "drained")]), ..Fake::healthy() };
        let c = block_on(partition(&down, &SlurmConfig::default())).expect_err("no node up");
        assert!(c.verdict == Verdict::Problem && c.detail.ends_with(": no node is up"), "{c:?}");
    }

    #[test]
    fn a_check_renders_its_fix_under_it() {
        let c = Check::problem("slurm", "sbatch not found", "run it on the login node");
        assert_eq!(c.render(), "problem  slurm      sbatch not found\n                    what to do: run it on the login node\n");
    }
}
