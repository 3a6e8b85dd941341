//! Faults and their guarantees (docs/reliability.md): torn and concurrent collects, a locked
//! database, and the orchestration against a fake scheduler (array splitting, no double
//! submission, a controller that is down).

use super::*;
use cyplam::slurm::{Scheduler, TaskState};
use std::sync::Mutex;

/// Every row of the result tables (without `files_sig`, collect's own bookkeeping).
fn dump(db: &Path) -> String {
    let py = format!(
        "import sqlite3; c = sqlite3.connect({:?})\n\
         names = lambda t: [r[1] for r in c.execute('pragma table_info(' + t + ')') if r[1] != 'files_sig']\n\
         for t in ['models', 'snapshots', 'submissions']:\n    print(t, sorted(c.execute('select ' + ', '.join(names(t)) + ' from ' + t).fetchall()))",
        db.display().to_string()
    );
    let o = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    String::from_utf8(o.stdout).unwrap()
}

#[test]
fn collect_is_idempotent_concurrent_and_ignores_torn_rows() {
    let env = Env::new();
    let grid = env.grid("torn", &FIVE.replace("iterations = 300", "iterations = 10").replace("snapshots = 5", "snapshots = 2"));
    env.ok(&["run", grid.to_str().unwrap()]);
    let once = dump(&env.db());
    env.ok(&["collect", "torn"]);
    assert_eq!(dump(&env.db()), once, "collecting again changes nothing");
    let children: Vec<_> = (0..3).map(|_| env.cmd().args(["collect", "torn"]).spawn().unwrap()).collect();
    for mut c in children {
        assert!(c.wait().unwrap().success());
    }
    assert_eq!(dump(&env.db()), once, "concurrent collects give the same rows");
    // A crash in the middle of a metrics row: that row is not ingested.
    let m = env.runs().join("torn/models/Model-002/metrics.csv");
    let mut text = std::fs::read_to_string(&m).unwrap();
    text.push_str("12,0.5,0.");
    std::fs::write(&m, text).unwrap();
    env.ok(&["collect", "torn"]);
    assert_eq!(dump(&env.db()), once);
}

#[test]
fn a_locked_database_waits_then_says_so() {
    let env = Env::new();
    let grid = env.grid("locked", FIVE);
    env.cmd().args(["submit", grid.to_str().unwrap()]).env("PATH", "/nonexistent").output().unwrap();
    let py = format!(
        "import sqlite3, time, sys; c = sqlite3.connect({:?}, isolation_level=None); c.execute('begin exclusive'); print('locked', flush=True); time.sleep(6)",
        env.db().display().to_string()
    );
    let mut holder = Command::new("python3").args(["-c", &py]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(holder.stdout.as_mut().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "locked");
    let t0 = std::time::Instant::now();
    let o = env.cmd().args(["collect", "locked"]).env("CYPLAM_DB_TIMEOUT", "2").output().unwrap();
    assert!(!o.status.success());
    assert!(t0.elapsed() >= std::time::Duration::from_secs(2), "it waited for the lock");
    let e = stderr(&o);
    assert!(e.contains("the database is locked by another process (waited 2s)"), "{e}");
    holder.wait().unwrap();
    // Once free, it works.
    env.ok(&["collect", "locked"]);
}

/// A scheduler that records what it is asked and answers from a script.
#[derive(Default)]
struct Fake {
    max_array: usize,
    down: bool,
    submitted: Mutex<Vec<(String, Vec<String>)>>,
    states: Mutex<Vec<TaskState>>,
    /// sacct's failure, when accounting is down.
    accounting: Mutex<Option<String>>,
}

impl Scheduler for Fake {
    async fn submit(&self, script: &Path, args: &[String]) -> anyhow::Result<String> {
        let mut s = self.submitted.lock().unwrap();
        s.push((std::fs::read_to_string(script)?, args.to_vec()));
        Ok((100 + s.len()).to_string())
    }
    async fn states(&self, _jobs: &[String]) -> anyhow::Result<Vec<TaskState>> {
        Ok(self.states.lock().unwrap().clone())
    }
    async fn cancel(&self, _jobs: &[String]) -> anyhow::Result<()> {
        Ok(())
    }
    async fn max_array_size(&self) -> anyhow::Result<usize> {
        if self.down {
            anyhow::bail!("`scontrol show config` failed (exit status: 1): slurm_load_ctl_conf error: Unable to contact slurm controller (connect failure)");
        }
        Ok(self.max_array)
    }
    // What doctor asks: not asked by these tests (doctor's checks have their fake in
    // cyplam::doctor's unit tests).
    fn command_path(&self, _command: &str) -> Option<PathBuf> {
        None
    }
    async fn version(&self) -> anyhow::Result<String> {
        anyhow::bail!("not asked")
    }
    async fn ping(&self) -> anyhow::Result<cyplam::slurm::Ping> {
        anyhow::bail!("not asked")
    }
    async fn config(&self) -> anyhow::Result<std::collections::BTreeMap<String, String>> {
        anyhow::bail!("not asked")
    }
    async fn accounting(&self) -> anyhow::Result<()> {
        anyhow::bail!("not asked")
    }
    async fn nodes(&self) -> anyhow::Result<Vec<cyplam::slurm::NodeRow>> {
        anyhow::bail!("not asked")
    }
    fn accounting_error(&self) -> Option<String> {
        self.accounting.lock().unwrap().clone()
    }
}

/// Every model's state as `status` sees it, with `fake` as the scheduler.
fn model_states(env: &Env, sweep: &str, fake: &Fake) -> Vec<cyplam::state::ModelStatus> {
    rt().block_on(async {
        let f = cyplam::sweep::open(&env.runs(), sweep).unwrap();
        let db = cyplam::db::Db::open(&env.db()).await.unwrap();
        let id = db.sweep_id(sweep).await.unwrap().unwrap();
        let subs = db.submissions(id).await.unwrap();
        cyplam::state::SweepView::read(&f, subs, Some(fake)).await.unwrap().states
    })
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

#[test]
fn arrays_split_under_max_array_size_and_nothing_is_submitted_twice() {
    let env = Env::new();
    let grid = env.grid("split", &FIVE.replace("trainings_per_node = 2", "trainings_per_node = 1"));
    std::env::set_var("CYPLAM_WORKER", worker_bin());
    let g = cyplam::ctx::Global { runs_dir: env.runs(), db: Some(env.db()) };
    let args = cyplam::commands::submit::SubmitArgs { grid: grid.clone(), dry_run: false, device: None, packing: None };

    // The controller is down: a clear error, nothing recorded as submitted.
    let down = Fake { max_array: 2, down: true, ..Default::default() };
    let e = rt().block_on(args.run(&cyplam::ctx::Ctx::new(g.clone(), &down))).unwrap_err();
    assert!(format!("{e:#}").contains("Unable to contact slurm controller"), "{e:#}");
    assert!(down.submitted.lock().unwrap().is_empty());
    assert!(!dump(&env.db()).contains("'slurm'"), "no submission row");

    // MaxArraySize 2: tasks 0-4 become arrays 0-1, 0-1 (+2) and 0 (+4).
    let fake = Fake { max_array: 2, ..Default::default() };
    rt().block_on(args.run(&cyplam::ctx::Ctx::new(g.clone(), &fake))).unwrap();
    let subs = fake.submitted.lock().unwrap().clone();
    assert_eq!(subs.len(), 3);
    assert!(subs[0].0.contains("#SBATCH --array=0-1\n") && subs[0].0.contains("--index \"$SLURM_ARRAY_TASK_ID\""), "{}", subs[0].0);
    assert!(subs[1].0.contains("#SBATCH --array=0-1\n") && subs[1].0.contains("--index \"$((SLURM_ARRAY_TASK_ID + 2))\""), "{}", subs[1].0);
    assert!(subs[2].0.contains("#SBATCH --array=0\n") && subs[2].0.contains("--index \"$((SLURM_ARRAY_TASK_ID + 4))\""), "{}", subs[2].0);
    assert!(subs[0].1[0].starts_with("--output=") && subs[0].1[0].ends_with("/logs/%A_%a.out"));
    let db = dump(&env.db());
    assert!(
        db.contains("'slurm', '101', '0-1', 0, '[0,1]'") && db.contains("'slurm', '102', '0-1', 2, '[2,3]'") && db.contains("'slurm', '103', '0', 4, '[4]'"),
        "{db}"
    );

    // Slurm says they all wait or run: submitting again submits nothing.
    *fake.states.lock().unwrap() = vec![
        TaskState {
            array_job: "101".into(),
            task: 0,
            state: "RUNNING".into(),
            reason: "None".into(),
            node: "n1".into(),
            exit_code: None,
            lost_nodes: Vec::new(),
            name: "cyplam-split".into(),
        },
        TaskState {
            array_job: "101".into(),
            task: 1,
            state: "PENDING".into(),
            reason: "Resources".into(),
            node: String::new(),
            exit_code: None,
            lost_nodes: Vec::new(),
            name: "cyplam-split".into(),
        },
        TaskState {
            array_job: "102".into(),
            task: 0,
            state: "PENDING".into(),
            reason: "Priority".into(),
            node: String::new(),
            exit_code: None,
            lost_nodes: Vec::new(),
            name: "cyplam-split".into(),
        },
        TaskState {
            array_job: "102".into(),
            task: 1,
            state: "PENDING".into(),
            reason: "Priority".into(),
            node: String::new(),
            exit_code: None,
            lost_nodes: Vec::new(),
            name: "cyplam-split".into(),
        },
        TaskState {
            array_job: "103".into(),
            task: 0,
            state: "PENDING".into(),
            reason: "Priority".into(),
            node: String::new(),
            exit_code: None,
            lost_nodes: Vec::new(),
            name: "cyplam-split".into(),
        },
    ];
    rt().block_on(args.run(&cyplam::ctx::Ctx::new(g.clone(), &fake))).unwrap();
    assert_eq!(fake.submitted.lock().unwrap().len(), 3, "nothing submitted twice");

    // Task 102_1 (Model-003) failed without a result: resubmit --failed takes it alone.
    fake.states.lock().unwrap()[3] = TaskState {
        array_job: "102".into(),
        task: 1,
        state: "FAILED".into(),
        reason: "FAILED".into(),
        node: "n1".into(),
        exit_code: Some("1:0".into()),
        lost_nodes: Vec::new(),
        name: "cyplam-split".into(),
    };
    let st = model_states(&env, "split", &fake);
    let states: Vec<&str> = st.iter().map(|m| m.state.as_str()).collect();
    assert_eq!(states, vec!["running", "pending", "pending", "failed", "pending"]);
    assert!(st[3].reason.as_deref().unwrap_or("").contains("Slurm says FAILED (exit 1:0)"), "{:?}", st[3].reason);
    let re = cyplam::commands::resubmit::ResubmitArgs { sweep: "split".into(), failed: true, dry_run: false, device: None };
    rt().block_on(re.run(&cyplam::ctx::Ctx::new(g.clone(), &fake))).unwrap();
    let subs = fake.submitted.lock().unwrap().clone();
    assert_eq!(subs.len(), 4);
    assert!(subs[3].0.contains("#SBATCH --array=1\n") && subs[3].0.contains("+ 2))"), "model 3 is task 3 = array 2 + 1: {}", subs[3].0);
}

/// Issue 30: with accounting down, a submitted model whose task squeue no longer lists (after
/// MinJobAge) and that wrote nothing is not "new": whether it ran cannot be told, and it is said.
#[test]
fn with_accounting_down_an_unlisted_submitted_model_is_lost_and_says_why_not_new() {
    let env = Env::new();
    let grid = env.grid("unlisted", FIVE);
    std::env::set_var("CYPLAM_WORKER", worker_bin());
    let g = cyplam::ctx::Global { runs_dir: env.runs(), db: Some(env.db()) };
    let args = cyplam::commands::submit::SubmitArgs { grid: grid.clone(), dry_run: false, device: None, packing: None };
    let fake = Fake { max_array: 10, ..Default::default() };
    rt().block_on(args.run(&cyplam::ctx::Ctx::new(g.clone(), &fake))).unwrap();
    // Accounting up and nothing listed: sacct lists every job the controller recorded, ended ones
    // too, so Slurm lost it (a controller that crashed before saving its state): lost, not new.
    let st = model_states(&env, "unlisted", &fake);
    assert!(st.iter().all(|m| m.state.as_str() == "lost"), "{:?}", st.iter().map(|m| m.state.as_str()).collect::<Vec<_>>());
    let why = st[2].reason.as_deref().unwrap_or("");
    assert!(why.contains("submitted in job 101, which Slurm no longer knows (neither squeue nor sacct lists it"), "{why}");
    *fake.accounting.lock().unwrap() = Some("`sacct` failed: Unable to connect to slurmdbd".into());
    let st = model_states(&env, "unlisted", &fake);
    assert!(st.iter().all(|m| m.state.as_str() == "lost"), "{:?}", st.iter().map(|m| m.state.as_str()).collect::<Vec<_>>());
    let why = st[2].reason.as_deref().unwrap_or("");
    assert!(why.contains("submitted in job 101, which Slurm no longer lists, and it has no files; Slurm's accounting is unavailable"), "{why}");
    assert!(why.contains("`cyplam resubmit --failed` submits it again"), "{why}");
}

/// Issue 30: a controller that crashed before saving its state lost the sweep's array and gave its
/// id to another job. That job's tasks, listed under the id with another name, are not the
/// sweep's: their models are lost with the reason (never pending under the other job), and
/// `resubmit --failed` submits them again; a task under the sweep's name goes on being its own.
#[test]
fn a_job_id_slurm_gave_to_another_job_is_not_the_sweeps() {
    let env = Env::new();
    let grid = env.grid("reused", FIVE);
    std::env::set_var("CYPLAM_WORKER", worker_bin());
    let g = cyplam::ctx::Global { runs_dir: env.runs(), db: Some(env.db()) };
    let args = cyplam::commands::submit::SubmitArgs { grid: grid.clone(), dry_run: false, device: None, packing: None };
    let fake = Fake { max_array: 10, ..Default::default() };
    rt().block_on(args.run(&cyplam::ctx::Ctx::new(g.clone(), &fake))).unwrap();
    let task = |job: &str, task: usize, state: &str, name: &str| TaskState {
        array_job: job.into(),
        task,
        state: state.into(),
        reason: "None".into(),
        node: if state == "RUNNING" { "n1".into() } else { String::new() },
        exit_code: None,
        lost_nodes: Vec::new(),
        name: name.into(),
    };
    // Job 101's task 0 is another job's (a plain job of that id, pending); task 1 the sweep's,
    // running; task 2 runs under a halving rung's name, which this sweep's job does not have.
    *fake.states.lock().unwrap() =
        vec![task("101", 0, "PENDING", "other|job"), task("101", 1, "RUNNING", "cyplam-reused"), task("101", 2, "RUNNING", "cyplam-reused-rung1")];
    let st = model_states(&env, "reused", &fake);
    assert_eq!(st.iter().map(|m| m.state.as_str()).collect::<Vec<_>>(), vec!["lost", "lost", "running", "running", "lost"]);
    for m in [0, 1, 4] {
        let why = st[m].reason.as_deref().unwrap_or("");
        assert!(
            why.contains("submitted in job 101, which Slurm lost (a controller that crashed before saving its state): the id now belongs to another job named"),
            "{why}"
        );
        assert!(why.contains("`cyplam resubmit --failed` submits it again"), "{why}");
        assert_eq!(st[m].job, None, "not the other job's task");
    }
    assert!(st[0].reason.as_deref().unwrap_or("").contains("named \"other|job\""));
    assert_eq!(st[2].job.as_deref(), Some("101_1"));

    let re = cyplam::commands::resubmit::ResubmitArgs { sweep: "reused".into(), failed: true, dry_run: false, device: None };
    rt().block_on(re.run(&cyplam::ctx::Ctx::new(g.clone(), &fake))).unwrap();
    let subs = fake.submitted.lock().unwrap().clone();
    assert_eq!(subs.len(), 2, "one new array");
    assert!(subs[1].0.contains("#SBATCH --job-name=cyplam-reused\n") && subs[1].0.contains("#SBATCH --array=0,2\n"), "{}", subs[1].0);
    // The new array's tasks are the sweep's; job 101's other job no longer matters.
    fake.states.lock().unwrap().extend([task("102", 0, "PENDING", "cyplam-reused"), task("102", 2, "RUNNING", "cyplam-reused")]);
    let st = model_states(&env, "reused", &fake);
    assert_eq!(st.iter().map(|m| m.state.as_str()).collect::<Vec<_>>(), vec!["pending", "pending", "running", "running", "running"]);
    assert_eq!(st[4].job.as_deref(), Some("102_2"));
}

#[test]
fn a_read_only_database_gives_a_clear_error_and_stays_whole() {
    let env = Env::new();
    let dir = env.dir.path().join("ro-db");
    std::fs::create_dir_all(&dir).unwrap();
    let o = Command::new("mount").args(["-t", "tmpfs", "-o", "size=8m", "tmpfs", dir.to_str().unwrap()]).output().unwrap();
    assert!(o.status.success(), "this test mounts a tmpfs and needs root: {}", String::from_utf8_lossy(&o.stderr));
    struct Unmount(PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(dir.clone());
    let db = dir.join("cyplam.db");
    let grid = env.grid("rodb", &FIVE.replace("iterations = 300", "iterations = 10").replace("snapshots = 5", "snapshots = 1"));
    let o = env.cmd().args(["run", grid.to_str().unwrap()]).env("CYPLAM_DB", &db).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    let before = dump(&db);
    // New results to ingest, and a database that cannot be written.
    let m = env.runs().join("rodb/models/Model-000/metrics.csv");
    let text = std::fs::read_to_string(&m).unwrap();
    std::fs::write(&m, text.clone() + &text.lines().last().unwrap().replacen("10,", "11,", 1) + "\n").unwrap();
    assert!(Command::new("mount").args(["-o", "remount,ro", dir.to_str().unwrap()]).status().unwrap().success());
    let o = env.cmd().args(["collect", "rodb"]).env("CYPLAM_DB", &db).output().unwrap();
    assert!(Command::new("mount").args(["-o", "remount,rw", dir.to_str().unwrap()]).status().unwrap().success());
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains(&db.display().to_string()) || e.contains("readonly") || e.contains("read-only"), "{e}");
    assert!(e.to_lowercase().contains("read"), "the error says the database could not be written: {e}");
    assert_eq!(dump(&db), before, "the database is whole and unchanged");
    // Writable again: the new row is ingested.
    let o = env.cmd().args(["collect", "rodb"]).env("CYPLAM_DB", &db).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_ne!(dump(&db), before);
}

/// Issue 13's rule 1: one model's bad numbers or files never block the others. A sweep with a
/// diverged model (NaN metrics), a garbage metrics line, another model's result.json and a lock
/// of another host still collects, reports and shows the status of every sound model; the
/// database stays the record when a metrics file, then the whole sweep directory, is gone.
#[test]
fn a_diverged_model_and_damaged_files_never_hide_the_sound_models() {
    let env = Env::new();
    let grid = env.grid("mixed", &FIVE.replace("iterations = 300", "iterations = 20").replace("snapshots = 5", "snapshots = 2"));
    env.ok(&["run", grid.to_str().unwrap()]);
    let models = env.runs().join("mixed/models");
    // Model-001 diverged right after a snapshot: its last row is NaN and it failed.
    let m1 = models.join("Model-001");
    let mut text = std::fs::read_to_string(m1.join("metrics.csv")).unwrap();
    text.push_str("21,NaN,NaN,NaN,NaN,9.000\n");
    std::fs::write(m1.join("metrics.csv"), text).unwrap();
    let mut r1: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(m1.join("result.json")).unwrap()).unwrap();
    r1["status"] = "failed".into();
    r1["reason"] = "the training loss became NaN at iteration 21 (diverged); lower the learning rate".into();
    std::fs::write(m1.join("result.json"), serde_json::to_string(&r1).unwrap()).unwrap();
    // Model-002: a garbage line in the middle of its metrics.
    let m2 = models.join("Model-002/metrics.csv");
    let text = std::fs::read_to_string(&m2).unwrap();
    let mut lines: Vec<&str> = text.lines().collect();
    lines.insert(2, "garbage,,here");
    std::fs::write(&m2, lines.join("\n") + "\n").unwrap();
    // Model-003 holds Model-004's result.json.
    std::fs::copy(models.join("Model-004/result.json"), models.join("Model-003/result.json")).unwrap();
    // Model-004 is locked by a worker of another host.
    std::fs::write(models.join("Model-004/lock"), r#"{"host":"node-elsewhere","pid":4242,"slurm_job":"77_1","since_unix":1}"#).unwrap();

    let out = env.ok(&["collect", "mixed"]);
    assert!(out.contains("collected 3 model(s)"), "{out}");
    let report = env.json(&["report", "mixed", "--format", "json"]);
    let rows = report.as_array().unwrap();
    let row = |name: &str| rows.iter().find(|r| r["name"] == name).unwrap_or_else(|| panic!("{name} is not in {report}"));
    for sound in ["Model-000", "Model-004"] {
        assert_eq!(row(sound)["status"], "completed", "{report}");
        assert!(row(sound)["best_accuracy20"].as_f64().is_some(), "{report}");
    }
    assert_eq!((row("Model-001")["status"].as_str(), row("Model-001")["diverged"].as_bool()), (Some("failed"), Some(true)), "{report}");
    let best1 = row("Model-001")["best_accuracy20"].as_f64().unwrap();
    assert!(best1.is_finite() && (0.0..=1.0).contains(&best1), "the diverged model's best is its best finite snapshot: {report}");
    for damaged in ["Model-002", "Model-003"] {
        assert_eq!(row(damaged)["status"], "damaged", "{report}");
    }
    let table = env.ok(&["report", "mixed"]);
    assert!(table.contains("failed (diverged)"), "{table}");
    let curve = env.ok(&["report", "mixed", "--model", "Model-001"]);
    assert!(curve.contains("NaN") && curve.contains("3 snapshots"), "the NaN row is stored and shown: {curve}");

    let st = env.json(&["status", "mixed", "--format", "json"]);
    let reason = |i: usize| st[i]["reason"].as_str().unwrap_or("").to_string();
    assert_eq!(st[2]["state"], "damaged", "{st}");
    assert!(reason(2).contains("Model-002/metrics.csv:3: expected 6 fields, found 3"), "the file and line: {}", reason(2));
    assert_eq!(st[3]["state"], "damaged", "{st}");
    assert!(reason(3).contains("Model-003/result.json"), "{}", reason(3));
    let collect_reason = rows.iter().find(|r| r["name"] == "Model-003").unwrap();
    assert_eq!(collect_reason["status"], "damaged");
    assert_eq!(st[0]["state"], "completed");
    assert_eq!(st[4]["state"], "completed", "a lock does not change a completed model: {st}");
    let text = env.ok(&["status", "mixed"]);
    assert!(text.contains("2 damaged"), "{text}");
    // Submitting leaves the damaged models alone and says so.
    let o = env.cmd().args(["submit", grid.to_str().unwrap()]).env("PATH", "/nonexistent").output().unwrap();
    assert!(stderr(&o).contains("not submitting 2 damaged model(s) (Model-002, Model-003)"), "{}", stderr(&o));

    // The database is the record: a deleted metrics file takes nothing away...
    let before = env.ok(&["report", "mixed", "--model", "Model-000"]);
    std::fs::remove_file(models.join("Model-000/metrics.csv")).unwrap();
    env.ok(&["collect", "mixed"]);
    assert_eq!(env.ok(&["report", "mixed", "--model", "Model-000"]), before);
    // ...and neither does the whole sweep directory.
    std::fs::rename(env.runs().join("mixed"), env.dir.path().join("moved-away")).unwrap();
    let o = env.run(&["report", "mixed", "--format", "json"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("is gone; showing sweep mixed as the database"), "{}", stderr(&o));
    let again: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(again.as_array().unwrap().len(), 5);
    assert_eq!(env.ok(&["report", "mixed", "--model", "Model-000"]), before);
}
