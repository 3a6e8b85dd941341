//! `slurm::nodes`: against the multi-node dev cluster (`slurm/dev-cluster/up --nodes 3`, what scripts/test
//! starts): nodes n1, n2, n3 of 24 CPUs, each a network and UTS namespace of this machine with
//! its own slurmd and hostname. A sweep spreads over the nodes; a node loses power with both
//! trainings of an array task on it and the task resumes elsewhere with nothing lost; a lock held
//! on another node is decided through squeue.

use super::{cluster, wait_idle};
use crate::*;
use std::time::{Duration, Instant};

/// The dev cluster's scripts (`up`, `node`).
fn dev_cluster(script: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../slurm/dev-cluster").join(script)
}

/// The cluster lock, once the dev cluster is seen to have the 3 nodes n1, n2, n3, all up.
pub(crate) fn three_nodes() -> std::sync::MutexGuard<'static, ()> {
    let g = cluster();
    // A node still "completing" the job of the test before (its epilog, the step's cleanup) is
    // waited for, up to a minute.
    let sinfo = || String::from_utf8_lossy(&Command::new("sinfo").args(["-h", "-N", "-o", "%N %T"]).output().unwrap().stdout).into_owned();
    let t0 = Instant::now();
    let mut said = sinfo();
    while said.lines().any(|l| l.ends_with(" completing")) && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(250));
        said = sinfo();
    }
    let nodes: Vec<&str> = said.lines().filter_map(|l| l.split_whitespace().next()).collect();
    assert!(
        ["n1", "n2", "n3"].iter().all(|n| nodes.contains(n)),
        "these tests need the 3-node dev cluster: run slurm/dev-cluster/up --nodes 3 (scripts/test does); sinfo says:\n{said}"
    );
    assert!(said.lines().all(|l| l.ends_with(" idle") || l.ends_with(" mixed") || l.ends_with(" allocated")), "a node is not up: {said}");
    g
}

/// Brings every node back up (`up`) when dropped, so a failing test leaves no node down.
struct BringBack;

impl Drop for BringBack {
    fn drop(&mut self) {
        let _ = Command::new(dev_cluster("up")).output();
    }
}

/// `sacct -D` of a job: (array task, state, node) of every run of every task, oldest first.
pub(crate) fn runs_of(job: &str) -> Vec<(usize, String, String)> {
    let o = Command::new("sacct").args(["-n", "-P", "-X", "-D", "-j", job, "-o", "JobID,State,NodeList"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            let task = f.first()?.split_once('_')?.1.parse().ok()?;
            Some((task, f.get(1)?.to_string(), f.get(2)?.to_string()))
        })
        .collect()
}

/// Polls `runs_of(job)` until `done` holds.
pub(crate) fn wait_runs(job: &str, limit: Duration, done: impl Fn(&[(usize, String, String)]) -> bool) -> Vec<(usize, String, String)> {
    let t0 = Instant::now();
    loop {
        let r = runs_of(job);
        if done(&r) {
            return r;
        }
        assert!(t0.elapsed() < limit, "sacct of job {job} after {limit:?}: {r:?}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// `squeue -h -r -j JOB`: (array task, state, node) of its tasks still queued.
fn queued(job: &str) -> Vec<(usize, String, String)> {
    let o = Command::new("squeue").args(["-h", "-r", "-j", job, "-o", "%K|%T|%N"]).output().unwrap();
    String::from_utf8_lossy(&o.stdout)
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('|').collect();
            Some((f.first()?.parse().ok()?, f.get(1)?.to_string(), f.get(2)?.to_string()))
        })
        .collect()
}

fn rows(env: &Env, sweep: &str, model: &str) -> Vec<cyplam_core::metrics_csv::MetricsRow> {
    cyplam_core::files::read_metrics(&cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).model(model).metrics()).unwrap_or_default()
}

/// A row's numbers (its time differs between runs).
fn numbers(rows: &[cyplam_core::metrics_csv::MetricsRow]) -> Vec<(u64, f64, f64, f64, f64)> {
    rows.iter().map(|r| (r.iteration, r.train_loss, r.train_accuracy20, r.validation_loss, r.validation_accuracy20)).collect()
}

fn first_job(env: &Env, sweep: &str) -> String {
    let jobs = std::fs::read_to_string(env.runs().join(sweep).join("submit/jobs.txt")).unwrap();
    jobs.split_whitespace().next().unwrap().to_string()
}

pub(crate) fn lock_of(env: &Env, sweep: &str, model: &str) -> Option<Value> {
    let p = cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).model(model).lock();
    serde_json::from_str(&std::fs::read_to_string(p).ok()?).ok()
}

/// Four tiny models, two per array task: two tasks, a node each (24 CPUs per task and node).
const FOUR: &str = r#"
[slurm]
trainings_per_node = 2
cpus_per_training = 12

[settings]
wc1 = 3
wc2 = 3
ncv1 = 4
ncv2 = 8
learning_rate = 3e-3
batch_size = 32
iterations = 600
snapshots = 6
seed = 2
keep_snapshots = "best"

[grid]
nfc1 = [8, 16, 24, 32]
"#;

#[test]
fn a_sweep_spreads_over_the_nodes_and_a_node_lost_mid_training_costs_only_the_work_since_the_last_snapshot() {
    // The uninterrupted run, on this machine, one thread per training (bit-identical to any
    // other one-thread run).
    let reference = Env::new();
    let g = reference.grid("lost", FOUR);
    reference.ok(&["run", g.to_str().unwrap(), "--jobs", "2"]);

    let _c = three_nodes();
    let env = Env::new();
    let grid = env.grid("lost", FOUR);
    env.ok(&["submit", grid.to_str().unwrap()]);
    let job = first_job(&env, "lost");

    // Both tasks run at once, on two nodes, and both trainings of task 1 (Model-002, Model-003)
    // are mid-run: a snapshot or more written, the end not reached.
    let t0 = Instant::now();
    let (lost, kept) = loop {
        let q = queued(&job);
        let on = |task: usize| q.iter().find(|(t, s, _)| *t == task && s == "RUNNING").map(|(_, _, n)| n.clone());
        if let (Some(a), Some(b)) = (on(0), on(1)) {
            let mid = |m: &str| (1..6).contains(&rows(&env, "lost", m).len());
            if ["Model-002", "Model-003"].iter().all(|m| mid(m) && lock_of(&env, "lost", m).is_some()) {
                break (b, a);
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "task 1 never ran mid-training: {q:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_ne!(lost, kept, "the two tasks run on two nodes");
    // status names the node of each running model.
    let st = env.json(&["status", "lost", "--format", "json"]);
    for m in st.as_array().unwrap() {
        let want = if ["Model-002", "Model-003"].contains(&m["name"].as_str().unwrap()) { &lost } else { &kept };
        if m["state"] == "running" {
            assert_eq!(m["node"].as_str(), Some(want.as_str()), "{st}");
        }
    }
    let lock = lock_of(&env, "lost", "Model-002").unwrap();
    assert_eq!((lock["host"].as_str(), lock["slurm_node"].as_str()), (Some(lost.as_str()), Some(lost.as_str())), "the worker's own hostname: {lock}");

    // A power cut: the node's link goes down and everything on it gets SIGKILL, no signal first.
    let _back = BringBack;
    let o = Command::new(dev_cluster("node")).args(["kill", &lost]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let before: Vec<Vec<cyplam_core::metrics_csv::MetricsRow>> = ["Model-002", "Model-003"].iter().map(|m| rows(&env, "lost", m)).collect();
    let killed_at = Instant::now();

    // Slurm marks the node down and requeues the task; status says so while it waits or runs.
    let t1 = Instant::now();
    let said = loop {
        let v = env.json(&["status", "lost", "--format", "json"]);
        let m2 = v.as_array().unwrap().iter().find(|m| m["name"] == "Model-002").unwrap().clone();
        if m2["reason"].as_str().is_some_and(|r| r.contains(&format!("requeued after node {lost} failed"))) {
            break m2;
        }
        assert!(t1.elapsed() < Duration::from_secs(120), "never said requeued: {v}");
        std::thread::sleep(Duration::from_millis(500));
    };
    assert!(matches!(said["state"].as_str(), Some("pending" | "running")), "{said}");
    let table = env.ok(&["status", "lost"]);
    assert!(table.contains(&format!("requeued after node {lost} failed")) && table.contains("node"), "{table}");
    let detected = killed_at.elapsed();

    // It runs again on a node other than the lost one; then the lost node comes back, and runs
    // no stale copy of it.
    let t2 = Instant::now();
    let again = loop {
        if let Some((_, _, n)) = queued(&job).into_iter().find(|(t, s, _)| *t == 1 && s == "RUNNING") {
            break n;
        }
        assert!(t2.elapsed() < Duration::from_secs(120), "task 1 never ran again: {:?}", runs_of(&job));
        std::thread::sleep(Duration::from_millis(200));
    };
    assert_ne!(again, lost);
    let o = Command::new(dev_cluster("up")).output().unwrap();
    assert!(o.status.success(), "bringing {lost} back: {}", stderr(&o));

    let states = wait_idle(&env, "lost", Duration::from_secs(300));
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    let runs = wait_runs(&job, Duration::from_secs(30), |r| r.iter().filter(|(_, s, _)| s == "COMPLETED").count() == 2);
    let task1: Vec<(String, String)> = runs.iter().filter(|(t, _, _)| *t == 1).map(|(_, s, n)| (s.clone(), n.clone())).collect();
    assert_eq!(
        task1,
        vec![("NODE_FAIL".to_string(), lost.clone()), ("COMPLETED".to_string(), again.clone())],
        "one run lost with its node, one after: {runs:?}"
    );
    let mut nodes: Vec<&str> = runs.iter().map(|(_, _, n)| n.as_str()).collect();
    nodes.sort();
    nodes.dedup();
    assert!(nodes.len() >= 2, "sacct shows the sweep on several nodes: {runs:?}");

    // The lock of the dead node's workers was broken because Slurm ran the job elsewhere.
    let log = std::fs::read_to_string(env.runs().join("lost/logs").join(format!("{job}_1.out"))).unwrap();
    for m in ["Model-002", "Model-003"] {
        let line = log
            .lines()
            .find(|l| l.contains("removing the stale lock") && l.contains(&format!("models/{m}/lock")))
            .unwrap_or_else(|| panic!("{m}'s lock was not broken: {log}"));
        assert!(line.contains(&format!("of host {lost}, pid ")) && line.contains(&format!("no longer running on {lost}")), "{line}");
    }

    // The same metrics, result and best weights as the uninterrupted run; every row written
    // before the loss is still there.
    let res = results(&env.runs(), "lost");
    let want = results(&reference.runs(), "lost");
    for (i, m) in ["Model-000", "Model-001", "Model-002", "Model-003"].iter().enumerate() {
        let got = rows(&env, "lost", m);
        assert_eq!(numbers(&got), numbers(&rows(&reference, "lost", m)), "{m}: the uninterrupted run's metrics");
        assert_eq!((res[i].best_iteration, res[i].best_accuracy20, res[i].iterations_done), (want[i].best_iteration, want[i].best_accuracy20, 600), "{m}");
        let best = |e: &Env| std::fs::read(cyplam_core::layout::SweepDir::new(e.runs().join("lost")).model(m).best()).unwrap();
        assert!(best(&env) == best(&reference), "{m}: best.safetensors differs from the uninterrupted run's");
        if i >= 2 {
            assert_eq!(res[i].resumes, 1, "{m} resumed once, from its newest snapshot: {:?}", res[i]);
            let b = &before[i - 2];
            assert!(!b.is_empty() && numbers(&got[..b.len()]) == numbers(b), "{m}: the rows recorded before the loss are kept");
        } else {
            assert_eq!(res[i].resumes, 0, "{m} was not on the lost node");
        }
    }
    eprintln!("node {lost} lost: Slurm requeued its task after {detected:?}; it ran again on {again}");
}

/// Issue 30, fencing on the 3-node cluster: a node cut off the network (its link down, its
/// processes left running, the shared files still in reach) with both trainings of an array task
/// on it, its workers hung (SIGSTOP) so that they cannot finish while Slurm decides. Slurm marks
/// the node down and runs the task again elsewhere; the new workers break the locks (squeue says
/// the job runs on another node) and resume. Then the old workers go on (SIGCONT): each stops at
/// its next write, exits 73 and writes nothing; the link comes back; the final files equal an
/// uninterrupted run's, bit for bit.
#[test]
fn a_node_cut_off_the_network_has_its_workers_fenced_once_slurm_runs_their_task_elsewhere() {
    let reference = Env::new();
    let g = reference.grid("cut", FOUR);
    reference.ok(&["run", g.to_str().unwrap(), "--jobs", "2"]);

    let _c = three_nodes();
    let env = Env::new();
    let grid = env.grid("cut", FOUR);
    env.ok(&["submit", grid.to_str().unwrap()]);
    let job = first_job(&env, "cut");
    let t0 = Instant::now();
    let cut = loop {
        let q = queued(&job);
        if let Some((_, _, n)) = q.iter().find(|(t, s, _)| *t == 1 && s == "RUNNING") {
            let mid = |m: &str| (1..6).contains(&rows(&env, "cut", m).len());
            if ["Model-002", "Model-003"].iter().all(|m| mid(m) && lock_of(&env, "cut", m).is_some()) {
                break n.clone();
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "task 1 never ran mid-training: {q:?}");
        std::thread::sleep(Duration::from_millis(100));
    };
    // The old workers, by the pids in their locks (the nodes share this machine's pid namespace).
    let old: Vec<u32> = ["Model-002", "Model-003"].iter().map(|m| lock_of(&env, "cut", m).unwrap()["pid"].as_u64().unwrap() as u32).collect();
    let _back = BringBack;
    let o = Command::new(dev_cluster("node")).args(["cut", &cut]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    for &pid in &old {
        assert!(Command::new("kill").args(["-STOP", &pid.to_string()]).status().unwrap().success());
    }
    let before: Vec<Vec<cyplam_core::metrics_csv::MetricsRow>> = ["Model-002", "Model-003"].iter().map(|m| rows(&env, "cut", m)).collect();

    // Slurm runs the task again elsewhere, and its workers take the models over.
    let t1 = Instant::now();
    let again = loop {
        if let Some((_, _, n)) = queued(&job).into_iter().find(|(t, s, n)| *t == 1 && s == "RUNNING" && n != &cut) {
            let theirs = |m: &str| lock_of(&env, "cut", m).is_some_and(|l| l["host"].as_str() == Some(n.as_str()));
            if theirs("Model-002") && theirs("Model-003") {
                break n;
            }
        }
        assert!(t1.elapsed() < Duration::from_secs(150), "task 1 never ran again elsewhere: {:?}", runs_of(&job));
        std::thread::sleep(Duration::from_millis(200));
    };
    let alive = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| s.split_whitespace().nth(2).is_none_or(|st| st != "Z"));
    assert!(old.iter().all(|&p| alive(p)), "the cut-off node's workers still run");
    // The old workers wake up: each stops at its next write.
    for &pid in &old {
        assert!(Command::new("kill").args(["-CONT", &pid.to_string()]).status().unwrap().success());
    }
    let t2 = Instant::now();
    while old.iter().any(|&p| alive(p)) {
        assert!(t2.elapsed() < Duration::from_secs(60), "the old workers went on writing after the takeover");
        std::thread::sleep(Duration::from_millis(100));
    }
    let o = Command::new(dev_cluster("node")).args(["restore", &cut]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));

    let states = wait_idle(&env, "cut", Duration::from_secs(300));
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    // The old workers said why they stopped (the task's log, appended to by both runs).
    let log = std::fs::read_to_string(env.runs().join("cut/logs").join(format!("{job}_1.out"))).unwrap();
    for m in ["Model-002", "Model-003"] {
        let line = log
            .lines()
            .find(|l| l.contains("this worker no longer owns the model") && l.contains(&format!("models/{m}/lock")))
            .unwrap_or_else(|| panic!("{m}'s old worker did not say it was fenced: {log}"));
        assert!(line.contains(&format!("now held by host {again}")), "{line}");
    }
    // The same metrics, result and best weights as the uninterrupted run.
    let res = results(&env.runs(), "cut");
    let want = results(&reference.runs(), "cut");
    for (i, m) in ["Model-000", "Model-001", "Model-002", "Model-003"].iter().enumerate() {
        let got = rows(&env, "cut", m);
        assert_eq!(numbers(&got), numbers(&rows(&reference, "cut", m)), "{m}: the uninterrupted run's metrics");
        assert_eq!((res[i].best_iteration, res[i].best_accuracy20, res[i].iterations_done), (want[i].best_iteration, want[i].best_accuracy20, 600), "{m}");
        let best = |e: &Env| std::fs::read(cyplam_core::layout::SweepDir::new(e.runs().join("cut")).model(m).best()).unwrap();
        assert!(best(&env) == best(&reference), "{m}: best.safetensors differs from the uninterrupted run's");
        if i >= 2 {
            let b = &before[i - 2];
            assert!(!b.is_empty() && numbers(&got[..b.len()]) == numbers(b), "{m}: the rows recorded before the cut are kept");
        }
    }
    eprintln!("node {cut} cut off: task 1 ran again on {again}; the old workers stopped without writing");
}

/// Two tiny models, one array task; long enough to be looked at while it trains (and for a
/// contender job to start beside it on a busy cluster: at 1,200 iterations the owner once
/// finished before the contender started, in a full suite run).
const TWO: &str = r#"
[slurm]
trainings_per_node = 2
cpus_per_training = 12

[settings]
wc1 = 3
wc2 = 3
ncv1 = 4
ncv2 = 8
learning_rate = 3e-3
batch_size = 32
iterations = 3000
snapshots = 30
seed = 2
keep_snapshots = "best"

[grid]
nfc1 = [8, 16]
"#;

#[test]
fn a_lock_held_on_another_node_is_decided_through_squeue() {
    let _c = three_nodes();
    let env = Env::new();
    let grid = env.grid("foreign", TWO);
    env.ok(&["submit", grid.to_str().unwrap()]);
    let job = first_job(&env, "foreign");
    let t0 = Instant::now();
    let owner = loop {
        if let Some(l) = lock_of(&env, "foreign", "Model-000") {
            if !rows(&env, "foreign", "Model-000").is_empty() {
                break l;
            }
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "Model-000 never started");
        std::thread::sleep(Duration::from_millis(100));
    };
    let host = owner["host"].as_str().unwrap().to_string();
    let pid = owner["pid"].as_u64().unwrap();
    assert_eq!(owner["slurm_job"].as_str(), Some(format!("{job}_0").as_str()), "{owner}");
    let sweep = env.runs().join("foreign");
    let lock_path = cyplam_core::layout::SweepDir::new(&sweep).model("Model-000").lock();
    let lock_text = std::fs::read_to_string(&lock_path).unwrap();

    // A second worker for Model-000, on another node, as a job of its own.
    let n = std::cell::Cell::new(0);
    let contender = || {
        n.set(n.get() + 1);
        let out = env.dir.path().join(format!("contender-{}.out", n.get()));
        // The exit code is written by the job itself: the accounting record can lag by many
        // seconds after slurmdbd was restarted (it::slurm::faults), and the owner may finish meanwhile.
        let wrap = format!(
            "hostname; {} --sweep {} --model Model-000; echo \"cyplam-test-exit=$?\"",
            cyplam_core::invocation::shell_quote_path(&worker_bin()),
            cyplam_core::invocation::shell_quote_path(&sweep)
        );
        let o = Command::new("sbatch")
            .args(["--parsable", "--nodes=1", "--ntasks=1", "--cpus-per-task=1", "--exclude", &host, "--job-name=cyplam-contender"])
            .arg(format!("--output={}", out.display()))
            .args(["--wrap", &wrap])
            .env("CYPLAM_WORKER_THREADS", "1")
            .output()
            .unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        let id = String::from_utf8_lossy(&o.stdout).trim().to_string();
        let t = Instant::now();
        loop {
            let text = std::fs::read_to_string(&out).unwrap_or_default();
            if let Some(code) = text.lines().find_map(|l| l.strip_prefix("cyplam-test-exit=")) {
                let ran_on = text.lines().next().unwrap_or_default().to_string();
                assert_ne!(ran_on, host, "the contender ran on another node");
                return (code.trim().to_string(), text);
            }
            assert!(t.elapsed() < Duration::from_secs(180), "contender job {id} did not finish: {text}");
            std::thread::sleep(Duration::from_millis(100));
        }
    };

    // The owner trains on its node: squeue says its job runs there, so the lock is kept.
    let (code, text) = contender();
    assert_eq!(code, "73", "{text}");
    assert!(text.contains(&format!("the model is being trained by another worker (host {host}, pid {pid}, Slurm job {job}_0")), "{text}");
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), lock_text);

    // The owner dies (kill -9), but its job still runs on its node (Model-001 trains on): Slurm
    // cannot say the owner is gone, and neither age nor a pid on another host decides it.
    assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(500));
    assert!(queued(&job).iter().any(|(t, s, n)| *t == 0 && s == "RUNNING" && *n == host), "{:?}", queued(&job));
    let (code, text) = contender();
    assert!(code == "73" && text.contains(&format!("(host {host}, pid {pid}, Slurm job {job}_0")), "exit {code}\n{text}");
    assert_eq!(std::fs::read_to_string(&lock_path).unwrap(), lock_text, "still kept");

    // Once its job has left the queue, squeue says it no longer runs: the lock is broken and the
    // contender resumes the model from its newest snapshot to the end.
    env.ok(&["cancel", "foreign"]);
    let t1 = Instant::now();
    while !queued(&job).is_empty() {
        assert!(t1.elapsed() < Duration::from_secs(60), "the job did not leave the queue");
        std::thread::sleep(Duration::from_millis(200));
    }
    let (code, text) = contender();
    assert_eq!(code, "0", "{text}");
    assert!(text.contains(&format!("removing the stale lock of host {host}, pid {pid}, Slurm job {job}_0")) && text.contains("no longer runs"), "{text}");
    let r = results(&env.runs(), "foreign").into_iter().find(|r| r.model == "Model-000").unwrap();
    assert_eq!((r.status, r.iterations_done, r.resumes), (cyplam_core::files::ResultStatus::Completed, 3000, 1), "{r:?}");
    assert_ne!(r.host, host, "finished on the contender's node");
}
