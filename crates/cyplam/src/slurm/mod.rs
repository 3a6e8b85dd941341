//! Slurm behind a small trait (submit, states of many jobs, cancel, cluster limits, and what
//! `cyplam doctor` asks of the cluster), so the orchestration and doctor's checks run against the
//! real `sbatch`/`squeue`/`sacct`/`scontrol`/`sinfo` or a fake. Parsing their output (parse.rs)
//! and rendering scripts (script.rs) are pure and tested.

pub mod parse;
pub mod script;
mod task;

pub use parse::{
    parse_config, parse_max_array_size, parse_ping, parse_sacct, parse_sbatch_parsable, parse_sinfo_nodes, parse_squeue, NodeRow, SINFO_NODE_FORMAT,
};
pub use task::{Phase, SlurmState, TaskState};

use anyhow::Result;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use tokio::process::Command;

/// What can go wrong running a Slurm command, by kind.
#[derive(Debug, thiserror::Error)]
pub enum SlurmError {
    #[error("`{command}` was not found on PATH: this machine is not a Slurm login node. To run the sweep on this machine instead, use `cyplam run GRID`")]
    NotInstalled { command: String },
    #[error("running {command}: {error}")]
    Spawn { command: String, error: std::io::Error },
    #[error("`{command}` failed ({status}): {stderr}")]
    Failed { command: String, status: std::process::ExitStatus, stderr: String },
    /// Every job asked about is unknown to the controller (squeue's "Invalid job id").
    #[error("`{command}`: {stderr}")]
    UnknownJob { command: String, stderr: String },
}

/// The scheduler operations cyplam needs.
#[allow(async_fn_in_trait)]
pub trait Scheduler {
    /// Submits a script with extra sbatch arguments; returns the job id.
    async fn submit(&self, script: &Path, args: &[String]) -> Result<String>;
    /// States of every array task of these jobs (active ones and, with accounting, ended ones),
    /// each with its job's name: a job that Slurm lost (a controller that crashed before saving
    /// its state) may have given its id to another job, whose tasks are listed too; the caller
    /// tells them by their name.
    async fn states(&self, array_jobs: &[String]) -> Result<Vec<TaskState>>;
    async fn cancel(&self, array_jobs: &[String]) -> Result<()>;
    async fn max_array_size(&self) -> Result<usize>;

    // What `cyplam doctor` asks (crate::doctor turns each answer into a check; it bounds each
    // call's time itself).

    /// Where Slurm's client command `command` is installed (PATH's), if it is.
    fn command_path(&self, command: &str) -> Option<PathBuf>;
    /// Slurm's version, as `sbatch --version` says it (`slurm-wlm 22.05.8`).
    async fn version(&self) -> Result<String>;
    /// Whether the controller answers (`scontrol ping`). Err only when the question could not
    /// be asked (the command does not start); a controller that is down is an `Ok` [`Ping`].
    async fn ping(&self) -> Result<Ping>;
    /// The controller's configuration, `scontrol show config` as a map (`MaxArraySize`,
    /// `AccountingStorageType`, `DefMemPerCPU`, ...).
    async fn config(&self) -> Result<BTreeMap<String, String>>;
    /// Accounting answers: an empty `sacct` query (jobs from now on) succeeds.
    async fn accounting(&self) -> Result<()>;
    /// Every node of every partition (`sinfo -N`, one row per node and partition).
    async fn nodes(&self) -> Result<Vec<NodeRow>>;
    /// Why Slurm's accounting (sacct) could not be asked, if it could not in this process: the
    /// states then hold active tasks only (squeue), and ended ones are judged from the files.
    fn accounting_error(&self) -> Option<String> {
        None
    }
}

/// What `scontrol ping` said: whether the controller is up (it exits 1 and prints `... is DOWN`
/// when not), and its whole output, standard output then standard error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ping {
    pub up: bool,
    pub text: String,
}

/// Slurm's client commands cyplam runs.
pub const COMMANDS: [&str; 6] = ["sbatch", "squeue", "sacct", "scontrol", "sinfo", "scancel"];

/// The first sacct failure of this process: said once on stderr when it happens, then kept for
/// `accounting_error` (`status --watch` asks every few seconds; it is said once).
static ACCOUNTING: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The real Slurm commands on PATH.
pub struct Slurm;

pub(crate) async fn run(cmd: &str, args: &[String]) -> Result<String, SlurmError> {
    let out = match Command::new(cmd).args(args).output().await {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(SlurmError::NotInstalled { command: cmd.to_string() }),
        Err(error) => return Err(SlurmError::Spawn { command: cmd.to_string(), error }),
    };
    if !out.status.success() {
        let command = format!("{cmd} {}", args.join(" "));
        let stderr = String::from_utf8_lossy(&out.stderr).trim().to_string();
        // squeue's only way of saying that it knows none of the jobs.
        if cmd == "squeue" && stderr.contains("Invalid job id") {
            return Err(SlurmError::UnknownJob { command, stderr });
        }
        return Err(SlurmError::Failed { command, status: out.status, stderr });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// What squeue is asked ([`parse_squeue`]); the job name last, since it may hold `|`.
pub const SQUEUE_FORMAT: &str = "%i|%A|%K|%T|%r|%N|%j";
/// What sacct is asked ([`parse_sacct`]); the job name last, since it may hold `|`.
pub const SACCT_FORMAT: &str = "JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End,JobName";

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
        // squeue forgets finished jobs; sacct (where accounting exists) remembers them, and every
        // earlier run of a requeued task (-D), so the nodes lost under it. squeue wins for active
        // tasks' state and node.
        let mut by_task: BTreeMap<(String, usize), TaskState> = BTreeMap::new();
        match run("sacct", &["-n".into(), "-P".into(), "-X".into(), "-D".into(), "-j".into(), ids.clone(), "-o".into(), SACCT_FORMAT.into()]).await {
            Ok(out) => {
                for t in parse_sacct(&out) {
                    by_task.insert((t.array_job.clone(), t.task), t);
                }
            }
            // Accounting down (slurmdbd or its database stopped) or absent: squeue still knows the
            // active tasks, the files the rest (issue 30: it was ignored without a word).
            Err(e) => {
                let why = e.to_string();
                if ACCOUNTING.set(why.clone()).is_ok() {
                    eprintln!("cyplam: Slurm's accounting is unavailable ({why}); ended tasks are judged from squeue and the workers' files alone, and Slurm's word on how they ended is not known");
                }
            }
        }
        match run("squeue", &["-h".into(), "-r".into(), "-j".into(), ids, "-o".into(), SQUEUE_FORMAT.into()]).await {
            Ok(out) => {
                for mut t in parse_squeue(&out) {
                    let key = (t.array_job.clone(), t.task);
                    // The nodes lost under earlier runs of the same job (not of another job
                    // that had the id before).
                    if let Some(accounted) = by_task.remove(&key).filter(|a| a.name == t.name) {
                        t.lost_nodes = accounted.lost_nodes;
                    }
                    by_task.insert(key, t);
                }
            }
            Err(SlurmError::UnknownJob { .. }) => {}
            Err(e) => return Err(e.into()),
        }
        Ok(by_task.into_values().collect())
    }

    async fn cancel(&self, array_jobs: &[String]) -> Result<()> {
        if array_jobs.is_empty() {
            return Ok(());
        }
        run("scancel", array_jobs).await?;
        Ok(())
    }

    async fn max_array_size(&self) -> Result<usize> {
        let out = run("scontrol", &["show".into(), "config".into()]).await?;
        parse_max_array_size(&out)
    }

    fn command_path(&self, command: &str) -> Option<PathBuf> {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join(command)).find(|p| p.is_file())
    }

    async fn version(&self) -> Result<String> {
        Ok(run("sbatch", &["--version".into()]).await?)
    }

    async fn ping(&self) -> Result<Ping> {
        // Not through `run`: a controller that is down makes scontrol exit 1, and what it printed
        // is the answer. Killed if the caller gives up waiting.
        let o = Command::new("scontrol").arg("ping").kill_on_drop(true).output().await?;
        let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
        Ok(Ping { up: o.status.success() && parse_ping(&text), text })
    }

    async fn config(&self) -> Result<BTreeMap<String, String>> {
        Ok(parse_config(&run("scontrol", &["show".into(), "config".into()]).await?))
    }

    async fn accounting(&self) -> Result<()> {
        run("sacct", &["-n", "-X", "-P", "-o", "JobID", "-S", "now"].map(String::from)).await?;
        Ok(())
    }

    async fn nodes(&self) -> Result<Vec<NodeRow>> {
        Ok(parse_sinfo_nodes(&run("sinfo", &["-h", "-N", "-o", SINFO_NODE_FORMAT].map(String::from)).await?))
    }

    fn accounting_error(&self) -> Option<String> {
        ACCOUNTING.get().cloned()
    }
}
