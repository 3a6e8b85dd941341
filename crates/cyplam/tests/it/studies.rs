//! The studies' small twins (examples/*-small.toml) end to end: the scaling study with packing
//! advice, the activation study locally and the regularization study through Slurm, with their
//! HTML reports.

use super::*;

#[test]
fn scale_locally_measures_packings_and_submit_uses_the_recommendation() {
    let env = Env::new();
    let grid = example(&env, "scaling-small.toml");
    let out = env.cmd().args(["scale", grid.to_str().unwrap(), "--local", "--cores", "1,2", "--repeats", "2", "--node-cores", "2"])
        .env_remove("CYPLAM_WORKER_THREADS").output().unwrap();
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
    let out = env.ok(&["report", "activations-small", "--html", env.dir.path().join("html").to_str().unwrap(), "--figures", env.dir.path().join("fig").to_str().unwrap()]);
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
