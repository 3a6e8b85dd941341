//! The HTML report of a sweep: one self-contained page (inline CSS and SVG, no script, nothing
//! fetched) with the ranking and every figure of plot/, the Pareto front's models in a table below
//! the accuracy-against-free-parameters figure; and the same figures as SVG files.
//! A sweep measured by `cyplam scale` also gets the scalability figures and the packings table.

use crate::db::{Db, RecordedStatus};
use crate::output::{escape, utc, PAGE_STYLE};
use crate::plot::{self, Figure, Model};
use crate::report::{ranking_table, Loaded};
use crate::scaling::Scaling;
use crate::sweep::Frozen;
use anyhow::{Context, Result};
use std::fmt::Write as _;
use std::path::Path;

/// Writes `html_dir/index.html` and/or one SVG file per figure into `figures_dir`; either may be
/// absent (then this does nothing).
pub async fn write(db: &Db, sweep_id: i64, f: &Frozen, loaded: Loaded, top: usize, html_dir: Option<&Path>, figures_dir: Option<&Path>) -> Result<()> {
    if html_dir.is_none() && figures_dir.is_none() {
        return Ok(());
    }
    let Loaded { rows, scaling, halving, rounds } = loaded;
    let mut curves = db.curves(sweep_id).await?;
    let models: Vec<Model> = rows.into_iter().map(|row| Model { curve: curves.remove(&row.index).unwrap_or_default(), row }).collect();
    let varying = f.sweep.grid.varying_settings();
    let mut figures = match &scaling {
        Some(s) => plot::scaling(s).with_context(|| format!("sweep {}: the scalability figures", f.sweep.name))?,
        None => Vec::new(),
    };
    figures.extend(plot::all(&models, &varying).with_context(|| format!("sweep {}", f.sweep.name))?);
    if let Some(dir) = figures_dir {
        crate::output::create_dir(dir)?;
        for fig in &figures {
            let path = dir.join(format!("{}.svg", fig.name));
            let text = format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{}", fig.svg);
            cyplam_core::files::write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        }
        if figures.is_empty() {
            eprintln!("no figures written to {}: no model has a validation snapshot and no scaling study is stored yet", dir.display());
        } else {
            eprintln!(
                "wrote {} figure(s) to {}: {}",
                figures.len(),
                dir.display(),
                figures.iter().map(|f| format!("{}.svg", f.name)).collect::<Vec<_>>().join(", ")
            );
        }
    }
    if let Some(dir) = html_dir {
        crate::output::create_dir(dir)?;
        let path = dir.join("index.html");
        let notes = if rounds.is_empty() { halving } else { rounds };
        let text = page(f, &models, &varying, top, &figures, scaling.as_ref(), &notes, cyplam_core::files::now_unix());
        cyplam_core::files::write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
        eprintln!("wrote {} ({} figures)", path.display(), figures.len());
    }
    Ok(())
}

/// The packings measured, as a table: packing, trainings, cores each, wall time, trainings per
/// hour, relative to the best; the recommended row marked.
fn packings_table(h: &mut String, s: &Scaling) {
    h.push_str(
        "<table id=\"packings-table\">\n<thead><tr><th class=\"text\">packing</th><th>trainings</th><th>cores each</th>\
                <th>wall s</th><th>trainings / hour</th><th>relative</th><th class=\"text\"></th></tr></thead>\n<tbody>\n",
    );
    for p in &s.packings {
        let _ = writeln!(
            h,
            "<tr{}><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{:.2}</td><td>{:.1}</td><td>{:.2}</td><td class=\"text\">{}</td></tr>",
            if p.recommended { " class=\"best\"" } else { "" },
            escape(&p.label()),
            p.trainings,
            p.cores_each,
            p.wall_seconds,
            p.trainings_per_hour,
            s.relative(p),
            if p.recommended { "recommended" } else { "" }
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

/// The models on the Pareto front of maximum validation Accuracy20% against free parameters
/// (`plot::front`), fewest free parameters first: rank, name, free parameters, best accuracy.
fn front_table(h: &mut String, models: &[Model]) {
    let front = plot::front(models);
    if front.is_empty() {
        return;
    }
    let _ = writeln!(
        h,
        "<p class=\"note\" id=\"pareto\">The Pareto front: the {} model{} that no other model beats on both maximum validation Accuracy20% and free parameters (at least as accurate with no more free parameters), fewest free parameters first.</p>",
        front.len(),
        if front.len() == 1 { "" } else { "s" }
    );
    h.push_str(
        "<table id=\"pareto-table\">\n<thead><tr><th>rank</th><th class=\"text\">model</th><th>free params</th><th>max acc20</th></tr></thead>\n<tbody>\n",
    );
    for m in front {
        // `models` is in ranking order.
        let rank = models.iter().position(|o| std::ptr::eq(o, m)).map(|i| i + 1).unwrap_or_default();
        let _ = writeln!(
            h,
            "<tr><td>{rank}</td><td class=\"text\">{}</td><td>{}</td><td>{:.4}</td></tr>",
            escape(&m.row.name),
            m.row.free_params,
            m.row.best_accuracy20.unwrap_or(f64::NAN)
        );
    }
    h.push_str("</tbody>\n</table>\n");
}

/// This page's own rules, after `output::PAGE_STYLE`.
const STYLE: &str = r#"
.facts { display: flex; flex-wrap: wrap; gap: 12px; margin: 16px 0; padding: 0; list-style: none; }
.facts li { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; padding: 8px 14px; }
.facts b { display: block; font-size: 1.15rem; }
nav a { margin-right: 14px; color: #2b5d8c; }
table { border-collapse: collapse; background: #fff; border: 1px solid #e1e4e8; font-size: 0.92rem; }
th, td { padding: 5px 10px; border-bottom: 1px solid #eceef1; text-align: right; white-space: nowrap; }
th { background: #eef1f5; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
tr:nth-child(even) td { background: #fafbfc; }
tr.best td { font-weight: 600; }
figure { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; margin: 0 0 24px; padding: 12px; }
figure svg { display: block; max-width: 100%; height: auto; margin: 0 auto; }
figcaption { color: #444; margin: 8px 6px 2px; font-size: 0.95rem; }
.note { color: #666; font-style: italic; }
"#;

/// The page. `now` is the Unix time it is made at.
/// `scaling` is the sweep's scalability measurement, whose packings get a table below their figure.
/// `decisions`: a halving sweep's line per decided rung, or a TPE search's per proposed round.
pub fn page(
    f: &Frozen,
    models: &[Model],
    varying: &[&str],
    top: usize,
    figures: &[Figure],
    scaling: Option<&Scaling>,
    decisions: &[String],
    now: u64,
) -> String {
    let name = escape(&f.sweep.name);
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>cyplam report: {name}</title>\n<style>{PAGE_STYLE}{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>Sweep {name}</h1>\n"
    );
    let axes: Vec<String> = f
        .sweep
        .grid
        .axes
        .iter()
        .map(|a| match &a.sampled {
            // A sampled sweep's axis: its distribution (`learning_rate ~ log_uniform [1e-05, 0.01]`).
            Some(_) => escape(&a.label()),
            None => format!("{} &times;{}", escape(&a.name), a.len),
        })
        .collect();
    let searched = f
        .sweep
        .grid
        .search
        .map(|s| format!(" &middot; {} models drawn ({}, seed {})", f.sweep.grid.models.len(), s.strategy.as_str(), s.seed))
        .unwrap_or_default();
    let _ = writeln!(
        h,
        "<p class=\"meta\">{} &middot; grid axes: {}{searched} &middot; made {}</p>",
        escape(&f.dir.display().to_string()),
        if axes.is_empty() { "none".to_string() } else { axes.join(", ") },
        utc(now)
    );

    let count = |s: RecordedStatus| models.iter().filter(|m| m.row.status == s).count();
    let (done, failed) = (count(RecordedStatus::Completed), count(RecordedStatus::Failed));
    let other = models.len() - done - failed;
    // (An empty f64 sum is -0.0, shown as "-0.00 h".)
    let hours: f64 = models.iter().filter_map(|m| m.row.train_seconds).fold(0.0, |a, b| a + b) / 3600.0;
    h.push_str("<ul class=\"facts\">\n");
    let _ = writeln!(h, "<li>models<b>{}</b></li>", models.len());
    let _ = writeln!(h, "<li>completed<b>{done}</b></li>");
    if failed > 0 {
        let _ = writeln!(h, "<li>failed<b>{failed}</b></li>");
    }
    if other > 0 {
        let _ = writeln!(h, "<li>not finished<b>{other}</b></li>");
    }
    if let Some(best) = models.first().filter(|m| m.row.best_accuracy20.is_some()) {
        let _ = writeln!(
            h,
            "<li>best max validation Accuracy20%<b>{:.4} &mdash; {} at iteration {}</b></li>",
            best.row.best_accuracy20.unwrap_or_default(),
            escape(&best.row.name),
            best.row.best_iteration.map(|i| i.to_string()).unwrap_or_default()
        );
    }
    let _ = writeln!(h, "<li>training time in all<b>{hours:.2} h</b></li>");
    if let Some(c) = super::HalvingCompute::of(f, models.iter().map(|m| &m.row)) {
        let pruned = count(RecordedStatus::Pruned);
        let _ = writeln!(h, "<li>pruned by successive halving<b>{pruned}</b></li>");
        let frac = if c.full_seconds > 0.0 { 100.0 * c.seconds / c.full_seconds } else { 0.0 };
        let _ = writeln!(
            h,
            "<li>compute against the full grid<b>{frac:.0} % ({:.1} of {:.1} s, {:.0} of {:.0} iterations)</b></li>",
            c.seconds, c.full_seconds, c.iterations, c.full_iterations
        );
    }
    if let Some(s) = scaling {
        let timed: usize = s.models.iter().map(|m| m.runs.len()).sum();
        let _ = writeln!(h, "<li>scalability study<b>{timed} timed trainings, {} packings</b></li>", s.packings.len());
        if let Some(p) = s.packings.iter().find(|p| p.recommended) {
            let _ = writeln!(h, "<li>recommended packing<b>{} ({:.1} trainings/hour)</b></li>", escape(&p.label()), p.trainings_per_hour);
        }
    }
    h.push_str("</ul>\n");

    h.push_str("<nav><a href=\"#ranking\">ranking</a>");
    for fig in figures {
        let _ = write!(h, "<a href=\"#fig-{}\">{}</a>", fig.name, escape(&fig.title));
    }
    h.push_str("</nav>\n");

    let shown: Vec<_> = models.iter().take(top).map(|m| &m.row).collect();
    let _ = writeln!(h, "<h2 id=\"ranking\">Top {} of {} models, by maximum validation Accuracy20%</h2>", shown.len(), models.len());
    let (header, rows) = ranking_table(&shown, varying);
    let is_text = |col: &str| matches!(col, "name" | "status" | "activation" | "reg_layers");
    h.push_str("<table id=\"ranking-table\">\n<thead><tr>");
    for c in &header {
        let _ = write!(h, "<th{}>{}</th>", if is_text(c) { " class=\"text\"" } else { "" }, escape(c));
    }
    h.push_str("</tr></thead>\n<tbody>\n");
    for (i, r) in rows.iter().enumerate() {
        h.push_str(if i == 0 { "<tr class=\"best\">" } else { "<tr>" });
        for (c, v) in header.iter().zip(r) {
            let _ = write!(h, "<td{}>{}</td>", if is_text(c) { " class=\"text\"" } else { "" }, escape(v));
        }
        h.push_str("</tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");
    if f.sweep.grid.halving.is_some() {
        // Where each curve stopped: pruned models end at their rung, the learning curves below with them.
        let mut stops: Vec<(u32, i64, usize)> = Vec::new();
        for m in models {
            let key = (m.row.rung.unwrap_or(0), m.row.iterations_done.unwrap_or(0));
            match stops.iter_mut().find(|s| (s.0, s.1) == key) {
                Some(s) => s.2 += 1,
                None => stops.push((key.0, key.1, 1)),
            }
        }
        stops.sort();
        let said: Vec<String> = stops.iter().map(|(r, it, n)| format!("{n} at iteration {it} (rung {r})")).collect();
        let _ = writeln!(
            h,
            "<p class=\"note\" id=\"halving-stops\">Successive halving: the curves stop where their models stopped: {}.</p>",
            escape(&said.join(", "))
        );
        if !decisions.is_empty() {
            h.push_str("<ul class=\"note\" id=\"halving-decisions\">\n");
            for l in decisions {
                let _ = writeln!(h, "<li>{}</li>", escape(l));
            }
            h.push_str("</ul>\n");
        }
    }

    if cyplam_core::search::rounds::Rounds::of(&f.sweep.grid).is_some() && !decisions.is_empty() {
        h.push_str("<p class=\"note\">TPE search: each round's models were proposed from the scores of every model before it.</p>\n<ul class=\"note\" id=\"tpe-rounds\">\n");
        for l in decisions {
            let _ = writeln!(h, "<li>{}</li>", escape(l));
        }
        h.push_str("</ul>\n");
    }
    h.push_str("<h2>Figures</h2>\n");
    if figures.is_empty() {
        h.push_str("<p class=\"note\">No figures yet: no model has a validation snapshot.</p>\n");
    }
    for fig in figures {
        let _ = writeln!(h, "<figure>\n{}\n<figcaption>{}</figcaption>\n</figure>", fig.svg.trim_end(), escape(&fig.caption));
        if fig.name == "packings" {
            if let Some(s) = scaling {
                packings_table(&mut h, s);
            }
        }
        if fig.name == "accuracy_vs_params" {
            front_table(&mut h, models);
        }
    }
    h.push_str("</main>\n</body>\n</html>\n");
    h
}
