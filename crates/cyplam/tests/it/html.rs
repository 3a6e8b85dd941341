//! `cyplam report --html/--figures` on a sweep written by hand through the real library (no
//! training, no libtorch: plausible learning curves in the workers' file formats), the page then
//! laid out by headless Chromium, which measures every figure.

// A test stops at the first thing that is not as expected.
#![allow(clippy::unwrap_used)]

use super::*;
use cyplam_core::files::{write_json_atomic, MetricsRow, ModelResult, ResultStatus, FORMAT_VERSION, METRICS_HEADER};
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
const FIGURES: [&str; 6] = ["loss", "accuracy", "accuracy_vs_params", "train_time_hist", "by_activation", "by_regularization"];

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
        let best = cyplam_core::files::best_row(rows);
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
        };
        write_json_atomic(&md.result(), &result).unwrap();
    }
}

/// Debian's Chromium, or CYPLAM_CHROMIUM.
fn chromium() -> PathBuf {
    if let Some(p) = std::env::var_os("CYPLAM_CHROMIUM") {
        return PathBuf::from(p);
    }
    let found = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].iter().map(PathBuf::from).find(|p| p.exists()).or_else(|| {
        std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()).map(|d| d.join("chromium")).find(|p| p.exists())
    });
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
    const bars = [...s.querySelectorAll('rect')].filter(e => !['#FFFFFF', 'none'].includes(e.getAttribute('fill')) && seen(e)).length;
    const texts = [...s.querySelectorAll('text')].filter(t => t.getComputedTextLength() > 0).length;
    return { name: s.dataset.figure, width: r.width, height: r.height, curves, marks, bars, texts };
  });
  const rows = [...document.querySelectorAll('#ranking-table tbody tr')].map(tr => tr.cells[1].textContent);
  const pre = document.createElement('pre');
  pre.id = 'measured';
  pre.textContent = JSON.stringify({ title: document.title, rows, figures });
  document.body.appendChild(pre);
})();
</script>
"#;

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
    let outside: Vec<&str> = page.match_indices("http").map(|(i, _)| &page[i..(i + 40).min(page.len())]).filter(|s| !s.starts_with("http://www.w3.org/2000/svg")).collect();
    assert!(outside.is_empty(), "the page links outside: {outside:?}");

    // The same figures as files, each a standalone SVG.
    let mut files: Vec<String> = std::fs::read_dir(&fig_dir).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    files.sort();
    let mut want: Vec<String> = FIGURES.iter().map(|n| format!("{n}.svg")).collect();
    want.sort();
    assert_eq!(files, want);
    for n in FIGURES {
        let svg = std::fs::read_to_string(fig_dir.join(format!("{n}.svg"))).unwrap();
        assert!(svg.starts_with("<?xml") && svg.contains(&format!("<svg id=\"fig-{n}\" data-figure=\"{n}\"")) && svg.trim_end().ends_with("</svg>"), "{n}.svg:\n{}", &svg[..svg.len().min(400)]);
    }

    // The page in a real browser, with a measuring script added to a copy of it.
    let probe = html_dir.join("probe.html");
    std::fs::write(&probe, page.replace("</body>", &format!("{MEASURE}</body>"))).unwrap();
    let profile = env.dir.path().join("chromium-profile");
    let browser = chromium();
    let o = Command::new(&browser)
        .args(["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--disable-extensions", "--window-size=1400,3000"])
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
    let measured: Value = serde_json::from_str(&json).unwrap();

    assert_eq!(measured["title"], "cyplam report: html-report");
    let rows: Vec<&str> = measured["rows"].as_array().unwrap().iter().map(|v| v.as_str().unwrap()).collect();
    assert_eq!(rows.len(), 5, "the top-5 table: {rows:?}");
    assert_eq!(rows[0], "Model-010");

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
            // The 11 models with a best accuracy (the failed one and the one still training too).
            "accuracy_vs_params" => assert!(marks >= 11.0, "{name}: {f}"),
            // The 9 completed models' times spread over a few bins.
            "train_time_hist" => assert!(bars >= 3.0, "{name}: {f}"),
            // Two curves (relu and elu; none and L2) over the three architectures.
            _ => assert!(curves == 2.0 && marks >= 6.0, "{name}: {f}"),
        }
    }
    eprintln!("html report test took {:.1} s", started.elapsed().as_secs_f64());
}
