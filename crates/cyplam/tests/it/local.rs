//! `cyplam run`: the same sweep on this machine, with the same worker, files and database.

use super::*;

#[test]
fn the_same_grid_runs_locally_with_the_same_model_list() {
    let env = Env::new();
    let grid = env.grid("five", FIVE);
    let o = env.run(&["run", grid.to_str().unwrap(), "--jobs", "2"]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(out.contains("top 5 of 5 models (5 completed)"), "{out}");

    let listed = env.json(&["grid", grid.to_str().unwrap(), "--format", "json"]);
    let names: Vec<&str> = listed.as_array().unwrap().iter().map(|m| m["name"].as_str().unwrap()).collect();
    let res = results(&env.runs(), "five");
    assert_eq!(res.iter().map(|r| r.model.as_str()).collect::<Vec<_>>(), names);
    assert!(res.iter().all(|r| r.status == cyplam_core::files::ResultStatus::Completed && r.threads == 1));

    let report = env.json(&["report", "five", "--format", "json", "--top", "3"]);
    assert_eq!(report.as_array().unwrap().len(), 3);
    assert_eq!(report[0]["rank"], 1);

    // Each worker got the environment an array task gives it: 2 per task, procid 0 and 1.
    let log = std::fs::read_to_string(env.runs().join("five/logs/local-Model-004.log")).unwrap();
    assert!(log.contains("Model-004 (3-4-3-8-48"), "{log}");

    // Running it again trains nothing.
    let again = env.ok(&["run", grid.to_str().unwrap()]);
    assert!(again.contains("top 5 of 5 models (5 completed)"), "{again}");
    let st = env.ok(&["status", "five"]);
    assert!(st.contains("5 models: 5 completed"), "{st}");

    // One model's learning curve.
    let curve = env.ok(&["report", "five", "--model", "Model-002"]);
    assert!(curve.contains("Model-002 (3-4-3-8-24): 5 snapshots; best validation Accuracy20%"), "{curve}");
    let csv = env.ok(&["report", "five", "--format", "csv"]);
    assert!(csv.starts_with("rank,name,wc1,ncv1,wc2,ncv2,nfc1,max acc20,iteration,free params,train s,status\n1,"), "{csv}");
    let md = env.ok(&["report", "five", "--format", "markdown"]);
    assert!(md.starts_with("| rank | name |"), "{md}");
}

#[test]
fn ctrl_c_stops_the_workers_and_a_later_run_resumes() {
    let env = Env::new();
    let grid = env.grid("stop", &FIVE.replace("iterations = 300", "iterations = 1000").replace("snapshots = 5", "snapshots = 20"));
    let child = env
        .cmd()
        .args(["run", grid.to_str().unwrap(), "--jobs", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let metrics = env.runs().join("stop/models/Model-000/metrics.csv");
    let t0 = std::time::Instant::now();
    while cyplam_core::files::read_metrics(&metrics).map(|r| r.len()).unwrap_or(0) < 2 {
        assert!(t0.elapsed() < std::time::Duration::from_secs(120), "no progress");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert!(Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap().success());
    let out = child.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(130), "an interrupted run exits 130: {}", stderr(&out));
    assert!(stderr(&out).contains("stopped; `cyplam run"), "{}", stderr(&out));
    let r: cyplam_core::files::ModelResult = cyplam_core::files::read_json(&env.runs().join("stop/models/Model-000/result.json")).unwrap();
    assert_eq!(r.status, cyplam_core::files::ResultStatus::Preempted);
    let st = env.ok(&["status", "stop"]);
    assert!(st.contains("preempted"), "{st}");

    let out = env.ok(&["run", grid.to_str().unwrap(), "--jobs", "2"]);
    assert!(out.contains("top 5 of 5 models (5 completed)"), "{out}");
    let r: cyplam_core::files::ModelResult = cyplam_core::files::read_json(&env.runs().join("stop/models/Model-000/result.json")).unwrap();
    assert_eq!((r.status, r.resumes, r.iterations_done), (cyplam_core::files::ResultStatus::Completed, 1, 1000));
}

/// Two tiny models, 100 iterations.
fn two_tiny() -> String {
    FIVE.replace("iterations = 300", "iterations = 100").replace("snapshots = 5", "snapshots = 2").replace("nfc1 = [8, 16, 24, 32, 48]", "nfc1 = [8, 16]")
}

#[test]
fn a_sweep_whose_logs_or_models_were_removed_is_trained_again_not_skipped() {
    let env = Env::new();
    let grid = env.grid("gone", &two_tiny());
    let g = grid.to_str().unwrap();
    env.ok(&["run", g]);
    let sweep = env.runs().join("gone");
    // logs/ removed, and a model to train again: logs/ is made again and the model trained, its
    // log in it (the run used to drop the worker it could not give a log, and exit 0).
    std::fs::remove_dir_all(sweep.join("logs")).unwrap();
    std::fs::remove_dir_all(sweep.join("models/Model-001")).unwrap();
    let o = env.run(&["run", g]);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(o.status.success(), "{out}\n{}", stderr(&o));
    assert!(stderr(&o).contains("1 model(s) to train (1 already completed)"), "{}", stderr(&o));
    assert!(out.contains("top 2 of 2 models (2 completed)"), "{out}");
    assert!(std::fs::read_to_string(sweep.join("logs/local-Model-001.log")).unwrap().contains("Model-001"));
    let r = results(&env.runs(), "gone");
    assert_eq!(r.iter().map(|r| (r.status, r.iterations_done)).collect::<Vec<_>>(), vec![(cyplam_core::files::ResultStatus::Completed, 100); 2]);
    // models/ removed: made again, every model trained again.
    std::fs::remove_dir_all(sweep.join("models")).unwrap();
    let o = env.run(&["run", g]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("2 model(s) to train (0 already completed)"), "{}", stderr(&o));
    assert_eq!(results(&env.runs(), "gone").len(), 2);
    // A logs/ that cannot be made again: the run fails naming it, before it starts anything.
    std::fs::remove_dir_all(sweep.join("logs")).unwrap();
    std::fs::remove_dir_all(sweep.join("models/Model-000")).unwrap();
    std::fs::write(sweep.join("logs"), "").unwrap();
    let o = env.run(&["run", g]);
    assert!(!o.status.success());
    let logs = sweep.join("logs");
    assert!(
        stderr(&o).contains(&format!(
            "cannot create the directory {}: {} is a file, not a directory; give another path or move the file",
            logs.display(),
            logs.display()
        )),
        "{}",
        stderr(&o)
    );
    assert!(!stderr(&o).contains("model(s) to train"), "nothing was started: {}", stderr(&o));
}

#[test]
fn a_worker_that_cannot_start_fails_the_run_with_its_reason_and_the_advice_given_works() {
    let env = Env::new();
    let grid = env.grid("noworker", &two_tiny());
    let g = grid.to_str().unwrap();
    // cyplam alone in a directory, no worker beside it nor on PATH.
    let bin = env.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let cyplam = bin.join("cyplam");
    std::fs::hard_link(CYPLAM, &cyplam).or_else(|_| std::fs::copy(CYPLAM, &cyplam).map(drop)).unwrap();
    let run = |worker: Option<&Path>| {
        let mut c = Command::new(&cyplam);
        c.args(["run", g])
            .env("CYPLAM_RUNS", env.runs())
            .env("CYPLAM_DB", env.db())
            .env("PATH", "/usr/bin:/bin")
            .env("CYPLAM_WORKER_THREADS", "1")
            .env_remove("CYPLAM_WORKER")
            .env_remove("CYPLAM_LOG");
        if let Some(w) = worker {
            c.env("CYPLAM_WORKER", w);
        }
        c.output().unwrap()
    };
    let o = run(None);
    assert!(!o.status.success());
    assert!(
        stderr(&o).contains(&format!(
            "cyplam-worker was found neither beside {} nor on PATH; put it at {}, or set CYPLAM_WORKER to its path",
            cyplam.display(),
            bin.join("cyplam-worker").display()
        )),
        "{}",
        stderr(&o)
    );
    // CYPLAM_WORKER naming nothing: said, not a silent run that trains nothing.
    let o = run(Some(&env.dir.path().join("nowhere")));
    assert!(!o.status.success());
    assert!(stderr(&o).contains("nowhere, no file; set it to the cyplam-worker binary"), "{}", stderr(&o));
    // A file that cannot be started: each model fails with the reason, and the run exits non-zero.
    let not_exec = env.dir.path().join("not-a-worker");
    std::fs::write(&not_exec, "").unwrap();
    let o = run(Some(&not_exec));
    assert!(!o.status.success(), "{}", stderr(&o));
    assert!(
        stderr(&o).contains(&format!(
            "2 model(s) did not complete:\n  Model-000, Model-001: could not start: the worker {} cannot be started (Permission denied",
            not_exec.display()
        )),
        "{}",
        stderr(&o)
    );
    // Following the first advice: the worker put beside cyplam.
    std::os::unix::fs::symlink(worker_bin(), bin.join("cyplam-worker")).unwrap();
    let o = run(None);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("top 2 of 2 models (2 completed)"));
}

#[test]
fn a_model_held_by_another_workers_lock_fails_the_run_naming_the_holder() {
    let env = Env::new();
    let grid = env.grid("held", &two_tiny());
    // A lock of a live process (pid 1) of a Slurm job, as a worker of another submission leaves it.
    let md = cyplam_core::layout::SweepDir::new(env.runs().join("held")).model("Model-001");
    std::fs::create_dir_all(&md.root).unwrap();
    let host = cyplam_core::files::hostname();
    std::fs::write(md.lock(), format!(r#"{{"host":"{host}","pid":1,"slurm_job":"77_5","slurm_node":"n2","since_unix":0}}"#)).unwrap();
    let o = env.run(&["run", grid.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains(&format!("1 model(s) did not complete:\n  Model-001: not started: another worker holds the model: cyplam-worker: {}: the model is being trained by another worker (host {host}, pid 1, Slurm job 77_5 on node n2, since ",
        md.lock().display())), "{e}");
    assert!(!e.contains("killed"), "{e}");
    assert_eq!(results(&env.runs(), "held").len(), 1, "the other model trained");
}
