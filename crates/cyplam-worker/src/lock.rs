//! A per-model lock, so two workers never train the same model: created with an exclusive create
//! (O_EXCL, atomic on local file systems and NFSv3+/Lustre), holding the host, pid and Slurm job of
//! its owner. A lock is stale when its owner is gone: on the same host, its pid is dead; elsewhere,
//! Slurm no longer runs its job.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub host: String,
    pub pid: u32,
    pub slurm_job: Option<String>,
    pub since_unix: u64,
}

/// A held lock; removed when dropped.
#[derive(Debug)]
pub struct ModelLock {
    path: PathBuf,
}

impl Drop for ModelLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path}: the model is being trained by another worker (host {}, pid {}{}, since {}s ago); not starting a second one",
        .holder.host, .holder.pid,
        .holder.slurm_job.as_deref().map(|j| format!(", Slurm job {j}")).unwrap_or_default(),
        cyplam_core::files::now_unix().saturating_sub(.holder.since_unix), path = .path.display())]
    Held { path: PathBuf, holder: LockInfo },
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// Whether Slurm still has `job` pending or running (None: cannot tell, no squeue).
fn slurm_job_alive(job: &str) -> Option<bool> {
    let out = std::process::Command::new("squeue").args(["-h", "-j", job, "-o", "%T"]).output().ok()?;
    if !out.status.success() {
        // squeue fails on job ids it no longer knows.
        return Some(false);
    }
    let s = String::from_utf8_lossy(&out.stdout);
    Some(s.lines().any(|l| matches!(l.trim(), "RUNNING" | "PENDING" | "CONFIGURING" | "COMPLETING" | "SUSPENDED" | "REQUEUED" | "RESIZING")))
}

fn is_stale(info: &LockInfo, me: &LockInfo) -> bool {
    if info.host == me.host {
        return !pid_alive(info.pid) || (info.pid == me.pid);
    }
    match &info.slurm_job {
        Some(job) => slurm_job_alive(job) == Some(false),
        None => false,
    }
}

/// Takes the lock at `path`, replacing a stale one.
pub fn acquire(path: &Path) -> Result<ModelLock, LockError> {
    let io = |source| LockError::Io { path: path.to_path_buf(), source };
    let slurm_job = std::env::var("SLURM_JOB_ID").ok().map(|j| {
        match (std::env::var("SLURM_ARRAY_JOB_ID"), std::env::var("SLURM_ARRAY_TASK_ID")) {
            (Ok(a), Ok(t)) => format!("{a}_{t}"),
            _ => j,
        }
    });
    let me = LockInfo { host: cyplam_core::files::hostname(), pid: std::process::id(), slurm_job, since_unix: cyplam_core::files::now_unix() };
    for _ in 0..3 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                let body = serde_json::to_vec(&me).map_err(|e| io(std::io::Error::other(e)))?;
                f.write_all(&body).and_then(|_| f.sync_all()).map_err(io)?;
                return Ok(ModelLock { path: path.to_path_buf() });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                match serde_json::from_str::<LockInfo>(&text) {
                    Ok(holder) if !is_stale(&holder, &me) => {
                        return Err(LockError::Held { path: path.to_path_buf(), holder });
                    }
                    Ok(holder) => {
                        tracing::warn!("removing the stale lock of {} pid {} ({})", holder.host, holder.pid, path.display());
                    }
                    Err(_) => {
                        // A lock cut short by a crash between create and write: stale if old.
                        let age = std::fs::metadata(path).and_then(|m| m.modified()).ok()
                            .and_then(|t| t.elapsed().ok()).map(|d| d.as_secs()).unwrap_or(0);
                        if age < 60 {
                            std::thread::sleep(std::time::Duration::from_secs(1));
                            continue;
                        }
                    }
                }
                let _ = std::fs::remove_file(path);
            }
            Err(e) => return Err(io(e)),
        }
    }
    Err(io(std::io::Error::other("could not take the lock after 3 tries")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_worker_is_refused_and_a_stale_lock_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        // A live holder on this host: pid 1 (init) always exists.
        let holder = LockInfo { host: cyplam_core::files::hostname(), pid: 1, slurm_job: Some("42_3".into()), since_unix: 0 };
        std::fs::write(&p, serde_json::to_vec(&holder).unwrap()).unwrap();
        let e = acquire(&p).unwrap_err().to_string();
        assert!(e.contains("the model is being trained by another worker (host"), "{e}");
        assert!(e.contains("pid 1, Slurm job 42_3"), "{e}");
        // A dead holder: a pid that does not exist.
        let dead = LockInfo { pid: 999_999_999, ..holder };
        std::fs::write(&p, serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = acquire(&p).unwrap();
        let now: LockInfo = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(now.pid, std::process::id());
        drop(lock);
        assert!(!p.exists(), "released on drop");
    }
}
