//! Sampled grids (`[search]`) as users write them: the models drawn, growing them, and the
//! messages of what is not valid.

use super::tests::{err, p};
use super::*;
use crate::search::Strategy;

const ARCH: &str = "[settings]\nwc1 = 5\nncv1 = 8\nwc2 = 5\nncv2 = 32\niterations = 100\nsnapshots = 10\n";

fn sampled(models: u32, strategy: &str) -> String {
    format!(
        "{ARCH}[search]\nstrategy = \"{strategy}\"\nmodels = {models}\nseed = 3\n[grid]\n\
         learning_rate = {{ log_uniform = [1e-5, 1e-2] }}\n\
         dropout_keep = {{ uniform = [0.5, 1.0] }}\n\
         nfc1 = {{ int = [128, 1024], step = 128 }}\n\
         activation = {{ choice = [\"relu\", \"elu\"], weights = [3, 1] }}\n\
         batch_size = [64, 128]\n"
    )
}

#[test]
fn a_sampled_grid_draws_its_models_in_range_and_distinct() {
    for strategy in ["random", "sobol"] {
        let g = p(&sampled(40, strategy)).unwrap();
        assert_eq!(g.models.len(), 40);
        assert_eq!(g.search.map(|s| (s.strategy.as_str(), s.models, s.seed)), Some((strategy, 40, 3)));
        assert_eq!(g.models[0].name, "Model-000");
        assert_eq!(g.models[39].name, "Model-039");
        for m in &g.models {
            assert!(m.learning_rate >= 1e-5 && m.learning_rate <= 1e-2, "{}", m.learning_rate);
            assert!(m.dropout_keep >= 0.5 && m.dropout_keep <= 1.0);
            assert!(m.nfc1 >= 128 && m.nfc1 <= 1024 && m.nfc1 % 128 == 0, "{}", m.nfc1);
            assert!([64, 128].contains(&m.batch_size));
            assert_eq!((m.wc1, m.ncv1), (5, 8), "fixed settings stay");
        }
        let mut seen: Vec<(u64, u64, u32, u32)> =
            g.models.iter().map(|m| (m.learning_rate.to_bits(), m.dropout_keep.to_bits(), m.nfc1, m.batch_size)).collect();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen.len(), 40, "{strategy}: no two models alike");
        // Positions for the halving rule's axis hedge: a quarter of a range, a value's index.
        assert_eq!(g.axis_values(5).len(), 5);
        assert!(g.axis_values(5)[..3].iter().all(|&q| q < 4));
        let want = [64, 128].iter().position(|&b| b == g.models[5].batch_size).unwrap();
        assert_eq!(g.axis_values(5)[4], want);
        // What the axes say of themselves (the dry run, `cyplam grid`, the report).
        let labels: Vec<String> = g.axes.iter().map(AxisInfo::label).collect();
        assert_eq!(
            labels,
            [
                "learning_rate ~ log_uniform [0.00001, 0.01]",
                "dropout_keep ~ uniform [0.5, 1]",
                "nfc1 ~ int [128, 1024] step 128",
                "activation ~ choice of 2, weights 3, 1",
                "batch_size x2",
            ]
        );
        assert_eq!(g.varying_settings(), ["nfc1", "activation", "dropout_keep", "learning_rate", "batch_size"]);
    }
}

#[test]
fn growing_models_keeps_the_first_ones_and_the_seed_changes_them() {
    for strategy in ["random", "sobol"] {
        let small = p(&sampled(16, strategy)).unwrap();
        let big = p(&sampled(64, strategy)).unwrap();
        assert_eq!(&big.models[..16], &small.models[..]);
        assert_eq!(&big.positions[..16], &small.positions[..]);
        let other = p(&sampled(16, strategy).replace("seed = 3", "seed = 4")).unwrap();
        assert_ne!(other.models, small.models);
    }
}

/// SEML #80: random samples of a grid. A grid of lists under [search] draws some of its
/// combinations, each at most once; all of them when asked for as many as there are.
#[test]
fn a_grid_of_lists_is_sampled_without_replacement() {
    let text = format!("{ARCH}[search]\nmodels = 12\n[grid]\nnfc1 = [100, 200, 300]\nseed = [0, 1, 2, 3]\n");
    let g = p(&text).unwrap();
    assert_eq!(g.search.unwrap().strategy, Strategy::Random);
    let mut pairs: Vec<(u32, u64)> = g.models.iter().map(|m| (m.nfc1, m.seed)).collect();
    pairs.sort_unstable();
    let all: Vec<(u32, u64)> = [100, 200, 300].iter().flat_map(|&n| (0..4).map(move |s| (n, s))).collect();
    assert_eq!(pairs, all);
    let e = err(&text.replace("models = 12", "models = 13"));
    assert!(e.contains("key `search.models`: models = 13, but the space holds only 12 different models"), "{e}");
}

#[test]
fn sampled_axes_need_search_and_search_needs_models() {
    let e = err(&format!("{ARCH}[grid]\nnfc1 = {{ int = [100, 200] }}\n"));
    assert!(e.contains(":9:8: key `grid.nfc1`: a distribution is drawn from by a sampled search: add a [search] table"), "{e}");
    let e = err(&format!("{ARCH}[search]\nstrategy = \"random\"\n[grid]\nnfc1 = [100, 200]\n"));
    assert!(e.contains("key `search.models`: how many models to draw is not set; give models = N, 1 to 100000"), "{e}");
}

#[test]
fn bad_search_tables_and_distributions_are_named() {
    let g = |search: &str, axis: &str| err(&format!("{ARCH}nfc1 = 100\n[search]\n{search}\n[grid]\n{axis}\n"));
    let lr = "learning_rate = { log_uniform = [1e-5, 1e-2] }";
    let cases: Vec<(String, &str)> = vec![
        (g("models = 0", lr), ":10:10: key `search.models`: 0 is not a valid count; valid: an integer from 1 to 100000"),
        (g("models = 100001", lr), "key `search.models`: 100001 is not a valid count"),
        (g("models = \"ten\"", lr), "key `search.models`: \"ten\" is not a valid count"),
        (g("models = 4\nseed = -1", lr), "key `search.seed`: -1 is not a valid seed; valid: an integer >= 0"),
        (g("models = 4\nstrategy = \"bohb\"", lr), "key `search.strategy`: unknown strategy \"bohb\"; valid: \"random\", \"sobol\" or \"tpe\""),
        (g("models = 4\nbudget = 3", lr), "unknown field `budget`, expected one of `strategy`, `models`, `seed`, `batch`"),
        (g("models = 4", "learning_rate = { log_uniform = [1e-2, 1e-5] }"), "key `grid.learning_rate.log_uniform`: low 0.01 must be below high 0.00001"),
        (g("models = 4", "learning_rate = { log_uniform = [0, 1e-2] }"), "key `grid.learning_rate.log_uniform`: a log range must lie above 0; low is 0"),
        (g("models = 4", "l2 = { log_uniform = [-1, 1] }"), "a log range must lie above 0; low is -1"),
        (g("models = 4", "learning_rate = { uniform = [1e-5] }"), "key `grid.learning_rate.uniform`: expected [low, high], two numbers; found [0.00001]"),
        (g("models = 4", "dropout_keep = { uniform = [0.0, 1.0] }"), "key `grid.dropout_keep.uniform`: 0 is out of range; valid: fraction of fc1 kept by dropout, in (0, 1] (default 0.75) (a value of the range)"),
        (g("models = 4", "batch_size = { int = [32, 128], step = 0 }"), "key `grid.batch_size.step`: 0 is not a valid step; valid: an integer of at least 1 that divides high - low (96)"),
        (g("models = 4", "batch_size = { int = [32, 128], step = 40 }"), "key `grid.batch_size.step`: step 40 does not divide high - low (96)"),
        (g("models = 4", "batch_size = { int = [128, 128] }"), "low 128 must be below high 128"),
        (g("models = 4", "batch_size = { int = [0, 128] }"), "key `grid.batch_size.int`: 0 is out of range; valid: frames per training batch, at least 1"),
        (g("models = 4", "wc2 = { int = [1, 9] }"), "key `grid.wc2.int`: kernel size 2 is even"),
        (g("models = 4", "batch_size = { log_int = [0, 128] }"), "a log range must lie above 0; low is 0"),
        (g("models = 4", "batch_size = { int = [32, 128], weights = [1] }"), "key `grid.batch_size.weights`: `weights` goes with `choice` only"),
        (g("models = 4", "learning_rate = { uniform = [1e-5, 1e-2], step = 1 }"), "key `grid.learning_rate.step`: `step` goes with `int` only"),
        (g("models = 4", "learning_rate = { normal = [0, 1] }"), "key `grid.learning_rate`: unknown distribution `normal`; valid: { uniform = [lo, hi] }"),
        (g("models = 4", "learning_rate = { uniform = [1e-5, 1e-2], log_uniform = [1e-5, 1e-2] }"), "key `grid.learning_rate`: 2 distributions given (uniform, log_uniform)"),
        (g("models = 4", "learning_rate = { }"), "key `grid.learning_rate`: no distribution given"),
        (g("models = 4", "learning_rate = { int = [1, 3] }"), "key `grid.learning_rate.int`: `learning_rate` cannot take `int`: a float setting takes { uniform = [lo, hi] }, { log_uniform = [lo, hi] } or { choice = [...] }"),
        (g("models = 4", "batch_size = { uniform = [1, 3] }"), "`batch_size` cannot take `uniform`: an integer setting takes { int = [lo, hi], step = s }, { log_int = [lo, hi] } or { choice = [...] }"),
        (g("models = 4", "activation = { uniform = [0, 1] }"), "`activation` cannot take `uniform`: `activation` is not a number; list the values to draw from: activation = { choice = [...] }"),
        (g("models = 4", "activation = { choice = [\"relu\", \"tanh\"] }"), "key `grid.activation.choice`: value 2 (\"tanh\"): unknown activation"),
        (g("models = 4", "activation = { choice = [\"relu\", \"relu\"] }"), "value \"relu\" is listed twice (entries 1 and 2)"),
        (g("models = 4", "activation = { choice = [] }"), "key `grid.activation.choice`: the list is empty"),
        (g("models = 4", "activation = { choice = [\"relu\", \"elu\"], weights = [1] }"), "key `grid.activation.weights`: 1 weights for 2 values; give one weight per value"),
        (g("models = 4", "activation = { choice = [\"relu\", \"elu\"], weights = [1, 0] }"), "key `grid.activation.weights`: weight 0 is not valid; valid: a finite number above 0"),
        (g("models = 4", "width = { int = [1, 3] }"), "key `grid.width`: unknown setting; a distribution is named after the setting it varies (wc1, ncv1"),
        (g("models = 8", "activation = { choice = [\"relu\", \"elu\"] }"), "key `search.models`: models = 8, but the space holds only 2 different models"),
        // Ends and steps near the 64-bit limits: checked, never wrapped.
        (g("models = 2", "seed = { int = [-9000000000000000000, 9000000000000000000], step = 9000000000000000000 }"), "key `grid.seed.int`: -9000000000000000000 is out of range"),
        (g("models = 2", "nfc1 = { int = [-9223372036854775808, 9223372036854775807] }"), "key `grid.nfc1.int`: -9223372036854775808 is out of range"),
    ];
    for (got, want) in cases {
        assert!(got.contains(want), "\n got: {got}\nwant: {want}");
    }
}

#[test]
fn a_tpe_grid_knows_its_random_start_and_refuses_what_it_cannot_count() {
    let tpe = |search: &str, axes: &str| format!("{ARCH}[search]\nstrategy = \"tpe\"\n{search}\n[grid]\n{axes}\n");
    let lists = "nfc1 = { int = [128, 1024], step = 128 }\nactivation = [\"relu\", \"elu\"]\nlearning_rate = { choice = [0.001, 0.01] }";
    let g = p(&tpe("models = 16\nseed = 3", lists)).unwrap();
    // The start, max(2, 16/4) = 4 models, is what a random search with that seed draws first;
    // they are named for the 16 to come; the batch defaults to 2.
    assert_eq!(g.models.len(), 4);
    assert_eq!(g.search.map(|s| (s.models, s.batch)), Some((16, Some(2))));
    let random = p(&tpe("models = 4\nseed = 3", lists).replace("\"tpe\"", "\"random\"")).unwrap();
    assert_eq!(g.models.iter().map(model_settings).collect::<Vec<_>>(), random.models.iter().map(model_settings).collect::<Vec<_>>());
    // Its positions are value indices: nfc1 = 128 + 128 x position.
    for (m, pos) in g.models.iter().zip(&g.positions) {
        assert_eq!(m.nfc1, 128 + 128 * pos[0] as u32);
    }
    let cases: Vec<(String, &str)> = vec![
        (err(&tpe("models = 4", "learning_rate = { log_uniform = [1e-5, 1e-2] }")), ":12:17: key `grid.learning_rate`: strategy \"tpe\" treats each axis as a list of equally likely values, and a float range has no list of values to count; give a list, { choice = [...] } without weights, or { int = [lo, hi], step = s }"),
        (err(&tpe("models = 4", "batch_size = { log_int = [16, 256] }")), "key `grid.batch_size`: strategy \"tpe\" treats each axis as a list of equally likely values, and log_int shapes a random draw"),
        (err(&tpe("models = 2", "activation = { choice = [\"relu\", \"elu\"], weights = [3, 1] }")), "key `grid.activation`: strategy \"tpe\" treats each axis as a list of equally likely values, and weights shape a random draw"),
        (err(&tpe("models = 40", lists)), "key `search.models`: models = 40, but the space holds only 32 different models"),
        (err(&tpe("models = 4\nbatch = 0", lists)), "key `search.batch`: 0 is not a valid batch; valid: an integer from 1 to models (4)"),
        (err(&tpe("models = 4\nbatch = 5", lists)), "key `search.batch`: 5 is not a valid batch"),
        (err(&tpe("models = 4", "nfc1 = { int = [1, 2000] }\nbatch_size = { int = [1, 1000] }")), "key `search.strategy`: the axes hold 2000000 models; strategy \"tpe\" takes spaces of at most 1000000"),
        (err(&format!("{}\n[halving]\neta = 2\nrungs = 2\n", tpe("models = 4", lists))), "key `search.strategy`: strategy \"tpe\" trains each round's models in full and proposes the next round from their scores; it does not combine with [halving]"),
        (err(&format!("{ARCH}[search]\nmodels = 4\nbatch = 2\n[grid]\n{lists}\n")), "key `search.batch`: `batch` goes with strategy = \"tpe\" only"),
    ];
    for (got, want) in cases {
        assert!(got.contains(want), "\n got: {got}\nwant: {want}");
    }
}

#[test]
fn a_grid_without_search_is_crossed_as_before() {
    let g = p(&format!("{ARCH}[grid]\nnfc1 = [100, 200]\nseed = [0, 1]\n")).unwrap();
    assert!(g.search.is_none() && g.positions.is_empty());
    assert_eq!(g.models.len(), 4);
    assert_eq!(g.axis_values(3), vec![1, 1]);
    assert_eq!(g.axes[0].label(), "nfc1 x2");
}
