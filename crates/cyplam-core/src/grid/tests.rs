//! Grid files as users write them: what parses, what expands to which models, and the messages of
//! what does not.

use super::*;
use crate::spec::{Activation, KeepSnapshots, Layer, Length};

/// `text` parsed as `/tmp/g/test.toml` (also for `sampled_tests`).
pub(super) fn p(text: &str) -> Result<Grid, GridError> {
    parse(Path::new("/tmp/g/test.toml"), text)
}

/// The error `text` must give, as printed.
pub(super) fn err(text: &str) -> String {
    match p(text) {
        Ok(g) => panic!("expected an error, got {} models", g.models.len()),
        Err(e) => e.to_string(),
    }
}

const ARCH: &str = "[settings]\nwc1 = 5\nncv1 = 8\nwc2 = 5\nncv2 = 32\nnfc1 = 100\n";

fn table4() -> Grid {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/table4.toml");
    load(&path).expect("table4.toml parses")
}

#[test]
fn table4_numbers_the_models_as_the_study() {
    let g = table4();
    assert_eq!(g.name, "table4");
    assert_eq!(g.models.len(), 192);
    let m0 = &g.models[0];
    assert_eq!((m0.name.as_str(), m0.wc1, m0.ncv1, m0.wc2, m0.ncv2, m0.nfc1), ("Model-000", 3, 8, 3, 32, 128));
    let m1 = &g.models[1];
    assert_eq!((m1.wc1, m1.ncv1, m1.wc2, m1.ncv2, m1.nfc1), (3, 8, 3, 32, 256));
    // nfc1 fastest, then wc2, ncv2, wc1, ncv1 slowest.
    assert_eq!(g.models[8].wc2, 5);
    assert_eq!(g.models[16].ncv2, 64);
    assert_eq!(g.models[32].wc1, 5);
    assert_eq!(g.models[64].ncv1, 16);
    let last = &g.models[191];
    assert_eq!((last.name.as_str(), last.wc1, last.ncv1, last.wc2, last.ncv2, last.nfc1), ("Model-191", 5, 32, 5, 64, 1024));
    let min = g.models.iter().map(|m| m.free_params).min().unwrap();
    let max = g.models.iter().map(|m| m.free_params).max().unwrap();
    assert_eq!((min, max), (203_506, 3_266_434));
    assert_eq!(m0.length, Length::Epochs(1200));
    assert_eq!(m0.learning_rate, 1e-5);
    assert_eq!(m0.batch_size, 128);
    assert_eq!(m0.dropout_keep, 0.75);
    assert_eq!(m0.snapshots, 200);
    assert_eq!(g.varying_settings(), vec!["wc1", "ncv1", "wc2", "ncv2", "nfc1"]);
    assert_eq!(g.data.as_ref().unwrap().train, Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/../data/synth/train"));
}

#[test]
fn the_other_examples_parse() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "toml") {
            load(&path).unwrap_or_else(|e| panic!("{e}"));
            n += 1;
        }
    }
    assert!(n >= 3, "found {n} examples");
    let scaling = load(&dir.join("scaling.toml")).unwrap();
    let params: Vec<u64> = scaling.models.iter().map(|m| m.free_params).collect();
    assert_eq!(params, vec![163_742, 1_106_342, 3_191_098]);
}

#[test]
fn axes_expand_in_written_order() {
    let g = p("[settings]\nwc1 = 3\nwc2 = 3\nncv1 = 4\n[grid]\nnfc1 = [10, 20, 30]\nncv2 = [1, 2]\n").unwrap();
    let got: Vec<(u32, u32)> = g.models.iter().map(|m| (m.nfc1, m.ncv2)).collect();
    assert_eq!(got, vec![(10, 1), (10, 2), (20, 1), (20, 2), (30, 1), (30, 2)]);
    assert_eq!(g.name, "test");
}

#[test]
fn table_axes_set_several_settings() {
    let g = p(r#"
[settings]
iterations = 100
snapshots = 10
[grid]
architecture = [{wc1 = 5, ncv1 = 8, wc2 = 5, ncv2 = 32, nfc1 = 128}, {wc1 = 3, ncv1 = 32, wc2 = 5, ncv2 = 32, nfc1 = 256}]
activation = ["relu", "elu", "softplus", "sigmoid"]
regularization = [{}, {l1 = 0.001, layers = ["fc1"]}, {l2 = 0.01, reg_layers = ["fc1", "conv2"]}]
"#)
    .unwrap();
    assert_eq!(g.models.len(), 2 * 4 * 3);
    let m = &g.models[5];
    assert_eq!((m.wc1, m.nfc1, m.activation), (5, 128, Activation::Elu));
    assert_eq!(m.regularization.l2, 0.01);
    assert_eq!(m.regularization.layers, vec![Layer::Conv2, Layer::Fc1]);
    assert!(g.models[0].regularization.is_none());
    assert_eq!(g.models[1].regularization.l1, 0.001);
    assert_eq!(g.models[12].wc1, 3);
    assert_eq!(g.varying_settings(), vec!["wc1", "ncv1", "nfc1", "activation", "l1", "l2", "reg_layers"]);
}

#[test]
fn every_setting_may_be_an_axis() {
    let g = p(&format!("{ARCH}[grid]\ndropout_keep = [0.5, 1.0]\nlearning_rate = [1e-3, 1e-4]\nbatch_size = [32]\niterations = [50]\nsnapshots = [5]\nseed = [1, 2]\nkeep_snapshots = [\"all\", \"none\"]\nthreads = [1]\n")).unwrap();
    assert_eq!(g.models.len(), 16);
    assert_eq!(g.models[15].seed, 2);
    assert_eq!(g.models[15].keep_snapshots, KeepSnapshots::None);
}

#[test]
fn malformed_toml_names_line_and_column() {
    let e = err("[settings]\nwc1 = 5\nncv1 = = 8\n");
    assert!(e.starts_with("/tmp/g/test.toml:3:"), "{e}");
    assert!(e.contains("invalid"), "{e}");
}

#[test]
fn unknown_keys_are_named_with_the_valid_ones() {
    let e = err("[settings]\nwc1 = 5\nwidth = 3\n");
    assert!(e.starts_with("/tmp/g/test.toml:3:"), "{e}");
    assert!(e.contains("key `settings.width`: unknown setting; valid settings: wc1, ncv1"), "{e}");

    let e = err("nmae = \"x\"\n");
    assert!(e.contains(":1:1: unknown field `nmae`, expected one of `name`, `data`, `slurm`, `output`, `halving`, `search`, `settings`, `grid`"), "{e}");

    let e = err("[slurm]\npartiton = \"x\"\n");
    assert!(e.contains(":2:1: unknown field `partiton`"), "{e}");
    assert!(e.contains("`partition`"), "{e}");

    let e = err(&format!("{ARCH}[grid]\nwdth = [1, 2]\n"));
    assert!(e.contains(":8:8: key `grid.wdth`: unknown setting; an axis is named after the setting it varies"), "{e}");

    let e = err("[grid]\narch = [{wc1 = 5, wcc = 3}]\n");
    assert!(e.contains("key `grid.arch.wcc`: unknown setting"), "{e}");
}

#[test]
fn wrong_types_say_what_was_expected() {
    let e = err("[settings]\nwc1 = \"five\"\n");
    assert!(e.contains(":2:7: key `settings.wc1`: expected an integer, found string \"five\"; valid: odd kernel size"), "{e}");
    let e = err("[settings]\nactivation = 3\n");
    assert!(e.contains("key `settings.activation`: expected a string, found integer 3"), "{e}");
    let e = err("[grid]\nnfc1 = 128\n");
    assert!(e.contains(":2:8:"), "{e}");
    assert!(e.contains("invalid type: integer `128`, expected a list of values (`nfc1 = [128, 256]`) or, under [search], a distribution"), "{e}");
    let e = err("[slurm]\ntrainings_per_node = \"two\"\n");
    assert!(e.contains(":2:22:"), "{e}");
}

#[test]
fn empty_and_duplicated_axes_are_refused() {
    let e = err(&format!("{ARCH}[grid]\nseed = []\n"));
    assert!(e.contains(":8:8: key `grid.seed`: the axis is empty; give at least one value"), "{e}");

    let e = err("[grid]\nnfc1 = [1]\nnfc1 = [2]\n");
    assert!(e.contains(":3:1:") && e.contains("duplicate key"), "{e}");

    let e = err(&format!("{ARCH}[grid]\nnfc1 = [128, 256]\n"));
    assert!(e.contains("key `grid.nfc1`: `nfc1` is set twice: by this axis and by [settings] at line 6"), "{e}");

    let e = err("[settings]\nwc1 = 3\n[grid]\narch = [{wc1 = 5}]\n");
    assert!(e.contains("`wc1` is set twice: by this axis and by [settings] at line 2"), "{e}");

    let e = err("[grid]\narch = [{nfc1 = 5}]\nnfc1 = [3]\n");
    assert!(e.contains("`nfc1` is set twice: by this axis and by axis `arch` at line 2"), "{e}");

    let e = err(&format!("{ARCH}[grid]\nseed = [1, 2, 1]\n"));
    assert!(e.contains(":8:15: key `grid.seed`: value 1 is listed twice (entries 1 and 3)"), "{e}");

    let e = err("[grid]\narch = [{wc1 = 3}, 5]\n");
    assert!(e.contains("mixes inline tables and plain values"), "{e}");
}

#[test]
fn bad_sizes_are_refused() {
    let e = err("[settings]\nwc1 = 4\n");
    assert!(e.contains(":2:7: key `settings.wc1`: kernel size 4 is even; \"same\" padding needs an odd size"), "{e}");
    let e = err("[settings]\nwc2 = 0\n");
    assert!(e.contains("kernel size 0 is out of range; valid: odd kernel size of conv2, 1 to 27"), "{e}");
    let e = err("[settings]\nwc2 = -3\n");
    assert!(e.contains("kernel size -3 is out of range"), "{e}");
    let e = err("[grid]\nncv1 = [8, 0]\n");
    assert!(e.contains(":2:12: key `grid.ncv1`: 0 is out of range; valid: number of conv1 filters, at least 1"), "{e}");
    let e = err("[settings]\nnfc1 = -1\n");
    assert!(e.contains("-1 is out of range; valid: neurons of fc1, at least 1"), "{e}");
    let e = err("[settings]\ndropout_keep = 1.5\n");
    assert!(e.contains("1.5 is out of range; valid: fraction of fc1 kept by dropout, in (0, 1]"), "{e}");
    let e = err("[settings]\nlearning_rate = 0\n");
    assert!(e.contains("key `settings.learning_rate`: 0 is out of range"), "{e}");
}

#[test]
fn unknown_names_list_the_valid_ones() {
    let e = err("[grid]\nactivation = [\"relu\", \"tanh\"]\n");
    assert!(e.contains(":2:23: key `grid.activation`: unknown activation \"tanh\"; valid: relu, elu, softplus, sigmoid"), "{e}");
    let e = err("[grid]\nreg = [{l1 = 0.001, layers = [\"fc3\"]}]\n");
    assert!(e.contains("key `grid.reg.layers`: unknown layer \"fc3\"; valid: conv1, conv2, fc1, fc2"), "{e}");
    let e = err("[settings]\nkeep_snapshots = \"some\"\n");
    assert!(e.contains("unknown keep_snapshots \"some\"; valid: \"all\", \"best\", \"none\""), "{e}");
}

#[test]
fn model_level_problems_name_the_model() {
    let e = err("[settings]\nwc1 = 5\nncv1 = 8\nwc2 = 5\nncv2 = 32\n");
    assert!(e.contains("/tmp/g/test.toml: Model-000 (fixed settings): `nfc1` is not set; give it in [settings] or as an axis in [grid]"), "{e}");
    let e = err(&format!("{ARCH}iterations = 10\nepochs = 2\n"));
    assert!(e.contains("both `iterations` and `epochs` are set"), "{e}");
    let e = err(&format!("{ARCH}iterations = 10\n[grid]\nsnapshots = [5, 20]\n"));
    assert!(e.contains("Model-001 (snapshots[1]): 20 snapshots over 10 iterations"), "{e}");
}

#[test]
fn sweep_names_are_checked() {
    for bad in ["a/b", "..", "has space", "q\"uote", "$(rm -rf /)", "-x", ".hidden", "semi;colon"] {
        let text = format!("name = {}\n", toml::Value::String(bad.into()));
        let e = err(&text);
        assert!(e.contains("key `name`: sweep name"), "{bad}: {e}");
    }
    assert_eq!(p(&format!("name = \"ok.name_1-2\"\n{ARCH}")).unwrap().name, "ok.name_1-2");
    let e = parse(Path::new("/tmp/my grid.toml"), "").unwrap_err().to_string();
    assert!(e.contains("the sweep is named after the file (\"my grid\")"), "{e}");
}

#[test]
fn slurm_values_cannot_break_the_script() {
    let e = err("[slurm]\npartition = \"gpu\\n#SBATCH --x\"\n");
    assert!(e.contains(":2:13: key `slurm.partition`:") && e.contains("contains '\\n'"), "{e}");
    let e = err("[slurm]\naccount = \"a b\"\n");
    assert!(e.contains("contains ' '"), "{e}");
    let e = err("[slurm]\nextra = [\"exclusive\"]\n");
    assert!(e.contains("is not an sbatch option"), "{e}");
    for name in ["--job-name=mine", "--job-na=mine", "-Jmine", "-J"] {
        let e = err(&format!("[slurm]\nextra = [\"{name}\"]\n"));
        assert!(e.contains("sets the job name, which cyplam sets itself"), "{name}: {e}");
    }
    if let Err(e) = p("[slurm]\nextra = [\"--job\", \"--exclusive\", \"--jobs=3\"]\n") {
        assert!(!e.to_string().contains("sets the job name"), "{e}");
    }
    let e = err("[slurm]\nsetup = [\"module load x\\nrm -rf /\"]\n");
    assert!(e.contains("each set-up entry is one shell line"), "{e}");
    let e = err("[slurm]\ntrainings_per_node = 0\n");
    assert!(e.contains("key `slurm.trainings_per_node`: 0 is out of range; give an integer >= 1"), "{e}");
    let g = p(&format!("[slurm]\npartition = \"cpu\"\nextra = [\"--exclusive\"]\nsetup = [\"module load torch/2.11\"]\nthrottle = 4\n{ARCH}")).unwrap();
    assert_eq!(g.slurm.partition.as_deref(), Some("cpu"));
    assert_eq!(g.slurm.throttle, Some(4));
    assert_eq!(g.models[0].threads, 12);
}

#[test]
fn data_paths_are_relative_to_the_file() {
    let g = p(&format!("[data]\ntrain = \"d/train\"\nvalidation = \"/abs/val\"\ninput_scale = 0.5\n{ARCH}")).unwrap();
    let d = g.data.unwrap();
    assert_eq!(d.train, Path::new("/tmp/g/d/train"));
    assert_eq!(d.validation, Path::new("/abs/val"));
    assert_eq!(d.input_scale, InputScale::Factor(0.5));
    let e = err("[data]\ntrain = \"a\"\nvalidation = \"b\"\ninput_scale = \"huge\"\n");
    assert!(e.contains(":4:15: key `data.input_scale`: invalid value \"huge\"; valid: \"max\""), "{e}");
}

#[test]
fn an_unset_input_scale_is_the_one_the_training_set_records() {
    let t = tempfile::tempdir().unwrap();
    let grid = t.path().join("g.toml");
    let text = format!("[data]\ntrain = \"train\"\nvalidation = \"validation\"\n{ARCH}");
    std::fs::create_dir_all(t.path().join("train")).unwrap();
    assert_eq!(parse(&grid, &text).unwrap().data.unwrap().input_scale, InputScale::Max, "no dataset.json: max");
    let meta = t.path().join("train").join(crate::data::META_FILE);
    std::fs::write(&meta, r#"{"source": "ConvLMD", "input_scale": 0.00392156862745098}"#).unwrap();
    assert_eq!(parse(&grid, &text).unwrap().data.unwrap().input_scale, InputScale::Factor(1.0 / 255.0));
    let set = format!("[data]\ntrain = \"train\"\nvalidation = \"validation\"\ninput_scale = \"max\"\n{ARCH}");
    assert_eq!(parse(&grid, &set).unwrap().data.unwrap().input_scale, InputScale::Max, "the grid's own setting wins");
    std::fs::write(&meta, "{").unwrap();
    let e = parse(&grid, &text).unwrap_err().to_string();
    assert!(e.contains(":2:9: key `data.train`: ") && e.contains("dataset.json: EOF while parsing"), "{e}");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        #[test]
        fn expansion_is_the_product_in_order(lens in proptest::collection::vec(1usize..4, 1..5)) {
            // Axes over settings that take any positive integer.
            let keys = ["ncv1", "ncv2", "nfc1", "seed"];
            let mut text = String::from("[settings]\nwc1 = 3\nwc2 = 3\n");
            for k in &keys[lens.len()..] {
                text.push_str(&format!("{k} = 1\n"));
            }
            text.push_str("[grid]\n");
            for (k, n) in keys.iter().zip(&lens) {
                let vals: Vec<String> = (1..=*n).map(|v| v.to_string()).collect();
                text.push_str(&format!("{k} = [{}]\n", vals.join(", ")));
            }
            let g = p(&text).unwrap();
            let count: usize = lens.iter().product();
            prop_assert_eq!(g.models.len(), count);
            let names: std::collections::HashSet<_> = g.models.iter().map(|m| m.name.clone()).collect();
            prop_assert_eq!(names.len(), count);
            for (i, m) in g.models.iter().enumerate() {
                prop_assert_eq!(m.index, i);
                // Mixed-radix digits, last axis fastest.
                let mut rest = i;
                let mut digits = vec![0; lens.len()];
                for a in (0..lens.len()).rev() {
                    digits[a] = rest % lens[a];
                    rest /= lens[a];
                }
                let vals = [m.ncv1 as usize, m.ncv2 as usize, m.nfc1 as usize, m.seed as usize];
                for a in 0..lens.len() {
                    prop_assert_eq!(vals[a], digits[a] + 1);
                }
                prop_assert_eq!(m.free_params, m.arch().free_params());
            }
        }
    }
}

#[test]
fn precision_defaults_to_fp32_and_may_be_an_axis() {
    use crate::spec::Precision;
    let g = p(ARCH).unwrap();
    assert_eq!(g.models[0].precision, Precision::Fp32);
    let g = p(&format!("{ARCH}[grid]\nprecision = [\"fp32\", \"bf16\"]\n")).unwrap();
    assert_eq!(g.models[1].precision, Precision::Bf16);
    assert_eq!(model_settings(&g.models[1])["precision"], serde_json::json!("bf16"));
    let e = err("[settings]\nprecision = \"fp16\"\n");
    assert!(e.contains("key `settings.precision`: unknown precision \"fp16\"; valid: \"fp32\", \"bf16\""), "{e}");
}

#[test]
fn early_stopping_is_off_by_default_and_checked() {
    use crate::spec::EarlyStopping;
    let g = p(ARCH).unwrap();
    assert_eq!(g.models[0].early_stopping, None);
    let g = p(&format!("{ARCH}early_stopping = {{ patience = 3, min_delta = 0.005 }}\n")).unwrap();
    assert_eq!(
        g.models[0].early_stopping,
        Some(EarlyStopping { patience: 3, min_delta: 0.005, noise: EarlyStopping::DEFAULT_NOISE, drop: EarlyStopping::DEFAULT_DROP })
    );
    assert_eq!(
        model_settings(&g.models[0])["early_stopping"],
        serde_json::json!({"patience": 3, "min_delta": 0.005, "noise": EarlyStopping::DEFAULT_NOISE, "drop": EarlyStopping::DEFAULT_DROP})
    );
    // true: the defaults; false: off, also over a [settings] that turned it on.
    let g = p(&format!("{ARCH}early_stopping = true\n")).unwrap();
    assert_eq!(g.models[0].early_stopping.map(|e| (e.patience, e.noise)), Some((EarlyStopping::DEFAULT_PATIENCE, EarlyStopping::DEFAULT_NOISE)));
    let g = p(&format!("{ARCH}[grid]\nearly_stopping = [true, false]\n")).unwrap();
    assert!(g.models[0].early_stopping.is_some() && g.models[1].early_stopping.is_none());
    let g = p(&format!("{ARCH}early_stopping = {{ noise = 0, drop = 2 }}\n")).unwrap();
    assert_eq!(g.models[0].early_stopping.map(|e| (e.patience, e.noise, e.drop)), Some((EarlyStopping::DEFAULT_PATIENCE, 0.0, 2.0)));
    let e = err("[settings]\nearly_stopping = { noise = -1 }\n");
    assert!(e.contains("early_stopping.noise -1 is out of range"), "{e}");
    let g = p(&format!("{ARCH}early_stopping = {{ patience = 2 }}\n")).unwrap();
    assert_eq!(
        g.models[0].early_stopping,
        Some(EarlyStopping { patience: 2, min_delta: 0.0, noise: EarlyStopping::DEFAULT_NOISE, drop: EarlyStopping::DEFAULT_DROP })
    );
    // As an axis, inside a table axis (an axis of tables must not be named after a setting).
    let g = p(&format!("{ARCH}[grid]\nstopping = [{{ early_stopping = {{ patience = 2 }} }}, {{ early_stopping = {{ patience = 4 }} }}]\n")).unwrap();
    assert_eq!(g.models[1].early_stopping.map(|e| e.patience), Some(4));

    let e = err("[settings]\nearly_stopping = { patience = 0 }\n");
    assert!(e.contains("key `settings.early_stopping`: 0 is out of range"), "{e}");
    let g = p(&format!("{ARCH}early_stopping = {{ min_delta = 0.1 }}\n")).unwrap();
    assert_eq!(g.models[0].early_stopping.map(|e| e.patience), Some(EarlyStopping::DEFAULT_PATIENCE), "patience has a default");
    let e = err("[settings]\nearly_stopping = { patience = 3, min_delta = -0.1 }\n");
    assert!(e.contains("min_delta -0.1 is out of range"), "{e}");
    let e = err("[settings]\nearly_stopping = { patience = 3, delta = 0.1 }\n");
    assert!(e.contains("unknown key `delta` in early_stopping; valid: patience, noise, drop, min_delta"), "{e}");
    let e = err("[settings]\nearly_stopping = 3\n");
    assert!(e.contains("expected true, false or a table, found integer 3"), "{e}");
}

#[test]
fn sweeps_frozen_before_the_new_settings_still_load() {
    use crate::spec::Precision;
    let g = p(ARCH).unwrap();
    let mut v = serde_json::to_value(&g.models[0]).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("precision");
    o.remove("early_stopping");
    let m: ModelSpec = serde_json::from_value(v).unwrap();
    assert_eq!(m.precision, Precision::Fp32);
    assert_eq!(m.early_stopping, None);
}

#[test]
fn output_asks_for_tensorboard() {
    assert!(!p(ARCH).unwrap().output.tensorboard);
    assert!(p(&format!("[output]\ntensorboard = true\n{ARCH}")).unwrap().output.tensorboard);
    let e = err("[output]\ntensorbord = true\n");
    assert!(e.contains(":2:1: unknown field `tensorbord`, expected `tensorboard`"), "{e}");
}

#[test]
fn a_grid_too_large_to_count_is_refused_not_overflowed() {
    // 12 axes of 50 values: 50^12 models, more than a usize holds.
    let values = (1..=50).map(|i| i.to_string()).collect::<Vec<_>>().join(", ");
    let mut text = String::from("[settings]\nwc1 = 5\nwc2 = 5\n[grid]\n");
    for k in ["ncv1", "ncv2", "nfc1", "batch_size", "seed", "iterations", "epochs", "snapshots", "threads", "learning_rate", "l1", "l2"] {
        text.push_str(&format!("{k} = [{values}]\n"));
    }
    assert_eq!(err(&text), "/tmp/g/test.toml: key `grid`: the grid expands to more than 1000000 models");
}

#[test]
fn halving_is_off_by_default_and_checked() {
    use crate::halving::settings::Halving;
    assert_eq!(p(ARCH).unwrap().halving, None);
    assert_eq!(p(&format!("[halving]\n{ARCH}")).unwrap().halving, Some(Halving::new(4, 3).unwrap()), "defaults eta 4, rungs 3");
    assert_eq!(p(&format!("[halving]\neta = 2\nrungs = 3\n{ARCH}")).unwrap().halving, Some(Halving::new(2, 3).unwrap()));
    let e = err("[halving]\neta = 1\n");
    assert!(e.contains(":2:7: key `halving.eta`: eta 1: give 2 or more"), "{e}");
    let e = err("[halving]\nrungs = 17\n");
    assert!(e.contains(":2:9: key `halving.rungs`: rungs 17: give 1 to 16"), "{e}");
    let e = err("[halving]\nrungs = -1\n");
    assert!(e.contains("key `halving.rungs`: -1 is out of range; valid: 1 to 16"), "{e}");
    let e = err("[halving]\nrung = 3\n");
    assert!(e.contains("unknown field `rung`, expected one of `eta`, `rungs`, `promote`, `noise`, `cap`, `axes`, `curve`, `forecast`"), "{e}");
    // The curve evidence (issue 32): off by default, a factor from 0 to 100, noise rule only.
    let h = p(&format!("[halving]\ncurve = 1\n{ARCH}")).unwrap().halving.unwrap();
    assert_eq!(h.promotion, Promotion::noise_default().with_curve(1.0).unwrap());
    let e = err("[halving]\ncurve = -2\n");
    assert!(e.contains(":2:9: key `halving.curve`: curve -2: give a number from 0 to 100"), "{e}");
    let e = err("[halving]\npromote = \"rank\"\ncurve = 1\n");
    assert!(e.contains(":3:9: key `halving.curve`: applies to promote = \"noise\" only"), "{e}");
    // The promotion rule: noise (the default) with its factors, or rank.
    use crate::halving::settings::Promotion;
    assert_eq!(p(&format!("[halving]\n{ARCH}")).unwrap().halving.map(|h| h.promotion), Some(Promotion::noise_default()));
    let h = p(&format!("[halving]\nnoise = 1.5\ncap = 3\naxes = 2\n{ARCH}")).unwrap().halving.unwrap();
    assert_eq!(h.promotion, Promotion::Noise { noise: 1.5, cap: 3.0, axes: 2.0, curve: 0.0, forecast: 0.25 });
    // The forecast allowance (issue 32): 0.25 by default, 0 to 4, noise rule only.
    let h = p(&format!("[halving]\nforecast = 0\n{ARCH}")).unwrap().halving.unwrap();
    assert_eq!(h.promotion, Promotion::noise_default().with_forecast(0.0).unwrap());
    let e = err("[halving]\nforecast = 5\n");
    assert!(e.contains(":2:12: key `halving.forecast`: forecast 5: give a number from 0 to 4"), "{e}");
    let e = err("[halving]\npromote = \"rank\"\nforecast = 0.5\n");
    assert!(e.contains(":3:12: key `halving.forecast`: applies to promote = \"noise\" only"), "{e}");
    assert_eq!(p(&format!("[halving]\npromote = \"rank\"\n{ARCH}")).unwrap().halving.map(|h| h.promotion), Some(Promotion::Rank));
    let e = err("[halving]\npromote = \"best\"\n");
    assert!(e.contains(":2:11: key `halving.promote`: \"best\" is not a promotion rule; valid: \"noise\""), "{e}");
    let e = err("[halving]\npromote = \"rank\"\nnoise = 2\n");
    assert!(e.contains(":3:9: key `halving.noise`: applies to promote = \"noise\" only"), "{e}");
    let e = err("[halving]\ncap = 0.5\n");
    assert!(e.contains(":2:7: key `halving.cap`: cap 0.5: give a number from 1 to 100"), "{e}");
    let e = err("[halving]\nnoise = \"lots\"\n");
    assert!(e.contains("key `halving.noise`: \"lots\" is not a number"), "{e}");
}

/// Issue 33: a table given as a value is said as the file's table, not as serde's struct.
#[test]
fn a_table_given_as_a_value_is_named_as_the_table() {
    for (text, key) in
        [("halving = 3\n", "halving"), ("halving = true\n", "halving"), ("data = \"d\"\n", "data"), ("slurm = 1\n", "slurm"), ("output = 2\n", "output")]
    {
        let e = err(&format!("{text}{ARCH}"));
        assert!(e.contains(":1:") && e.contains(&format!("key `{key}`: must be a table, not a value: write `[{key}]` on a line of its own")), "{text}: {e}");
        assert!(!e.contains("struct Raw"), "{e}");
    }
}

/// Issue 23: an integer beyond TOML's 64 bits names its key and the key's valid values, as a
/// value out of range of any other key does (not the TOML parser's "number too large to fit in
/// target type").
#[test]
fn integers_beyond_64_bits_name_the_key_and_the_valid_range() {
    let e = err(&format!("{ARCH}seed = 18446744073709551616\n"));
    assert_eq!(e, "/tmp/g/test.toml:7:8: key `settings.seed`: 18446744073709551616 is out of range; valid: random seed, an integer >= 0 (default 0); a grid's integers are 64-bit: at most 9223372036854775807");
    let e = err(&format!("{ARCH}seed = -18446744073709551616\n"));
    assert!(
        e.starts_with("/tmp/g/test.toml:7:8: key `settings.seed`: -18446744073709551616 is out of range; valid: random seed, an integer >= 0")
            && e.ends_with("at least -9223372036854775808"),
        "{e}"
    );
    // In an axis, in [slurm] and in [halving]: the key and what it takes.
    let e = err(&format!("{ARCH}[grid]\nbatch_size = [16, 99_999_999_999_999_999_999]\n"));
    assert!(
        e.starts_with("/tmp/g/test.toml:8:19: key `grid.batch_size`: 99_999_999_999_999_999_999 is out of range; valid: frames per training batch, at least 1"),
        "{e}"
    );
    let e = err(&format!("[slurm]\ntrainings_per_node = 99999999999999999999\n{ARCH}"));
    assert!(e.starts_with("/tmp/g/test.toml:2:22: key `slurm.trainings_per_node`: 99999999999999999999 is out of range; give an integer >= 1"), "{e}");
    let e = err(&format!("[halving]\neta = 99999999999999999999\n{ARCH}"));
    assert!(e.contains("key `halving.eta`: 99999999999999999999"), "{e}");
    // The largest 64-bit seed is a seed.
    assert_eq!(p(&format!("{ARCH}seed = 9223372036854775807\n")).unwrap().models[0].seed, 9223372036854775807);
    // A float setting and a key of an inline table in an axis (the position is the literal's).
    let e = err(&format!("{ARCH}learning_rate = 99999999999999999999\n"));
    assert!(
        e.starts_with("/tmp/g/test.toml:7:17: key `settings.learning_rate`: 99999999999999999999 is out of range; valid: Adam's learning rate, > 0"),
        "{e}"
    );
    let e = err("[grid]\narchitecture = [{wc1 = 3, ncv1 = 99999999999999999999}]\n");
    assert!(
        e.starts_with("/tmp/g/test.toml:2:34: key `grid.architecture.ncv1`: 99999999999999999999 is out of range; valid: number of conv1 filters, at least 1"),
        "{e}"
    );
    // Another error of the file checked after it: the overflow comes first.
    let e = err(&format!("{ARCH}seed = 18446744073709551616\nwc9 = 1\n"));
    assert!(e.starts_with("/tmp/g/test.toml:7:8: key `settings.seed`: 18446744073709551616 is out of range"), "{e}");
    // One checked before it ([slurm] is): still the key as written, and the 64-bit range.
    let e = err(&format!("[slurm]\ntrainings_per_node = 0\n{ARCH}seed = 18446744073709551616\n"));
    assert_eq!(e, "/tmp/g/test.toml:9:8: key `settings.seed`: 18446744073709551616 does not fit in 64 bits; a grid's integers are at most 9223372036854775807");
}
