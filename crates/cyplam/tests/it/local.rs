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
    let child = env.cmd().args(["run", grid.to_str().unwrap(), "--jobs", "2"])
        .stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
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
