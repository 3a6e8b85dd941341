//! Slurm behind a small trait (submit, states of many jobs, cancel, cluster limits), so the
//! orchestration runs against the real `sbatch`/`squeue`/`sacct`/`scontrol` or a fake. Parsing
//! their output is pure and tested against output captured from the dev cluster.

pub mod script;

use anyhow::{bail, Context, Result};
use std::collections::BTreeMap;
use std::path::Path;
use tokio::process::Command;

/// Where one array task stands, as Slurm says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// The array's job id (what sbatch printed).
    pub array_job: String,
    pub task: usize,
    /// PENDING, RUNNING, COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, PREEMPTED, ...
    pub state: String,
    pub reason: String,
    pub node: String,
    pub exit_code: Option<String>,
}

impl TaskState {
    pub fn is_active(&self) -> bool {
        matches!(
            self.state.as_str(),
            "PENDING" | "RUNNING" | "CONFIGURING" | "COMPLETING" | "REQUEUED" | "REQUEUE_HOLD" | "REQUEUE_FED" | "RESIZING" | "SUSPENDED" | "STAGE_OUT" | "SIGNALING"
        )
    }
}

/// The scheduler operations cyplam needs.
#[allow(async_fn_in_trait)]
pub trait Scheduler {
    /// Submits a script with extra sbatch arguments; returns the job id.
    async fn submit(&self, script: &Path, args: &[String]) -> Result<String>;
    /// States of every array task of these jobs (active ones and, with accounting, ended ones).
    async fn states(&self, array_jobs: &[String]) -> Result<Vec<TaskState>>;
    async fn cancel(&self, array_jobs: &[String]) -> Result<()>;
    async fn max_array_size(&self) -> Result<usize>;
}

/// The real Slurm commands on PATH.
pub struct Slurm;

async fn run(cmd: &str, args: &[String]) -> Result<String> {
    let out = match Command::new(cmd).args(args).output().await {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => bail!(
            "`{cmd}` was not found on PATH: this machine is not a Slurm login node. \
             To run the sweep on this machine instead, use `cyplam run GRID`"
        ),
        Err(e) => return Err(e).with_context(|| format!("running {cmd}")),
    };
    if !out.status.success() {
        bail!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

pub const SQUEUE_FORMAT: &str = "%i|%A|%K|%T|%r|%N";
pub const SACCT_FORMAT: &str = "JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End";

impl Scheduler for Slurm {
    async fn submit(&self, script: &Path, args: &[String]) -> Result<String> {
        let mut a = vec!["--parsable".to_string()];
        a.extend(args.iter().cloned());
        a.push(script.display().to_string());
        let out = run("sbatch", &a).await?;
        parse_sbatch_parsable(&out)
    }

    async fn states(&self, array_jobs: &[String]) -> Result<Vec<TaskState>> {
        if array_jobs.is_empty() {
            return Ok(Vec::new());
        }
        let ids = array_jobs.join(",");
        // squeue forgets finished jobs; sacct (where accounting exists) remembers them. squeue wins
        // for active tasks.
        let mut by_task: BTreeMap<(String, usize), TaskState> = BTreeMap::new();
        if let Ok(out) = run("sacct", &["-n".into(), "-P".into(), "-X".into(), "-j".into(), ids.clone(), "-o".into(), SACCT_FORMAT.into()]).await {
            for t in parse_sacct(&out) {
                by_task.insert((t.array_job.clone(), t.task), t);
            }
        }
        // squeue exits non-zero when every listed job is unknown to it.
        let out = run("squeue", &["-h".into(), "-r".into(), "-j".into(), ids, "-o".into(), SQUEUE_FORMAT.into()]).await;
        match out {
            Ok(out) => {
                for t in parse_squeue(&out) {
                    by_task.insert((t.array_job.clone(), t.task), t);
                }
            }
            Err(e) if e.to_string().contains("Invalid job id") => {}
            Err(e) => return Err(e),
        }
        Ok(by_task.into_values().collect())
    }

    async fn cancel(&self, array_jobs: &[String]) -> Result<()> {
        if array_jobs.is_empty() {
            return Ok(());
        }
        run("scancel", array_jobs).await.map(|_| ())
    }

    async fn max_array_size(&self) -> Result<usize> {
        let out = run("scontrol", &["show".into(), "config".into()]).await?;
        parse_max_array_size(&out)
    }
}

/// `sbatch --parsable` prints `jobid` or `jobid;cluster`.
pub fn parse_sbatch_parsable(out: &str) -> Result<String> {
    let line = out.lines().map(str::trim).find(|l| !l.is_empty()).context("sbatch printed no job id")?;
    let id = line.split(';').next().unwrap_or(line);
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed {line:?}, not a job id");
    }
    Ok(id.to_string())
}

/// MaxArraySize from `scontrol show config`.
pub fn parse_max_array_size(out: &str) -> Result<usize> {
    for line in out.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == "MaxArraySize" {
                return v.trim().parse().with_context(|| format!("MaxArraySize = {:?} is not a number", v.trim()));
            }
        }
    }
    bail!("`scontrol show config` does not say MaxArraySize")
}

/// Splits `123_4` into ("123", 4); array ranges such as `123_[5-9]` are expanded; a job that is
/// not an array (`123`) is task 0.
fn array_ids(id: &str) -> Vec<(String, usize)> {
    let Some((job, task)) = id.split_once('_') else {
        return if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) { vec![(id.to_string(), 0)] } else { Vec::new() };
    };
    if let Ok(t) = task.parse::<usize>() {
        return vec![(job.to_string(), t)];
    }
    let inner = task.trim_start_matches('[').trim_end_matches(']');
    let inner = inner.split('%').next().unwrap_or("");
    let mut out = Vec::new();
    for part in inner.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    out.extend((a..=b).map(|t| (job.to_string(), t)));
                }
            }
            None => {
                if let Ok(t) = part.parse::<usize>() {
                    out.push((job.to_string(), t));
                }
            }
        }
    }
    out
}

/// Parses `squeue -h -r -o '%i|%A|%K|%T|%r|%N'`.
pub fn parse_squeue(out: &str) -> Vec<TaskState> {
    let mut v = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 6 {
            continue;
        }
        for (job, task) in array_ids(f[0]) {
            v.push(TaskState {
                array_job: job,
                task,
                state: f[3].to_string(),
                reason: f[4].to_string(),
                node: f[5].to_string(),
                exit_code: None,
            });
        }
    }
    v
}

/// Parses `sacct -n -P -X -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End`.
pub fn parse_sacct(out: &str) -> Vec<TaskState> {
    let mut v = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 5 {
            continue;
        }
        // "CANCELLED by 0" -> CANCELLED.
        let state = f[2].split_whitespace().next().unwrap_or("").to_string();
        for (job, task) in array_ids(f[0]) {
            v.push(TaskState {
                array_job: job,
                task,
                state: state.clone(),
                reason: f[2].to_string(),
                node: f[4].to_string(),
                exit_code: Some(f[3].to_string()),
            });
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/slurm-output").join(name)).unwrap()
    }

    #[test]
    fn real_squeue_output() {
        let cmd = fixture("squeue-array.cmd");
        assert!(cmd.contains(SQUEUE_FORMAT), "the fixture was captured with our format: {cmd}");
        let t = parse_squeue(&fixture("squeue-array.txt"));
        assert_eq!(t.len(), 5);
        let running: Vec<usize> = t.iter().filter(|t| t.state == "RUNNING").map(|t| t.task).collect();
        assert_eq!(running, vec![1, 0]);
        assert!(t.iter().all(|t| t.array_job == "8" && t.is_active()));
        assert_eq!(t[0].reason, "Resources");
        assert_eq!(t[3].node, "vm");
    }

    #[test]
    fn real_sacct_output() {
        let cmd = fixture("sacct-array.cmd");
        assert!(cmd.contains(SACCT_FORMAT), "{cmd}");
        let t = parse_sacct(&fixture("sacct-array.txt"));
        let states: Vec<(usize, &str)> = t.iter().map(|t| (t.task, t.state.as_str())).collect();
        assert_eq!(states, vec![(0, "COMPLETED"), (1, "COMPLETED"), (2, "RUNNING"), (3, "FAILED"), (4, "CANCELLED")]);
        assert_eq!(t[3].exit_code.as_deref(), Some("3:0"));
        assert!(!t[3].is_active() && t[2].is_active());
    }

    #[test]
    fn real_scontrol_and_sbatch_output() {
        assert_eq!(parse_max_array_size(&fixture("scontrol-show-config.txt")).unwrap(), 1001);
        assert_eq!(parse_sbatch_parsable(&fixture("sbatch-parsable.txt")).unwrap(), "8");
        assert_eq!(parse_sbatch_parsable("1234;cluster2\n").unwrap(), "1234");
        assert!(parse_sbatch_parsable("sbatch: error: Batch job submission failed").is_err());
        assert!(parse_max_array_size("Foo = 1").is_err());
    }

    #[test]
    fn unexpanded_pending_ranges() {
        let t = parse_squeue("77_[3-5,9%2]|77|N/A|PENDING|JobArrayTaskLimit|\n");
        assert_eq!(t.iter().map(|t| t.task).collect::<Vec<_>>(), vec![3, 4, 5, 9]);
        // A job that is not an array (the scaling study's).
        let t = parse_squeue("33|33|N/A|RUNNING|None|vm\n");
        assert_eq!((t[0].array_job.as_str(), t[0].task, t[0].is_active()), ("33", 0, true));
    }
}
