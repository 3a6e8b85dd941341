//! A per-model lock, so two workers never train the same model: created with an exclusive create
//! (O_EXCL, atomic on local file systems and NFSv3+/Lustre), holding the host, pid and Slurm job of
//! its owner. A lock is broken only when its owner is known to be gone: on the same host, its pid
//! is dead; elsewhere, Slurm says its job no longer runs. When that cannot be told (squeue missing
//! or failing, an owner on another host without a Slurm job, a lock file without an owner in it)
//! the worker refuses, names the owner, and says how to clear the lock by hand.

use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub host: String,
    pub pid: u32,
    pub slurm_job: Option<String>,
    pub since_unix: u64,
}

impl LockInfo {
    /// "host H, pid P, Slurm job J": who holds the lock.
    fn owner(&self) -> String {
        format!("host {}, pid {}{}", self.host, self.pid, self.slurm_job.as_deref().map(|j| format!(", Slurm job {j}")).unwrap_or_default())
    }
    fn age(&self) -> u64 {
        cyplam_core::files::now_unix().saturating_sub(self.since_unix)
    }
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
    #[error("{path}: the model is being trained by another worker ({}, since {}s ago); not starting a second one",
        .holder.owner(), .holder.age(), path = .path.display())]
    Held { path: PathBuf, holder: LockInfo },
    /// The owner may still be running and cannot be checked from here: refused, like [`LockError::Held`].
    #[error("{path}: the model is locked by {} since {}s ago, and whether that worker still runs cannot be told: {why}; \
        not starting a second one. If that worker is really gone, remove {path} and run again",
        .holder.owner(), .holder.age(), path = .path.display())]
    Unverifiable { path: PathBuf, holder: LockInfo, why: String },
    /// The lock file names no owner: what a crash between creating the lock and writing it leaves.
    #[error("{path}: {what}, so whose lock it is cannot be told; not starting a worker. \
        If no worker is training this model, remove {path} and run again", path = .path.display())]
    NoOwner { path: PathBuf, what: String },
    #[error("{}: {source}", .path.display())]
    Io { path: PathBuf, source: std::io::Error },
}

impl LockError {
    /// Whether another worker holds (or may hold) the lock: the worker exits with
    /// [`cyplam_core::files::EXIT_LOCKED`].
    pub fn is_held(&self) -> bool {
        !matches!(self, LockError::Io { .. })
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// What Slurm says of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Pending, running or about to run again.
    Alive,
    /// Slurm no longer runs it (finished, or an id it does not know any more).
    Gone,
    /// Slurm could not be asked: why.
    Unknown(String),
}

/// Reads `squeue -h -j JOB -o %T`'s answer (the result of running it).
pub fn squeue_answer(out: std::io::Result<std::process::Output>) -> JobState {
    let out = match out {
        Ok(o) => o,
        Err(e) => return JobState::Unknown(format!("squeue cannot be run ({e})")),
    };
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        // squeue fails on job ids it no longer knows; every other failure (controller down,
        // timeout, no permission) says nothing about the job.
        if stderr.contains("Invalid job id") {
            return JobState::Gone;
        }
        let said = stderr.trim();
        let said = if said.is_empty() { format!("{}", out.status) } else { said.lines().last().unwrap_or(said).to_string() };
        return JobState::Unknown(format!("squeue failed: {said}"));
    }
    let s = String::from_utf8_lossy(&out.stdout);
    let states: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    if states.iter().any(|st| ACTIVE.contains(st)) {
        JobState::Alive
    } else if let Some(odd) = states.iter().find(|st| !ENDED.contains(st)) {
        JobState::Unknown(format!("squeue says {odd:?}, a state this worker does not know"))
    } else {
        // No line (squeue lists only jobs it still has) or only ended states.
        JobState::Gone
    }
}

/// Job states (`squeue -o %T`) of a job that runs or will run again.
const ACTIVE: &[&str] = &[
    "PENDING", "CONFIGURING", "RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED",
    "RESIZING", "SIGNALING", "STAGE_OUT", "RESV_DEL_HOLD", "SPECIAL_EXIT",
];
/// Job states of a job that has ended.
const ENDED: &[&str] = &[
    "COMPLETED", "CANCELLED", "FAILED", "TIMEOUT", "NODE_FAIL", "PREEMPTED", "BOOT_FAIL", "DEADLINE", "OUT_OF_MEMORY", "REVOKED",
];

/// Asks Slurm about `job` with `squeue`.
pub fn slurm_job_state(job: &str) -> JobState {
    squeue_answer(std::process::Command::new("squeue").args(["-h", "-j", job, "-o", "%T"]).output())
}

/// Whether the owner of a lock is gone.
#[derive(Debug, Clone, PartialEq)]
enum Owner {
    Alive,
    Gone,
    Unknown(String),
}

fn owner_state(info: &LockInfo, me: &LockInfo, job_state: &dyn Fn(&str) -> JobState) -> Owner {
    if info.host == me.host {
        return if info.pid == me.pid || !pid_alive(info.pid) { Owner::Gone } else { Owner::Alive };
    }
    match &info.slurm_job {
        Some(job) => match job_state(job) {
            JobState::Alive => Owner::Alive,
            JobState::Gone => Owner::Gone,
            JobState::Unknown(why) => Owner::Unknown(format!("it runs on another host ({}) and Slurm cannot be asked about job {job}: {why}", info.host)),
        },
        None => Owner::Unknown(format!("it runs on another host ({}) outside Slurm, so its pid cannot be checked from {}", info.host, me.host)),
    }
}

/// Takes the lock at `path`, replacing one whose owner is known to be gone.
pub fn acquire(path: &Path) -> Result<ModelLock, LockError> {
    acquire_with(path, &slurm_job_state)
}

/// [`acquire`], asking `job_state` about another host's Slurm job.
pub fn acquire_with(path: &Path, job_state: &dyn Fn(&str) -> JobState) -> Result<ModelLock, LockError> {
    let io = |source| LockError::Io { path: path.to_path_buf(), source };
    let slurm_job = std::env::var("SLURM_JOB_ID").ok().map(|j| {
        match (std::env::var("SLURM_ARRAY_JOB_ID"), std::env::var("SLURM_ARRAY_TASK_ID")) {
            (Ok(a), Ok(t)) => format!("{a}_{t}"),
            _ => j,
        }
    });
    let me = LockInfo { host: cyplam_core::files::hostname(), pid: std::process::id(), slurm_job, since_unix: cyplam_core::files::now_unix() };
    // A lock without an owner in it may be one being written right now: it is read again for a
    // while before it is reported.
    let mut unreadable_since: Option<std::time::Instant> = None;
    for _ in 0..1000 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                let body = serde_json::to_vec(&me).map_err(|e| io(std::io::Error::other(e)))?;
                f.write_all(&body).and_then(|_| f.sync_all()).map_err(io)?;
                return Ok(ModelLock { path: path.to_path_buf() });
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let text = match std::fs::read(path) {
                    Ok(t) => t,
                    // Released between the create and the read: try again.
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(io(e)),
                };
                match serde_json::from_slice::<LockInfo>(&text) {
                    Ok(holder) => match owner_state(&holder, &me, job_state) {
                        Owner::Alive => return Err(LockError::Held { path: path.to_path_buf(), holder }),
                        Owner::Unknown(why) => return Err(LockError::Unverifiable { path: path.to_path_buf(), holder, why }),
                        Owner::Gone => {
                            tracing::warn!("removing the stale lock of {} ({}): that worker is gone", holder.owner(), path.display());
                            remove_if_unchanged(path, &text).map_err(io)?;
                        }
                    },
                    Err(err) => {
                        let t0 = *unreadable_since.get_or_insert_with(std::time::Instant::now);
                        if t0.elapsed() < UNREADABLE_WAIT {
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                        let age = std::fs::metadata(path).and_then(|m| m.modified()).ok()
                            .and_then(|t| t.elapsed().ok()).map(|d| d.as_secs()).unwrap_or(0);
                        let what = if text.iter().all(u8::is_ascii_whitespace) {
                            format!("the lock file is empty (last written {age}s ago): what a worker leaves when it dies between creating its lock and writing its name into it")
                        } else {
                            format!("the lock file does not name its owner ({} bytes, last written {age}s ago, not a cyplam lock: {err})", text.len())
                        };
                        return Err(LockError::NoOwner { path: path.to_path_buf(), what });
                    }
                }
            }
            Err(e) => return Err(io(e)),
        }
    }
    Err(io(std::io::Error::other("the lock file kept changing while it was read; run again")))
}

/// How long a lock file without an owner is read again before it is reported.
const UNREADABLE_WAIT: Duration = Duration::from_secs(2);

/// Removes the stale lock at `path` unless another worker replaced it since it was read as
/// `seen` (that one would then be taken for stale as well).
fn remove_if_unchanged(path: &Path, seen: &[u8]) -> std::io::Result<()> {
    match std::fs::read(path) {
        Ok(now) if now == seen => match std::fs::remove_file(path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        },
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::process::ExitStatusExt;
    use std::process::{ExitStatus, Output};

    fn no_slurm(_: &str) -> JobState {
        panic!("Slurm must not be asked about a holder on this host")
    }

    #[test]
    fn a_second_worker_is_refused_and_a_stale_lock_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        // A live holder on this host: pid 1 (init) always exists.
        let holder = LockInfo { host: cyplam_core::files::hostname(), pid: 1, slurm_job: Some("42_3".into()), since_unix: 0 };
        std::fs::write(&p, serde_json::to_vec(&holder).unwrap()).unwrap();
        let e = acquire_with(&p, &no_slurm).unwrap_err();
        assert!(e.is_held());
        let e = e.to_string();
        assert!(e.contains("the model is being trained by another worker (host"), "{e}");
        assert!(e.contains("pid 1, Slurm job 42_3"), "{e}");
        // A dead holder: a pid that does not exist.
        let dead = LockInfo { pid: 999_999_999, ..holder };
        std::fs::write(&p, serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = acquire_with(&p, &no_slurm).unwrap();
        let now: LockInfo = serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap();
        assert_eq!(now.pid, std::process::id());
        drop(lock);
        assert!(!p.exists(), "released on drop");
    }

    fn elsewhere(job: Option<&str>) -> LockInfo {
        LockInfo { host: "node-17.elsewhere".into(), pid: 4242, slurm_job: job.map(str::to_string), since_unix: 0 }
    }

    #[test]
    fn another_hosts_lock_is_kept_unless_slurm_says_its_job_is_gone() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let body = serde_json::to_vec(&elsewhere(Some("77_5"))).unwrap();

        // Slurm cannot be asked (controller down): refused, the owner named, the way out said.
        std::fs::write(&p, &body).unwrap();
        let down = |job: &str| {
            assert_eq!(job, "77_5");
            JobState::Unknown("squeue failed: slurm_load_jobs error: Unable to contact slurm controller (connect failure)".into())
        };
        let e = acquire_with(&p, &down).unwrap_err();
        assert!(e.is_held(), "exit 73, as for a live owner");
        let e = e.to_string();
        assert!(e.contains("the model is locked by host node-17.elsewhere, pid 4242, Slurm job 77_5"), "{e}");
        assert!(e.contains("whether that worker still runs cannot be told: it runs on another host (node-17.elsewhere) and Slurm cannot be asked about job 77_5: squeue failed: slurm_load_jobs error: Unable to contact slurm controller"), "{e}");
        assert!(e.ends_with(&format!("If that worker is really gone, remove {} and run again", p.display())), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), body, "the lock is left as it was");

        // Slurm says it runs: held.
        let e = acquire_with(&p, &|_| JobState::Alive).unwrap_err().to_string();
        assert!(e.contains("being trained by another worker (host node-17.elsewhere, pid 4242, Slurm job 77_5"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), body);

        // Another host, no Slurm job: nothing can check it.
        std::fs::write(&p, serde_json::to_vec(&elsewhere(None)).unwrap()).unwrap();
        let e = acquire_with(&p, &|_| panic!("no job to ask about")).unwrap_err().to_string();
        assert!(e.contains("locked by host node-17.elsewhere, pid 4242 since"), "{e}");
        assert!(e.contains("outside Slurm, so its pid cannot be checked from"), "{e}");

        // Slurm says the job is gone: the lock is broken.
        std::fs::write(&p, &body).unwrap();
        let lock = acquire_with(&p, &|_| JobState::Gone).unwrap();
        let now: LockInfo = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
        assert_eq!(now.pid, std::process::id());
        drop(lock);
    }

    #[test]
    fn a_lock_file_without_an_owner_is_refused_with_what_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        std::fs::write(&p, b"").unwrap();
        let t0 = std::time::Instant::now();
        let e = acquire_with(&p, &no_slurm).unwrap_err();
        assert!(t0.elapsed() >= UNREADABLE_WAIT, "a lock being written is waited for");
        assert!(e.is_held());
        let e = e.to_string();
        assert!(e.starts_with(&format!("{}: the lock file is empty (last written", p.display())), "{e}");
        assert!(e.contains("what a worker leaves when it dies between creating its lock and writing its name into it"), "{e}");
        assert!(e.ends_with(&format!("If no worker is training this model, remove {} and run again", p.display())), "{e}");
        assert!(!e.contains("3 tries"), "{e}");
        assert!(p.exists(), "left as it was");

        std::fs::write(&p, b"\x00\x07garbage{").unwrap();
        let e = acquire_with(&p, &no_slurm).unwrap_err().to_string();
        assert!(e.contains("the lock file does not name its owner (10 bytes, last written"), "{e}");
        assert!(e.contains("not a cyplam lock:"), "{e}");
        assert!(e.contains(&format!("remove {} and run again", p.display())), "{e}");

        // A lock that is being written when first read is taken over once its owner shows gone.
        std::fs::write(&p, b"").unwrap();
        let writer = {
            let p = p.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                let gone = LockInfo { host: cyplam_core::files::hostname(), pid: 999_999_999, slurm_job: None, since_unix: 0 };
                std::fs::write(&p, serde_json::to_vec(&gone).unwrap()).unwrap();
            })
        };
        let lock = acquire_with(&p, &no_slurm).unwrap();
        writer.join().unwrap();
        drop(lock);
    }

    fn output(code: i32, stdout: &str, stderr: &str) -> std::io::Result<Output> {
        Ok(Output { status: ExitStatus::from_raw(code << 8), stdout: stdout.into(), stderr: stderr.into() })
    }

    #[test]
    fn squeue_answers_are_read_as_alive_gone_or_unknown() {
        assert_eq!(squeue_answer(output(0, "RUNNING\n", "")), JobState::Alive);
        assert_eq!(squeue_answer(output(0, "PENDING\n", "")), JobState::Alive);
        assert_eq!(squeue_answer(output(0, "COMPLETED\n", "")), JobState::Gone);
        assert_eq!(squeue_answer(output(0, "", "")), JobState::Gone);
        assert_eq!(squeue_answer(output(0, "WHATEVER\n", "")), JobState::Unknown("squeue says \"WHATEVER\", a state this worker does not know".into()));
        // What this Slurm says of a job id it no longer knows (captured from the dev cluster).
        assert_eq!(squeue_answer(output(1, "", "slurm_load_jobs error: Invalid job id specified\n")), JobState::Gone);
        assert_eq!(
            squeue_answer(output(1, "", "slurm_load_jobs error: Unable to contact slurm controller (connect failure)\n")),
            JobState::Unknown("squeue failed: slurm_load_jobs error: Unable to contact slurm controller (connect failure)".into())
        );
        assert_eq!(squeue_answer(output(1, "", "")), JobState::Unknown("squeue failed: exit status: 1".into()));
        let missing = squeue_answer(Err(std::io::Error::from(std::io::ErrorKind::NotFound)));
        assert!(matches!(&missing, JobState::Unknown(w) if w.starts_with("squeue cannot be run (")), "{missing:?}");
    }
}
