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
    assert!(db.contains("'slurm', '101', '0-1', 0, '[0,1]'") && db.contains("'slurm', '102', '0-1', 2, '[2,3]'") && db.contains("'slurm', '103', '0', 4, '[4]'"), "{db}");

    // Slurm says they all wait or run: submitting again submits nothing.
    *fake.states.lock().unwrap() = vec![
        TaskState { array_job: "101".into(), task: 0, state: "RUNNING".into(), reason: "None".into(), node: "n1".into(), exit_code: None },
        TaskState { array_job: "101".into(), task: 1, state: "PENDING".into(), reason: "Resources".into(), node: String::new(), exit_code: None },
        TaskState { array_job: "102".into(), task: 0, state: "PENDING".into(), reason: "Priority".into(), node: String::new(), exit_code: None },
        TaskState { array_job: "102".into(), task: 1, state: "PENDING".into(), reason: "Priority".into(), node: String::new(), exit_code: None },
        TaskState { array_job: "103".into(), task: 0, state: "PENDING".into(), reason: "Priority".into(), node: String::new(), exit_code: None },
    ];
    rt().block_on(args.run(&cyplam::ctx::Ctx::new(g.clone(), &fake))).unwrap();
    assert_eq!(fake.submitted.lock().unwrap().len(), 3, "nothing submitted twice");

    // Task 102_1 (Model-003) failed without a result: resubmit --failed takes it alone.
    fake.states.lock().unwrap()[3] = TaskState { array_job: "102".into(), task: 1, state: "FAILED".into(), reason: "FAILED".into(), node: "n1".into(), exit_code: Some("1:0".into()) };
    let st = rt().block_on(async {
        let f = cyplam::sweep::open(&env.runs(), "split").unwrap();
        let db = cyplam::db::Db::open(&env.db()).await.unwrap();
        let id = db.sweep_id("split").await.unwrap().unwrap();
        let subs = db.submissions(id).await.unwrap();
        cyplam::state::model_states(&f, &subs, Some(&fake)).await.unwrap()
    });
    let states: Vec<&str> = st.iter().map(|m| m.state.as_str()).collect();
    assert_eq!(states, vec!["running", "pending", "pending", "failed", "pending"]);
    assert!(st[3].reason.as_deref().unwrap_or("").contains("Slurm says FAILED (exit 1:0)"), "{:?}", st[3].reason);
    let re = cyplam::commands::resubmit::ResubmitArgs { sweep: "split".into(), failed: true, dry_run: false, device: None };
    rt().block_on(re.run(&cyplam::ctx::Ctx::new(g.clone(), &fake))).unwrap();
    let subs = fake.submitted.lock().unwrap().clone();
    assert_eq!(subs.len(), 4);
    assert!(subs[3].0.contains("#SBATCH --array=1\n") && subs[3].0.contains("+ 2))"), "model 3 is task 3 = array 2 + 1: {}", subs[3].0);
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
