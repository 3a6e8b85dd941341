//! What a user sees when something is wrong, and the commands that need no training.

use super::*;

#[test]
fn grid_errors_name_file_line_and_key() {
    let env = Env::new();
    let bad = env.dir.path().join("bad.toml");
    std::fs::write(&bad, "[settings]\nwc1 = 4\n").unwrap();
    let o = env.run(&["grid", bad.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains(&format!("cyplam: error: {}:2:7: key `settings.wc1`: kernel size 4 is even", bad.display())), "{e}");

    std::fs::write(&bad, "name = \"$(touch /tmp/pwned)\"\n").unwrap();
    let e = stderr(&env.run(&["grid", bad.to_str().unwrap()]));
    assert!(e.contains("key `name`: sweep name \"$(touch /tmp/pwned)\" contains '$'"), "{e}");

    // Issue 23: a number too large for TOML names its key and the valid range.
    std::fs::write(&bad, "[settings]\nseed = 18446744073709551616\n").unwrap();
    let e = stderr(&env.run(&["grid", bad.to_str().unwrap()]));
    assert!(e.contains(&format!("cyplam: error: {}:2:8: key `settings.seed`: 18446744073709551616 is out of range; valid: random seed, an integer >= 0 (default 0); a grid's integers are 64-bit: at most 9223372036854775807", bad.display())), "{e}");
}

#[test]
fn grid_lists_the_study_as_json() {
    let env = Env::new();
    let table4 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/table4.toml");
    let v = env.json(&["grid", table4.to_str().unwrap(), "--format", "json"]);
    let models = v.as_array().unwrap();
    assert_eq!(models.len(), 192);
    assert_eq!(models[0]["name"], "Model-000");
    assert_eq!((models[0]["wc1"].as_u64(), models[0]["ncv1"].as_u64(), models[0]["nfc1"].as_u64()), (Some(3), Some(8), Some(128)));
    assert_eq!(models[1]["nfc1"], 256);
    assert_eq!(models[108]["name"], "Model-108");
    for key in ["index", "name", "wc1", "ncv1", "wc2", "ncv2", "nfc1", "activation", "free_params"] {
        assert!(models.iter().all(|m| m.get(key).is_some()), "{key}");
    }
    let fp: Vec<u64> = models.iter().map(|m| m["free_params"].as_u64().unwrap()).collect();
    assert_eq!((*fp.iter().min().unwrap(), *fp.iter().max().unwrap()), (203_506, 3_266_434));
}

#[test]
fn dry_run_prints_script_and_arithmetic_and_writes_nothing() {
    let env = Env::new();
    let grid = env.grid("dry", FIVE);
    let out = env.ok(&["submit", grid.to_str().unwrap(), "--dry-run"]);
    assert!(out.contains("#SBATCH --array=0-2"), "{out}");
    assert!(out.contains("models to submit:   5 of 5"), "{out}");
    assert!(out.contains("array tasks:        3 in 1 array(s), 2 training(s) x 12 core(s) each"), "{out}");
    assert!(out.contains("cores:              72 in all"), "{out}");
    assert!(out.contains("single-core hours"), "{out}");
    // The sweep directory with a quote and a space reaches the worker quoted.
    assert!(out.contains("--sweep '") && out.contains("'\\''"), "{out}");
    assert!(!env.runs().join("dry").exists(), "a dry run writes nothing");
}

#[test]
fn a_gpu_partition_form_shares_one_gpu_between_the_trainings_of_a_task() {
    // The form of docs/slurm.md: one GPU per array task, four trainings on it. Checked as the
    // rendered script only: no GPU has been at hand to run it (docs/status.md).
    let env = Env::new();
    let gpu = FIVE
        .replace("trainings_per_node = 2\ncpus_per_training = 12\n", "trainings_per_node = 4\ncpus_per_training = 4\npartition = \"gpu\"\ngres = \"gpu:1\"\n");
    let grid = env.grid("gpu", &gpu);
    let out = env.ok(&["submit", grid.to_str().unwrap(), "--dry-run", "--device", "cuda"]);
    for line in ["#SBATCH --gres=gpu:1", "#SBATCH --partition=gpu", "#SBATCH --ntasks=4", "#SBATCH --cpus-per-task=4", "#SBATCH --array=0-1"] {
        assert!(out.lines().any(|l| l == line), "{line} in {out}");
    }
    let srun = out.lines().find(|l| l.starts_with("srun ")).unwrap_or_else(|| panic!("no srun line: {out}"));
    assert!(srun.contains("--ntasks=4 --cpus-per-task=4") && srun.contains("--device cuda --index"), "{srun}");
    assert!(out.contains("2 in 1 array(s), 4 training(s) x 4 core(s) each"), "{out}");
}

#[test]
fn without_slurm_submit_points_at_cyplam_run() {
    let env = Env::new();
    let grid = env.grid("noslurm", FIVE);
    let o = env.cmd().args(["submit", grid.to_str().unwrap()]).env("PATH", "/nonexistent").output().unwrap();
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("was not found on PATH: this machine is not a Slurm login node"), "{e}");
    assert!(e.contains("use `cyplam run GRID`"), "{e}");
    // Nothing was recorded as submitted.
    let st = env.json(&["status", "noslurm", "--format", "json"]);
    assert!(st.as_array().unwrap().iter().all(|m| m["state"] == "new"), "{st}");
}

#[test]
fn a_changed_grid_under_the_same_name_is_refused_with_the_differences() {
    let env = Env::new();
    let small = FIVE.replace("iterations = 300", "iterations = 10").replace("snapshots = 5", "snapshots = 1");
    let grid = env.grid("edit", &small);
    env.ok(&["run", grid.to_str().unwrap()]);
    let frozen = std::fs::read(env.runs().join("edit/sweep.json")).unwrap();
    let grid = env.grid("edit", &small.replace("nfc1 = [8, 16, 24, 32, 48]", "nfc1 = [8, 16, 24, 32, 64]").replace("seed = 2", "seed = 3"));
    let o = env.run(&["run", grid.to_str().unwrap()]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("sweep \"edit\" already exists"), "{e}");
    assert!(e.contains("Differences (5):"), "{e}");
    assert!(e.contains("Model-004: free_params 19298 -> 25618, nfc1 48 -> 64, seed 2 -> 3"), "{e}");
    assert!(e.contains("Give the grid another `name`"), "{e}");
    assert_eq!(std::fs::read(env.runs().join("edit/sweep.json")).unwrap(), frozen, "the frozen sweep is unchanged");
}

#[test]
fn a_database_from_a_newer_cyplam_is_refused_untouched() {
    let env = Env::new();
    let grid = env.grid("newer", FIVE);
    // Registers the sweep (and creates the database) without training.
    env.ok(&["submit", grid.to_str().unwrap(), "--dry-run"]);
    env.cmd().args(["submit", grid.to_str().unwrap()]).env("PATH", "/nonexistent").output().unwrap();
    let py = format!(
        "import sqlite3; c = sqlite3.connect({:?}); c.execute(\"insert into _sqlx_migrations (version, description, success, checksum, execution_time) values (99990101000000, 'future', 1, x'00', 0)\"); c.commit()",
        env.db().display().to_string()
    );
    assert!(Command::new("python3").args(["-c", &py]).status().unwrap().success());
    let before = std::fs::read(env.db()).unwrap();
    let o = env.run(&["status", "newer"]);
    assert!(!o.status.success());
    let e = stderr(&o);
    assert!(e.contains("the database was written by a newer cyplam (it has migration 99990101000000"), "{e}");
    assert_eq!(std::fs::read(env.db()).unwrap(), before, "the database was not changed");
}

#[test]
fn data_problems_are_caught_before_submitting() {
    let env = Env::new();
    let p = env.dir.path().join("nodata.toml");
    std::fs::write(&p, format!("[data]\ntrain = \"missing/train\"\nvalidation = \"missing/val\"\n{FIVE}")).unwrap();
    let e = stderr(&env.run(&["submit", p.to_str().unwrap(), "--dry-run"]));
    assert!(e.contains("the training set: ") && e.contains("missing/train: the data set directory does not exist"), "{e}");
}

/// Writes a data set of `n` float32 frames (all 1.0) and float64 labels (600 W, 4 mm/s) to `dir`,
/// after `edit` changed the values.
fn write_set(dir: &Path, n: usize, edit: impl Fn(&mut [f32], &mut [f64])) {
    std::fs::create_dir_all(dir).unwrap();
    let mut frames = vec![1.0f32; n * 784];
    let mut labels: Vec<f64> = (0..n).flat_map(|_| [600.0, 4.0]).collect();
    edit(&mut frames, &mut labels);
    let mut f = cyplam_core::data::npy_header("<f4", &[n, 784]);
    f.extend(frames.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.join("frames.npy"), f).unwrap();
    let mut l = cyplam_core::data::npy_header("<f8", &[n, 2]);
    l.extend(labels.iter().flat_map(|v| v.to_le_bytes()));
    std::fs::write(dir.join("labels.npy"), l).unwrap();
}

/// Issue 23, item 1: NaN, infinite, zero or negative laser power or process speed, and NaN or
/// infinite frames are refused by `submit`, its dry run and `run` (not first by the worker on the
/// compute node), naming the file, the row and the value; nothing is written.
#[test]
fn bad_values_are_refused_at_submit_with_the_file_row_and_value() {
    let env = Env::new();
    let body = FIVE.replace("batch_size = 32", "batch_size = 16").replace("iterations = 300", "iterations = 10").replace("snapshots = 5", "snapshots = 1");
    let cases: Vec<(&str, Box<dyn Fn(&mut [f32], &mut [f64])>, &str, &str)> = vec![
        ("lpnan", Box::new(|_, l| l[2 * 120] = f64::NAN), "train", "labels.npy: row 120 holds a non-finite laser power (NaN)"),
        ("lpzero", Box::new(|_, l| l[2 * 3] = 0.0), "train", "labels.npy: row 3 holds a laser power of 0; labels must be > 0 (Accuracy20% divides by them)"),
        ("psneg", Box::new(|_, l| l[2 * 199 + 1] = -4.0), "train", "labels.npy: row 199 holds a process speed of -4; labels must be > 0"),
        ("psinf", Box::new(|_, l| l[2 * 50 + 1] = f64::INFINITY), "validation", "labels.npy: row 50 holds a non-finite process speed (inf)"),
        ("framenan", Box::new(|f, _| f[784 * 17 + 400] = f32::NAN), "validation", "frames.npy: frame 17 holds a non-finite value (NaN) at pixel 400"),
        ("frameinf", Box::new(|f, _| f[784 * 180 + 2] = f32::NEG_INFINITY), "train", "frames.npy: frame 180 holds a non-finite value (-inf) at pixel 2"),
    ];
    for (name, edit, which, said) in cases {
        let data = env.dir.path().join(name);
        // Validation frames other than the training frames (a copy is refused on its own).
        let other = |f: &mut [f32]| f[1] = 3.0;
        write_set(&data.join("train"), 200, |f, l| {
            if which == "train" {
                edit(f, l)
            }
        });
        write_set(&data.join("validation"), 200, |f, l| {
            other(f);
            if which == "validation" {
                edit(f, l)
            }
        });
        let grid = env.dir.path().join(format!("{name}.toml"));
        std::fs::write(
            &grid,
            format!("name = \"{name}\"\n[data]\ntrain = \"{}\"\nvalidation = \"{}\"\n{body}", data.join("train").display(), data.join("validation").display()),
        )
        .unwrap();
        let set = if which == "train" { "training" } else { "validation" };
        let file = data.join(which).join(said.split(':').next().unwrap());
        for args in [vec!["submit", grid.to_str().unwrap(), "--dry-run"], vec!["submit", grid.to_str().unwrap()], vec!["run", grid.to_str().unwrap()]] {
            let o = env.run(&args);
            assert!(!o.status.success(), "{name}: {args:?} was accepted");
            let e = stderr(&o);
            let want = format!("{}: the {set} set: {}{}", grid.display(), file.display(), &said[said.find(':').unwrap()..]);
            assert!(e.contains(&want), "{name}: {args:?}: wanted {want:?} in\n{e}");
            assert!(!env.runs().join(name).exists(), "{name}: {args:?} wrote the sweep");
        }
    }
    // The same sets, sound: accepted.
    let data = env.dir.path().join("sound");
    write_set(&data.join("train"), 200, |_, _| {});
    write_set(&data.join("validation"), 200, |f, _| f[1] = 3.0);
    let grid = env.dir.path().join("sound.toml");
    std::fs::write(
        &grid,
        format!("name = \"sound\"\n[data]\ntrain = \"{}\"\nvalidation = \"{}\"\n{body}", data.join("train").display(), data.join("validation").display()),
    )
    .unwrap();
    assert!(env.ok(&["submit", grid.to_str().unwrap(), "--dry-run"]).contains("models to submit:   5 of 5"));
}

/// Issue 23, item 2: a validation set that is the training set (the same directory, a link to
/// its frames, a copy of them) is refused by submit, its dry run and run, unless the grid says
/// it is meant; a set of other frames with the same count is not.
#[test]
fn a_validation_set_that_is_the_training_set_is_refused_unless_meant() {
    let env = Env::new();
    let body = FIVE.replace("batch_size = 32", "batch_size = 16").replace("iterations = 300", "iterations = 10").replace("snapshots = 5", "snapshots = 1");
    let root = env.dir.path().join("sets");
    let train = root.join("train");
    write_set(&train, 200, |_, _| {});
    let linked = root.join("linked");
    std::fs::create_dir_all(&linked).unwrap();
    std::os::unix::fs::symlink(train.join("frames.npy"), linked.join("frames.npy")).unwrap();
    std::fs::copy(train.join("labels.npy"), linked.join("labels.npy")).unwrap();
    let copied = root.join("copied");
    write_set(&copied, 200, |_, _| {});
    let other = root.join("other");
    write_set(&other, 200, |f, _| f[5] = 2.0);
    let grid = |name: &str, validation: &Path, extra: &str| {
        let g = env.dir.path().join(format!("{name}.toml"));
        std::fs::write(&g, format!("name = \"{name}\"\n[data]\ntrain = \"{}\"\nvalidation = \"{}\"\n{extra}{body}", train.display(), validation.display()))
            .unwrap();
        g
    };
    let tf = std::fs::canonicalize(train.join("frames.npy")).unwrap();
    for (name, validation, how) in [
        ("samedir", train.clone(), "the same directory".to_string()),
        ("linked", linked.clone(), format!("its frames.npy is the training set's file {}", tf.display())),
        ("copied", copied.clone(), format!("its frames.npy holds the same bytes as {}", tf.display())),
    ] {
        let g = grid(name, &validation, "");
        let want = format!(
            "{}: key `data.validation`: the validation set {} is the training set ({how}); validating on the frames a model trained on measures its fit",
            g.display(),
            std::fs::canonicalize(&validation).unwrap().display()
        );
        for args in [vec!["submit", g.to_str().unwrap(), "--dry-run"], vec!["submit", g.to_str().unwrap()], vec!["run", g.to_str().unwrap()]] {
            let o = env.run(&args);
            assert!(!o.status.success(), "{name}: {args:?} was accepted");
            let e = stderr(&o);
            assert!(
                e.contains(&want) && e.contains("or set `validation_is_train = true` in [data] if that is meant"),
                "{name}: {args:?}: wanted {want:?} in\n{e}"
            );
            assert!(!env.runs().join(name).exists(), "{name}: nothing written");
        }
        // Meant: accepted.
        let g = grid(&format!("{name}-meant"), &validation, "validation_is_train = true\n");
        assert!(env.ok(&["submit", g.to_str().unwrap(), "--dry-run"]).contains("models to submit:   5 of 5"), "{name} meant");
    }
    // Other frames of the same count and size: not the training set.
    let g = grid("other", &other, "");
    assert!(env.ok(&["submit", g.to_str().unwrap(), "--dry-run"]).contains("models to submit:   5 of 5"));
}

/// Issue 13, rules 3 and 6: what a worker could only fail on, or overrun a node with, is refused
/// before anything is submitted, naming the model, the key and what is valid.
#[test]
fn impossible_models_are_refused_before_submitting() {
    let env = Env::new();
    let refused = |name: &str, body: &str| -> String {
        let grid = env.grid(name, body);
        let o = env.run(&["submit", grid.to_str().unwrap(), "--dry-run"]);
        assert!(!o.status.success(), "{name} was accepted:\n{}", String::from_utf8_lossy(&o.stdout));
        assert!(!env.runs().join(name).exists(), "nothing written for {name}");
        stderr(&o)
    };
    let e = refused("bigbatch", &FIVE.replace("batch_size = 32", "batch_size = 100000"));
    assert!(e.contains("Model-000: batch_size 100000 is larger than the training set (8000 frames); valid: 1 to 8000"), "{e}");
    // (Explicit iterations are checked by the grid itself; epochs need the training set's size.)
    let e = refused("manysnaps", &FIVE.replace("iterations = 300", "epochs = 1").replace("snapshots = 5", "snapshots = 500"));
    assert!(e.contains("Model-000: snapshots 500 is more than the 250 iterations it trains; valid: 1 to 250"), "{e}");
    let e = refused("huge", &FIVE.replace("nfc1 = [8, 16, 24, 32, 48]", "nfc1 = [8, 1000000000]"));
    assert!(e.contains("Model-001 (3-4-3-8-1000000000, 395000000338 free parameters) needs about") && e.contains("more than cyplam's limit of"), "{e}");
    let e = refused("overmem", &FIVE.replace("cpus_per_training = 12", "cpus_per_training = 12\nmem = \"2G\"").replace("ncv1 = 4", "ncv1 = 512"));
    assert!(e.contains("more than its share of [slurm] mem = \"2G\" (1.07 GB for each of 2 trainings per node)"), "{e}");
    let e = refused("badtime", &FIVE.replace("cpus_per_training = 12", "cpus_per_training = 12\ntime = \"90min\""));
    assert!(e.contains("slurm.time") && e.contains("\"90min\" is not a time Slurm reads; valid: MINUTES"), "{e}");
    let e = refused("badmem", &FIVE.replace("cpus_per_training = 12", "cpus_per_training = 12\nmem = \"20GB\""));
    assert!(e.contains("slurm.mem") && e.contains("\"20GB\" is not a memory size Slurm reads"), "{e}");

    // All-zero training frames under input_scale = "max": nothing to divide by.
    let zeros = env.dir.path().join("zeros");
    std::fs::create_dir_all(&zeros).unwrap();
    let n = 200;
    let mut frames = cyplam_core::data::npy_header("|u1", &[n, 784]);
    frames.extend(std::iter::repeat_n(0u8, n * 784));
    std::fs::write(zeros.join("frames.npy"), frames).unwrap();
    let mut labels = cyplam_core::data::npy_header("<f4", &[n, 2]);
    for _ in 0..n {
        labels.extend(1000f32.to_le_bytes());
        labels.extend(10f32.to_le_bytes());
    }
    std::fs::write(zeros.join("labels.npy"), labels).unwrap();
    let grid = env.dir.path().join("zero.toml");
    let body = FIVE.replace("batch_size = 32", "batch_size = 16");
    std::fs::write(
        &grid,
        format!("name = \"zero\"\n[data]\ntrain = \"{}\"\nvalidation = \"{}\"\n{body}", zeros.display(), data_dir().join("validation").display()),
    )
    .unwrap();
    let o = env.run(&["submit", grid.to_str().unwrap(), "--dry-run"]);
    assert!(!o.status.success());
    assert!(stderr(&o).contains("every training frame of") && stderr(&o).contains("input_scale = \"max\" has nothing to divide by"), "{}", stderr(&o));

    // Counts on the command line.
    let o = env.run(&["report", "--top", "-1"]);
    assert!(!o.status.success() && stderr(&o).contains("\"-1\" is not a valid count: give a whole number of at least 0"), "{}", stderr(&o));
}

/// Issue 13, rule 5: the dry run reports exactly what submit would do, refusals included.
#[test]
fn the_dry_run_agrees_with_the_real_submit() {
    let env = Env::new();
    let body = FIVE.replace("iterations = 300", "iterations = 10").replace("snapshots = 5", "snapshots = 1");
    let grid = env.grid("agree", &body);
    let out = env.ok(&["submit", grid.to_str().unwrap(), "--dry-run"]);
    assert!(out.contains("models to submit:   5 of 5") && out.contains("memory:             about"), "{out}");
    assert!(out.contains("for the largest model (Model-004, 3-4-3-8-48); set [slurm] mem to reserve it"), "{out}");
    env.ok(&["run", grid.to_str().unwrap()]);
    // A completed sweep: nothing to submit, said by both.
    let dry = env.ok(&["submit", grid.to_str().unwrap(), "--dry-run"]);
    assert!(dry.contains("nothing to submit for sweep agree: 5 completed, 0 pending or running"), "{dry}");
    assert!(!dry.contains("#SBATCH"), "{dry}");
    let real = env.ok(&["submit", grid.to_str().unwrap()]);
    assert!(real.contains("nothing to submit for sweep agree: 5 completed, 0 pending or running"), "{real}");
    // One model failed: both would submit that one alone.
    let r = env.runs().join("agree/models/Model-003/result.json");
    let mut v: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&r).unwrap()).unwrap();
    v["status"] = "failed".into();
    std::fs::write(&r, serde_json::to_string(&v).unwrap()).unwrap();
    let dry = env.ok(&["submit", grid.to_str().unwrap(), "--dry-run"]);
    assert!(dry.contains("models to submit:   1 of 5") && dry.contains("#SBATCH --array=1\n") && dry.contains("would skip 4 completed"), "{dry}");
    // An edited grid under the same name: both refuse, with the differences.
    std::fs::write(&grid, std::fs::read_to_string(&grid).unwrap().replace("nfc1 = [8, 16, 24, 32, 48]", "nfc1 = [8, 16, 24, 32, 64]")).unwrap();
    for args in [vec!["submit", grid.to_str().unwrap(), "--dry-run"], vec!["submit", grid.to_str().unwrap()]] {
        let o = env.run(&args);
        assert!(!o.status.success(), "{args:?}");
        assert!(stderr(&o).contains("already exists") && stderr(&o).contains("nfc1 48 -> 64"), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn version_names_the_workers_libtorch_and_completions_are_generated() {
    let env = Env::new();
    let v = env.ok(&["--version"]);
    assert!(v.starts_with(&format!("cyplam {}\n", env!("CARGO_PKG_VERSION"))), "{v}");
    assert!(v.contains("worker: cyplam-worker ") && v.contains(" (libtorch 2.11.0"), "{v}");
    for (shell, mark) in [("bash", "_cyplam()"), ("zsh", "#compdef cyplam"), ("fish", "complete -c cyplam")] {
        let c = env.ok(&["completions", shell]);
        assert!(c.contains(mark) && c.contains("submit"), "{shell}: {}", &c[..c.len().min(300)]);
    }
    let o = env.run(&["completions", "tcsh"]);
    assert!(!o.status.success() && stderr(&o).contains("possible values"), "{}", stderr(&o));
}

/// Issue 13: a file where cyplam expects a directory (or the database file) is named as such.
#[test]
fn a_file_where_a_directory_is_expected_is_named() {
    let env = Env::new();
    let grid = env.grid("paths", &FIVE.replace("iterations = 300", "iterations = 10").replace("snapshots = 5", "snapshots = 1"));
    let file = env.dir.path().join("a-file");
    std::fs::write(&file, "not a directory").unwrap();
    let o = env.cmd().args(["run", grid.to_str().unwrap()]).env("CYPLAM_RUNS", &file).env("CYPLAM_DB", env.db()).output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains(&format!("{} is a file, not a directory", file.display())), "{}", stderr(&o));
    let o = env.cmd().args(["run", grid.to_str().unwrap()]).env("CYPLAM_DB", file.join("cyplam.db")).output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("is a file, not a directory"), "{}", stderr(&o));
    let o = env.cmd().args(["run", grid.to_str().unwrap()]).env("CYPLAM_DB", env.dir.path()).output().unwrap();
    assert!(!o.status.success() && stderr(&o).contains("is a directory; --db (CYPLAM_DB) names the database file"), "{}", stderr(&o));
    env.ok(&["run", grid.to_str().unwrap()]);
    for flag in ["--html", "--figures"] {
        let o = env.run(&["report", "paths", flag, file.to_str().unwrap()]);
        assert!(
            !o.status.success() && stderr(&o).contains(&format!("cannot create the directory {}: {} is a file", file.display(), file.display())),
            "{flag}: {}",
            stderr(&o)
        );
    }
}

/// Issue 13: a large grid is printed a row at a time (memory measured in the issue note).
#[test]
fn a_large_grid_is_listed_row_by_row() {
    let env = Env::new();
    let nfc1: Vec<String> = (1..=200).map(|i| (i * 8).to_string()).collect();
    let ncv1: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let grid = env.grid(
        "large",
        &format!(
            "[settings]\nwc1 = 3\nwc2 = 3\nncv2 = 8\niterations = 10\nsnapshots = 1\n[grid]\nncv1 = [{}]\nnfc1 = [{}]\n",
            ncv1.join(", "),
            nfc1.join(", ")
        ),
    );
    let csv = env.ok(&["grid", grid.to_str().unwrap(), "--format", "csv"]);
    assert_eq!(csv.lines().count(), 20_001);
    assert!(csv.starts_with("index,name,wc1,ncv1,wc2,ncv2,nfc1,free_params\n0,Model-00000,3,1,3,8,8,"), "{}", &csv[..200]);
    let json = env.json(&["grid", grid.to_str().unwrap(), "--format", "json"]);
    assert_eq!(json.as_array().unwrap().len(), 20_000);
    assert_eq!(json[19_999]["name"], "Model-19999");
    let table = env.ok(&["grid", grid.to_str().unwrap()]);
    assert!(table.lines().last().unwrap().starts_with("20000 models (ncv1 x100, nfc1 x200)"), "{}", table.lines().last().unwrap());
    assert_eq!(table.lines().count(), 20_002);
}

/// Issue 30: a reader that stops early (`cyplam report | head -1`) is not an error. Every command
/// prints through the output layer, which returns the closed pipe's error instead of panicking
/// ("failed printing to stdout: Broken pipe", exit 101): cyplam stops and exits 0, silently.
#[test]
fn a_closed_stdout_ends_a_command_quietly() {
    let env = Env::new();
    let table4 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/table4.toml");
    let table4 = table4.to_str().unwrap();
    let grid = env.grid("closed", FIVE);
    let grid = grid.to_str().unwrap();
    // A sweep frozen and registered, nothing trained (submit stops at the missing sbatch).
    env.cmd().args(["submit", grid]).env("PATH", "/nonexistent").output().unwrap();
    let quiet = |args: &[&str], o: &Output| {
        let e = stderr(o);
        assert!(o.status.success(), "cyplam {args:?}: {:?}\n{e}", o.status);
        assert!(!e.contains("Broken pipe") && !e.contains("panicked"), "cyplam {args:?}: {e}");
    };
    // Stdout closed before cyplam writes anything: its first line meets the closed pipe.
    for args in [
        &["--version"][..],
        &["completions", "bash"],
        &["grid", table4],
        &["grid", table4, "--format", "json"],
        &["submit", grid, "--dry-run"],
        &["status", "closed"],
        &["status", "closed", "--format", "json"],
        &["report", "closed"],
        &["report", "closed", "--format", "json"],
    ] {
        let (r, w) = std::io::pipe().unwrap();
        drop(r);
        let o = env.cmd().args(args).env("PATH", "/nonexistent").stdout(w).output().unwrap();
        quiet(args, &o);
    }
    // `| head -1`: one line read, then the pipe closed while cyplam still writes (5,000 models
    // as JSON, more than a pipe holds, printed whole rather than row by row).
    let nfc1: Vec<String> = (1..=50).map(|i| (i * 8).to_string()).collect();
    let ncv1: Vec<String> = (1..=100).map(|i| i.to_string()).collect();
    let big = env.grid(
        "big",
        &format!(
            "[settings]\nwc1 = 3\nwc2 = 3\nncv2 = 8\niterations = 10\nsnapshots = 1\n[grid]\nncv1 = [{}]\nnfc1 = [{}]\n",
            ncv1.join(", "),
            nfc1.join(", ")
        ),
    );
    let args = ["grid", big.to_str().unwrap(), "--format", "json"];
    let mut child = env.cmd().args(args).stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped()).spawn().unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut first).unwrap();
    assert_eq!(first, "[\n");
    let o = child.wait_with_output().unwrap();
    quiet(&args, &o);
}
