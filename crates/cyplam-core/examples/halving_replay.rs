//! bench/halving's replayer: successive halving and early stopping replayed on recorded curve
//! sets (bench/halving/sets.txt) through the same functions the workers and `cyplam report
//! --what-if` call (`cyplam_core::halving` and `stopping`), judged against each set's full grid. Run through
//! `bench/halving/replay`; `--help` lists the options.
#![allow(clippy::unwrap_used)] // a bench tool: a bad input file ends it

use cyplam_core::halving::replay::{full, judge, replay_halving, Judgement};
use cyplam_core::halving::settings::{Halving, Promotion, DEFAULT_CURVE, DEFAULT_ETA, DEFAULT_FORECAST, DEFAULT_RUNGS};
use cyplam_core::metrics_csv::MetricsRow;
use cyplam_core::search::replay::{FullGrid, SampleSpec, Sampler, Tally, DEFAULT_DRAWS, MAX_DRAWS};
use cyplam_core::spec::EarlyStopping;
use cyplam_core::stopping::replay_early_stopping;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A `--sample tpe...`: the TPE's batch (`cyplam_core::search::tpe`) and the counts K.
struct TpeSpec {
    batch: usize,
    counts: Vec<u32>,
}

impl TpeSpec {
    /// The strategy's name in the tables.
    fn label(&self) -> String {
        format!("tpe B={}", self.batch)
    }
}

/// Diagnostics of issue 32 (--ranks) and a PROTOTYPE per-rung rule (--proto), measured here only.
#[path = "halving_replay/probe.rs"]
mod probe;

const HELP: &str = "halving_replay [--sets FILE] [--half tune|report|all] [--eta N] [--rungs N] [--promote noise|rank]
    [--noise X] [--cap X] [--axes X] [--curve X] [--forecast X] [--brackets B] [--patience N] [--es-curve X [--es-stale N]] [--es-sweep X [--es-min N]] [--es-noise X] [--es-drop X] [--min-delta X] [--search] [--markdown] [--ranks] [--proto RULES]
    [--sample random:8,16 [--sample sobol:8,16] [--sample tpe:8,16] [--sample tpe8:8,16] [--draws D]]
Replays halving and early stopping on every curve set of --sets (default bench/halving/sets.txt) and
prints, per set, the iterations spent against the full grid, the best model found against the full
grid's best, and early stopping's savings and worst top-10 loss. --search tries many settings on the
chosen half and prints one line per setting. --sample STRATEGY:K,K... replays a sampled search
([search] in a grid file) of K models instead, D seeded draws (default 1000) per set, strategy and K
(a K larger than a set's grid skips that set; the summary over the sets counts those with more than K models), alone and with the halving asked (--eta, --rungs, ...;
not --brackets): how often it found the full grid's best (within 0.005), its mean and worst loss,
and its iterations against the full grid's; per set, then over the sets. tpe:K,K... (batch 2) and
tpeB:K,K... (batch B, e.g. tpe8:16,32) replay a tree-structured Parzen estimator (constant liar)
proposing each round's batch of B models from the scores so far, after max(2, K/4) random ones
(cyplam_core::search::tpe, what `cyplam report --what-if --search tpe:K` replays; not yet a [search]
strategy), alone (no halving), beside random at the same K over the same draws. --ranks prints, per set at 1/16, 1/9, 1/4 and 1/3 of the run, the best rank of
the full grid's good models (within the tolerance of its best) by score, by forecast at 4x that point
and by the mean of the last 6 snapshots, and the gap to the ceil(n/4)-th score in jitters. --proto
'q,noise,cap,f;q,noise,cap,f' replays a PROTOTYPE rule per rung (the last given for later rungs; rung
ends from --eta and --rungs): keep ceil(q n) by score, ties within noise x jitter up to ceil(cap x
kept), then the best ceil(f x kept) others by forecast. Defaults: the grid file's defaults.";

/// Targets (issue 20): halving within 0.005 of the best; early stopping's top 10 within 0.01.
const HALVING_TOLERANCE: f64 = 0.005;
const TOP_TOLERANCE: f64 = 0.01;

struct Set {
    name: String,
    half: String,
    curves: Vec<Vec<MetricsRow>>,
    axes: Vec<Vec<usize>>,
    /// Each grid axis's length (for --sample).
    lens: Vec<usize>,
}

fn fail(msg: String) -> ! {
    eprintln!("halving_replay: {msg}");
    std::process::exit(2)
}

fn load_sets(path: &Path) -> Vec<Set> {
    let base = path.parent().unwrap_or(Path::new("."));
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| fail(format!("{}: {e}", path.display())));
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        let [name, half, grid, curves] = f[..] else { fail(format!("{}:{}: want 4 fields: name half grid curves", path.display(), n + 1)) };
        let (grid_path, curves_path) = (base.join(grid), base.join(curves));
        if !curves_path.exists() {
            eprintln!("halving_replay: {}: not recorded yet, skipped", curves_path.display());
            continue;
        }
        let gtext = std::fs::read_to_string(&grid_path).unwrap_or_else(|e| fail(format!("{}: {e}", grid_path.display())));
        let g = cyplam_core::grid::parse(&grid_path, &gtext).unwrap_or_else(|e| fail(e.to_string()));
        let index: BTreeMap<&str, usize> = g.models.iter().enumerate().map(|(i, m)| (m.name.as_str(), i)).collect();
        let mut curves_v: Vec<Vec<MetricsRow>> = vec![Vec::new(); g.models.len()];
        let ctext = std::fs::read_to_string(&curves_path).unwrap_or_else(|e| fail(format!("{}: {e}", curves_path.display())));
        for (ln, row) in ctext.lines().enumerate().skip(1) {
            let c: Vec<&str> = row.split(',').collect();
            let bad =
                || -> ! { fail(format!("{}:{}: want model,iteration,validation_loss,validation_accuracy20,elapsed_seconds", curves_path.display(), ln + 1)) };
            if c.len() != 5 {
                bad()
            }
            let Some(&m) = index.get(c[0]) else { fail(format!("{}:{}: {} is not a model of {}", curves_path.display(), ln + 1, c[0], grid_path.display())) };
            let num = |s: &str| s.parse::<f64>().unwrap_or_else(|_| bad());
            curves_v[m].push(MetricsRow {
                iteration: c[1].parse::<u64>().unwrap_or_else(|_| bad()),
                train_loss: 0.0,
                train_accuracy20: 0.0,
                validation_loss: num(c[2]),
                validation_accuracy20: num(c[3]),
                elapsed_seconds: num(c[4]),
            });
        }
        if g.search.is_some() {
            fail(format!("{}: a sampled grid ([search]); the sets are full grids", grid_path.display()));
        }
        let axes = (0..g.models.len()).map(|m| g.axis_values(m)).collect();
        let lens = g.axes.iter().map(|a| a.len).collect();
        out.push(Set { name: name.into(), half: half.into(), curves: curves_v, axes, lens });
    }
    out
}

#[derive(Clone, Copy)]
struct Policy {
    halving: Halving,
    es: EarlyStopping,
    /// A prototype of early stopping on curve evidence (issue 32 item 3), measured here before it
    /// goes into the product: `Some((curve, stale))`.
    es_curve: Option<(f64, usize)>,
    /// A prototype of early stopping against the sweep's cutoff (issue 32 item 3): `Some((curve, min))`.
    es_sweep: Option<(f64, usize)>,
    /// Hyperband-style brackets (1: plain halving).
    brackets: u32,
}

struct Row {
    h: Judgement,
    e: Judgement,
}

fn replay(set: &Set, p: &Policy) -> Row {
    let stops = if p.brackets > 1 { probe::replay_brackets(&p.halving, p.brackets, set) } else { replay_halving(&p.halving, &set.curves, &set.axes).stops };
    let e = match (p.es_curve, p.es_sweep) {
        (_, Some((curve, min))) => probe::replay_es_sweep(&p.es, curve, min, &set.curves),
        (Some((curve, stale)), None) => probe::replay_es_curve(&p.es, curve, stale, &set.curves),
        (None, None) => replay_early_stopping(&p.es, &set.curves),
    };
    let base = full(&set.curves);
    Row { h: judge(&base, &stops), e: judge(&base, &e) }
}

struct Summary {
    n: usize,
    h_ok: usize,
    h_mean: f64,
    h_max: f64,
    e_ok: usize,
    e_saved: f64,
}

fn summarize(rows: &[Row]) -> Summary {
    let n = rows.len().max(1) as f64;
    Summary {
        n: rows.len(),
        h_ok: rows.iter().filter(|r| r.h.loss <= HALVING_TOLERANCE).count(),
        h_mean: rows.iter().map(|r| r.h.iterations_fraction).sum::<f64>() / n,
        h_max: rows.iter().map(|r| r.h.iterations_fraction).fold(0.0, f64::max),
        e_ok: rows.iter().filter(|r| r.e.worst_top_loss <= TOP_TOLERANCE).count(),
        e_saved: rows.iter().map(|r| 1.0 - r.e.iterations_fraction).sum::<f64>() / n,
    }
}

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut get = |flag: &str| -> Option<String> {
        let i = args.iter().position(|a| a == flag)?;
        let v = args.get(i + 1).cloned().unwrap_or_else(|| fail(format!("{flag} needs a value")));
        args.drain(i..=i + 1);
        Some(v)
    };
    let num = |v: Option<String>, d: f64| v.map(|s| s.parse::<f64>().unwrap_or_else(|_| fail(format!("{s}: not a number")))).unwrap_or(d);
    let sets_path = PathBuf::from(get("--sets").unwrap_or_else(|| "bench/halving/sets.txt".into()));
    let half = get("--half").unwrap_or_else(|| "all".into());
    let eta = num(get("--eta"), DEFAULT_ETA as f64) as u32;
    let rungs = num(get("--rungs"), DEFAULT_RUNGS as f64) as u32;
    let promote = get("--promote").unwrap_or_else(|| "noise".into());
    let (dn, dc, da) = match Promotion::noise_default() {
        Promotion::Noise { noise, cap, axes, .. } => (noise, cap, axes),
        Promotion::Rank => (0.0, 1.0, 0.0),
    };
    let (noise, cap, axes) = (num(get("--noise"), dn), num(get("--cap"), dc), num(get("--axes"), da));
    let curve = num(get("--curve"), DEFAULT_CURVE);
    let forecast = num(get("--forecast"), DEFAULT_FORECAST);
    let brackets = num(get("--brackets"), 1.0) as u32;
    let get_es_curve = get("--es-curve").map(|c| (num(Some(c), 0.0), num(get("--es-stale"), 5.0) as usize));
    let es_sweep = get("--es-sweep").map(|c| (num(Some(c), 0.0), num(get("--es-min"), 8.0) as usize));
    let es = EarlyStopping {
        patience: num(get("--patience"), EarlyStopping::DEFAULT_PATIENCE as f64) as u32,
        noise: num(get("--es-noise"), EarlyStopping::DEFAULT_NOISE),
        min_delta: num(get("--min-delta"), 0.0),
        drop: num(get("--es-drop"), EarlyStopping::DEFAULT_DROP),
    };
    let mut samples: Vec<SampleSpec> = Vec::new();
    let mut tpes: Vec<TpeSpec> = Vec::new();
    while let Some(s) = get("--sample") {
        let spec: SampleSpec = s.parse().unwrap_or_else(|e: String| fail(format!("--sample {e}")));
        match spec.sampler {
            Sampler::Tpe { batch } => tpes.push(TpeSpec { batch: batch as usize, counts: spec.counts }),
            Sampler::Draw(_) => samples.push(spec),
        }
    }
    let draws = get("--draws")
        .map(|d| d.parse::<u32>().ok().filter(|d| (1..=MAX_DRAWS).contains(d)).unwrap_or_else(|| fail(format!("--draws {d}: give 1 to {MAX_DRAWS}"))))
        .unwrap_or(DEFAULT_DRAWS);
    let proto = get("--proto");
    let search = args.iter().any(|a| a == "--search");
    let markdown = args.iter().any(|a| a == "--markdown");
    let ranks = args.iter().any(|a| a == "--ranks");
    if args.iter().any(|a| a == "--help" || a == "-h") {
        println!("{HELP}");
        return;
    }
    if let Some(a) = args.iter().find(|a| !["--search", "--markdown", "--ranks"].contains(&a.as_str())) {
        fail(format!("unknown argument {a}; see --help"));
    }
    let promotion = match promote.as_str() {
        "rank" => Promotion::Rank,
        "noise" => {
            Promotion::noise(noise, cap, axes).and_then(|p| p.with_curve(curve)).and_then(|p| p.with_forecast(forecast)).unwrap_or_else(|e| fail(e.to_string()))
        }
        other => fail(format!("--promote {other}: noise or rank")),
    };
    let halving = Halving::with(eta, rungs, promotion).unwrap_or_else(|e| fail(e.to_string()));
    let sets: Vec<Set> = load_sets(&sets_path).into_iter().filter(|s| half == "all" || s.half == half).collect();
    if sets.is_empty() {
        fail(format!("no recorded set in {} for --half {half}", sets_path.display()));
    }
    if search {
        return run_search(&sets, es);
    }
    if ranks {
        return probe::run_ranks(&sets);
    }
    if let Some(spec) = proto {
        return probe::run_proto(&sets, &halving, &spec);
    }
    if !samples.is_empty() || !tpes.is_empty() {
        return run_sample(&sets, &samples, &tpes, draws, &halving, markdown);
    }
    let es_curve = get_es_curve;
    let p = Policy { halving, es, es_curve, es_sweep, brackets };
    println!(
        "halving: eta {eta}, {rungs} rungs, {}; early stopping: patience {}, noise x{}, drop x{}, min_delta {}",
        promotion.describe(),
        es.patience,
        es.noise,
        es.drop,
        es.min_delta
    );
    let sep = if markdown { " | " } else { "  " };
    let head = ["set", "half", "models", "halving iterations", "best found", "vs full best", "ok", "ES saved", "ES worst top-10 loss", "ok"];
    if markdown {
        println!("| {} |\n|{}", head.join(" | "), "---|".repeat(head.len()));
    } else {
        println!("{}", head.join(sep));
    }
    let mut by_half: BTreeMap<String, Vec<Row>> = BTreeMap::new();
    for s in &sets {
        let r = replay(s, &p);
        let cells = [
            s.name.clone(),
            s.half.clone(),
            s.curves.len().to_string(),
            format!("{:.3}", r.h.iterations_fraction),
            r.h.best_found.map(|m| format!("Model-{m:03}")).unwrap_or_default(),
            format!("-{:.4}", r.h.loss),
            if r.h.loss <= HALVING_TOLERANCE { "yes" } else { "NO" }.into(),
            format!("{:.3}", 1.0 - r.e.iterations_fraction),
            format!("{:.4}", r.e.worst_top_loss),
            if r.e.worst_top_loss <= TOP_TOLERANCE { "yes" } else { "NO" }.into(),
        ];
        if markdown {
            println!("| {} |", cells.join(" | "));
        } else {
            println!("{}", cells.join(sep));
        }
        by_half.entry(s.half.clone()).or_default().push(r);
    }
    let all: Vec<Row> = sets.iter().map(|s| replay(s, &p)).collect();
    for (h, rows) in by_half.iter().map(|(h, r)| (h.as_str(), r.as_slice())).chain([("all", all.as_slice())]) {
        let s = summarize(rows);
        println!(
            "{h}: halving found the best (within {HALVING_TOLERANCE}) on {} of {} sets, iterations {:.3} on average, {:.3} at most; early stopping: every top-10 model within {TOP_TOLERANCE} on {} of {}, {:.3} of the iterations saved on average",
            s.h_ok, s.n, s.h_mean, s.h_max, s.e_ok, s.n, s.e_saved
        );
    }
}

/// Many settings on the chosen sets: one line each, halving's then early stopping's.
fn run_search(sets: &[Set], es: EarlyStopping) {
    let mut promotions = vec![Promotion::Rank];
    for noise in [0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0] {
        for cap in [1.25, 1.5, 2.0] {
            for axes in [0.0, 1.0, 2.0] {
                for curve in [0.0, 0.5, 1.0, 2.0] {
                    for forecast in [0.0, 0.25, 0.5] {
                        promotions.push(Promotion::Noise { noise, cap, axes, curve, forecast });
                    }
                }
            }
        }
    }
    println!("eta rungs rule | found of n | mean iterations | max iterations");
    for (eta, rungs) in [(3, 4), (3, 3), (2, 4), (2, 5), (4, 3), (4, 4), (3, 5)] {
        for &pr in &promotions {
            let h = Halving { eta, rungs, promotion: pr };
            let rows: Vec<Row> = sets.iter().map(|s| replay(s, &Policy { halving: h, es, es_curve: None, es_sweep: None, brackets: 1 })).collect();
            let s = summarize(&rows);
            println!("{eta} {rungs} {} | {} of {} | {:.3} | {:.3}", pr.describe(), s.h_ok, s.n, s.h_mean, s.h_max);
        }
    }
    println!("patience es-noise es-drop | top-10 within {TOP_TOLERANCE} on | mean saved | min saved");
    for patience in [5, 8, 10, 12, 15, 20] {
        for noise in [0.0, 0.5, 1.0, 2.0] {
            for drop in [0.0, 1.0, 2.0, 3.0, 4.0] {
                let es = EarlyStopping { patience, noise, min_delta: 0.0, drop };
                let rows: Vec<Row> = sets
                    .iter()
                    .map(|s| {
                        replay(
                            s,
                            &Policy { halving: Halving { eta: 3, rungs: 4, promotion: Promotion::Rank }, es, es_curve: None, es_sweep: None, brackets: 1 },
                        )
                    })
                    .collect();
                let s = summarize(&rows);
                let min = rows.iter().map(|r| 1.0 - r.e.iterations_fraction).fold(1.0, f64::min);
                println!("{patience} {noise} {drop} | {} of {} | {:.3} | {min:.3}", s.e_ok, s.n, s.e_saved);
            }
        }
    }
}

/// --sample: each sampled search replayed on every set (`cyplam_core::search::replay`, what
/// `cyplam report --what-if --search` prints), one row per set, strategy, K and policy; then over
/// the sets that have more than K models (K = all of them is the full grid): the chance of finding the best over all their draws, the
/// mean loss, the worst loss, the mean iterations of the full grid.
fn run_sample(sets: &[Set], samples: &[SampleSpec], tpes: &[TpeSpec], draws: u32, halving: &Halving, markdown: bool) {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let policies = ["sample".to_string(), format!("sample + halving (eta {}, {} rungs, {})", halving.eta, halving.rungs, halving.promotion.describe())];
    println!("sampled search, {draws} draws (seeds 0 to {}) per set, strategy and K; found: the pick's full-length best within {HALVING_TOLERANCE} of the full grid's best", draws - 1);
    let print = |cells: &[String]| if markdown { println!("| {} |", cells.join(" | ")) } else { println!("{}", cells.join("  ")) };
    let head = |h: &[&str]| {
        if markdown {
            println!("\n| {} |\n|{}", h.join(" | "), "---|".repeat(h.len()));
        } else {
            println!("\n{}", h.join("  "));
        }
    };
    // (strategy, K, policy) -> every set's tally.
    let mut over: BTreeMap<(String, u32, usize), Vec<Tally>> = BTreeMap::new();
    // (TPE's label, K) -> every set's (TPE's tally, random's at the same K and draws).
    let mut versus: BTreeMap<(String, u32), Vec<(String, Tally, Tally)>> = BTreeMap::new();
    head(&["set", "models", "strategy", "K", "policy", "found the best", "mean loss", "worst loss", "iterations of full"]);
    for s in sets {
        let g = FullGrid::new(&s.curves, &s.axes, &s.lens).unwrap_or_else(|e| fail(format!("{}: {e}", s.name)));
        for spec in samples {
            for &k in &spec.counts {
                if k as usize > s.curves.len() {
                    continue;
                }
                let r = g
                    .replay(spec.sampler, k, draws, std::slice::from_ref(halving), HALVING_TOLERANCE, threads)
                    .unwrap_or_else(|e| fail(format!("{}: {e}", s.name)));
                for (i, t) in [r.alone].iter().chain(&r.halving).enumerate() {
                    print(&[
                        s.name.clone(),
                        s.curves.len().to_string(),
                        spec.sampler.name(),
                        k.to_string(),
                        policies[i].clone(),
                        format!("{:.1}%", 100.0 * t.chance()),
                        format!("{:.4}", t.mean_loss),
                        format!("{:.4}", t.worst_loss),
                        format!("{:.3}", t.mean_iterations_fraction),
                    ]);
                    if (k as usize) < s.curves.len() {
                        over.entry((spec.sampler.name(), k, i)).or_default().push(*t);
                    }
                }
            }
        }
        // The TPE, alone (no halving), judged as the replay above judges a draw.
        let score = |m: usize| g.model_best(m).unwrap_or(f64::NEG_INFINITY);
        for spec in tpes {
            for &k in &spec.counts {
                if k as usize > s.curves.len() {
                    continue;
                }
                let per_draw: Vec<(f64, f64)> = (0..draws as u64)
                    .map(|seed| {
                        let models =
                            cyplam_core::search::tpe::run(&s.lens, &score, k as usize, spec.batch, seed).unwrap_or_else(|e| fail(format!("{}: {e}", s.name)));
                        g.trained_in_full(&models)
                    })
                    .collect();
                let t = Tally::of(&per_draw, HALVING_TOLERANCE);
                // Random at the same K and seeds, through the product's replay; the prototype's
                // judging must give the same tally on the same models.
                let random = g
                    .replay(Sampler::Draw(cyplam_core::search::Strategy::Random), k, draws, &[], HALVING_TOLERANCE, threads)
                    .unwrap_or_else(|e| fail(format!("{}: {e}", s.name)))
                    .alone;
                let ours: Vec<(f64, f64)> = (0..draws as u64)
                    .map(|seed| {
                        g.trained_in_full(&cyplam_core::search::sample(cyplam_core::search::Strategy::Random, seed, &s.lens, k).expect("k within the grid"))
                    })
                    .collect();
                assert_eq!(Tally::of(&ours, HALVING_TOLERANCE), random, "{}: the prototype judges random draws as the replay does", s.name);
                print(&[
                    s.name.clone(),
                    s.curves.len().to_string(),
                    spec.label(),
                    k.to_string(),
                    policies[0].clone(),
                    format!("{:.1}%", 100.0 * t.chance()),
                    format!("{:.4}", t.mean_loss),
                    format!("{:.4}", t.worst_loss),
                    format!("{:.3}", t.mean_iterations_fraction),
                ]);
                if (k as usize) < s.curves.len() {
                    over.entry((spec.label(), k, 0)).or_default().push(t);
                    versus.entry((spec.label(), k)).or_default().push((s.name.clone(), t, random));
                }
            }
        }
    }
    head(&["strategy", "K", "policy", "sets", "found the best", "mean loss", "worst loss", "iterations of full"]);
    for ((strategy, k, i), ts) in &over {
        let n = ts.len() as f64;
        let (found, all) = ts.iter().fold((0u64, 0u64), |(f, d), t| (f + t.found as u64, d + t.draws as u64));
        print(&[
            strategy.to_string(),
            k.to_string(),
            policies[*i].clone(),
            ts.len().to_string(),
            format!("{:.1}%", 100.0 * found as f64 / all.max(1) as f64),
            format!("{:.4}", ts.iter().map(|t| t.mean_loss).sum::<f64>() / n),
            format!("{:.4}", ts.iter().map(|t| t.worst_loss).fold(0.0, f64::max)),
            format!("{:.3}", ts.iter().map(|t| t.mean_iterations_fraction).sum::<f64>() / n),
        ]);
    }
    if versus.is_empty() {
        return;
    }
    // TPE against random at the same K over the same sets and seeds: the difference in found (all
    // found draws over all draws, the sets weighing alike), its standard error from the draws alone
    // (binomial per set, TPE and random taken as independent, which overstates it a little: they
    // share the first max(2, K/4) models), and from the spread of the per-set differences (the
    // sets as a sample of problems); the sets where each is ahead.
    println!("\nTPE against random at the same K (same sets, seeds 0 to {}): found difference in points, its standard error from the draws and from the sets' spread, sets ahead / behind / equal", draws - 1);
    head(&[
        "strategy",
        "K",
        "sets",
        "TPE found",
        "random found",
        "difference",
        "s.e. (draws)",
        "s.e. (sets)",
        "TPE ahead",
        "behind",
        "equal",
        "TPE mean loss",
        "random mean loss",
    ]);
    for ((label, k), rows) in &versus {
        let n = rows.len() as f64;
        let d: Vec<f64> = rows.iter().map(|(_, t, r)| t.chance() - r.chance()).collect();
        let mean = d.iter().sum::<f64>() / n;
        let var_draws: f64 =
            rows.iter().map(|(_, t, r)| (t.chance() * (1.0 - t.chance()) + r.chance() * (1.0 - r.chance())) / draws as f64).sum::<f64>() / (n * n);
        let se_sets = if rows.len() > 1 { (d.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0) / n).sqrt() } else { f64::NAN };
        let pct = |x: f64| format!("{:.1}", 100.0 * x);
        print(&[
            label.clone(),
            k.to_string(),
            rows.len().to_string(),
            format!("{}%", pct(rows.iter().map(|(_, t, _)| t.chance()).sum::<f64>() / n)),
            format!("{}%", pct(rows.iter().map(|(_, _, r)| r.chance()).sum::<f64>() / n)),
            format!("{:+.1}", 100.0 * mean),
            pct(var_draws.sqrt()),
            pct(se_sets),
            d.iter().filter(|&&x| x > 0.0).count().to_string(),
            d.iter().filter(|&&x| x < 0.0).count().to_string(),
            d.iter().filter(|&&x| x == 0.0).count().to_string(),
            format!("{:.4}", rows.iter().map(|(_, t, _)| t.mean_loss).sum::<f64>() / n),
            format!("{:.4}", rows.iter().map(|(_, _, r)| r.mean_loss).sum::<f64>() / n),
        ]);
    }
}
