//! Starting workers on this machine (`cyplam run`): `jobs` at a time, each as the slot of its
//! array task, its output appended to the model's local log; Ctrl-C asks them to checkpoint. A
//! worker that cannot be started, or that exits non-zero, is a failure with its reason, never
//! dropped.

use crate::output::tail;
use crate::sweep::{self, Frozen};
use anyhow::Result;
use cyplam_core::files::{EXIT_LOCKED, EXIT_PREEMPTED};
use cyplam_core::invocation::{Target, WorkerInvocation};
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use tokio::process::Command;
use tokio::sync::Semaphore;

/// Starts workers on this machine, `jobs` at a time, each as the slot of its array task.
pub struct Launcher<'a> {
    pub worker: PathBuf,
    pub frozen: &'a Frozen,
    pub jobs: usize,
    pub device: Option<String>,
}

/// A model whose worker did not complete it, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub model: String,
    pub why: String,
}

/// What a launch did.
pub struct Launched {
    pub failed: Vec<Failure>,
    /// Ctrl-C stopped it (the workers checkpointed).
    pub stopped: bool,
}

/// How one worker ended.
#[derive(Debug)]
enum Ended {
    Exited(i32),
    Signal,
    CouldNotStart(String),
}

impl Launcher<'_> {
    /// Runs a worker for each `(model, target)` (in `rung`, for successive halving) and waits for
    /// them; Ctrl-C asks them to checkpoint.
    pub async fn launch(&self, items: Vec<(usize, Target)>, rung: Option<u32>) -> Result<Launched> {
        let grid = &self.frozen.sweep.grid;
        let bar = ProgressBar::new(items.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} models {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        let sem = Arc::new(Semaphore::new(self.jobs));
        let stop = Arc::new(AtomicBool::new(false));
        let pids = Arc::new(Mutex::new(Vec::<u32>::new()));
        let mut handles = Vec::new();
        for (m, target) in items {
            let name = grid.models[m].name.clone();
            sweep::archive_result(&self.frozen.model_dir(&name))?;
            let one = One {
                invocation: WorkerInvocation {
                    worker: self.worker.clone(),
                    sweep: self.frozen.dir.clone(),
                    target,
                    threads: None,
                    device: self.device.clone(),
                    rung,
                    round: None,
                },
                log: self.frozen.layout().local_log(&name),
                name: name.clone(),
            };
            let (sem, stop, pids, bar) = (sem.clone(), stop.clone(), pids.clone(), bar.clone());
            let task = tokio::spawn(async move {
                let Ok(_permit) = sem.acquire_owned().await else {
                    return None;
                };
                if stop.load(Ordering::SeqCst) {
                    return None;
                }
                one.run(&pids, &bar).await
            });
            handles.push((name, task));
        }
        let mut all = Box::pin(join(handles));
        let results = tokio::select! {
            r = &mut all => r,
            _ = tokio::signal::ctrl_c() => {
                stop.store(true, Ordering::SeqCst);
                bar.println("stopping: asking the workers to checkpoint (Ctrl-C again is not needed)");
                for pid in pids.lock().map(|p| p.clone()).unwrap_or_default() {
                    let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGTERM);
                }
                all.await
            }
        };
        bar.finish_and_clear();
        let stopped = stop.load(Ordering::SeqCst);
        let failed = results.into_iter().filter_map(|(model, why)| why.map(|why| Failure { model, why })).collect();
        Ok(Launched { failed, stopped })
    }
}

/// One model's worker.
struct One {
    invocation: WorkerInvocation,
    log: PathBuf,
    name: String,
}

impl One {
    /// Starts the worker and waits for it: why it did not complete its model, if it did not.
    async fn run(self, pids: &Mutex<Vec<u32>>, bar: &ProgressBar) -> Option<String> {
        let ended = self.start_and_wait(pids, bar).await;
        bar.inc(1);
        let why = why(&ended, &self.log);
        bar.println(format!(
            "{} {}",
            self.name,
            match (&ended, &why) {
                (Ended::Exited(EXIT_PREEMPTED), _) => "stopped (checkpoint written)",
                (_, Some(why)) => why.as_str(),
                (_, None) => "done",
            }
        ));
        why
    }

    async fn start_and_wait(&self, pids: &Mutex<Vec<u32>>, bar: &ProgressBar) -> Ended {
        let logf = match std::fs::OpenOptions::new().create(true).append(true).open(&self.log) {
            Ok(f) => f,
            Err(e) => return Ended::CouldNotStart(format!("its log {} cannot be opened: {e}", self.log.display())),
        };
        let out = match logf.try_clone() {
            Ok(f) => f,
            Err(e) => return Ended::CouldNotStart(format!("its log {} cannot be opened: {e}", self.log.display())),
        };
        let mut cmd = Command::from(self.invocation.command());
        cmd.stdin(Stdio::null()).stdout(out).stderr(logf).kill_on_drop(false);
        // Own process group: a terminal's Ctrl-C reaches cyplam, which stops the workers itself.
        cmd.process_group(0);
        let worker = &self.invocation.worker;
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                return Ended::CouldNotStart(format!(
                    "the worker {} cannot be started ({e}); set CYPLAM_WORKER to the cyplam-worker binary of this build, or put that binary beside cyplam",
                    worker.display()
                ))
            }
        };
        if let (Some(pid), Ok(mut p)) = (child.id(), pids.lock()) {
            p.push(pid);
        }
        bar.set_message(format!("(started {})", self.name));
        match child.wait().await {
            Ok(status) => status.code().map(Ended::Exited).unwrap_or(Ended::Signal),
            Err(e) => Ended::CouldNotStart(format!("its worker could not be waited for ({e})")),
        }
    }
}

/// Why a worker did not complete its model, in words; None when it did, or checkpointed when
/// asked to stop (Ctrl-C).
fn why(ended: &Ended, log: &Path) -> Option<String> {
    let said = || {
        let last = tail(log, 1);
        let last = last.trim();
        if last.is_empty() {
            format!("(see {})", log.display())
        } else {
            format!(": {last} (see {})", log.display())
        }
    };
    Some(match ended {
        Ended::Exited(0) | Ended::Exited(EXIT_PREEMPTED) => return None,
        Ended::Exited(EXIT_LOCKED) => {
            format!("not started: another worker holds the model{}", said())
        }
        Ended::Exited(c) => format!("exited with {c}{}", said()),
        Ended::Signal => format!("killed by a signal (see {})", log.display()),
        Ended::CouldNotStart(why) => format!("could not start: {why}"),
    })
}

/// Waits for every task: each model with why it failed (None when it did not). A task that
/// panicked is a failure too.
async fn join(handles: Vec<(String, tokio::task::JoinHandle<Option<String>>)>) -> Vec<(String, Option<String>)> {
    let mut out = Vec::with_capacity(handles.len());
    for (name, h) in handles {
        let why = h.await.unwrap_or_else(|e| Some(format!("its launcher failed ({e})")));
        out.push((name, why));
    }
    out
}

/// The failures as lines, those with one reason together: `could not start: ... (Model-000,
/// Model-001)`.
pub fn failure_lines(failed: &[Failure]) -> Vec<String> {
    let mut by_why: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for f in failed {
        by_why.entry(f.why.as_str()).or_default().push(f.model.as_str());
    }
    by_why.into_iter().map(|(why, models)| format!("{}: {why}", models.join(", "))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failures_say_why_and_group_by_reason() {
        let t = tempfile::tempdir().unwrap();
        let log = t.path().join("local-Model-000.log");
        std::fs::write(&log, "INFO starting\ncyplam-worker: error: labels.npy: row 3 is NaN\n").unwrap();
        assert_eq!(why(&Ended::Exited(1), &log).unwrap(), format!("exited with 1: cyplam-worker: error: labels.npy: row 3 is NaN (see {})", log.display()));
        assert!(why(&Ended::Exited(EXIT_LOCKED), &log).unwrap().starts_with("not started: another worker holds the model: cyplam-worker: error"));
        assert_eq!(why(&Ended::Exited(0), &log), None);
        assert_eq!(why(&Ended::Exited(EXIT_PREEMPTED), &log), None);
        let f = |m: &str, w: &str| Failure { model: m.into(), why: w.into() };
        let lines = failure_lines(&[f("Model-000", "could not start: x"), f("Model-001", "exited with 1"), f("Model-002", "could not start: x")]);
        assert_eq!(lines, ["Model-000, Model-002: could not start: x", "Model-001: exited with 1"]);
    }
}
