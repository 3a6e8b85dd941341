//! `slurm::faults` (issue 30): what a real cluster does now and then, on the dev cluster's own
//! daemons: slurmctld stopped and started again mid-sweep, and accounting (slurmdbd) down while a
//! sweep runs, a worker is killed and the model is resubmitted.

use super::{cluster, wait_idle, DEV_STATE};
use crate::*;
use std::time::{Duration, Instant};

/// A dev-cluster daemon's pid, from its pid file, if it runs.
fn daemon_pid(name: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(Path::new(DEV_STATE).join("run").join(format!("{name}.pid"))).ok()?.trim().parse().ok()?;
    let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
    (comm.trim() == name && !std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default().contains(") Z ")).then_some(pid)
}

/// Stops a daemon with `signal` and waits until it is gone.
fn stop(name: &str, signal: &str) {
    let pid = daemon_pid(name).unwrap_or_else(|| panic!("{name} does not run"));
    assert!(Command::new("kill").args([signal, &pid.to_string()]).status().unwrap().success());
    let t0 = Instant::now();
    while daemon_pid(name).is_some() {
        assert!(t0.elapsed() < Duration::from_secs(60), "{name} did not stop");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Starts every missing daemon again (`up`) when dropped, so a failing test leaves the cluster up.
struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        let _ = Command::new(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../slurm/dev-cluster/up")).output();
    }
}

/// Waits until `model` has written `rows` metrics rows.
fn wait_rows(env: &Env, sweep: &str, model: &str, rows: usize, limit: Duration) {
    let metrics = cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).model(model).metrics();
    let t0 = Instant::now();
    while cyplam_core::files::read_metrics(&metrics).map(|r| r.len()).unwrap_or(0) < rows {
        assert!(t0.elapsed() < limit, "{model} wrote fewer than {rows} rows");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_controller_restarted_mid_sweep_loses_nothing() {
    let _c = cluster();
    let _restore = Restore;
    let env = Env::new();
    // One array task at a time: when the controller dies, one task runs and two wait in its queue.
    let body = FIVE
        .replace("iterations = 300", "iterations = 600")
        .replace("snapshots = 5", "snapshots = 12")
        .replace("cpus_per_training = 12\n", "cpus_per_training = 12\nthrottle = 1\n");
    let grid = env.grid("ctld", &body);
    env.ok(&["submit", grid.to_str().unwrap()]);
    wait_rows(&env, "ctld", "Model-000", 3, Duration::from_secs(120));

    // Restarted as an admin or systemd restarts it (SIGTERM: it saves its state, then exits). A
    // kill -9 is another fault: the controller saves its job state only every minute or two, so a
    // crash loses the jobs submitted since, and Slurm gives their ids to the next jobs
    // (reliability.md, "Not yet covered"); CI met it.
    stop("slurmctld", "-TERM");
    // While it is down, status says so and writes nothing wrong.
    let o = env.run(&["status", "ctld"]);
    assert!(!o.status.success(), "status with the controller down: {}", String::from_utf8_lossy(&o.stdout));
    assert!(stderr(&o).contains("squeue"), "{}", stderr(&o));
    std::thread::sleep(Duration::from_secs(2));
    // Started again from its saved state, as an admin (or systemd) would.
    let started = Command::new(Path::new(DEV_STATE).join("sbin/slurmctld")).status().unwrap();
    assert!(started.success());

    let states = wait_idle(&env, "ctld", Duration::from_secs(300));
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    assert!(env.ok(&["status", "ctld"]).contains("5 models: 5 completed"));
    let res = results(&env.runs(), "ctld");
    assert_eq!(
        res.iter().map(|r| (r.iterations_done, r.resumes)).collect::<Vec<_>>(),
        vec![(600, 0); 5],
        "each model trained once to its end: the running workers went on, the queued tasks ran"
    );
    let report = env.json(&["report", "ctld", "--format", "json"]);
    assert_eq!(report.as_array().unwrap().len(), 5);
}

#[test]
fn with_accounting_down_status_report_and_resubmit_work_from_squeue_and_the_files() {
    let _c = cluster();
    let _restore = Restore;
    let env = Env::new();
    let body = FIVE.replace("iterations = 300", "iterations = 900").replace("snapshots = 5", "snapshots = 9");
    let grid = env.grid("noacct", &body);
    stop("slurmdbd", "-TERM");
    let sacct = Command::new("sacct").args(["-n", "-X"]).output().unwrap();
    assert!(!sacct.status.success(), "sacct still answers with slurmdbd stopped");

    env.ok(&["submit", grid.to_str().unwrap()]);
    wait_rows(&env, "noacct", "Model-001", 2, Duration::from_secs(120));
    let lock = cyplam_core::layout::SweepDir::new(env.runs().join("noacct")).model("Model-001").lock();
    let v: Value = serde_json::from_str(&std::fs::read_to_string(lock).unwrap()).unwrap();
    assert!(Command::new("kill").args(["-KILL", &v["pid"].as_u64().unwrap().to_string()]).status().unwrap().success());

    // Said once per command, however many times it asks.
    let o = env.run(&["status", "noacct"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stderr(&o).matches("Slurm's accounting is unavailable").count(), 1, "{}", stderr(&o));
    let states = wait_idle(&env, "noacct", Duration::from_secs(300));
    let state = |name: &str| states.iter().find(|m| m["name"] == name).unwrap()["state"].as_str().unwrap().to_string();
    // squeue still lists the ended task (MinJobAge): failed, not completed nor new.
    assert!(matches!(state("Model-001").as_str(), "failed" | "lost"), "{states:?}");
    for m in ["Model-000", "Model-002", "Model-003", "Model-004"] {
        assert_eq!(state(m), "completed", "{states:?}");
    }
    let report = env.json(&["report", "noacct", "--format", "json"]);
    assert_eq!(report.as_array().unwrap().len(), 5);

    let out = env.ok(&["resubmit", "noacct", "--failed"]);
    assert!(out.contains("1 model(s)"), "{out}");
    let states = wait_idle(&env, "noacct", Duration::from_secs(300));
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    let r = results(&env.runs(), "noacct").into_iter().find(|r| r.model == "Model-001").unwrap();
    assert_eq!((r.resumes, r.iterations_done), (1, 900), "resumed from its newest snapshot");
}

/// Waits until the controller answers `scontrol ping`.
fn wait_controller(limit: Duration) {
    let t0 = Instant::now();
    while !Command::new("scontrol").arg("ping").output().map(|o| o.status.success()).unwrap_or(false) {
        assert!(t0.elapsed() < limit, "slurmctld does not answer `scontrol ping`");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Issue 30: slurmctld killed with SIGKILL right after a submission, before it saved its state,
/// loses the sweep's array and gives its id to the next job submitted. cyplam tells that job from
/// the sweep's by its name: the models are `lost` (never pending or running under the other job),
/// `cancel` leaves the other job alone, and `resubmit --failed` runs them to their end.
#[test]
fn the_controller_killed_after_a_submit_loses_the_array_and_the_reused_id_is_not_the_sweeps() {
    let _c = cluster();
    let _restore = Restore;
    let env = Env::new();
    // cyplam's sbatch: the real one, then slurmctld killed at once, before it saves the new job.
    // slurmctld saves its state in the background, at once after a change when it last saved
    // some seconds ago, later when it saved just before: a held job submitted a second earlier
    // makes it save just before, so the sweep's job is not saved.
    let real = String::from_utf8(Command::new("sh").args(["-c", "command -v sbatch"]).output().unwrap().stdout).unwrap();
    let real = real.trim();
    let bin = env.dir.path().join("crash-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let pid_file = Path::new(DEV_STATE).join("run/slurmctld.pid");
    std::fs::write(
        bin.join("sbatch"),
        format!(
            "#!/bin/sh\n'{real}' --hold --job-name=cyplam-test-before-crash --output=/dev/null --wrap true >/dev/null || exit $?\nsleep 1\n\
             out=$('{real}' \"$@\") || exit $?\nkill -KILL \"$(cat '{}')\"\nprintf '%s\\n' \"$out\"\n",
            pid_file.display()
        ),
    )
    .unwrap();
    assert!(Command::new("chmod").args(["755", bin.join("sbatch").to_str().unwrap()]).status().unwrap().success());
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap());

    // The jobs this test submits itself, by name: cancelled at its end, and at its start (a cancel
    // the controller had not saved when an earlier run killed it comes back).
    const OTHER: &str = "cyplam-test-other|job";
    struct CancelNamed;
    impl Drop for CancelNamed {
        fn drop(&mut self) {
            for name in ["cyplam-test-before-crash", OTHER] {
                let _ = Command::new("scancel").args(["--name", name]).status();
            }
        }
    }
    drop(CancelNamed);
    let _held = CancelNamed;

    let grid = env.grid("crash", FIVE);
    let t0 = Instant::now();
    let o = env.cmd().env("PATH", &path).args(["submit", grid.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let jobs = std::fs::read_to_string(env.runs().join("crash/submit/jobs.txt")).unwrap();
    let job = jobs.split_whitespace().next().unwrap().to_string();
    let t_dead = Instant::now();
    while daemon_pid("slurmctld").is_some() {
        assert!(t_dead.elapsed() < Duration::from_secs(30), "slurmctld was not killed");
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(Command::new(Path::new(DEV_STATE).join("sbin/slurmctld")).status().unwrap().success());
    wait_controller(Duration::from_secs(60));
    let sq = Command::new("squeue").args(["-h", "-r", "-j", &job, "-o", "%i|%j"]).output().unwrap();
    assert!(
        String::from_utf8_lossy(&sq.stdout).trim().is_empty(),
        "the controller saved job {job} before it was killed; this test needs it lost: {}",
        String::from_utf8_lossy(&sq.stdout)
    );

    // Slurm knows the job no more (neither squeue nor sacct): lost, not new.
    let states = env.json(&["status", "crash", "--format", "json"]);
    for m in states.as_array().unwrap() {
        assert_eq!(m["state"], "lost", "{states:?}");
        let why = m["reason"].as_str().unwrap();
        assert!(why.contains(&format!("submitted in job {job}, which Slurm no longer knows")) && why.contains("`cyplam resubmit --failed`"), "{why}");
    }

    // Slurm gives the lost ids again in order (the held job's first, when it was lost too): held
    // jobs of another name, pending for as long as this test runs, as the job CI met, until one
    // gets the sweep's id (unless somebody else's job took it first).
    let mut other = String::new();
    for _ in 0..3 {
        let o =
            Command::new("sbatch").args(["--parsable", "--hold", &format!("--job-name={OTHER}"), "--output=/dev/null", "--wrap", "sleep 1"]).output().unwrap();
        assert!(o.status.success(), "{}", stderr(&o));
        other = String::from_utf8_lossy(&o.stdout).trim().split(';').next().unwrap().to_string();
        if other.parse::<u64>().unwrap() >= job.parse::<u64>().unwrap() {
            break;
        }
    }
    let reused = other == job;
    if reused {
        // Until accounting has it too, so that both squeue and sacct list it under the id.
        let t = Instant::now();
        while !String::from_utf8_lossy(&Command::new("sacct").args(["-n", "-P", "-X", "-j", &job, "-o", "JobName"]).output().unwrap().stdout).contains(OTHER) {
            assert!(t.elapsed() < Duration::from_secs(30), "sacct does not list job {job}");
            std::thread::sleep(Duration::from_millis(500));
        }
    } else {
        eprintln!("job {other} did not get the lost id {job} (another job was submitted in between): the reuse is not checked");
    }
    let states = env.json(&["status", "crash", "--format", "json"]);
    for m in states.as_array().unwrap() {
        assert_eq!(m["state"], "lost", "never the other job's state: {states:?}");
        assert!(m["job"].is_null(), "{m:?}");
        if reused {
            let why = m["reason"].as_str().unwrap();
            assert!(why.contains(&format!("submitted in job {job}, which Slurm lost")) && why.contains(&format!("another job named {OTHER:?}")), "{why}");
        }
    }
    assert!(env.ok(&["status", "crash"]).contains("5 models: 0 completed, 0 running, 0 pending, 0 failed, 0 preempted, 5 lost"));
    // `cancel` does not cancel the other job.
    let o = env.run(&["cancel", "crash"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let held = Command::new("squeue").args(["-h", "-j", &other, "-o", "%T|%j"]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&held.stdout).trim(), format!("PENDING|{OTHER}"), "the other job is left alone");
    if reused {
        assert!(stderr(&o).contains(&format!("job {job} of sweep crash is not cancelled")), "{}", stderr(&o));
    }

    // resubmit --failed takes the five, which run to their end.
    let out = env.ok(&["resubmit", "crash", "--failed"]);
    assert!(out.contains("5 model(s)"), "{out}");
    let states = wait_idle(&env, "crash", Duration::from_secs(100));
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    assert!(env.ok(&["status", "crash"]).contains("5 models: 5 completed"));
    let res = results(&env.runs(), "crash");
    assert_eq!(res.iter().map(|r| (r.iterations_done, r.resumes)).collect::<Vec<_>>(), vec![(300, 0); 5]);
    eprintln!("took {:?}", t0.elapsed());
}
