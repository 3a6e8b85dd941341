//! `cyplam report --html/--figures` on a sweep written by hand through the real library (no
//! training, no libtorch: plausible learning curves in the workers' file formats), the page then
//! laid out by headless Chromium, which measures every figure.

// A test stops at the first thing that is not as expected.
#![allow(clippy::unwrap_used)]

use super::*;
use cyplam_core::files::{write_json_atomic, ModelResult, ResultStatus, FORMAT_VERSION};
use cyplam_core::metrics_csv::{MetricsRow, METRICS_HEADER};
use std::time::Instant;

/// Three architectures x two activations x two regularizations: 12 models, so that every figure
/// kind (activation and regularization included) is drawn.
const GRID: &str = r#"
[slurm]
trainings_per_node = 2
cpus_per_training = 1

[settings]
wc1 = 3
wc2 = 3
iterations = 200
snapshots = 10

[grid]
architecture = [{ncv1 = 4, ncv2 = 8, nfc1 = 16}, {ncv1 = 8, ncv2 = 8, nfc1 = 64}, {ncv1 = 8, ncv2 = 16, nfc1 = 128}]
activation = ["relu", "elu"]
regularization = [{l2 = 0.0}, {l2 = 0.01, reg_layers = ["fc1"]}]
"#;

/// The figures a sweep with an activation and a regularization axis has.
const FIGURES: [&str; 7] = ["loss", "accuracy", "accuracy_vs_params", "train_time_hist", "by_activation", "by_regularization", "accuracy_by_setting"];

/// The settings GRID varies, each with a scatter in `accuracy_by_setting` (reg_layers is fc1 in
/// both regularizations: the default).
const VARYING: [&str; 5] = ["ncv1", "ncv2", "nfc1", "activation", "l2"];

/// The texts of an SVG, trimmed (plotters writes each on a line of its own).
fn svg_texts(svg: &str) -> Vec<&str> {
    svg.split("<text").skip(1).filter_map(|t| t.split_once('>').and_then(|(_, rest)| rest.split_once("</text>")).map(|(inner, _)| inner.trim())).collect()
}

/// A plausible learning curve: model `k` learns at its own pace up to its own ceiling.
fn curve(k: usize, snapshots: usize) -> Vec<MetricsRow> {
    let ceiling = 0.45 + 0.04 * k as f64;
    let pace = 30.0 + 7.0 * (k % 5) as f64;
    (1..=snapshots)
        .map(|s| {
            let it = 20 * s as u64;
            let t = 1.0 - (-(it as f64) / pace).exp();
            let wobble = 0.02 * ((k * 7 + s * 3) % 5) as f64;
            MetricsRow {
                iteration: it,
                train_loss: 0.08 * (1.0 - 0.9 * t) + 0.001 * k as f64,
                train_accuracy20: (ceiling + 0.1) * t,
                validation_loss: 0.1 * (1.0 - 0.7 * t) + wobble * 0.1,
                validation_accuracy20: (ceiling * t - wobble).max(0.0),
                elapsed_seconds: 0.5 * s as f64 * (1.0 + k as f64 / 4.0),
            }
        })
        .collect()
}

fn write_model(f: &cyplam::sweep::Frozen, index: usize, rows: &[MetricsRow], status: Option<ResultStatus>) {
    let m = f.sweep.model(index).unwrap();
    let md = f.model_dir(&m.name);
    std::fs::create_dir_all(&md.root).unwrap();
    let mut text = format!("{METRICS_HEADER}\n");
    for r in rows {
        text.push_str(&r.to_csv_line());
    }
    std::fs::write(md.metrics(), text).unwrap();
    if let Some(status) = status {
        let best = cyplam_core::metrics_csv::best_row(rows);
        let last = rows.last().unwrap();
        let result = ModelResult {
            format: FORMAT_VERSION,
            sweep: f.sweep.name.clone(),
            model: m.name.clone(),
            index,
            status,
            reason: (status == ResultStatus::Failed).then(|| "loss is NaN".to_string()),
            best_accuracy20: best.map(|b| b.validation_accuracy20),
            best_iteration: best.map(|b| b.iteration),
            iterations_done: last.iteration,
            iterations_total: 200,
            snapshots_done: rows.len() as u32,
            train_seconds: last.elapsed_seconds,
            free_params: m.free_params,
            host: "test".into(),
            threads: 1,
            device: "cpu".into(),
            libtorch: "none".into(),
            started_unix: 1_700_000_000,
            finished_unix: 1_700_000_000 + last.elapsed_seconds as u64,
            resumes: 0,
            rung: None,
        };
        write_json_atomic(&md.result(), &result).unwrap();
    }
}

/// Debian's Chromium, or CYPLAM_CHROMIUM.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CYPLAM_CHROMIUM") {
        return PathBuf::from(p);
    }
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .or_else(|| std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join("chromium")).find(|p| p.exists()));
    found.unwrap_or_else(|| {
        panic!("this test renders the HTML report in headless Chromium, which is not installed: install it with `apt-get install chromium` (or set CYPLAM_CHROMIUM to its path)")
    })
}

/// A path as a file:// URL (the test's temporary directory has a space and a quote in its name).
fn file_url(p: &Path) -> String {
    let mut s = String::from("file://");
    for b in p.to_str().unwrap().bytes() {
        if b.is_ascii_alphanumeric() || b"/-_.~".contains(&b) {
            s.push(b as char);
        } else {
            s.push_str(&format!("%{b:02X}"));
        }
    }
    s
}

/// Measures, in the laid-out page, each figure's size and how many of its lines, marks and texts
/// have a real extent; writes the result into the page as JSON for --dump-dom.
const MEASURE: &str = r#"<script>
(() => {
  const figures = [...document.querySelectorAll('svg[data-figure]')].map(s => {
    const r = s.getBoundingClientRect();
    const seen = e => { const b = e.getBBox(); return b.width > 0 && b.height > 0; };
    // Axes, grid and legend lines have two points; data curves more.
    const curves = [...s.querySelectorAll('polyline')].filter(p => p.points.numberOfItems >= 3 && p.getTotalLength() > 0).length;
    const marks = [...s.querySelectorAll('circle, polygon')].filter(seen).length;
    const barRects = [...s.querySelectorAll('rect')].filter(e => !['#FFFFFF', 'none'].includes(e.getAttribute('fill')) && seen(e));
    const bars = barRects.length;
    const fills = barRects.map(e => e.getAttribute('fill'));
    const texts = [...s.querySelectorAll('text')].filter(t => t.getComputedTextLength() > 0).length;
    return { name: s.dataset.figure, width: r.width, height: r.height, curves, marks, bars, fills, texts };
  });
  const rows = [...document.querySelectorAll('#ranking-table tbody tr')].map(tr => tr.cells[1].textContent);
  const packings = [...document.querySelectorAll('#packings-table tbody tr')].map(tr => ({ packing: tr.cells[0].textContent, best: tr.classList.contains('best') }));
  const front = [...document.querySelectorAll('#pareto-table tbody tr')].map(tr => [...tr.cells].map(c => c.textContent));
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify({ title: document.title, rows, packings, front, figures });
  document.body.appendChild(pre);
})();
</script>
"#;

/// The page laid out by headless Chromium, with a measuring script added to a copy of it: the
/// ranking rows, the packings rows and, for each figure, its size and what it draws.
fn measure_in_chromium(env: &Env, html_dir: &Path, page: &str) -> Value {
    let probe = html_dir.join("probe.html");
    std::fs::write(&probe, page.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
    let profile = env.dir.path().join("chromium-profile");
    let browser = chromium();
    let o = Command::new(&browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--window-size=1400,3000",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg("--dump-dom")
        .arg(file_url(&probe))
        .output()
        .unwrap_or_else(|e| panic!("starting {}: {e}", browser.display()));
    let dom = String::from_utf8_lossy(&o.stdout);
    let json = dom
        .split_once("<pre id=\"measured\">")
        .and_then(|(_, rest)| rest.split_once("</pre>"))
        .map(|(j, _)| j.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))
        .unwrap_or_else(|| panic!("Chromium did not run the page (status {}):\n{}\n{}", o.status, &dom[..dom.len().min(2000)], stderr(&o)));
    serde_json::from_str(&json).unwrap()
}

#[test]
fn html_report_shows_every_figure_in_a_browser() {
    let started = Instant::now();
    let env = Env::new();
    let grid = env.grid("html-report", GRID);
    let f = cyplam::sweep::freeze(&env.runs(), &grid).unwrap();
    assert_eq!(f.sweep.grid.models.len(), 12);
    // Ten models finished, one failed half way, one still training, one never started: the report
    // must draw what there is.
    for k in 0..9 {
        write_model(&f, k, &curve(k, 10), Some(ResultStatus::Completed));
    }
    write_model(&f, 9, &curve(9, 4), Some(ResultStatus::Failed));
    write_model(&f, 10, &curve(10, 6), None);

    let html_dir = env.dir.path().join("report");
    let fig_dir = env.dir.path().join("figures");
    let o = Command::new(CYPLAM)
        .env("CYPLAM_RUNS", env.runs())
        .env("CYPLAM_DB", env.db())
        .args(["report", "html-report", "--top", "5", "--html"])
        .arg(&html_dir)
        .arg("--figures")
        .arg(&fig_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "cyplam report failed:\n{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));
    // Model 10 has the highest ceiling of the finished or running ones.
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert!(stdout.lines().nth(3).is_some_and(|l| l.contains("Model-010")), "{stdout}");

    // One self-contained page: nothing fetched, nothing run.
    let page = std::fs::read_to_string(html_dir.join("index.html")).unwrap();
    for bad in ["<script", "<link", "<img", "<iframe", " src=", "url(", "@import"] {
        assert!(!page.contains(bad), "the page has {bad:?}");
    }
    let outside: Vec<&str> =
        page.match_indices("http").map(|(i, _)| &page[i..(i + 40).min(page.len())]).filter(|s| !s.starts_with("http://www.w3.org/2000/svg")).collect();
    assert!(outside.is_empty(), "the page links outside: {outside:?}");

    // The same figures as files, each a standalone SVG.
    let mut files: Vec<String> = std::fs::read_dir(&fig_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut want: Vec<String> = FIGURES.iter().map(|n| format!("{n}.svg")).collect();
    want.sort();
    assert_eq!(files, want);
    for n in FIGURES {
        let svg = std::fs::read_to_string(fig_dir.join(format!("{n}.svg"))).unwrap();
        assert!(
            svg.starts_with("<?xml") && svg.contains(&format!("<svg id=\"fig-{n}\" data-figure=\"{n}\"")) && svg.trim_end().ends_with("</svg>"),
            "{n}.svg:\n{}",
            &svg[..svg.len().min(400)]
        );
    }

    // The Pareto front of accuracy against free parameters, by its definition from the curves
    // written (the failed model 9 and the running model 10 with their best so far): the best of
    // each architecture, as each is bigger and better than the one before.
    let best = |k: usize| {
        let n = [10, 10, 10, 10, 10, 10, 10, 10, 10, 4, 6][k];
        cyplam_core::metrics_csv::best_row(&curve(k, n)).unwrap().validation_accuracy20
    };
    let params = |k: usize| f.sweep.model(k).unwrap().free_params as i64;
    let beaten = |i: usize| (0..11).any(|j| params(j) <= params(i) && best(j) >= best(i) && (params(j) < params(i) || best(j) > best(i)));
    let mut front: Vec<usize> = (0..11).filter(|&i| !beaten(i)).collect();
    front.sort_by_key(|&i| params(i));
    assert_eq!(front, [3, 7, 10], "the test's own front");
    // The figure: a ring per model on the front and the legend's entry.
    let avp = std::fs::read_to_string(fig_dir.join("accuracy_vs_params.svg")).unwrap();
    assert_eq!(
        avp.lines().filter(|l| l.starts_with("<circle") && l.contains("fill=\"none\" stroke=\"#2E8B3E\"")).count(),
        3,
        "one ring per model on the front:\n{avp}"
    );
    assert!(svg_texts(&avp).contains(&"Pareto front (3 models)"), "{:?}", svg_texts(&avp));

    // Accuracy against each varied setting: a panel per setting, named on its x axis; the failed
    // model and the one never started are left out, and the caption says so.
    assert_eq!(f.sweep.grid.varying_settings(), VARYING);
    let abs = std::fs::read_to_string(fig_dir.join("accuracy_by_setting.svg")).unwrap();
    let texts = svg_texts(&abs);
    for s in VARYING {
        assert_eq!(texts.iter().filter(|t| **t == s).count(), 1, "the {s} panel's axis label in {texts:?}");
    }
    for category in ["relu", "elu"] {
        assert!(texts.contains(&category), "no category {category} in {texts:?}");
    }
    assert!(page.contains("10 models; 2 models left out (1 failed, 1 without a validation snapshot)"), "the settings figure's caption");

    let measured = measure_in_chromium(&env, &html_dir, &page);

    assert_eq!(measured["title"], "cyplam report: html-report");
    let rows: Vec<&str> = measured["rows"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(rows.len(), 5, "the top-5 table: {rows:?}");
    assert_eq!(rows[0], "Model-010");

    // The front's table: rank, model, free parameters, best accuracy, fewest parameters first.
    let table: Vec<Vec<&str>> =
        measured["front"].as_array().unwrap().iter().map(|r| r.as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect()).collect();
    let want: Vec<Vec<String>> = front
        .iter()
        .map(|&k| {
            // The ranking: by best accuracy, highest first (no ties here).
            let rank = 1 + (0..11).filter(|&j| best(j) > best(k)).count();
            vec![rank.to_string(), format!("Model-{k:03}"), params(k).to_string(), format!("{:.4}", best(k))]
        })
        .collect();
    assert_eq!(table, want, "the Pareto front's table");

    let figs = measured["figures"].as_array().unwrap();
    let names: Vec<&str> = figs.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, FIGURES, "figures on the page, in order");
    let n = |f: &Value, k: &str| f[k].as_f64().unwrap();
    for f in figs {
        let name = f["name"].as_str().unwrap();
        assert!(n(f, "width") >= 600.0 && n(f, "height") >= 300.0, "{name} is laid out too small: {f}");
        // Title, axis labels, tick labels: laid out with a real font.
        assert!(n(f, "texts") >= 8.0, "{name} has too little text: {f}");
        let (curves, marks, bars) = (n(f, "curves"), n(f, "marks"), n(f, "bars"));
        match name {
            // The 11 models with snapshots, each on the training and on the validation panel.
            "loss" => assert_eq!(curves, 22.0, "{name}: {f}"),
            // And a dot at the best snapshot of each of the 10 best.
            "accuracy" => assert!(curves == 22.0 && marks >= 10.0, "{name}: {f}"),
            // The 11 models with a best accuracy (the failed one and the one still training too),
            // and the front's step line through its 3 models.
            "accuracy_vs_params" => assert!(marks >= 11.0 && curves == 1.0, "{name}: {f}"),
            // The 10 models with a result that did not fail, once in each of the 5 panels.
            "accuracy_by_setting" => assert!(marks == 50.0 && curves == 0.0, "{name}: {f}"),
            // The 9 completed models' times spread over a few bins.
            "train_time_hist" => assert!(bars >= 3.0, "{name}: {f}"),
            // Two curves (relu and elu; none and L2) over the three architectures.
            _ => assert!(curves == 2.0 && marks >= 6.0, "{name}: {f}"),
        }
    }
    eprintln!("html report test took {:.1} s", started.elapsed().as_secs_f64());
}

/// The scalability study's grid: three architectures, nothing trained (as `cyplam scale` leaves
/// it: times and packings in the database, no learning curves).
const SCALING_GRID: &str = r#"
[slurm]
trainings_per_node = 4
cpus_per_training = 2

[settings]
iterations = 100
snapshots = 1

[grid]
architecture = [
  { wc1 = 5, ncv1 = 4, wc2 = 5, ncv2 = 8, nfc1 = 16 },
  { wc1 = 5, ncv1 = 8, wc2 = 5, ncv2 = 16, nfc1 = 64 },
  { wc1 = 5, ncv1 = 8, wc2 = 5, ncv2 = 32, nfc1 = 128 },
]
"#;

/// Seconds of one timed training of model `m` on `cores` cores, run `repeat`: bigger models take
/// longer and scale better; repeats differ a little.
fn scaling_seconds(m: usize, cores: u32, repeat: u32) -> f64 {
    let t1 = [6.0, 14.0, 40.0][m];
    let exponent = [0.55, 0.7, 0.85][m];
    t1 / (cores as f64).powf(exponent) * (1.0 + 0.04 * repeat as f64)
}

#[test]
fn html_report_shows_the_scaling_study() {
    let started = Instant::now();
    let env = Env::new();
    let grid = env.grid("scaling-html", SCALING_GRID);
    let f = cyplam::sweep::freeze(&env.runs(), &grid).unwrap();
    assert_eq!(f.sweep.grid.models.len(), 3);

    // What `cyplam scale` stores, three times: an older measurement of another machine, an older
    // one of the partition, and the newest one of the partition, which alone is to be shown.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    rt.block_on(async {
        std::fs::create_dir_all(env.runs()).unwrap();
        let db = cyplam::db::Db::open(&env.db()).await.unwrap();
        let id = db.register_sweep(&f.dir, &f.sweep).await.unwrap();
        // (node, measured_unix, cores, repeats, packings as (trainings, cores each, trainings/hour))
        type Measurement = (&'static str, i64, &'static [u32], u32, &'static [(i64, i64, f64)]);
        let measurements: [Measurement; 3] = [
            ("local:old-box", 1_800_000_000, &[1, 2], 2, &[(1, 2, 30.0), (2, 1, 50.0)]),
            ("partition:cpu", 1_800_000_100, &[1, 2, 4], 1, &[(1, 8, 10.0), (8, 1, 99.0)]),
            ("partition:cpu", 1_800_000_500, &[1, 2, 4, 8], 3, &[(1, 8, 40.0), (2, 4, 70.0), (4, 2, 95.5), (8, 1, 88.0)]),
        ];
        for (node, when, cores, repeats, packs) in measurements {
            for m in 0..3 {
                for &c in cores {
                    for r in 0..repeats {
                        sqlx::query("INSERT INTO scaling_runs (sweep_id, node_key, model_idx, cores, repeat, iterations, seconds, measured_unix) VALUES (?, ?, ?, ?, ?, 100, ?, ?)")
                            .bind(id).bind(node).bind(m as i64).bind(c as i64).bind(r as i64).bind(scaling_seconds(m, c, r)).bind(when)
                            .execute(&db.pool).await.unwrap();
                    }
                }
            }
            let best = packs.iter().map(|p| p.2).fold(0.0, f64::max);
            for &(k, c, tph) in packs {
                sqlx::query("INSERT INTO packings (sweep_id, node_key, node_cores, trainings, cores_each, model_idx, iterations, wall_seconds, trainings_per_hour, recommended, measured_unix) VALUES (?, ?, ?, ?, ?, 1, 100, ?, ?, ?, ?)")
                    .bind(id).bind(node).bind(k * c).bind(k).bind(c).bind(k as f64 * 3600.0 / tph).bind(tph).bind((tph == best) as i64).bind(when)
                    .execute(&db.pool).await.unwrap();
            }
        }
    });

    let html_dir = env.dir.path().join("report");
    let fig_dir = env.dir.path().join("figures");
    let o = Command::new(CYPLAM)
        .env("CYPLAM_RUNS", env.runs())
        .env("CYPLAM_DB", env.db())
        .args(["report", "scaling-html", "--html"])
        .arg(&html_dir)
        .arg("--figures")
        .arg(&fig_dir)
        .output()
        .unwrap();
    assert!(o.status.success(), "cyplam report failed:\n{}\n{}", String::from_utf8_lossy(&o.stdout), stderr(&o));

    // Only the scalability figures: the models have no learning curves, and that is no error.
    let mut files: Vec<String> = std::fs::read_dir(&fig_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    assert_eq!(files, ["packings.svg", "scaling_speedup.svg", "scaling_time.svg"]);
    let svg = |n: &str| std::fs::read_to_string(fig_dir.join(format!("{n}.svg"))).unwrap();
    for n in ["scaling_time", "scaling_speedup", "packings"] {
        let s = svg(n);
        assert!(
            s.starts_with("<?xml") && s.contains(&format!("<svg id=\"fig-{n}\" data-figure=\"{n}\"")) && s.trim_end().ends_with("</svg>"),
            "{n}.svg:\n{}",
            &s[..s.len().min(400)]
        );
    }
    // Speed-ups against 1 core, from the newest measurement's means (3 repeats each).
    let speedup = |m: usize, c: u32| {
        let mean = |c: u32| (0..3).map(|r| scaling_seconds(m, c, r)).sum::<f64>() / 3.0;
        mean(1) / mean(c)
    };
    let s = svg("scaling_speedup");
    for m in 0..3 {
        assert!(s.contains(&format!("{:.2}x", speedup(m, 8))), "scaling_speedup.svg lacks model {m}'s speed-up on 8 cores {:.2}", speedup(m, 8));
    }
    assert!(s.contains("ideal (linear)"), "no ideal line in the legend");
    let p = svg("packings");
    for label in ["1 x 8", "2 x 4", "4 x 2", "8 x 1", "95.5 (recommended)"] {
        assert!(p.contains(label), "packings.svg lacks {label:?}");
    }
    assert!(!p.contains("99.0") && !p.contains("2 x 1"), "packings.svg shows an older measurement");

    let page = std::fs::read_to_string(html_dir.join("index.html")).unwrap();
    for bad in ["<script", "<link", "<img", "<iframe", " src=", "url(", "@import"] {
        assert!(!page.contains(bad), "the page has {bad:?}");
    }
    assert!(page.contains("recommended packing<b>4 x 2"), "the key numbers lack the recommendation");
    assert!(page.contains("Slurm partition cpu") && !page.contains("old-box"), "the captions name another node than the newest");

    let measured = measure_in_chromium(&env, &html_dir, &page);
    assert_eq!(measured["title"], "cyplam report: scaling-html");
    assert_eq!(measured["rows"].as_array().unwrap().len(), 3, "the ranking lists the three untrained models: {measured}");
    let packings: Vec<(&str, bool)> =
        measured["packings"].as_array().unwrap().iter().map(|r| (r["packing"].as_str().unwrap(), r["best"].as_bool().unwrap())).collect();
    assert_eq!(packings, [("1 x 8", false), ("2 x 4", false), ("4 x 2", true), ("8 x 1", false)], "the packings table");
    let figs = measured["figures"].as_array().unwrap();
    let names: Vec<&str> = figs.iter().map(|f| f["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["scaling_time", "scaling_speedup", "packings"], "figures on the page, in order");
    let n = |f: &Value, k: &str| f[k].as_f64().unwrap();
    for f in figs {
        let name = f["name"].as_str().unwrap();
        assert!(n(f, "width") >= 600.0 && n(f, "height") >= 300.0, "{name} is laid out too small: {f}");
        assert!(n(f, "texts") >= 8.0, "{name} has too little text: {f}");
        match name {
            // Three models, each a curve through its 4 core counts (not the older 2 or 3).
            "scaling_time" | "scaling_speedup" => assert!(n(f, "curves") == 3.0 && n(f, "marks") == 12.0, "{name}: {f}"),
            // Four packings, one bar each; only the third, the recommended one, in its own colour.
            _ => {
                let fills: Vec<&str> = f["fills"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
                assert_eq!(fills.len(), 4, "{name}: {f}");
                let odd: Vec<usize> = (0..4).filter(|&i| fills.iter().filter(|x| **x == fills[i]).count() == 1).collect();
                assert_eq!(odd, [2], "{name}: the recommended bar is not the one highlighted: {fills:?}");
            }
        }
    }
    eprintln!("scaling html report test took {:.1} s", started.elapsed().as_secs_f64());
}
