//! Against the real dev Slurm cluster (slurm/dev-cluster/up): submit, follow, collect, report,
//! resubmit. Slurm tests run one at a time: they share the cluster (one node, or the three of
//! `up --nodes 3`, which scripts/test starts; `nodes` holds the tests that need them).

use super::*;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// The tests that need several nodes (`up --nodes 3`).
#[path = "nodes.rs"]
pub(crate) mod nodes;

/// Faults of the cluster's own daemons: the controller restarted, accounting down.
#[path = "faults.rs"]
mod faults;

static CLUSTER: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The dev cluster is one per machine: a test process that uses it holds this file lock until it
/// exits, so that two test runs (two worktrees, CI beside a developer) never kill each other's
/// controller or nodes.
static CLUSTER_FILE: std::sync::OnceLock<nix::fcntl::Flock<std::fs::File>> = std::sync::OnceLock::new();

/// The cluster, to this test alone: the other tests of this process wait, and so does any other
/// test process until this one exits.
pub(crate) fn cluster() -> std::sync::MutexGuard<'static, ()> {
    let g = CLUSTER.lock().unwrap_or_else(|e| e.into_inner());
    CLUSTER_FILE.get_or_init(|| {
        let path = std::env::temp_dir().join("cyplam-dev-cluster-tests.lock");
        use nix::fcntl::{Flock, FlockArg};
        let open = || std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).unwrap();
        Flock::lock(open(), FlockArg::LockExclusiveNonblock).unwrap_or_else(|_| {
            eprintln!("{}: another test process uses the dev cluster; waiting for it to finish", path.display());
            Flock::lock(open(), FlockArg::LockExclusive).map_err(|(_, e)| e).unwrap()
        })
    });
    let version = slurm_version();
    let said = Command::new("sinfo").arg("--version").output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    assert!(
        said.starts_with(&format!("slurm-wlm {version}.")),
        "the dev cluster runs Slurm {version} but the sinfo on PATH is {:?}: put {DEV_STATE}/bin first on PATH (scripts/test does)",
        said.trim()
    );
    clear_leftovers();
    let ok = Command::new("sinfo").args(["-h", "-o", "%T"]).output().map(|o| o.status.success()).unwrap_or(false);
    assert!(ok, "the dev Slurm cluster is not up: run slurm/dev-cluster/up (`.ci/run` does)");
    g
}

/// The dev cluster's state directory (slurm/dev-cluster/common.sh): its pid files, the Slurm
/// version that runs, `bin/`, the clients, each running that version, and `sbin/`, which starts
/// that version's controller as an admin would.
pub(crate) const DEV_STATE: &str = "/var/lib/cyplam-dev-cluster";

/// The Slurm version the dev cluster runs: 22.05 (Debian 12's) or 24.11 (`up --slurm 24.11`).
pub(crate) fn slurm_version() -> String {
    let v = std::fs::read_to_string(Path::new(DEV_STATE).join("slurm-version")).unwrap_or_default();
    if v.trim().is_empty() {
        "22.05".to_string()
    } else {
        v.trim().to_string()
    }
}

/// The dev cluster's slurm.conf as this machine sees it (a job sees it at /etc/slurm/slurm.conf).
pub(crate) fn slurm_conf() -> PathBuf {
    match slurm_version().as_str() {
        "22.05" => PathBuf::from("/etc/slurm/slurm.conf"),
        v => Path::new(DEV_STATE).join(format!("slurm-{v}/etc/slurm.conf")),
    }
}

/// Cancels every job an earlier test left in the queue (this process holds the cluster alone, so
/// any job there is a leftover) and waits, up to a minute, until none is left. A controller
/// crashed by `slurm::faults` can leave jobs it believes run on a node that knows nothing of
/// them, holding the node until slurmctld notices (seen: 25 s, which made a later test's job
/// start too late).
fn clear_leftovers() {
    let ids = |all: bool| -> Vec<String> {
        let o = Command::new("squeue").args(["-h", "-o", "%A|%T"]).output().map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
        o.lines().filter(|l| all || !l.ends_with("|COMPLETING")).filter_map(|l| l.split('|').next()).map(str::to_string).collect()
    };
    let left = ids(false);
    if !left.is_empty() {
        eprintln!("cancelling job(s) {} left in the queue by an earlier test", left.join(","));
        let _ = Command::new("scancel").args(&left).status();
    }
    let t0 = Instant::now();
    while !ids(true).is_empty() && t0.elapsed() < Duration::from_secs(60) {
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// Sends USR1 to `target` (an array job or one task), as Slurm does before a time limit or a
/// preemption, and returns once `log` says that `task` requeued itself. scancel retries a signal
/// Slurm refuses with "Job can not be altered now, try again later", which both 22.05 and 24.11
/// answer for a task that has just started, sometimes after delivering it; a retry that lands
/// after the requeue hits the task's next run before its handler is in place (exit 138: seen on
/// 24.11). So each try is cut short after 2 s, and another is sent only while the log shows no
/// preemption.
pub(crate) fn preempt(target: &str, task: &str, log: &Path, limit: Duration) {
    let said = format!("cyplam: preempted; requeueing {task} ");
    let preempted = || std::fs::read_to_string(log).is_ok_and(|l| l.contains(&said));
    let t0 = Instant::now();
    while !preempted() {
        assert!(t0.elapsed() < limit, "{task} never said it was preempted; its log:\n{}", std::fs::read_to_string(log).unwrap_or_default());
        let mut c = Command::new("scancel").args(["--signal=USR1", target]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
        let sent = Instant::now();
        while c.try_wait().unwrap().is_none() && sent.elapsed() < Duration::from_secs(2) {
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = c.kill();
        let _ = c.wait();
        while !preempted() && sent.elapsed() < Duration::from_secs(5) {
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

/// Polls `cyplam status --format json` until no model is pending or running.
pub(crate) fn wait_idle(env: &Env, sweep: &str, limit: Duration) -> Vec<Value> {
    let t0 = Instant::now();
    loop {
        let v = env.json(&["status", sweep, "--format", "json"]);
        let states = v.as_array().unwrap().clone();
        if states.iter().all(|m| !matches!(m["state"].as_str(), Some("pending" | "running"))) {
            return states;
        }
        assert!(t0.elapsed() < limit, "the sweep did not finish within {limit:?}: {states:?}");
        std::thread::sleep(Duration::from_secs(2));
    }
}

fn lock_pid(env: &Env, sweep: &str, model: &str, limit: Duration) -> u32 {
    let p = cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).model(model).lock();
    let t0 = Instant::now();
    loop {
        if let Ok(text) = std::fs::read_to_string(&p) {
            if let Ok(v) = serde_json::from_str::<Value>(&text) {
                return v["pid"].as_u64().unwrap() as u32;
            }
        }
        assert!(t0.elapsed() < limit, "{model} never started");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_sweep_through_slurm_end_to_end() {
    let _c = cluster();
    let env = Env::new();
    let grid = env.grid("five", FIVE);
    let out = env.ok(&["submit", grid.to_str().unwrap()]);
    assert!(out.contains("submitted job") && out.contains("array 0-2"), "{out}");
    let script =
        std::fs::read_dir(env.runs().join("five/submit")).unwrap().flatten().find(|e| e.path().extension().is_some_and(|x| x == "sbatch")).unwrap().path();
    let text = std::fs::read_to_string(&script).unwrap();
    assert!(text.contains("#SBATCH --ntasks=2") && text.contains("#SBATCH --cpus-per-task=12"), "{text}");

    // Submitting again while it runs trains nothing twice.
    let again = env.ok(&["submit", grid.to_str().unwrap()]);
    assert!(again.contains("nothing to submit") || again.contains("skipped"), "{again}");

    let states = wait_idle(&env, "five", Duration::from_secs(600));
    assert_eq!(states.len(), 5);
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    let status = env.ok(&["status", "five"]);
    assert!(status.contains("5 models: 5 completed"), "{status}");
    // Every array task wrote its log in the sweep.
    let logs = std::fs::read_dir(env.runs().join("five/logs")).unwrap().count();
    assert_eq!(logs, 3, "one log per array task");

    // The ranking matches the workers' result files and the SQLite rows.
    let report = env.json(&["report", "five", "--format", "json"]);
    let rows = report.as_array().unwrap();
    assert_eq!(rows.len(), 5);
    let res = results(&env.runs(), "five");
    assert_eq!(res.len(), 5);
    for row in rows {
        let r = res.iter().find(|r| r.model == row["name"]).unwrap();
        assert_eq!(row["best_accuracy20"].as_f64(), r.best_accuracy20);
        assert_eq!(row["best_iteration"].as_u64(), r.best_iteration);
        assert_eq!(row["status"], "completed");
        assert_eq!(row["free_params"].as_u64(), Some(r.free_params));
    }
    let accs: Vec<f64> = rows.iter().map(|r| r["best_accuracy20"].as_f64().unwrap()).collect();
    assert!(accs.windows(2).all(|w| w[0] >= w[1]), "ranked best first: {accs:?}");
    assert!(accs[0] > 0.3, "the best model learned something: {accs:?}");
    let conn = std::process::Command::new("python3").args(["-c", &format!(
        "import sqlite3; c = sqlite3.connect({:?}); print(c.execute(\"select count(*), sum(status='completed') from models\").fetchone()); print(c.execute('select count(*) from snapshots').fetchone())",
        env.db().display().to_string())]).output().unwrap();
    let said = String::from_utf8_lossy(&conn.stdout);
    assert!(said.contains("(5, 5)") && said.contains("(25,)"), "SQLite rows: {said}");

    // A completed sweep: nothing to submit.
    let again = env.ok(&["submit", grid.to_str().unwrap()]);
    assert!(again.contains("nothing to submit for sweep five: 5 completed"), "{again}");
}

#[test]
fn resubmit_failed_reruns_only_the_killed_model() {
    let _c = cluster();
    let env = Env::new();
    // Long enough to be killed mid-training.
    let grid = env.grid("killed", &FIVE.replace("iterations = 300", "iterations = 1200").replace("snapshots = 5", "snapshots = 12"));
    env.ok(&["submit", grid.to_str().unwrap()]);
    let pid = lock_pid(&env, "killed", "Model-001", Duration::from_secs(120));
    // Let it write a snapshot or two, then kill -9 it (a node failure, for the model).
    let metrics = env.runs().join("killed/models/Model-001/metrics.csv");
    let t0 = Instant::now();
    while cyplam_core::files::read_metrics(&metrics).map(|r| r.len()).unwrap_or(0) < 2 {
        assert!(t0.elapsed() < Duration::from_secs(120));
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(Command::new("kill").args(["-KILL", &pid.to_string()]).status().unwrap().success());
    let states = wait_idle(&env, "killed", Duration::from_secs(900));
    let state = |name: &str| states.iter().find(|m| m["name"] == name).unwrap()["state"].as_str().unwrap().to_string();
    assert!(matches!(state("Model-001").as_str(), "failed" | "lost"), "{states:?}");
    for m in ["Model-000", "Model-002", "Model-003", "Model-004"] {
        assert_eq!(state(m), "completed", "{states:?}");
    }
    let st = env.ok(&["status", "killed"]);
    assert!(st.contains("Model-001"), "{st}");

    let snapshot_of = |m: &str| std::fs::read(env.runs().join("killed/models").join(m).join("metrics.csv")).unwrap();
    let before: Vec<Vec<u8>> = ["Model-000", "Model-002", "Model-003", "Model-004"].iter().map(|m| snapshot_of(m)).collect();
    let out = env.ok(&["resubmit", "killed", "--failed"]);
    assert!(out.contains("array 0,"), "only array task 0 (Model-000 and Model-001) is submitted: {out}");
    assert!(out.contains("1 model(s)"), "{out}");
    let states = wait_idle(&env, "killed", Duration::from_secs(900));
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    let after: Vec<Vec<u8>> = ["Model-000", "Model-002", "Model-003", "Model-004"].iter().map(|m| snapshot_of(m)).collect();
    assert_eq!(before, after, "no other model's files changed");
    let r = results(&env.runs(), "killed").into_iter().find(|r| r.model == "Model-001").unwrap();
    assert_eq!((r.resumes, r.iterations_done), (1, 1200), "resumed from its newest snapshot");
}

fn curve(env: &Env, sweep: &str, model: &str) -> Vec<(u64, f64, f64, f64, f64)> {
    cyplam_core::files::read_metrics(&cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).model(model).metrics())
        .unwrap()
        .iter()
        .map(|r| (r.iteration, r.train_loss, r.train_accuracy20, r.validation_loss, r.validation_accuracy20))
        .collect()
}

#[test]
fn usr1_checkpoints_requeues_the_task_and_the_result_equals_an_uninterrupted_run() {
    // Model-000 trains normally; Model-001, in the same array task, diverges.
    let body = FIVE
        .replace("iterations = 300", "iterations = 1500")
        .replace("snapshots = 5", "snapshots = 15")
        .replace("learning_rate = 3e-3\n", "")
        .replace("nfc1 = [8, 16, 24, 32, 48]", "nfc1 = [32]\nlearning_rate = [3e-3, 1e12]");
    let reference = Env::new();
    let g = reference.grid("pre", &body);
    reference.run(&["run", g.to_str().unwrap()]);
    let want = curve(&reference, "pre", "Model-000");
    assert_eq!(want.len(), 15);

    let _c = cluster();
    let env = Env::new();
    let grid = env.grid("pre", &body);
    env.ok(&["submit", grid.to_str().unwrap()]);
    let jobs = std::fs::read_to_string(env.runs().join("pre/submit/jobs.txt")).unwrap();
    let job = jobs.split_whitespace().next().unwrap().to_string();
    let metrics = env.runs().join("pre/models/Model-000/metrics.csv");
    let t0 = Instant::now();
    while cyplam_core::files::read_metrics(&metrics).map(|r| r.len()).unwrap_or(0) < 3 {
        assert!(t0.elapsed() < Duration::from_secs(180), "no progress");
        std::thread::sleep(Duration::from_millis(50));
    }
    // What Slurm sends signal_lead_seconds before the time limit.
    let log = env.runs().join("pre/logs").join(format!("{job}_0.out"));
    preempt(&job, &format!("{job}_0"), &log, Duration::from_secs(60));
    let states = wait_idle(&env, "pre", Duration::from_secs(600));
    assert_eq!(states[0]["state"], "completed", "{states:?}");
    assert_eq!(states[1]["state"], "failed", "{states:?}");
    assert!(states[1]["reason"].as_str().unwrap().contains("(diverged)"), "{states:?}");
    let res = results(&env.runs(), "pre");
    assert!(res[0].resumes >= 1, "Model-000 was resumed: {:?}", res[0]);
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(log.contains("cyplam: preempted; requeueing"), "{log}");
    assert_eq!(curve(&env, "pre", "Model-000"), want, "the same metrics as an uninterrupted run");
}

/// Submits the example `<sweep>.toml`, waits until its `models` models have completed, writes its
/// figures and returns the text of `<figure>.svg`.
fn twin_through_slurm(env: &Env, sweep: &str, models: usize, figure: &str) -> String {
    let grid = example(env, &format!("{sweep}.toml"));
    env.ok(&["submit", grid.to_str().unwrap()]);
    let states = wait_idle(env, sweep, Duration::from_secs(900));
    assert_eq!(states.len(), models);
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    let fig = env.dir.path().join("fig");
    env.ok(&["report", sweep, "--figures", fig.to_str().unwrap()]);
    std::fs::read_to_string(fig.join(format!("{figure}.svg"))).unwrap()
}

#[test]
fn the_regularization_study_twin_runs_through_slurm_with_its_report() {
    let _c = cluster();
    let env = Env::new();
    let svg = twin_through_slurm(&env, "regularization-small", 15, "by_regularization");
    assert!(svg.contains("L1 0.001") && svg.contains("L2 0.01"), "one curve per regularization");
}

#[test]
fn scale_through_slurm_runs_one_exclusive_job() {
    let _c = cluster();
    let env = Env::new();
    let grid = example(&env, "scaling-small.toml");
    std::fs::write(&grid, std::fs::read_to_string(&grid).unwrap().replace("iterations = 100", "iterations = 40")).unwrap();
    let o = env
        .cmd()
        .args(["scale", grid.to_str().unwrap(), "--cores", "1,2", "--repeats", "1", "--node-cores", "2"])
        .env_remove("CYPLAM_WORKER_THREADS")
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(stderr(&o).contains("in one exclusive Slurm job"), "{}", stderr(&o));
    assert!(out.contains("recommendation: "), "{out}");
    let script = std::fs::read_to_string(env.runs().join("scaling-small/scale/scale.sbatch")).unwrap();
    // Each timed run is its own srun step, rendered by the sweep's script renderer.
    assert!(
        script.contains("#SBATCH --exclusive") && script.contains("srun --exact --ntasks=1 --cpus-per-task=2 ") && script.contains(" --model 0 --threads 2"),
        "{script}"
    );
}

#[test]
fn cancel_stops_the_sweeps_jobs_and_submit_resumes_them() {
    let _c = cluster();
    let env = Env::new();
    let grid = env.grid("cancelled", &FIVE.replace("iterations = 300", "iterations = 1500").replace("snapshots = 5", "snapshots = 15"));
    env.ok(&["submit", grid.to_str().unwrap()]);
    lock_pid(&env, "cancelled", "Model-000", Duration::from_secs(120));
    let out = env.ok(&["cancel", "cancelled"]);
    assert!(out.contains("cancelled job(s)"), "{out}");
    let states = wait_idle(&env, "cancelled", Duration::from_secs(120));
    assert!(states.iter().all(|m| m["state"] != "completed"), "{states:?}");
    let jobs = std::fs::read_to_string(env.runs().join("cancelled/submit/jobs.txt")).unwrap();
    let job = jobs.split_whitespace().next().unwrap();
    let q = Command::new("squeue").args(["-h", "-j", job]).output().unwrap();
    assert!(String::from_utf8_lossy(&q.stdout).trim().is_empty(), "nothing left in the queue");
    // Submitting again picks every model up again (the started ones resume).
    let out = env.ok(&["submit", grid.to_str().unwrap()]);
    assert!(out.contains("5 model(s)"), "{out}");
    let states = wait_idle(&env, "cancelled", Duration::from_secs(900));
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
}

#[test]
fn a_stopped_controller_gives_a_clear_error_and_records_nothing() {
    let _c = cluster();
    let env = Env::new();
    let grid = env.grid("nocontroller", FIVE);
    let up = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../slurm/dev-cluster/up");
    let pid = std::fs::read_to_string(Path::new(DEV_STATE).join("run/slurmctld.pid")).map(|s| s.trim().to_string()).unwrap_or_default();
    assert!(!pid.is_empty(), "the dev cluster's slurmctld pid file");
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let t0 = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(t0.elapsed() < Duration::from_secs(60), "slurmctld did not stop");
        std::thread::sleep(Duration::from_millis(200));
    }
    let o = env.run(&["submit", grid.to_str().unwrap()]);
    // Bring the controller back before asserting, so a failure here does not break other tests.
    let back = Command::new(&up).output().unwrap();
    assert!(back.status.success(), "restarting the dev cluster: {}", String::from_utf8_lossy(&back.stderr));
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("failed") && (e.contains("Unable to contact slurm controller") || e.contains("slurm_load")), "{e}");
    let st = env.json(&["status", "nocontroller", "--format", "json"]);
    assert!(st.as_array().unwrap().iter().all(|m| m["state"] == "new"), "nothing recorded as submitted: {st}");
    let py = format!("import sqlite3; print(sqlite3.connect({:?}).execute('select count(*) from submissions').fetchone()[0])", env.db().display().to_string());
    let n = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&n.stdout).trim(), "0");
}

#[test]
fn the_activation_study_twin_runs_through_slurm_too() {
    let _c = cluster();
    let env = Env::new();
    let svg = twin_through_slurm(&env, "activations-small", 12, "by_activation");
    for a in ["relu", "elu", "softplus", "sigmoid"] {
        assert!(svg.contains(a), "one curve per activation: {a}");
    }
}
