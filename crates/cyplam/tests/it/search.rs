//! Sampled search (issue 29, docs/grid.md): a grid with `[search]` draws its models from ranges;
//! locally with halving, grown by `cyplam run` and through the real dev Slurm cluster, where
//! growing a submitted sweep trains only the new models.

use super::slurm::{cluster, wait_idle};
use super::*;
use std::time::Duration;

/// Tiny models whose learning rate, width and dropout are drawn.
fn sampled(models: u32, extra: &str) -> String {
    format!(
        r#"{extra}
[search]
strategy = "random"
models = {models}
seed = 5

[slurm]
trainings_per_node = 2
cpus_per_training = 12

[settings]
wc1 = 3
wc2 = 3
ncv1 = 4
ncv2 = 8
batch_size = 32
iterations = 270
snapshots = 9
keep_snapshots = "best"

[grid]
learning_rate = {{ log_uniform = [3e-4, 1e-2] }}
nfc1 = {{ int = [8, 48], step = 8 }}
dropout_keep = [0.75, 1.0]
"#
    )
}

/// The models' settings as frozen in sweep.json.
fn frozen(env: &Env, sweep: &str) -> Vec<cyplam_core::spec::ModelSpec> {
    cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).load().unwrap().grid.models
}

fn metrics_bytes(env: &Env, sweep: &str, model: &str) -> Vec<u8> {
    std::fs::read(cyplam_core::layout::SweepDir::new(env.runs().join(sweep)).model(model).metrics()).unwrap()
}

#[test]
fn a_sampled_sweep_with_halving_runs_locally_and_trains_the_drawn_settings() {
    let env = Env::new();
    let g = env.grid("drawn", &sampled(6, "[halving]\neta = 3\nrungs = 2\n"));
    let path = g.to_str().unwrap();

    let listed = env.ok(&["grid", path]);
    assert!(listed.contains("6 models (learning_rate ~ log_uniform [0.0003, 0.01], nfc1 ~ int [8, 48] step 8, dropout_keep x2)"), "{listed}");
    assert!(listed.contains("sampled search: strategy random, seed 5"), "{listed}");
    let dry = env.ok(&["submit", path, "--dry-run"]);
    assert!(
        dry.contains(
            "search:             random, seed 5, 6 models drawn over learning_rate ~ log_uniform [0.0003, 0.01], nfc1 ~ int [8, 48] step 8, dropout_keep x2"
        ),
        "{dry}"
    );
    assert!(dry.contains("rung 0:           6 model(s) to iteration"), "{dry}");
    // What the dry run shows is what the grid file draws, the same on every call.
    let drawn = cyplam_core::grid::load(&g).unwrap().models;
    let m3 = &drawn[3];
    assert!(dry.contains(&format!("  Model-003  nfc1={} dropout_keep={}", m3.nfc1, m3.dropout_keep)), "{dry}");

    env.ok(&["run", path, "--jobs", "2"]);
    assert_eq!(frozen(&env, "drawn"), drawn, "sweep.json holds the drawn models");
    let status = env.ok(&["status", "drawn"]);
    assert!(status.contains("6 models"), "{status}");
    // Rung 0 trained every drawn model to its end; the rung's winners went on to the last.
    let res = results(&env.runs(), "drawn");
    assert_eq!(res.len(), 6);
    let ended: Vec<u64> = res.iter().map(|r| r.iterations_done).collect();
    assert!(ended.iter().filter(|&&i| i == 270).count() >= 2 && ended.iter().any(|&i| i < 270), "{ended:?}");
    // The workers trained the drawn settings: each result names its model's free parameters.
    for r in &res {
        assert_eq!(r.free_params, drawn[r.index].free_params, "{}", r.model);
    }
    let report = env.json(&["report", "drawn", "--format", "json"]);
    assert_eq!(report.as_array().unwrap().len(), 6);
    // The page says how the models were drawn and plots the score against each drawn setting.
    let html = env.dir.path().join("page");
    env.ok(&["report", "drawn", "--html", html.to_str().unwrap()]);
    let page = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(
        page.contains(
            "grid axes: learning_rate ~ log_uniform [0.0003, 0.01], nfc1 ~ int [8, 48] step 8, dropout_keep &times;2 &middot; 6 models drawn (random, seed 5)"
        ),
        "{page}"
    );
    assert!(page.contains("best validation Accuracy20% against each of the 3 settings the grid varies, one panel each, 6 models"), "{page}");

    // A halving sweep cannot grow: its rungs decided among the six.
    std::fs::write(&g, std::fs::read_to_string(&g).unwrap().replace("models = 6", "models = 9")).unwrap();
    let o = env.run(&["run", path]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("sweep \"drawn\" has 6 models and the grid now draws 9; a halving sweep cannot grow"), "{}", stderr(&o));
}

#[test]
fn growing_a_sampled_sweep_trains_only_the_new_models_and_nothing_else_may_change() {
    let env = Env::new();
    let g = env.grid("grow", &sampled(3, ""));
    let path = g.to_str().unwrap();
    env.ok(&["run", path, "--jobs", "2"]);
    let before: Vec<Vec<u8>> = ["Model-000", "Model-001", "Model-002"].iter().map(|m| metrics_bytes(&env, "grow", m)).collect();
    let first = frozen(&env, "grow");

    let text = std::fs::read_to_string(&g).unwrap();
    std::fs::write(&g, text.replace("models = 3", "models = 5")).unwrap();
    let o = env.run(&["run", path, "--jobs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(stderr(&o).contains("sweep grow grows from 3 to 5 models; the first 3 are drawn as before and keep their files"), "{}", stderr(&o));
    let after: Vec<Vec<u8>> = ["Model-000", "Model-001", "Model-002"].iter().map(|m| metrics_bytes(&env, "grow", m)).collect();
    assert_eq!(before, after, "the first three were not trained again");
    let grown = frozen(&env, "grow");
    assert_eq!(&grown[..3], &first[..]);
    assert_eq!(grown.len(), 5);
    let res = results(&env.runs(), "grow");
    assert_eq!(
        res.iter().map(|r| (r.model.as_str(), r.iterations_done)).collect::<Vec<_>>(),
        [("Model-000", 270), ("Model-001", 270), ("Model-002", 270), ("Model-003", 270), ("Model-004", 270)]
    );
    assert!(env.ok(&["status", "grow"]).contains("5 models: 5 completed"));
    let copy = std::fs::read_to_string(env.runs().join("grow/grid.toml")).unwrap();
    assert!(copy.contains("models = 5"), "the frozen grid copy is the grown one: {copy}");

    // Anything else is refused with what differs, and nothing is written.
    let grown_text = std::fs::read_to_string(&g).unwrap();
    for (edit, says) in [
        (grown_text.replace("models = 5", "models = 4"), "models: 5 -> 4 (a sampled sweep may grow, not shrink"),
        (grown_text.replace("seed = 5", "seed = 6"), "[search]: strategy random, seed 5 -> strategy random, seed 6"),
        (grown_text.replace("[3e-4, 1e-2]", "[3e-4, 2e-2]"), "[grid] axes: learning_rate ~ log_uniform [0.0003, 0.01]"),
    ] {
        std::fs::write(&g, edit).unwrap();
        let o = env.run(&["run", path]);
        assert!(!o.status.success());
        assert!(stderr(&o).contains(says), "{}", stderr(&o));
    }
    assert_eq!(frozen(&env, "grow"), grown);
}

#[test]
fn a_sampled_sweep_through_slurm_grows_by_submitting_only_the_new_models() {
    let _c = cluster();
    let env = Env::new();
    let g = env.grid("slgrow", &sampled(3, ""));
    let path = g.to_str().unwrap();
    let out = env.ok(&["submit", path]);
    assert!(out.contains("array 0-1"), "{out}");
    let states = wait_idle(&env, "slgrow", Duration::from_secs(600));
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    let before: Vec<Vec<u8>> = ["Model-000", "Model-001", "Model-002"].iter().map(|m| metrics_bytes(&env, "slgrow", m)).collect();

    std::fs::write(&g, std::fs::read_to_string(&g).unwrap().replace("models = 3", "models = 6")).unwrap();
    let dry = env.ok(&["submit", path, "--dry-run"]);
    assert!(dry.contains("models to submit:   3 of 6"), "{dry}");
    let out = env.ok(&["submit", path]);
    // Models 3, 4, 5: array tasks 1 (Model-003 beside the completed Model-002) and 2.
    assert!(out.contains("array 1-2"), "{out}");
    let states = wait_idle(&env, "slgrow", Duration::from_secs(600));
    assert_eq!(states.len(), 6);
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    let after: Vec<Vec<u8>> = ["Model-000", "Model-001", "Model-002"].iter().map(|m| metrics_bytes(&env, "slgrow", m)).collect();
    assert_eq!(before, after, "the first three were not trained again");
    let report = env.json(&["report", "slgrow", "--format", "json"]);
    assert_eq!(report.as_array().unwrap().len(), 6);
}

/// A TPE search (issue 29 item 4) of tiny models over lists: 4 x 6 x 2 = 48 settings, 6 models in
/// batches of 2: a random start of 2, then rounds 1 and 2.
fn tpe(models: u32, batch: u32) -> String {
    sampled(models, "")
        .replace("strategy = \"random\"", &format!("strategy = \"tpe\"\nbatch = {batch}"))
        .replace("learning_rate = { log_uniform = [3e-4, 1e-2] }", "learning_rate = { choice = [3e-4, 1e-3, 3e-3, 1e-2] }")
}

/// What the library's TPE proposes with the scores the workers recorded: the models of the sweep
/// in `dir`, by their value indices, must be these.
fn tpe_again(env: &Env, sweep: &str) -> (Vec<usize>, Vec<usize>) {
    use cyplam_core::search::{rounds, tpe};
    let sd = cyplam_core::layout::SweepDir::new(env.runs().join(sweep));
    let s = rounds::with_proposals(&sd, sd.load().unwrap()).unwrap();
    let r = rounds::Rounds::of(&s.grid).unwrap();
    let res = results(&env.runs(), sweep);
    let trained: Vec<usize> = s.grid.positions.iter().map(|p| tpe::index(&r.lens, p)).collect();
    let score = |m: usize| {
        let k = trained.iter().position(|&t| t == m).expect("asked only of trained models");
        res.iter().find(|x| x.index == k).and_then(|x| x.best_accuracy20).unwrap_or(f64::NAN)
    };
    (tpe::run(&r.lens, &score, r.models, r.batch, r.seed).unwrap(), trained)
}

/// A TPE search's states once `n` models are known and none is pending or running (its later
/// rounds' models are known only once proposed, so `wait_idle` alone could stop between rounds).
fn wait_known(env: &Env, sweep: &str, n: usize) -> Vec<serde_json::Value> {
    let t0 = std::time::Instant::now();
    loop {
        let states = env.json(&["status", sweep, "--format", "json"]).as_array().unwrap().clone();
        if states.len() == n && states.iter().all(|m| !matches!(m["state"].as_str(), Some("pending" | "running"))) {
            return states;
        }
        assert!(t0.elapsed() < Duration::from_secs(600), "the search did not finish: {states:?}");
        std::thread::sleep(Duration::from_secs(2));
    }
}

#[test]
fn a_tpe_search_runs_locally_round_by_round_from_the_recorded_scores() {
    let env = Env::new();
    let g = env.grid("tpe", &tpe(6, 2));
    let path = g.to_str().unwrap();
    let dry = env.ok(&["submit", path, "--dry-run"]);
    assert!(
        dry.contains("round plan:         TPE search, 6 models: a random start of 2, then 2 round(s) of 2 proposed from the scores before them; 2 known now"),
        "{dry}"
    );
    assert!(dry.contains("--job-name=cyplam-tpe-round2"), "{dry}");
    assert!(dry.contains("--dependency=afterany:<round 1's job ids>"), "{dry}");
    assert!(dry.contains("--index \"$SLURM_ARRAY_TASK_ID\" --round 1"), "{dry}");

    let run = env.run(&["run", path, "--jobs", "2"]);
    assert!(run.status.success(), "{}", stderr(&run));
    assert!(stderr(&run).contains("sweep tpe: TPE round 2 of 2: 2 model(s) to train (4 of 6 known, 6 in all)"), "{}", stderr(&run));
    let sd = cyplam_core::layout::SweepDir::new(env.runs().join("tpe"));
    assert!(sd.round_file(1).exists() && sd.round_file(2).exists());
    let res = results(&env.runs(), "tpe");
    assert_eq!(res.len(), 6);
    assert!(res.iter().all(|r| r.status == cyplam_core::files::ResultStatus::Completed && r.iterations_done == 270), "{res:?}");
    // The rounds are what the library's TPE proposes from the scores the workers wrote.
    let (again, trained) = tpe_again(&env, "tpe");
    assert_eq!(again, trained);
    let status = env.ok(&["status", "tpe"]);
    assert!(status.contains("TPE search: 6 of 6 models known (a random start of 2, then rounds of 2 proposed in turn)"), "{status}");
    assert!(status.contains("round 2: 2 model(s), Model-004 ... Model-005: 2 completed"), "{status}");
    let report = env.json(&["report", "tpe", "--format", "json"]);
    assert_eq!(report.as_array().unwrap().len(), 6);
    let text = env.ok(&["report", "tpe"]);
    assert!(text.contains("round 1: Model-002, Model-003, proposed from 2 models (the best then Model-00"), "{text}");
    assert!(text.contains("round 2: Model-004, Model-005, proposed from 4 models"), "{text}");
    let html = env.dir.path().join("tpe-page");
    env.ok(&["report", "tpe", "--html", html.to_str().unwrap()]);
    let page = std::fs::read_to_string(html.join("index.html")).unwrap();
    assert!(page.contains("<ul class=\"note\" id=\"tpe-rounds\">\n<li>round 1: Model-002, Model-003, proposed from 2 models"), "{page}");

    // Run again: nothing is trained again.
    let before = metrics_bytes(&env, "tpe", "Model-005");
    let again = env.run(&["run", path]);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(stderr(&again).contains("0 model(s) to train (6 of 6 known"), "{}", stderr(&again));
    assert_eq!(metrics_bytes(&env, "tpe", "Model-005"), before);

    // Another batch is another search: refused, with what differs.
    std::fs::write(&g, std::fs::read_to_string(&g).unwrap().replace("batch = 2", "batch = 3")).unwrap();
    let o = env.run(&["run", path]);
    assert!(stderr(&o).contains("[search]: strategy tpe, seed 5, models 6, batch 2 -> strategy tpe, seed 5, models 6, batch 3"), "{}", stderr(&o));

    // A round file edited by hand is refused by every reader, naming it (the library's tests edit
    // the scores and the values too).
    let text = std::fs::read_to_string(sd.round_file(2)).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    v["proposed"][0]["model"] = serde_json::json!("Model-003");
    std::fs::write(sd.round_file(2), serde_json::to_string(&v).unwrap()).unwrap();
    let o = env.run(&["status", "tpe"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("round-2.json: it proposes Model-003, Model-005 (2 model(s)); round 2 holds Model-004, Model-005"), "{}", stderr(&o));
}

#[test]
fn a_tpe_search_through_slurm_chains_its_rounds_and_their_first_workers_propose_them() {
    let _c = cluster();
    let env = Env::new();
    let g = env.grid("sltpe", &tpe(6, 2));
    let path = g.to_str().unwrap();
    let out = env.ok(&["submit", path]);
    assert!(out.contains("round 1, array 0, 2 slot(s) of sweep sltpe for the models the round proposes, after job(s)"), "{out}");
    assert!(out.contains("round 2, array 0"), "{out}");
    // The rounds' models are known once proposed: wait for all six.
    let states = wait_known(&env, "sltpe", 6);
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    let sd = cyplam_core::layout::SweepDir::new(env.runs().join("sltpe"));
    for k in [1, 2] {
        let f: cyplam_core::search::rounds::RoundFile = serde_json::from_str(&std::fs::read_to_string(sd.round_file(k)).unwrap()).unwrap();
        assert!(["n1", "n2", "n3"].contains(&f.host.as_str()), "round {k} proposed on a compute node, not {}", f.host);
    }
    let (again, trained) = tpe_again(&env, "sltpe");
    assert_eq!(again, trained);
    let status = env.ok(&["status", "sltpe"]);
    assert!(status.contains("round 1: 2 model(s), Model-002 ... Model-003: 2 completed"), "{status}");
    // Nothing is left to submit.
    let out = env.ok(&["submit", path]);
    assert!(out.contains("nothing to submit for sweep sltpe: 6 completed"), "{out}");
}

#[test]
fn a_tpe_round_that_cannot_be_proposed_says_why_and_resubmit_goes_on() {
    let _c = cluster();
    let env = Env::new();
    let g = env.grid("tpestop", &tpe(6, 2));
    let path = g.to_str().unwrap();
    let out = env.ok(&["submit", path]);
    // The random start's array is cancelled: the rounds chained to it start (afterany) and find
    // its models unfinished.
    let start =
        out.lines().find(|l| l.contains(": array 0, 2 model(s)")).and_then(|l| l.strip_prefix("submitted job ")).and_then(|l| l.split(':').next()).unwrap();
    let o = std::process::Command::new("scancel").arg(start).output().unwrap();
    assert!(o.status.success(), "{o:?}");
    let t0 = std::time::Instant::now();
    let status = loop {
        let s = env.ok(&["status", "tpestop"]);
        if s.lines().any(|l| l.starts_with("round 2: 2 model(s), not proposed yet: its array") && l.contains("ended without proposing it")) {
            break s;
        }
        assert!(t0.elapsed() < Duration::from_secs(300), "{s}");
        std::thread::sleep(Duration::from_secs(2));
    };
    assert!(status.contains("round 1: 2 model(s), not proposed yet: its array (job"), "{status}");
    let sd = cyplam_core::layout::SweepDir::new(env.runs().join("tpestop"));
    assert!(!sd.round_file(1).exists());
    // The round's worker said which model held it back.
    let logs: String = std::fs::read_dir(sd.logs_dir()).unwrap().flatten().map(|e| std::fs::read_to_string(e.path()).unwrap_or_default()).collect();
    assert!(logs.contains("round 1 cannot be proposed yet: Model-000 (round 0) has not finished"), "{logs}");
    let out = env.ok(&["resubmit", "tpestop", "--failed"]);
    assert!(out.contains("round 1, array 0"), "{out}");
    let states = wait_known(&env, "tpestop", 6);
    assert!(states.iter().all(|m| m["state"] == "completed"), "{states:?}");
    assert!(sd.round_file(2).exists());
}
