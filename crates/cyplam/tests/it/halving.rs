//! Successive halving (issue 14, docs/halving.md) end to end: locally with `cyplam run`, where
//! the what-if replay of the same grid trained in full must predict its promotions exactly, and
//! through the real 3-node dev Slurm cluster, where the rungs are job arrays chained by
//! dependencies, spread over the nodes, each decision taken on a node that trained none of the
//! rung it decides, one rung task is preempted (USR1) and requeued, and the decisions are those
//! of `cyplam run`.

use super::slurm::nodes::{lock_of, runs_of, three_nodes};
use super::slurm::preempt;
use super::*;
use std::time::{Duration, Instant};

/// Nine tiny models, 27 snapshots (or 9, [`nine`]): with eta 3 and 3 rungs, rung 0 ends at
/// iteration 150, rung 1 at 450, the last at 1350.
const NINE: &str = r#"
[slurm]
trainings_per_node = 2
cpus_per_training = 12

[settings]
wc1 = 3
wc2 = 3
ncv2 = 8
learning_rate = 3e-3
batch_size = 32
iterations = 1350
snapshots = 27
seed = 3
keep_snapshots = "best"

[grid]
ncv1 = [2, 4, 8]
nfc1 = [8, 16, 32]
"#;

fn nine(snapshots: u32) -> String {
    NINE.replace("snapshots = 27", &format!("snapshots = {snapshots}"))
}

fn halving_grid(snapshots: u32) -> String {
    format!("[halving]\neta = 3\nrungs = 3\n{}", nine(snapshots))
}

/// A row without its time (which differs between runs).
fn numbers(rows: &[cyplam_core::metrics_csv::MetricsRow]) -> Vec<(u64, f64, f64, f64, f64)> {
    rows.iter().map(|r| (r.iteration, r.train_loss, r.train_accuracy20, r.validation_loss, r.validation_accuracy20)).collect()
}

fn curve(env: &Env, sweep: &str, model: &str) -> Vec<cyplam_core::metrics_csv::MetricsRow> {
    cyplam_core::files::read_metrics(&cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).model(model).metrics()).unwrap()
}

/// The names each of the first `decided` rungs' decisions promoted, read from halving/rung-K.json.
fn promotions(env: &Env, sweep: &str, decided: u32) -> Vec<Vec<String>> {
    (0..decided)
        .map(|k| {
            let p = cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).rung_decision(k);
            let d: cyplam_core::halving::decision::RungDecision = cyplam_core::files::read_json(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
            d.promoted.iter().map(|&m| format!("Model-00{m}")).collect()
        })
        .collect()
}

#[test]
fn a_halving_sweep_runs_locally_and_the_replay_of_the_full_grid_predicted_its_promotions() {
    let env = Env::new();
    let full = env.grid("full9", &nine(9));
    env.ok(&["run", full.to_str().unwrap(), "--jobs", "2"]);
    let hv = env.grid("hv9", &halving_grid(9));

    let g = env.ok(&["grid", hv.to_str().unwrap()]);
    assert!(
        g.contains("successive halving: eta 3, 3 rungs, promotion ties within 1 x noise, cap x1.25, forecast x0.25: 9, 3 to 5, 1 to 3 models per rung"),
        "{g}"
    );
    let dry = env.ok(&["submit", hv.to_str().unwrap(), "--dry-run"]);
    for want in [
        "rung 0:           9 model(s) to iteration 150",
        "rung 1:           3 to 5 model(s) to iteration 450",
        "rung 2:           1 to 3 model(s) to iteration 1350 (100.0 % of the length), the end",
        "#SBATCH --dependency=afterany:<rung 0's job ids>",
        "#SBATCH --job-name=cyplam-hv9-rung2",
        "--rung 1",
        "(no ties) to",
    ] {
        assert!(dry.contains(want), "{want:?} in:\n{dry}");
    }

    let out = env.run(&["run", hv.to_str().unwrap(), "--jobs", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let said = stderr(&out);
    assert!(said.contains("rung 0 of 3: 9 model(s) to train to iteration 150") && said.contains("rung 1 of 3: ") && said.contains("rung 2 of 3: "), "{said}");

    // The replay of the full grid's curves predicted every promotion.
    let v = env.json(&["report", "full9", "--what-if", "--eta", "3", "--rungs", "3", "--format", "json"]);
    let replay: Vec<Vec<String>> = serde_json::from_value(v["halving_rung_models"].clone()).unwrap();
    let real = promotions(&env, "hv9", 2);
    assert_eq!(real, replay[1..].to_vec(), "the decisions of the real run are the replay's");
    // The default rule: rung 0 ends at the first snapshot, too early to measure the jitter, so
    // up to the cap (ceil(1.25 x 3) = 4) go on, and too early to forecast a curve, so none by the
    // forecast allowance (1 at most: the decision's cap is 5); rung 1 keeps 2 by rank plus any
    // within the noise, 3 at most.
    let (n1, n2) = (real[0].len(), real[1].len());
    assert_eq!(n1, 4, "{real:?}");
    assert_eq!(n2, 3, "{real:?}");
    let d0: cyplam_core::halving::decision::RungDecision =
        cyplam_core::files::read_json(&cyplam_core::layout::SweepDir::new(env.runs().join("hv9")).rung_decision(0)).unwrap();
    assert_eq!((d0.noise, d0.margin, d0.cap, d0.ties.len()), (None, None, Some(5), 1), "{d0:?}");
    assert!(d0.by_forecast.is_empty(), "{d0:?}");
    let d1: cyplam_core::halving::decision::RungDecision =
        cyplam_core::files::read_json(&cyplam_core::layout::SweepDir::new(env.runs().join("hv9")).rung_decision(1)).unwrap();
    // Rung 1 ends at the third snapshot: 4 models x 1 point, too few to measure the jitter, so
    // up to the cap go on there too.
    assert_eq!((d1.noise, d1.cap, d1.promoted.len()), (None, Some(3), 3), "{d1:?}");

    // Pruned models stopped at their rung's end, the winner trained to the end, and every curve is
    // the full run's up to where it stopped (at one thread a resumed run is bit-identical).
    let results = results(&env.runs(), "hv9");
    for r in &results {
        let c = curve(&env, "hv9", &r.model);
        let end = match (real[0].contains(&r.model), real[1].contains(&r.model)) {
            (false, _) => 150,
            (true, false) => 450,
            (true, true) => 1350,
        };
        assert_eq!(c.last().unwrap().iteration, end, "{}", r.model);
        if end == 1350 {
            assert_eq!((r.status, r.rung, r.iterations_done), (cyplam_core::files::ResultStatus::Completed, Some(2), 1350), "{r:?}");
        } else {
            assert_eq!(r.status, cyplam_core::files::ResultStatus::Pruned, "{r:?}");
            assert_eq!(r.rung, Some(if end == 150 { 0 } else { 1 }), "{r:?}");
            assert!(r.reason.as_deref().unwrap().starts_with("pruned at rung"), "{r:?}");
        }
        let f = curve(&env, "full9", &r.model);
        assert_eq!(numbers(&c), numbers(&f[..c.len()]), "{}: the same rows as the full run's", r.model);
    }

    let st = env.ok(&["status", "hv9"]);
    assert!(
        st.contains(
            &"rung 0: 9 model(s) to iteration 150 (decided: 3 by rank and 1 within noise of the cutoff (noise not measurable yet)): 5 pruned, 4 went on"
                .to_string()
        ),
        "{st}"
    );
    assert!(st.contains(&format!("rung 1: 4 model(s) to iteration 450 (decided: {}): {} pruned, {n2} went on", d1.verdict().summary(), 4 - n2)), "{st}");
    assert!(st.contains(&format!("rung 2: {n2} model(s) to iteration 1350: {n2} completed")), "{st}");
    assert!(st.contains(&format!("0 waiting at the end of their rung, {} pruned", 9 - n2)), "{st}");
    let report = env.ok(&["report", "hv9"]);
    assert!(report.contains(&format!("{} pruned (ranked by the best they reached before their rung ended); successive halving spent", 9 - n2)), "{report}");
    assert_eq!((report.matches("pruned at rung 0").count(), report.matches("pruned at rung 1").count()), (5, 4 - n2), "{report}");
    assert!(
        report.contains("rung 0: 9 models, 4 went on: 3 by rank and 1 within noise of the cutoff (noise not measurable yet); noise not measurable yet, cutoff"),
        "{report}"
    );
    // Which models went on as ties is said by name (issue 32: say it to the user).
    let tie = &d0.candidates.iter().find(|c| d0.ties.contains(&c.index)).unwrap().model;
    assert!(report.contains(&format!(" (ties: {tie})")), "{report}");
    // 9 x 150 + 4 x 300 + n2 x 900 of 9 x 1350 = 12150 iterations.
    let spent = 9 * 150 + 4 * 300 + n2 * 900;
    assert!(report.contains(&format!("and {spent} iterations ({:.0} % of 12150)", 100.0 * spent as f64 / 12150.0)), "{report}");
    let html = env.dir.path().join("html");
    env.ok(&["report", "hv9", "--html", html.to_str().unwrap()]);
    let page = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(
        page.contains(&format!("5 at iteration 150 (rung 0), {} at iteration 450 (rung 1), {n2} at iteration 1350 (rung 2)", 4 - n2)),
        "where the curves stopped"
    );
    assert!(
        page.contains(&format!("<li>pruned by successive halving<b>{}</b></li>", 9 - n2)) && page.contains("compute against the full grid<b>"),
        "the compute against the full grid"
    );
    assert!(page.contains("<ul class=\"note\" id=\"halving-decisions\">\n<li>rung 0: 9 models, 4 went on"), "the decisions per rung");

    // Nothing is trained twice.
    let again = env.run(&["run", hv.to_str().unwrap()]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("rung 2 of 3: 0 model(s) to train"), "{}", stderr(&again));

    // Issue 33: an edited [halving] under the same sweep name was ignored by run and submit (exit
    // 0, the frozen plan) while the dry run printed the new one. Now run, submit and the dry run
    // all refuse it with the difference, and so with [halving] removed.
    let frozen_text = std::fs::read_to_string(&hv).unwrap();
    for (edit, want) in [
        (frozen_text.replace("eta = 3", "eta = 2"), "[halving]: eta 3, 3 rungs, ties within 1 x noise, cap x1.25, forecast x0.25 -> eta 2, 3 rungs"),
        (
            frozen_text.replace("[halving]\neta = 3\nrungs = 3\n", ""),
            "[halving]: eta 3, 3 rungs, ties within 1 x noise, cap x1.25, forecast x0.25 -> none (no halving)",
        ),
    ] {
        std::fs::write(&hv, &edit).unwrap();
        for args in [vec!["run", hv.to_str().unwrap()], vec!["submit", hv.to_str().unwrap(), "--dry-run"], vec!["submit", hv.to_str().unwrap()]] {
            let o = env.run(&args);
            assert!(!o.status.success(), "{args:?} accepted an edited [halving]:\n{}", String::from_utf8_lossy(&o.stdout));
            assert!(stderr(&o).contains("already exists") && stderr(&o).contains(want), "{args:?}: {}", stderr(&o));
        }
    }
    std::fs::write(&hv, &frozen_text).unwrap();

    // Issue 33: a result.json edited to `pruned` was believed by status and report. The winner was
    // promoted at rung 0; a result saying it was pruned there is shown as damaged, with the reason.
    let winner = results.iter().find(|r| r.status == cyplam_core::files::ResultStatus::Completed).unwrap().model.clone();
    let path = env.runs().join("hv9").join("models").join(&winner).join("result.json");
    let mut forged: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    forged["status"] = Value::from("pruned");
    forged["rung"] = Value::from(0);
    std::fs::write(&path, serde_json::to_string(&forged).unwrap()).unwrap();
    let st = env.ok(&["status", "hv9"]);
    let line = st.lines().find(|l| l.contains(&winner)).unwrap_or_default();
    assert!(line.contains("damaged") && st.contains("no decision pruned this model: halving/rung-0.json promoted it to rung 1"), "{st}");
    let report = env.json(&["report", "hv9", "--format", "json"]);
    let row = report.as_array().and_then(|rows| rows.iter().find(|r| r["name"] == winner.as_str())).cloned().unwrap_or_default();
    assert_eq!(row["status"], "damaged", "{report}");
}

/// Polls `cyplam status` until every model is completed, pruned or failed.
fn wait_decided(env: &Env, sweep: &str, limit: Duration) -> Vec<Value> {
    let t0 = Instant::now();
    loop {
        let v = env.json(&["status", sweep, "--format", "json"]);
        let states = v.as_array().unwrap().clone();
        if states.iter().all(|m| matches!(m["state"].as_str(), Some("completed" | "pruned" | "failed" | "damaged"))) {
            return states;
        }
        assert!(t0.elapsed() < limit, "the sweep did not finish within {limit:?}: {states:?}");
        std::thread::sleep(Duration::from_secs(1));
    }
}

#[test]
fn a_halving_sweep_through_slurm_chains_its_rungs_survives_a_preemption_and_a_cancel_and_decides_as_run_does() {
    let reference = Env::new();
    let g = reference.grid("hvs", &halving_grid(27));
    reference.ok(&["run", g.to_str().unwrap(), "--jobs", "2"]);
    let want = promotions(&reference, "hvs", 2);

    let _c = three_nodes();
    // Where each rung runs: rung 0 on n1 and n2 (n3 drained while it starts); rung 1 on n3 only,
    // so its first worker, which decides rung 0, trained none of rung 0; rung 2 off n3, so its
    // worker, which decides rung 1, trained none of rung 1. (An operator's `scontrol update` of
    // the pending arrays; cyplam's scripts are unchanged.)
    let scontrol = |args: &[&str]| {
        let o = Command::new("scontrol").args(args).output().unwrap();
        assert!(o.status.success(), "scontrol {args:?}: {}", stderr(&o));
    };
    struct Resume;
    impl Drop for Resume {
        fn drop(&mut self) {
            let _ = Command::new("scontrol").args(["update", "nodename=n3", "state=resume"]).output();
        }
    }
    scontrol(&["update", "nodename=n3", "state=drain", "reason=cyplam halving test: rung 0 off n3"]);
    let resume_n3 = Resume;
    let env = Env::new();
    let grid = env.grid("hvs", &halving_grid(27));
    let out = env.ok(&["submit", grid.to_str().unwrap()]);
    assert_eq!(out.matches("submitted job").count(), 3, "one array per rung: {out}");
    assert!(
        out.contains("rung 1, array 0-2") && out.contains("rung 2, array 0-1") && out.contains("after job(s)"),
        "slots up to the cap and the forecast allowance (5, then 3), 2 a task: {out}"
    );
    let jobs: Vec<String> =
        std::fs::read_to_string(env.runs().join("hvs/submit/jobs.txt")).unwrap().lines().map(|l| l.split_whitespace().next().unwrap().to_string()).collect();
    assert_eq!(jobs.len(), 3);
    let script1 = std::fs::read_dir(env.runs().join("hvs/submit"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "sbatch"))
        .map(|p| std::fs::read_to_string(p).unwrap())
        .find(|t| t.contains("--rung 1"))
        .unwrap();
    assert!(script1.contains(&format!("#SBATCH --dependency=afterany:{}\n", jobs[0])), "{script1}");
    scontrol(&["update", &format!("jobid={}", jobs[1]), "ExcNodeList=n1,n2"]);
    scontrol(&["update", &format!("jobid={}", jobs[2]), "ExcNodeList=n3"]);
    // n3 comes back once every task of rung 0 has started on n1 or n2.
    let t0 = Instant::now();
    loop {
        let q = Command::new("squeue").args(["-h", "-r", "-j", &jobs[0], "-t", "PENDING", "-o", "%i"]).output().unwrap();
        if String::from_utf8_lossy(&q.stdout).trim().is_empty() {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "rung 0 never started in full");
        std::thread::sleep(Duration::from_millis(200));
    }
    drop(resume_n3);

    // Submitting again while the chain runs submits nothing.
    let again = env.ok(&["submit", grid.to_str().unwrap()]);
    assert!(again.contains("nothing to submit"), "{again}");

    // Preempt rung 1 while it trains: once a model of it has gone past rung 0's end.
    let t0 = Instant::now();
    let promoted0 = loop {
        let p = cyplam_core::layout::SweepDir::new(env.runs().join("hvs")).rung_decision(0);
        if let Ok(d) = cyplam_core::files::read_json::<cyplam_core::halving::decision::RungDecision>(&p) {
            break d.promoted;
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "rung 0 was never decided");
        std::thread::sleep(Duration::from_millis(50));
    };
    let first = format!("Model-00{}", promoted0[0]);
    loop {
        if curve(&env, "hvs", &first).last().is_some_and(|r| r.iteration >= 200) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "rung 1 never trained");
        std::thread::sleep(Duration::from_millis(20));
    }
    // The slot of `first` is 0: task 0 of rung 1's array.
    let task = format!("{}_0", jobs[1]);
    preempt(&task, &task, &env.runs().join("hvs/logs").join(format!("{task}.out")), Duration::from_secs(60));

    // Cancel the chain while the last rung trains, then `resubmit --failed` goes on in it.
    let t1 = Instant::now();
    let winner = loop {
        let p = cyplam_core::layout::SweepDir::new(env.runs().join("hvs")).rung_decision(1);
        if let Ok(d) = cyplam_core::files::read_json::<cyplam_core::halving::decision::RungDecision>(&p) {
            break format!("Model-00{}", d.promoted[0]);
        }
        assert!(t1.elapsed() < Duration::from_secs(300), "rung 1 was never decided");
        std::thread::sleep(Duration::from_millis(50));
    };
    while curve(&env, "hvs", &winner).last().is_none_or(|r| r.iteration < 500) {
        assert!(t1.elapsed() < Duration::from_secs(300), "rung 2 never trained");
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = env.ok(&["cancel", "hvs"]);
    assert!(out.contains(&jobs[2]), "the chain's last array is cancelled too: {out}");
    while !String::from_utf8_lossy(&Command::new("squeue").args(["-h", "-j", &jobs.join(",")]).output().unwrap().stdout).trim().is_empty() {
        assert!(t1.elapsed() < Duration::from_secs(300), "the chain did not leave the queue");
        std::thread::sleep(Duration::from_millis(200));
    }
    let v = env.json(&["status", "hvs", "--format", "json"]);
    let w = v.as_array().unwrap().iter().find(|m| m["name"] == winner.as_str()).unwrap().clone();
    assert!(w["state"] == "preempted" && w["rung"] == 2, "{w}");
    let out = env.ok(&["resubmit", "hvs", "--failed"]);
    assert!(out.contains("rung 2, array 0"), "{out}");

    let states = wait_decided(&env, "hvs", Duration::from_secs(600));
    let count = |s: &str| states.iter().filter(|m| m["state"] == s).count();
    assert_eq!((count("completed"), count("pruned")), (want[1].len(), 9 - want[1].len()), "{states:?}");
    let log = std::fs::read_to_string(env.runs().join("hvs/logs").join(format!("{}_0.out", jobs[1]))).unwrap();
    assert!(log.contains("cyplam: preempted; requeueing"), "the rung-1 task was requeued: {log}");
    assert!(results(&env.runs(), "hvs").iter().any(|r| r.resumes >= 2), "a model resumed after the preemption as well as at its rung");
    assert_eq!(promotions(&env, "hvs", 2), want, "the same decisions as `cyplam run`");
    // Where they ran (every run of every task, requeued ones too, from sacct).
    let nodes_of = |job: &str| {
        let mut n: Vec<String> = runs_of(job).into_iter().map(|(_, _, n)| n).filter(|n| !n.is_empty() && n != "None assigned").collect();
        n.sort();
        n.dedup();
        n
    };
    assert_eq!(nodes_of(&jobs[0]), ["n1", "n2"], "rung 0's tasks on two nodes: {:?}", runs_of(&jobs[0]));
    assert_eq!(nodes_of(&jobs[1]), ["n3"], "rung 1 (and its decision of rung 0) on the node that trained none of rung 0: {:?}", runs_of(&jobs[1]));
    let rung2 = nodes_of(&jobs[2]);
    assert!(!rung2.is_empty() && !rung2.contains(&"n3".to_string()), "rung 2's worker decided rung 1 off n3: {:?}", runs_of(&jobs[2]));
    for m in want[1].iter() {
        assert_eq!(numbers(&curve(&env, "hvs", m)), numbers(&curve(&reference, "hvs", m)), "{m}: the winner's curve is the local run's");
    }
    let st = env.ok(&["status", "hvs"]);
    assert!(
        st.contains(&"rung 0: 9 model(s) to iteration 150 (decided: ".to_string())
            && st.contains(&format!("): {} pruned, {} went on", 9 - want[0].len(), want[0].len())),
        "{st}"
    );
}

/// Issue 24: a worker killed with SIGKILL in the middle of rung 1 (what the OOM killer or a lost
/// node does) is not a verdict: `cyplam run` says the rung cannot be decided and exits non-zero,
/// `cyplam run` again resumes the model from its newest snapshot, and the decisions and the
/// winner's curve are those of an uninterrupted run.
#[test]
fn a_worker_killed_mid_rung_is_resumed_not_pruned_and_the_decisions_are_the_uninterrupted_ones() {
    let reference = Env::new();
    let g = reference.grid("hvk", &halving_grid(27));
    reference.ok(&["run", g.to_str().unwrap(), "--jobs", "2"]);
    let want = promotions(&reference, "hvk", 2);

    let env = Env::new();
    let grid = env.grid("hvk", &halving_grid(27));
    let child = env
        .cmd()
        .args(["run", grid.to_str().unwrap(), "--jobs", "2"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let sweep = cyplam_core::layout::SweepDir::new(env.runs().join("hvk"));
    let t0 = Instant::now();
    let promoted0 = loop {
        if let Ok(d) = cyplam_core::files::read_json::<cyplam_core::halving::decision::RungDecision>(&sweep.rung_decision(0)) {
            break d.promoted;
        }
        assert!(t0.elapsed() < Duration::from_secs(120), "rung 0 was never decided");
        std::thread::sleep(Duration::from_millis(20));
    };
    // The last model of rung 1 trains past rung 0's end (150): kill its worker, no signal handler.
    let victim = format!("Model-00{}", promoted0.last().unwrap());
    let pid = loop {
        let past = curve_opt(&env, "hvk", &victim).last().is_some_and(|r| r.iteration >= 250 && r.iteration < 450);
        let lock: Option<Value> = std::fs::read(sweep.model(&victim).lock()).ok().and_then(|t| serde_json::from_slice(&t).ok());
        if let (true, Some(pid)) = (past, lock.and_then(|l| l["pid"].as_u64())) {
            break pid;
        }
        assert!(t0.elapsed() < Duration::from_secs(180), "{victim} never trained in rung 1");
        std::thread::sleep(Duration::from_millis(10));
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!out.status.success(), "cyplam run must not go on: {said}");
    assert!(
        said.contains(&format!("rung 1 of sweep hvk cannot be decided yet: {victim} did not reach iteration 450")) && said.contains("a fault is not a verdict"),
        "{said}"
    );
    assert!(!sweep.rung_decision(1).exists(), "rung 1 was not decided without it");
    let killed_at = curve(&env, "hvk", &victim).last().unwrap().iteration;
    assert!(killed_at < 450, "{killed_at}");

    // Running it again resumes the victim from its newest snapshot, then goes on.
    let again = env.run(&["run", grid.to_str().unwrap(), "--jobs", "2"]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(promotions(&env, "hvk", 2), want, "the same decisions as the uninterrupted run");
    let r = results(&env.runs(), "hvk").into_iter().find(|r| r.model == victim).unwrap();
    assert!(r.resumes >= 1, "{r:?}");
    for m in want[1].iter().chain([&victim]) {
        assert_eq!(numbers(&curve(&env, "hvk", m)), numbers(&curve(&reference, "hvk", m)), "{m}: bit-identical to the uninterrupted run");
    }
}

fn curve_opt(env: &Env, sweep: &str, model: &str) -> Vec<cyplam_core::metrics_csv::MetricsRow> {
    cyplam_core::files::read_metrics(&cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).model(model).metrics()).unwrap_or_default()
}

/// Four tiny models, 2 rungs of eta 2: rung 0 ends at iteration 300 (of 600), at most 3 go on.
const FOUR: &str = r#"
[halving]
eta = 2
rungs = 2

[slurm]
trainings_per_node = 2
cpus_per_training = 12

[settings]
wc1 = 3
wc2 = 3
ncv2 = 8
learning_rate = 3e-3
batch_size = 32
iterations = 600
snapshots = 12
seed = 5
keep_snapshots = "best"

[grid]
ncv1 = [2, 4]
nfc1 = [8, 32]
"#;

/// Issue 24 through the dev Slurm cluster: the worker of the model the uninterrupted run ranks
/// first is killed with SIGKILL in the middle of rung 0 (its task fails, as after the OOM killer).
/// The next rung's workers do not decide without it: they exit saying why, status says its task
/// failed with no result,
/// `cyplam resubmit --failed` resumes it from its newest snapshot and chains the next rung again,
/// and the decision and the winner's curve are those of `cyplam run` uninterrupted.
#[test]
fn a_worker_killed_mid_rung_through_slurm_is_resumed_by_resubmit_and_the_decision_is_the_uninterrupted_one() {
    let reference = Env::new();
    let g = reference.grid("hsk", FOUR);
    reference.ok(&["run", g.to_str().unwrap(), "--jobs", "2"]);
    let want = promotions(&reference, "hsk", 1);
    let victim = want[0][0].clone();

    let _c = three_nodes();
    let env = Env::new();
    let grid = env.grid("hsk", FOUR);
    let out = env.ok(&["submit", grid.to_str().unwrap()]);
    assert_eq!(out.matches("submitted job").count(), 2, "one array per rung: {out}");
    let jobs: Vec<String> =
        std::fs::read_to_string(env.runs().join("hsk/submit/jobs.txt")).unwrap().lines().map(|l| l.split_whitespace().next().unwrap().to_string()).collect();
    let sweep = cyplam_core::layout::SweepDir::new(env.runs().join("hsk"));
    let t0 = Instant::now();
    let (pid, killed_at) = loop {
        let last = curve_opt(&env, "hsk", &victim).last().map(|r| r.iteration);
        if let (Some(at @ 100..=249), Some(pid)) = (last, lock_of(&env, "hsk", &victim).and_then(|l| l["pid"].as_u64())) {
            break (pid, at);
        }
        assert!(last.is_none_or(|at| at < 250), "{victim} ran past iteration 250 before the test could kill it");
        assert!(t0.elapsed() < Duration::from_secs(180), "{victim} never trained in rung 0");
        std::thread::sleep(Duration::from_millis(10));
    };
    nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), nix::sys::signal::Signal::SIGKILL).unwrap();

    // Both rungs' arrays leave the queue: the victim's task failed, rung 1's workers refused.
    while !String::from_utf8_lossy(&Command::new("squeue").args(["-h", "-j", &jobs.join(",")]).output().unwrap().stdout).trim().is_empty() {
        assert!(t0.elapsed() < Duration::from_secs(300), "the chain did not leave the queue");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(!sweep.rung_decision(0).exists(), "rung 0 was decided without {victim}");
    let logs: String = std::fs::read_dir(env.runs().join("hsk/logs"))
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&format!("{}_", jobs[1])))
        .map(|e| std::fs::read_to_string(e.path()).unwrap())
        .collect();
    assert!(
        logs.contains(&format!("rung 0 of sweep hsk cannot be decided yet: {victim} did not reach iteration 300")) && logs.contains("a fault is not a verdict"),
        "rung 1's workers say why they did not decide: {logs}"
    );
    let v = env.json(&["status", "hsk", "--format", "json"]);
    let st = v.as_array().unwrap().iter().find(|m| m["name"] == victim.as_str()).unwrap().clone();
    assert!(st["state"] == "failed" && st["reason"].as_str().is_some_and(|r| r.contains("Slurm says FAILED") && r.contains("has no result")), "{st}");
    let failed = runs_of(&jobs[0]);
    assert!(failed.iter().any(|(_, s, _)| s == "FAILED"), "the victim's task failed: {failed:?}");

    // resubmit --failed resumes it in rung 0 and chains rung 1 after it.
    let out = env.ok(&["resubmit", "hsk", "--failed"]);
    assert!(out.contains("rung 0, array") && out.contains("rung 1, array"), "{out}");
    let states = wait_decided(&env, "hsk", Duration::from_secs(300));
    let count = |s: &str| states.iter().filter(|m| m["state"] == s).count();
    assert_eq!((count("completed"), count("pruned")), (want[0].len(), 4 - want[0].len()), "{states:?}");
    assert_eq!(promotions(&env, "hsk", 1), want, "the same decision as `cyplam run` uninterrupted");
    let r = results(&env.runs(), "hsk").into_iter().find(|r| r.model == victim).unwrap();
    assert!(r.resumes >= 1, "{victim} resumed from its snapshot (killed at iteration {killed_at}): {r:?}");
    assert_eq!(numbers(&curve(&env, "hsk", &victim)), numbers(&curve(&reference, "hsk", &victim)), "{victim}: bit-identical to the uninterrupted run");
}
