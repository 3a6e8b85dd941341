//! The studies' small twins (examples/*-small.toml) end to end: the scaling study with packing
//! advice, the activation study locally and the regularization study through Slurm, with their
//! HTML reports.

use super::*;

#[test]
fn scale_locally_measures_packings_and_submit_uses_the_recommendation() {
    let env = Env::new();
    let grid = example(&env, "scaling-small.toml");
    let out = env
        .cmd()
        .args(["scale", grid.to_str().unwrap(), "--local", "--cores", "1,2", "--repeats", "2", "--node-cores", "2"])
        .env_remove("CYPLAM_WORKER_THREADS")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}\n{}", stderr(&out));
    for m in ["Model-000", "Model-001", "Model-002"] {
        assert_eq!(text.lines().filter(|l| l.contains(m)).count(), 2, "one row per core count for {m}: {text}");
    }
    assert!(text.contains("1 x 2") && text.contains("2 x 1"), "{text}");
    assert!(text.contains("recommendation: "), "{text}");
    let py = format!(
        "import sqlite3; c = sqlite3.connect({:?}); print(c.execute('select count(*) from scaling_runs').fetchone()[0], c.execute('select count(*), sum(recommended) from packings').fetchone())",
        env.db().display().to_string());
    let o = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), "12 (2, 1)", "3 models x 2 core counts x 2 runs; 2 packings, 1 recommended");
    let rec = text.lines().find(|l| l.starts_with("recommendation:")).unwrap();

    // No model of this sweep was trained: its report is the scalability study, the same tables,
    // read back from the database, and no ranking by an Accuracy20% nobody measured.
    let report = env.ok(&["report", "scaling-small"]);
    assert!(report.contains("sweep scaling-small: 3 models, none with a validation snapshot yet (0 completed)"), "{report}");
    assert!(report.contains("scalability study (local:") && !report.contains("max acc20"), "{report}");
    for m in ["Model-000", "Model-001", "Model-002"] {
        let rows = |t: &str| t.lines().filter(|l| l.contains(m)).map(String::from).collect::<Vec<_>>();
        assert_eq!(rows(&report), rows(&text), "the report shows the rows scale printed for {m}");
    }
    assert!(report.contains(rec), "{report}");
    let k: u32 = rec.split_whitespace().nth(1).unwrap().parse().unwrap();

    let five = env.grid("packed", FIVE);
    let dry = env.ok(&["submit", five.to_str().unwrap(), "--dry-run", "--packing", "auto"]);
    assert!(dry.contains(&format!("#SBATCH --ntasks={k}\n")), "{dry}");
    let dry = env.ok(&["submit", five.to_str().unwrap(), "--dry-run", "--packing", "4x3"]);
    assert!(dry.contains("#SBATCH --ntasks=4\n") && dry.contains("#SBATCH --cpus-per-task=3\n") && dry.contains("#SBATCH --array=0-1\n"), "{dry}");
    let e = stderr(&env.run(&["submit", five.to_str().unwrap(), "--dry-run", "--packing", "4by3"]));
    assert!(e.contains("--packing \"4by3\": give TRAININGSxCORES such as 4x6, or auto"), "{e}");
}

#[test]
fn the_activation_study_twin_runs_locally_and_its_report_compares_activations() {
    let env = Env::new();
    let grid = example(&env, "activations-small.toml");
    let o = env.run(&["run", grid.to_str().unwrap(), "--jobs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = env.ok(&[
        "report",
        "activations-small",
        "--html",
        env.dir.path().join("html").to_str().unwrap(),
        "--figures",
        env.dir.path().join("fig").to_str().unwrap(),
    ]);
    let _ = out;
    let page = std::fs::read_to_string(env.dir.path().join("html/index.html")).unwrap();
    for f in ["loss", "accuracy", "accuracy_vs_params", "train_time_hist", "by_activation"] {
        assert!(env.dir.path().join("fig").join(format!("{f}.svg")).exists(), "{f}.svg");
    }
    for a in ["relu", "elu", "softplus", "sigmoid"] {
        assert!(page.contains(a), "the page names {a}");
    }
    assert!(page.contains("data-figure=\"by_activation\""), "the page shows the activation figure");
    assert!(!env.dir.path().join("fig/by_regularization.svg").exists(), "no regularization axis here");
}

#[test]
fn the_regularization_study_twin_runs_locally_too() {
    let env = Env::new();
    let grid = example(&env, "regularization-small.toml");
    let o = env.run(&["run", grid.to_str().unwrap(), "--jobs", "2"]);
    assert!(o.status.success(), "{}", stderr(&o));
    let fig = env.dir.path().join("fig");
    env.ok(&["report", "regularization-small", "--html", env.dir.path().join("html").to_str().unwrap(), "--figures", fig.to_str().unwrap()]);
    let svg = std::fs::read_to_string(fig.join("by_regularization.svg")).unwrap();
    assert!(svg.contains("L1 0.001") && svg.contains("L2 0.01"), "one curve per regularization");
    let page = std::fs::read_to_string(env.dir.path().join("html/index.html")).unwrap();
    assert!(page.contains("data-figure=\"by_regularization\""), "the page shows the regularization figure");
    assert!(!page.contains("data-figure=\"by_activation\""), "and no activation figure: the activation does not vary");
}

/// Issue 14's what-if replay (a first part of it): on a sweep whose models ran to the end, what
/// halving and early stopping would have kept, from the recorded curves alone.
#[test]
fn what_if_replays_halving_and_early_stopping_on_recorded_curves() {
    let env = Env::new();
    let grid = env.grid("whatif", &FIVE.replace("snapshots = 5", "snapshots = 9"));
    env.ok(&["run", grid.to_str().unwrap()]);
    // The plain rank rule here (the noise rule's replay is checked against real runs in it::halving).
    let out = env.ok(&["report", "whatif", "--what-if", "--eta", "3", "--rungs", "2", "--promote", "rank", "--patience", "2"]);
    assert!(
        out.contains("full grid")
            && out.contains("halving (eta 3, 2 rungs, by rank)")
            && out.contains("early stopping (patience 2, noise x0, drop x0, min_delta 0)"),
        "{out}"
    );
    assert!(
        out.contains("  rung 0: 5 model(s) train to iteration 100; 2 went on: 2 by rank") && out.contains("  rung 1: 2 model(s) train to iteration 300"),
        "{out}"
    );
    assert!(
        out.contains("cheapest halving setting that kept the full grid's best (within 0.005): halving (eta 3, 2 rungs, by rank)")
            || out.contains("no halving setting asked kept the full grid's best"),
        "{out}"
    );
    // Several settings at once: one row each.
    let many = env.json(&["report", "whatif", "--what-if", "--eta", "2,3", "--rungs", "2", "--promote", "rank,noise", "--noise", "0.5,2", "--format", "json"]);
    assert_eq!(many["policies"].as_array().unwrap().len(), 1 + 2 * 3 + 1, "full, 2 eta x (rank + 2 noise factors), early stopping");
    let v = env.json(&["report", "whatif", "--what-if", "--eta", "3", "--rungs", "2", "--promote", "rank", "--patience", "2", "--format", "json"]);
    let p = &v["policies"];
    assert_eq!(p[0]["iterations_fraction"], 1.0);
    assert_eq!(p[0]["top10_overlap"], 5);
    // 5 models to iteration 100 (rung 0 ends at the first snapshot at or after 300 / 3), then the
    // best ceil(5 / 3) = 2 to 300: 900 of 1500 iterations.
    assert_eq!(p[1]["iterations"], 900.0);
    assert!((p[1]["iterations_fraction"].as_f64().unwrap() - 0.6).abs() < 1e-12, "{v}");
    // The two promoted are the two best by their best validation Accuracy20% up to iteration 100
    // (ties by index), read here from the metrics files themselves.
    let mut at100: Vec<(usize, f64)> = (0..5)
        .map(|i| {
            let rows = cyplam_core::files::read_metrics(&env.runs().join(format!("whatif/models/Model-00{i}/metrics.csv"))).unwrap();
            (i, rows.iter().filter(|r| r.iteration <= 100).map(|r| r.validation_accuracy20).fold(f64::MIN, f64::max))
        })
        .collect();
    at100.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    let mut promoted: Vec<String> = at100[..2].iter().map(|(i, _)| format!("Model-00{i}")).collect();
    promoted.sort();
    let stopped_at_300: Vec<String> =
        p[1]["full_top10_stopped_at"].as_array().unwrap().iter().filter(|s| s["iteration"] == 300).map(|s| s["model"].as_str().unwrap().to_string()).collect();
    let mut stopped_at_300 = stopped_at_300;
    stopped_at_300.sort();
    assert_eq!(stopped_at_300, promoted, "{v}");
    // Early stopping never trains more than the full grid.
    assert!(p[2]["iterations_fraction"].as_f64().unwrap() <= 1.0);

    // Issue 29: a sampled search replayed on this full grid (5 models, one axis). K = 5 draws the
    // whole grid: found every time, at the full grid's compute, and with halving it is the halving
    // replayed above (the same models, in the order drawn).
    let out = env.ok(&[
        "report",
        "whatif",
        "--what-if",
        "--search",
        "random:2,5",
        "--search",
        "sobol:5",
        "--search",
        "tpe:2,5",
        "--draws",
        "50",
        "--eta",
        "3",
        "--rungs",
        "2",
        "--promote",
        "rank",
    ]);
    assert!(out.contains("sampled search replayed on the full grid of 5 models") && out.contains("50 draws (seeds 0 to 49)"), "{out}");
    let row = |strategy: &str, k: &str, policy: &str| {
        out.lines()
            .find(|l| l.contains(&format!(" {strategy} ")) && l.contains(&format!(" {k} of 5 ")) && l.contains(&format!(" {policy} ")))
            .unwrap_or_else(|| panic!("no row {strategy} {k} {policy}:\n{out}"))
            .to_string()
    };
    for strategy in ["random", "sobol"] {
        let whole = row(strategy, "5", "sample");
        assert!(whole.contains(" 100.0% ") && whole.contains(" 0.0000 ") && whole.contains(" 1.000 "), "{whole}");
    }
    assert!(row("random", "2", "sample").contains(" 0.400 "), "2 of 5 models trained in full: 0.4 of the iterations\n{out}");
    // The TPE (issue 29 item 4): 2 of 5 is its random start, one round, the same draws as random's;
    // 5 of 5 is the whole grid in 3 rounds (2, then batches of 2, 1). It is never replayed with halving.
    let (random2, tpe2) = (row("random", "2", "sample"), row("tpe, batches of 2, 1 round", "2", "sample"));
    let cells = |l: &str| l.split('│').map(str::trim).filter(|c| !c.is_empty()).skip(1).map(String::from).collect::<Vec<_>>();
    assert_eq!(cells(&random2), cells(&tpe2), "{out}");
    let whole = row("tpe, batches of 2, 3 rounds", "5", "sample");
    assert!(whole.contains(" 100.0% ") && whole.contains(" 0.0000 ") && whole.contains(" 1.000 "), "{whole}");
    assert!(!out.lines().any(|l| l.contains("tpe") && l.contains("sample + halving")), "{out}");
    assert!(out.contains("(tpe: the first max(2, K/4) models drawn as random's"), "{out}");
    let v = env.json(&[
        "report",
        "whatif",
        "--what-if",
        "--search",
        "random:2,5",
        "--draws",
        "50",
        "--eta",
        "3",
        "--rungs",
        "2",
        "--promote",
        "rank",
        "--format",
        "json",
    ]);
    let s = v["samples"].as_array().unwrap();
    assert_eq!(s.len(), 4, "2 counts x (sample, sample + halving): {v}");
    assert_eq!((s[2]["models"].as_u64(), s[2]["policy"].as_str(), s[2]["chance"].as_f64()), (Some(5), Some("sample"), Some(1.0)));
    assert_eq!(s[3]["policy"], "sample + halving (eta 3, 2 rungs, by rank)");
    assert_eq!(s[3]["worst_loss"], p[1]["loss"], "the whole grid with halving is the halving replay: {v}");
    assert!((s[3]["mean_iterations_fraction"].as_f64().unwrap() - 0.6).abs() < 1e-12, "{v}");
    let (chance2, mean2, worst2) = (s[0]["chance"].as_f64().unwrap(), s[0]["mean_loss"].as_f64().unwrap(), s[0]["worst_loss"].as_f64().unwrap());
    assert!(chance2 > 0.0 && chance2 < 1.0 && 0.0 < mean2 && mean2 <= worst2, "2 of 5 misses the best sometimes: {v}");
    for (args, says) in [
        (vec!["--what-if", "--search", "random:6"], "--search random:6: the full grid has 5 models; give a number of models from 1 to 5"),
        (vec!["--what-if", "--search", "random:0"], "\"random:0\": \"0\" is not a number of models of at least 1; give STRATEGY:K[,K...]"),
        (vec!["--what-if", "--search", "halton:2"], "unknown strategy \"halton\"; valid: \"random\", \"sobol\" or \"tpe\""),
        (vec!["--what-if", "--search", "16"], "\"16\" is not a sample spec; give STRATEGY:K[,K...], STRATEGY random, sobol, tpe (batches of 2) or tpeB (batches of B) and each K a number of models of at least 1, e.g. random:16,32 or sobol:16, or tpe:16 and tpe4:16"),
        (vec!["--what-if", "--search", "tpe0:2"], "\"tpe0:2\": tpe0: \"0\" is not a batch of at least 1 model"),
        (vec!["--what-if", "--search", "random:2", "--draws", "100001"], "--draws 100001: give 1 to 100000"),
        (vec!["--search", "random:2"], "--what-if"),
        (vec!["--what-if", "--draws", "5"], "--search"),
    ] {
        let o = env.run(&[&["report", "whatif"][..], &args].concat());
        assert!(!o.status.success() && stderr(&o).contains(says), "{args:?}: {}", stderr(&o));
    }
    // A sampled sweep is not a full grid to replay a search on.
    let sampled = env.grid("sampled", &FIVE.replace("[grid]", "[search]\nstrategy = \"random\"\nmodels = 1\nseed = 1\n\n[grid]"));
    env.ok(&["run", sampled.to_str().unwrap()]);
    let o = env.run(&["report", "sampled", "--what-if", "--search", "random:1"]);
    assert!(!o.status.success() && stderr(&o).contains("--what-if --search replays a sampled search on a full grid (every combination of the axes trained); sweep sampled is itself sampled ([search] strategy = \"random\", models = 1)"), "{}", stderr(&o));

    // A model that did not train to the end: the replay says it cannot.
    let r = env.runs().join("whatif/models/Model-002/result.json");
    let mut res: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&r).unwrap()).unwrap();
    res["status"] = "failed".into();
    std::fs::write(&r, serde_json::to_string(&res).unwrap()).unwrap();
    let o = env.run(&["report", "whatif", "--what-if"]);
    assert!(!o.status.success() && stderr(&o).contains("--what-if replays curves of models trained to the end; 1 of 5 are not (Model-002)"), "{}", stderr(&o));
    let o = env.run(&["report", "whatif", "--what-if", "--eta", "1"]);
    // Issue 33: the option's own parser says the minimum is 2 (eta 0 was told "at least 1").
    assert!(
        !o.status.success() && stderr(&o).contains("'1' for '--eta <ETA>': \"1\" is not a valid count: give a whole number of at least 2"),
        "{}",
        stderr(&o)
    );
    let o = env.run(&["report", "whatif", "--what-if", "--min-delta", "-1"]);
    assert!(!o.status.success() && stderr(&o).contains("--min-delta -1: give a number of at least 0"), "{}", stderr(&o));
    let o = env.run(&["report", "whatif", "--what-if", "--eta", "-3"]);
    assert!(!o.status.success() && stderr(&o).contains("\"-3\" is not a valid count: give a whole number of at least 2"), "{}", stderr(&o));
}
