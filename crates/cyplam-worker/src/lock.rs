//! A per-model lock, so two workers never train the same model: created with an exclusive create
//! (O_EXCL, atomic on local file systems and NFSv3+/Lustre), holding the host, pid, Slurm job (and
//! its name) and Slurm node of its owner. A lock is broken only when its owner is known to be
//! gone: on the same host, its pid is dead; elsewhere, Slurm says its job no longer runs on the
//! owner's node (it ended, or it was requeued: pending, or running on another node, as after a
//! lost node; or the id is another job's now, under another name, as after a controller crash;
//! what each Slurm state means is the table in `cyplam_core::slurm_state`, shared with the
//! coordinator). Never because of its age. When that cannot be told (squeue missing or failing, an owner on another
//! host without a Slurm job, a lock file without an owner in it) the worker refuses, names the
//! owner, and says how to clear the lock by hand.

use cyplam_core::slurm_state::{Lock, SlurmState};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockInfo {
    pub host: String,
    pub pid: u32,
    pub slurm_job: Option<String>,
    /// The Slurm node the owner ran on (`SLURMD_NODENAME`), as squeue names it. Locks written
    /// before it was recorded have none: Slurm's word that their job is active keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_node: Option<String>,
    /// The name of the owner's Slurm job (`SLURM_JOB_NAME`): a controller that crashed before
    /// saving its state gives a lost job's id to the next job, so a job of that id under another
    /// name is not the owner's. Locks written before it was recorded have none: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slurm_job_name: Option<String>,
    pub since_unix: u64,
}

impl LockInfo {
    /// "host H, pid P, Slurm job J on node N": who holds the lock.
    fn owner(&self) -> String {
        let job = match (&self.slurm_job, self.node()) {
            (Some(j), Some(n)) => format!(", Slurm job {j} on node {n}"),
            (Some(j), None) => format!(", Slurm job {j}"),
            (None, _) => String::new(),
        };
        format!("host {}, pid {}{job}", self.host, self.pid)
    }
    /// How to stop the holder: its Slurm job, or its process on its host.
    fn stop_command(&self) -> String {
        match &self.slurm_job {
            Some(j) => format!("`scancel {j}`"),
            None => format!("`kill {}` on {}", self.pid, self.host),
        }
    }
    /// The Slurm node the owner ran on, if the lock says.
    fn node(&self) -> Option<&str> {
        self.slurm_node.as_deref().filter(|n| !n.is_empty())
    }
    fn age(&self) -> u64 {
        cyplam_core::files::now_unix().saturating_sub(self.since_unix)
    }
}

/// A held lock; removed when dropped, unless another worker took it over meanwhile.
///
/// Fencing (docs/reliability.md): the lock file holds exactly the bytes this worker wrote
/// (`body`: its host, pid, Slurm job and node, and the second it took the lock) for as long as it
/// owns the model. A worker that lost its model (its node cut off, Slurm requeued its task
/// elsewhere, the new owner broke the lock as stale) finds other bytes there, or none, the next
/// time it [`ModelLock::check`]s, which it does before every write, and stops without writing.
#[derive(Debug)]
pub struct ModelLock {
    path: PathBuf,
    body: Vec<u8>,
}

impl ModelLock {
    /// Whether this worker still owns the lock: the file holds what it wrote. Before each write
    /// of the model's files; otherwise [`LockError::Fenced`], naming the new owner.
    pub fn check(&self) -> Result<(), LockError> {
        match std::fs::read(&self.path) {
            Ok(now) if now == self.body => Ok(()),
            Ok(now) => Err(LockError::Fenced {
                path: self.path.clone(),
                now: match serde_json::from_slice::<LockInfo>(&now) {
                    Ok(holder) => format!("now held by {}", holder.owner()),
                    Err(_) => format!("now holding {} bytes that name no owner", now.len()),
                },
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(LockError::Fenced { path: self.path.clone(), now: "removed".into() }),
            Err(source) => Err(LockError::Io { path: self.path.clone(), source }),
        }
    }
}

impl Drop for ModelLock {
    fn drop(&mut self) {
        // Never the lock of the worker that took the model over.
        let _ = remove_if_unchanged(&self.path, &self.body);
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("{path}: the model is being trained by another worker ({}, since {}s ago); not starting a second one",
        .holder.owner(), .holder.age(), path = .path.display())]
    Held { path: PathBuf, holder: Box<LockInfo> },
    /// A live holder kept the lock for as long as [`acquire_waiting`] waits.
    #[error("{path}: still held by {} after waiting {} for it (held for {}s); it runs and has not let go: run again once it has, \
        or stop it ({}) if it hangs", .holder.owner(), span(*.waited), .holder.age(), .holder.stop_command(), path = .path.display())]
    WaitedOut { path: PathBuf, holder: Box<LockInfo>, waited: Duration },
    /// The owner may still be running and cannot be checked from here: refused, like [`LockError::Held`].
    #[error("{path}: the model is locked by {} since {}s ago, and whether that worker still runs cannot be told: {why}; \
        not starting a second one. {}", .holder.owner(), .holder.age(), gone_advice(.holder, .path), path = .path.display())]
    Unverifiable { path: PathBuf, holder: Box<LockInfo>, why: String },
    /// The lock file names no owner: what a crash between creating the lock and writing it leaves.
    #[error("{path}: {what}, so whose lock it is cannot be told; not starting a worker. \
        If no worker is training this model, remove {path} and run again", path = .path.display())]
    NoOwner { path: PathBuf, what: String },
    /// This worker lost the model to another (fencing): the lock it took is no longer its own.
    #[error("{path}: this worker no longer owns the model: its lock was taken over ({now}), as when Slurm requeued the task \
        elsewhere after this node was cut off; stopping without writing anything more, the new owner trains the model", path = .path.display())]
    Fenced { path: PathBuf, now: String },
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

/// What to do when the holder of `path` may be gone but cannot be checked from here: a Slurm job
/// is checked where Slurm answers.
fn gone_advice(holder: &LockInfo, path: &Path) -> String {
    match &holder.slurm_job {
        Some(j) => format!("If Slurm job {j} no longer runs (`squeue -j {j}` where Slurm answers lists nothing), remove {} and run again", path.display()),
        None => format!("If that worker is really gone, remove {} and run again", path.display()),
    }
}

/// `10 min`, `90 s`.
fn span(d: Duration) -> String {
    match d.as_secs() {
        s if s >= 60 && s % 60 == 0 => format!("{} min", s / 60),
        s if s > 0 => format!("{s} s"),
        _ => format!("{} ms", d.as_millis()),
    }
}

fn pid_alive(pid: u32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
}

/// What Slurm says of a job.
#[derive(Debug, Clone, PartialEq)]
pub enum JobState {
    /// Pending, running or about to run again: its state, the nodes it holds now (none while
    /// pending; `None` when squeue did not say, or said it in a form not read here), and its name
    /// (`None` when squeue did not say).
    Alive { state: String, nodes: Option<Vec<String>>, name: Option<String> },
    /// Slurm no longer runs it (finished, or an id it does not know any more).
    Gone,
    /// Slurm could not be asked: why.
    Unknown(String),
}

/// Expands a Slurm host list (`n1`, `n[1-3,5]`, `a01,b[07-09]`) into node names; `None` for a
/// form not read here (several brackets in one name).
pub fn expand_hostlist(list: &str) -> Option<Vec<String>> {
    let list = list.trim();
    let mut out = Vec::new();
    let mut rest = list;
    while !rest.is_empty() {
        // One name: up to a comma outside brackets.
        let mut depth = 0usize;
        let end = rest
            .char_indices()
            .find(|&(_, c)| match c {
                '[' => {
                    depth += 1;
                    false
                }
                ']' => {
                    depth = depth.saturating_sub(1);
                    false
                }
                ',' => depth == 0,
                _ => false,
            })
            .map(|(i, _)| i)
            .unwrap_or(rest.len());
        let name = &rest[..end];
        rest = rest.get(end + 1..).unwrap_or("");
        match name.find('[') {
            None if name.contains(']') => return None,
            None => {
                if !name.is_empty() {
                    out.push(name.to_string());
                }
            }
            Some(open) => {
                let close = name.find(']')?;
                let (prefix, inner, suffix) = (&name[..open], &name[open + 1..close], &name[close + 1..]);
                if suffix.contains('[') || suffix.contains(']') || close < open {
                    return None;
                }
                for part in inner.split(',') {
                    let (a, b) = part.split_once('-').unwrap_or((part, part));
                    let (lo, hi): (u64, u64) = (a.parse().ok()?, b.parse().ok()?);
                    if hi < lo || hi - lo > 100_000 {
                        return None;
                    }
                    let width = a.len();
                    out.extend((lo..=hi).map(|i| format!("{prefix}{i:0width$}{suffix}")));
                }
            }
        }
    }
    Some(out)
}

/// Reads `squeue -h -j JOB -o %T|%N|%j`'s answer (the result of running it); `%T` and `%T|%N`
/// are read too. The name comes last and takes the rest of the line (it may hold `|`).
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
    // One line per job: STATE, STATE|NODELIST, or STATE|NODELIST|NAME.
    let lines: Vec<(&str, Option<&str>, Option<&str>)> = s
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '|');
            let st = f.next().unwrap_or_default().trim();
            (st, f.next().map(str::trim), f.next())
        })
        .collect();
    // What each state means is the one table shared with the coordinator (cyplam_core::slurm_state).
    if let Some((odd, ..)) = lines.iter().find(|(st, ..)| !SlurmState::from(*st).is_known()) {
        // A state the table does not know (a later Slurm's) is alive for a lock, and more: its node
        // list is not trusted either, so the lock is never taken over; the worker refuses and names it.
        return JobState::Unknown(format!("squeue says {odd:?}, a state this worker does not know"));
    }
    let active: Vec<&(&str, Option<&str>, Option<&str>)> = lines.iter().filter(|(st, ..)| is_alive(st)).collect();
    match active.first() {
        Some((state, _, name)) => {
            // The nodes of every active line; unknown if any line does not say them readably.
            let nodes = active.iter().try_fold(Vec::new(), |mut all, (_, n, _)| {
                all.extend(expand_hostlist(n.filter(|n| *n != "(null)")?)?);
                Some(all)
            });
            JobState::Alive { state: SlurmState::from(*state).to_string(), nodes, name: name.map(str::to_string) }
        }
        // No line (squeue lists only jobs it still has) or only ended states.
        None => JobState::Gone,
    }
}

/// Whether a job in `state` (`squeue -o %T`) may still run, or run again, and write the model: the
/// table's [`Lock::Alive`].
fn is_alive(state: &str) -> bool {
    SlurmState::from(state).lock() == Lock::Alive
}

/// Asks Slurm about `job` with `squeue`: its state, nodes and name.
pub fn slurm_job_state(job: &str) -> JobState {
    squeue_answer(std::process::Command::new("squeue").args(["-h", "-j", job, "-o", "%T|%N|%j"]).output())
}

/// Whether the owner of a lock is gone (and why).
#[derive(Debug, Clone, PartialEq)]
enum Owner {
    Alive,
    Gone(String),
    Unknown(String),
}

fn owner_state(info: &LockInfo, me: &LockInfo, job_state: &dyn Fn(&str) -> JobState) -> Owner {
    if info.host == me.host {
        return if info.pid == me.pid {
            Owner::Gone("it was this process".into())
        } else if !pid_alive(info.pid) {
            Owner::Gone(format!("no process {} runs on {}", info.pid, me.host))
        } else {
            Owner::Alive
        };
    }
    match &info.slurm_job {
        Some(job) => match job_state(job) {
            // Another job has the id now: Slurm lost the owner's (a controller that crashed
            // before saving its state gives the id to the next job submitted).
            JobState::Alive { name: Some(name), .. } if info.slurm_job_name.as_deref().is_some_and(|n| n != name) => Owner::Gone(format!(
                "Slurm job {job} is now another job, named {name:?} (the owner's was {:?}): Slurm no longer knows the owner's job",
                info.slurm_job_name.as_deref().unwrap_or_default()
            )),
            // The job runs (or will run) again, but not where the owner was: Slurm requeued it
            // (a lost node, a preemption), so the owner's copy no longer runs.
            JobState::Alive { state, nodes: Some(nodes), .. } if info.node().is_some_and(|n| !nodes.iter().any(|x| x == n)) => {
                let node = info.node().unwrap_or_default();
                let now = if nodes.is_empty() { String::new() } else { format!(" on {}", nodes.join(",")) };
                Owner::Gone(format!("Slurm says job {job} is {state}{now}, no longer running on {node}"))
            }
            JobState::Alive { .. } => Owner::Alive,
            JobState::Gone => Owner::Gone(format!("Slurm says job {job} no longer runs (it ended, or Slurm does not know it any more)")),
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
    let slurm_job = std::env::var("SLURM_JOB_ID").ok().map(|j| match (std::env::var("SLURM_ARRAY_JOB_ID"), std::env::var("SLURM_ARRAY_TASK_ID")) {
        (Ok(a), Ok(t)) => format!("{a}_{t}"),
        _ => j,
    });
    let slurm_node = slurm_job.as_ref().and_then(|_| std::env::var("SLURMD_NODENAME").ok()).filter(|n| !n.is_empty());
    let slurm_job_name = slurm_job.as_ref().and_then(|_| std::env::var("SLURM_JOB_NAME").ok());
    let me = LockInfo {
        host: cyplam_core::files::hostname(),
        pid: std::process::id(),
        slurm_job,
        slurm_node,
        slurm_job_name,
        since_unix: cyplam_core::files::now_unix(),
    };
    // A lock without an owner in it may be one being written right now: it is read again for a
    // while before it is reported.
    let mut unreadable_since: Option<std::time::Instant> = None;
    let mut took_over_from_elsewhere = false;
    for _ in 0..1000 {
        match std::fs::OpenOptions::new().write(true).create_new(true).open(path) {
            Ok(mut f) => {
                let body = serde_json::to_vec(&me).map_err(|e| io(std::io::Error::other(e)))?;
                f.write_all(&body).and_then(|_| f.sync_all()).map_err(io)?;
                if took_over_from_elsewhere {
                    // A worker of another node that lost the model may have passed its last
                    // check just before: let that one write land before this one reads the files.
                    std::thread::sleep(FENCE_GRACE);
                }
                return Ok(ModelLock { path: path.to_path_buf(), body });
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
                        Owner::Alive => return Err(LockError::Held { path: path.to_path_buf(), holder: Box::new(holder) }),
                        Owner::Unknown(why) => return Err(LockError::Unverifiable { path: path.to_path_buf(), holder: Box::new(holder), why }),
                        Owner::Gone(why) => {
                            tracing::warn!("removing the stale lock of {} ({}): that worker is gone: {why}", holder.owner(), path.display());
                            remove_if_unchanged(path, &text).map_err(io)?;
                            took_over_from_elsewhere |= holder.host != me.host;
                        }
                    },
                    Err(err) => {
                        let t0 = *unreadable_since.get_or_insert_with(std::time::Instant::now);
                        if t0.elapsed() < UNREADABLE_WAIT {
                            std::thread::sleep(Duration::from_millis(100));
                            continue;
                        }
                        let age = std::fs::metadata(path).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok()).map(|d| d.as_secs()).unwrap_or(0);
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

/// [`acquire`], waiting up to `wait` for a live holder to let go (the rungs' decision lock: the
/// worker taking a decision holds it for a moment). Says at once that it waits, for whom and for
/// how long at most, and again when another worker takes the lock meanwhile.
pub fn acquire_waiting(path: &Path, wait: Duration) -> Result<ModelLock, LockError> {
    acquire_waiting_with(path, wait, &slurm_job_state, &|m| tracing::info!("{m}"))
}

/// [`acquire_waiting`], asking `job_state` about Slurm jobs and saying what it does with `say`.
pub fn acquire_waiting_with(path: &Path, wait: Duration, job_state: &dyn Fn(&str) -> JobState, say: &dyn Fn(&str)) -> Result<ModelLock, LockError> {
    let t0 = std::time::Instant::now();
    let mut told: Option<(String, u32, u64)> = None;
    loop {
        match acquire_with(path, job_state) {
            Err(LockError::Held { path, holder }) => {
                let left = wait.saturating_sub(t0.elapsed());
                if left.is_zero() {
                    return Err(LockError::WaitedOut { path, holder, waited: wait });
                }
                let who = (holder.host.clone(), holder.pid, holder.since_unix);
                if told.as_ref() != Some(&who) {
                    let most = if told.is_none() { span(wait) } else { format!("{} more", span(left)) };
                    say(&format!("{}: held by {} since {}s ago; waiting up to {most} for it to let go", path.display(), holder.owner(), holder.age()));
                    told = Some(who);
                }
                std::thread::sleep(left.min(Duration::from_millis(250)));
            }
            other => return other,
        }
    }
}

/// How long a worker that broke the lock of a worker on another host waits before it reads the
/// model's files: longer than one write of the old owner that passed its last check just before
/// the takeover (docs/reliability.md, fencing).
pub const FENCE_GRACE: Duration = Duration::from_secs(2);

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
        let holder =
            LockInfo { host: cyplam_core::files::hostname(), pid: 1, slurm_job: Some("42_3".into()), slurm_node: None, slurm_job_name: None, since_unix: 0 };
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

    /// Issue 30, fencing: a worker whose lock was taken over finds out at its next check, and
    /// its drop leaves the new owner's lock alone.
    #[test]
    fn a_lock_taken_over_fences_its_old_owner_and_survives_its_drop() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let lock = acquire_with(&p, &no_slurm).unwrap();
        assert!(lock.check().is_ok(), "its own lock");
        // Another node's worker took the model over (it broke the lock as stale and wrote its own).
        let new_owner = LockInfo { slurm_job: Some("77_5".into()), slurm_node: Some("n3".into()), ..elsewhere(Some("77_5")) };
        let theirs = serde_json::to_vec(&new_owner).unwrap();
        std::fs::remove_file(&p).unwrap();
        std::fs::write(&p, &theirs).unwrap();
        let e = lock.check().unwrap_err();
        assert!(e.is_held(), "the worker exits as for a held lock (73)");
        let e = e.to_string();
        assert!(
            e.contains(
                "this worker no longer owns the model: its lock was taken over (now held by host node-17.elsewhere, pid 4242, Slurm job 77_5 on node n3)"
            ),
            "{e}"
        );
        assert!(e.contains("stopping without writing anything more"), "{e}");
        drop(lock);
        assert_eq!(std::fs::read(&p).unwrap(), theirs, "the old owner's drop leaves the new owner's lock");
        // A lock removed under its owner fences it too; rewritten with the same owner but another
        // second (a restart of the same pid is not the same owner), too.
        std::fs::remove_file(&p).unwrap();
        let lock = acquire_with(&p, &no_slurm).unwrap();
        std::fs::remove_file(&p).unwrap();
        assert!(lock.check().unwrap_err().to_string().contains("taken over (removed)"));
        let mine: LockInfo = serde_json::from_slice(&lock.body).unwrap();
        std::fs::write(&p, serde_json::to_vec(&LockInfo { since_unix: mine.since_unix + 1, ..mine }).unwrap()).unwrap();
        assert!(lock.check().is_err());
    }

    fn elsewhere(job: Option<&str>) -> LockInfo {
        LockInfo { host: "node-17.elsewhere".into(), pid: 4242, slurm_job: job.map(str::to_string), slurm_node: None, slurm_job_name: None, since_unix: 0 }
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
        assert!(
            e.ends_with(&format!(
                "If Slurm job 77_5 no longer runs (`squeue -j 77_5` where Slurm answers lists nothing), remove {} and run again",
                p.display()
            )),
            "{e}"
        );
        assert_eq!(std::fs::read(&p).unwrap(), body, "the lock is left as it was");

        // Slurm says it runs: held.
        let e = acquire_with(&p, &|_| running_on(&["node-17"])).unwrap_err().to_string();
        assert!(e.contains("being trained by another worker (host node-17.elsewhere, pid 4242, Slurm job 77_5"), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), body);

        // Another host, no Slurm job: nothing can check it.
        std::fs::write(&p, serde_json::to_vec(&elsewhere(None)).unwrap()).unwrap();
        let e = acquire_with(&p, &|_| panic!("no job to ask about")).unwrap_err().to_string();
        assert!(e.contains("locked by host node-17.elsewhere, pid 4242 since"), "{e}");
        assert!(e.contains("outside Slurm, so its pid cannot be checked from"), "{e}");
        assert!(e.ends_with(&format!("If that worker is really gone, remove {} and run again", p.display())), "{e}");

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
                let gone =
                    LockInfo { host: cyplam_core::files::hostname(), pid: 999_999_999, slurm_job: None, slurm_node: None, slurm_job_name: None, since_unix: 0 };
                std::fs::write(&p, serde_json::to_vec(&gone).unwrap()).unwrap();
            })
        };
        let lock = acquire_with(&p, &no_slurm).unwrap();
        writer.join().unwrap();
        drop(lock);
    }

    #[test]
    fn a_worker_waiting_for_a_live_holder_says_at_once_for_whom_and_how_long() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("decide.lock");
        let host = cyplam_core::files::hostname();
        // A live holder on this host (pid 1), a Slurm job's worker, taken 5 s ago.
        let since = cyplam_core::files::now_unix() - 5;
        let holder =
            LockInfo { host: host.clone(), pid: 1, slurm_job: Some("42_3".into()), slurm_node: Some("n1".into()), slurm_job_name: None, since_unix: since };
        std::fs::write(&p, serde_json::to_vec(&holder).unwrap()).unwrap();
        let said = std::cell::RefCell::new(Vec::new());
        let t0 = std::time::Instant::now();
        let say = |m: &str| said.borrow_mut().push((t0.elapsed(), m.to_string()));
        let e = acquire_waiting_with(&p, Duration::from_secs(1), &no_slurm, &say).unwrap_err();
        assert!(t0.elapsed() >= Duration::from_secs(1) && e.is_held());
        let said = said.take();
        assert_eq!(said.len(), 1, "said once: {said:?}");
        assert!(said[0].0 < Duration::from_millis(200), "said at once: {said:?}");
        assert_eq!(
            said[0].1,
            format!("{}: held by host {host}, pid 1, Slurm job 42_3 on node n1 since 5s ago; waiting up to 1 s for it to let go", p.display())
        );
        assert_eq!(e.to_string(), format!("{}: still held by host {host}, pid 1, Slurm job 42_3 on node n1 after waiting 1 s for it (held for {}s); it runs and has not let go: run again once it has, or stop it (`scancel 42_3`) if it hangs",
            p.display(), holder.age()));

        // Let go while waited for: taken.
        let letgo = {
            let p = p.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                std::fs::remove_file(&p).unwrap();
            })
        };
        let n = std::cell::Cell::new(0);
        let lock = acquire_waiting_with(&p, Duration::from_secs(600), &no_slurm, &|_| n.set(n.get() + 1)).unwrap();
        letgo.join().unwrap();
        assert_eq!(n.get(), 1);
        drop(lock);
        assert_eq!(
            (span(Duration::from_secs(600)), span(Duration::from_secs(90)), span(Duration::from_millis(250))),
            ("10 min".into(), "90 s".into(), "250 ms".into())
        );
    }

    fn output(code: i32, stdout: &str, stderr: &str) -> std::io::Result<Output> {
        Ok(Output { status: ExitStatus::from_raw(code << 8), stdout: stdout.into(), stderr: stderr.into() })
    }

    #[test]
    fn squeue_answers_are_read_as_alive_gone_or_unknown() {
        let alive = |state: &str, nodes: Option<&[&str]>| JobState::Alive {
            state: state.into(),
            nodes: nodes.map(|n| n.iter().map(|s| s.to_string()).collect()),
            name: None,
        };
        assert_eq!(squeue_answer(output(0, "RUNNING\n", "")), alive("RUNNING", None));
        assert_eq!(squeue_answer(output(0, "PENDING\n", "")), alive("PENDING", None));
        // With the nodes (`-o %T|%N`), as the dev cluster prints them: a pending task holds none.
        assert_eq!(squeue_answer(output(0, "RUNNING|n3\n", "")), alive("RUNNING", Some(&["n3"])));
        assert_eq!(squeue_answer(output(0, "PENDING|\n", "")), alive("PENDING", Some(&[])));
        assert_eq!(squeue_answer(output(0, "RUNNING|n[1-2]\n", "")), alive("RUNNING", Some(&["n1", "n2"])));
        assert_eq!(squeue_answer(output(0, "RUNNING|n[1-2\n", "")), alive("RUNNING", None));
        assert_eq!(squeue_answer(output(0, "COMPLETED|n1\n", "")), JobState::Gone);
        // Captured on the multi-node dev cluster, Slurm 22.05 and 24.11: the task of a lost node
        // n2, requeued, then running again on n1 (slurm/dev-cluster/capture-fixtures).
        for version in ["", "24.11"] {
            let captured = |name: &str| {
                let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../cyplam/tests/data/slurm-output").join(version);
                assert!(std::fs::read_to_string(dir.join(format!("{name}.cmd"))).unwrap().contains("-o '%T|%N|%j'"));
                std::fs::read_to_string(dir.join(format!("{name}.txt"))).unwrap()
            };
            let named = |state: &str, nodes: &[&str]| JobState::Alive {
                state: state.into(),
                nodes: Some(nodes.iter().map(|s| s.to_string()).collect()),
                name: Some("cyplam-fixture-nodes".into()),
            };
            assert_eq!(squeue_answer(output(0, &captured("squeue-lock-requeued"), "")), named("PENDING", &[]), "{version}");
            assert_eq!(squeue_answer(output(0, &captured("squeue-lock-rerun"), "")), named("RUNNING", &["n1"]), "{version}");
            // A job id Slurm gave again after a controller crash, to a plain job: `-j J_0` lists
            // nothing. (22.05's only: 24.11 kept the array through each crash of the capture.)
            if version.is_empty() {
                assert_eq!(squeue_answer(output(0, &captured("squeue-lock-reused"), "")), JobState::Gone);
            }
        }
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

    fn running_on(nodes: &[&str]) -> JobState {
        JobState::Alive { state: "RUNNING".into(), nodes: Some(nodes.iter().map(|s| s.to_string()).collect()), name: None }
    }

    #[test]
    fn another_nodes_lock_is_stale_once_slurm_runs_its_job_elsewhere_or_requeued_it() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        // What the worker of array task 77_5 on node n2 left when n2 was lost.
        let on_n2 =
            LockInfo { host: "n2".into(), pid: 4242, slurm_job: Some("77_5".into()), slurm_node: Some("n2".into()), slurm_job_name: None, since_unix: 0 };
        let body = serde_json::to_vec(&on_n2).unwrap();

        // Slurm still has it running on n2 (it has not noticed the loss yet): held, however old.
        std::fs::write(&p, &body).unwrap();
        let e = acquire_with(&p, &|_| running_on(&["n2"])).unwrap_err();
        assert!(matches!(e, LockError::Held { .. }), "{e}");
        assert_eq!(std::fs::read(&p).unwrap(), body, "the lock is left as it was");

        // Requeued: pending (no node), or running again on n3 (this worker's own copy).
        for (state, nodes) in [("PENDING", &[][..]), ("RUNNING", &["n3"][..]), ("RUNNING", &["n[1,3]"][..])] {
            std::fs::write(&p, &body).unwrap();
            let nodes: Vec<String> = nodes.iter().flat_map(|n| expand_hostlist(n).unwrap()).collect();
            let lock = acquire_with(&p, &|job| {
                assert_eq!(job, "77_5");
                JobState::Alive { state: state.into(), nodes: Some(nodes.clone()), name: None }
            })
            .unwrap_or_else(|e| panic!("{state} {nodes:?}: {e}"));
            let now: LockInfo = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
            assert_eq!(now.pid, std::process::id());
            drop(lock);
        }
        let why = owner_state(&on_n2, &elsewhere(None), &|_| running_on(&["n3"]));
        assert_eq!(why, Owner::Gone("Slurm says job 77_5 is RUNNING on n3, no longer running on n2".into()));

        // A lock that does not say its node (written before the node was recorded): Slurm's word
        // that the job is active keeps it, wherever it runs.
        let old = LockInfo { slurm_node: None, ..on_n2.clone() };
        std::fs::write(&p, serde_json::to_vec(&old).unwrap()).unwrap();
        assert!(matches!(acquire_with(&p, &|_| running_on(&["n3"])).unwrap_err(), LockError::Held { .. }));
        // Nor is one broken when squeue's node list cannot be read.
        std::fs::write(&p, &body).unwrap();
        let unread = |_: &str| JobState::Alive { state: "RUNNING".into(), nodes: None, name: None };
        assert!(matches!(acquire_with(&p, &unread).unwrap_err(), LockError::Held { .. }));
        // Old lock files (no slurm_node key) still read.
        let text = r#"{"host":"n2","pid":4242,"slurm_job":"77_5","since_unix":0}"#;
        assert_eq!(serde_json::from_str::<LockInfo>(text).unwrap(), old);
    }

    /// Issue 30: a controller that crashed before saving its state lost the owner's job and gave
    /// its id to another job. That job, even running on the owner's node, is not the owner.
    #[test]
    fn a_lock_whose_job_id_slurm_gave_to_another_job_is_broken() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let owner = LockInfo {
            host: "n2".into(),
            pid: 4242,
            slurm_job: Some("77_5".into()),
            slurm_node: Some("n2".into()),
            slurm_job_name: Some("cyplam-s|x".into()),
            since_unix: 0,
        };
        let body = serde_json::to_vec(&owner).unwrap();
        // squeue's answer with the name last: a name holding '|' stays whole.
        let ours = squeue_answer(output(0, "RUNNING|n2|cyplam-s|x\n", ""));
        assert_eq!(ours, JobState::Alive { state: "RUNNING".into(), nodes: Some(vec!["n2".into()]), name: Some("cyplam-s|x".into()) });
        std::fs::write(&p, &body).unwrap();
        assert!(matches!(acquire_with(&p, &|_| ours.clone()).unwrap_err(), LockError::Held { .. }));
        // Another job of that id, on the owner's node: the owner is gone.
        let other = squeue_answer(output(0, "RUNNING|n2|wrap\n", ""));
        assert_eq!(
            owner_state(&owner, &elsewhere(None), &|_| other.clone()),
            Owner::Gone("Slurm job 77_5 is now another job, named \"wrap\" (the owner's was \"cyplam-s|x\"): Slurm no longer knows the owner's job".into())
        );
        std::fs::write(&p, &body).unwrap();
        drop(acquire_with(&p, &|_| other.clone()).unwrap());
        // A lock that does not say its job's name (written before it was recorded): not checked.
        let old = LockInfo { slurm_job_name: None, ..owner.clone() };
        std::fs::write(&p, serde_json::to_vec(&old).unwrap()).unwrap();
        assert!(matches!(acquire_with(&p, &|_| other.clone()).unwrap_err(), LockError::Held { .. }));
        let text = r#"{"host":"n2","pid":4242,"slurm_job":"77_5","slurm_node":"n2","since_unix":0}"#;
        assert_eq!(serde_json::from_str::<LockInfo>(text).unwrap(), old);
    }

    /// The lock's verdict on every state of the one table is the table's (so the worker and the
    /// coordinator, which reads the same table, cannot disagree again): alive keeps the lock of an
    /// owner on the job's node, gone breaks it; a state the table does not know keeps it whatever
    /// the node list says.
    #[test]
    fn every_slurm_state_keeps_or_breaks_a_lock_as_the_table_says() {
        use cyplam_core::slurm_state::{Resubmit, STATES};
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("lock");
        let on_n2 =
            LockInfo { host: "n2".into(), pid: 4242, slurm_job: Some("77_5".into()), slurm_node: Some("n2".into()), slurm_job_name: None, since_unix: 0 };
        let body = serde_json::to_vec(&on_n2).unwrap();
        for (name, state, lock, _, resubmit) in STATES.iter() {
            let answer = squeue_answer(output(0, &format!("{name}|n2\n"), ""));
            match lock {
                Lock::Alive => assert_eq!(answer, JobState::Alive { state: name.to_string(), nodes: Some(vec!["n2".into()]), name: None }, "{name}"),
                Lock::Gone => assert_eq!(answer, JobState::Gone, "{name}"),
            }
            std::fs::write(&p, &body).unwrap();
            let got = acquire_with(&p, &|_| answer.clone());
            assert_eq!(got.is_err(), *lock == Lock::Alive, "{name}: {got:?}");
            drop(got);
            // The coordinator's verdict, from the same table: left alone exactly when alive here.
            assert_eq!(state.is_active(), *lock == Lock::Alive, "{name}");
            assert_eq!(*resubmit == Resubmit::LeaveAlone, *lock == Lock::Alive, "{name}");
        }
        // The three states the lock and the coordinator read differently before: alive, and
        // active for the coordinator.
        for name in ["STOPPED", "SPECIAL_EXIT", "RESV_DEL_HOLD"] {
            std::fs::write(&p, &body).unwrap();
            let e = acquire_with(&p, &|_| squeue_answer(output(0, &format!("{name}|n2\n"), ""))).unwrap_err();
            assert!(matches!(e, LockError::Held { .. }), "{name}: {e}");
            assert!(SlurmState::from(name).is_active(), "{name}");
        }
        // Held without nodes, as squeue shows a held job: the owner's run on n2 is over.
        std::fs::write(&p, &body).unwrap();
        drop(acquire_with(&p, &|_| squeue_answer(output(0, "SPECIAL_EXIT|\n", ""))).unwrap());
        // A state no table here knows: refused whatever its node list, even one without n2.
        for line in ["SOMETHING_NEW|n2\n", "SOMETHING_NEW|n3\n", "SOMETHING_NEW|\n", "RUNNING|n3\nSOMETHING_NEW|n2\n"] {
            std::fs::write(&p, &body).unwrap();
            let e = acquire_with(&p, &|_| squeue_answer(output(0, line, ""))).unwrap_err();
            assert!(
                matches!(&e, LockError::Unverifiable { why, .. } if why.contains("squeue says \"SOMETHING_NEW\", a state this worker does not know")),
                "{line}: {e}"
            );
            assert!(e.is_held());
            assert_eq!(std::fs::read(&p).unwrap(), body, "left as it was");
        }
        assert!(SlurmState::from("SOMETHING_NEW").is_active(), "the coordinator leaves it alone too");
        // sacct's and fixed-width forms, should squeue ever print them.
        assert_eq!(squeue_answer(output(0, "CANCELLED+|n2\n", "")), JobState::Gone);
        assert_eq!(squeue_answer(output(0, "CANCELLED by 1000|n2\n", "")), JobState::Gone);
    }

    #[test]
    fn host_lists_expand() {
        let e = |s: &str| expand_hostlist(s).map(|v| v.join(" "));
        assert_eq!(e("n1").as_deref(), Some("n1"));
        assert_eq!(e("").as_deref(), Some(""));
        assert_eq!(e("n[1-3,5]").as_deref(), Some("n1 n2 n3 n5"));
        assert_eq!(e("gpu[08-10],login1").as_deref(), Some("gpu08 gpu09 gpu10 login1"));
        assert_eq!(e("a[1-2]-ib").as_deref(), Some("a1-ib a2-ib"));
        assert_eq!(e("r[1-2]n[1-2]"), None);
        assert_eq!(e("n[3-1]"), None);
        assert_eq!(e("n[x]"), None);
    }
}
