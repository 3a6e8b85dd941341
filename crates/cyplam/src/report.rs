//! `cyplam report`: the ranking of SPEC.md section 5 (best validation Accuracy20% first) as a
//! table, CSV, JSON or Markdown; `--model` prints one model's learning curve; `--html` and
//! `--figures` also write the figures (html.rs, plot.rs).

use crate::cli::{Format, Global};
use crate::db::{Db, ModelRow};
use crate::plot::{Scaling, ScalingModel, ScalingPoint};
use crate::sweep::{self, Frozen};
use anyhow::{Context, Result};
use clap::Args;
use comfy_table::{presets, ContentArrangement, Table};
use std::io::Write;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct ReportArgs {
    /// Sweep name (or directory); default: the newest sweep in the database.
    pub sweep: Option<String>,
    /// How many models to list.
    #[arg(long, default_value_t = 10)]
    pub top: usize,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
    /// Print this model's learning curve instead (Model-108 or 108).
    #[arg(long, conflicts_with_all = ["html", "figures"])]
    pub model: Option<String>,
    /// Also write the report as one self-contained page, DIR/index.html, with every figure.
    #[arg(long, value_name = "DIR")]
    pub html: Option<PathBuf>,
    /// Also write each figure as its own SVG file in DIR (loss.svg, accuracy.svg, ...).
    #[arg(long, value_name = "DIR")]
    pub figures: Option<PathBuf>,
}

pub async fn run(g: &Global, a: &ReportArgs) -> Result<()> {
    let db = g.open_db().await?;
    let f = sweep::pick(&g.runs_dir, &db, a.sweep.as_deref()).await?;
    let id = db.register_sweep(&f.dir, &f.sweep).await?;
    db.collect(id, &f.dir, &f.sweep).await?;
    match &a.model {
        Some(m) => print_curve(&db, id, &f, m, a.format).await,
        None => {
            print_ranking(&db, id, &f, a.top, a.format).await?;
            crate::html::write(&db, id, &f, a.top, a.html.as_deref(), a.figures.as_deref()).await
        }
    }
}

fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

pub async fn print_ranking(db: &Db, id: i64, f: &Frozen, top: usize, format: Format) -> Result<()> {
    let rows = db.ranking(id).await?;
    let varying = f.sweep.grid.varying_settings();
    let shown: Vec<_> = rows.iter().take(top).collect();
    if format == Format::Json {
        let v: Vec<serde_json::Value> = shown.iter().enumerate().map(|(i, r)| serde_json::json!({
            "rank": i + 1, "name": r.name, "index": r.index, "wc1": r.wc1, "ncv1": r.ncv1, "wc2": r.wc2, "ncv2": r.ncv2, "nfc1": r.nfc1,
            "activation": r.activation, "regularization": r.regularization, "free_params": r.free_params,
            "best_accuracy20": r.best_accuracy20, "best_iteration": r.best_iteration, "iterations_done": r.iterations_done,
            "train_seconds": r.train_seconds, "status": r.status, "host": r.host, "settings": r.settings,
        })).collect();
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    // A sweep of which only the scalability study ran (`cyplam scale`) has no accuracy to rank
    // by: its report is the study's tables. The CSV stays one table.
    let scaling = if format == Format::Csv { None } else { crate::html::load_scaling(db, id, f).await? };
    let trained = rows.iter().any(|r| r.best_accuracy20.is_some());
    if trained || scaling.is_none() {
        let (header, table) = ranking_table(&shown, &varying);
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        print_rows(&header, &table, format)?;
    }
    if format == Format::Table {
        let done = rows.iter().filter(|r| r.status == "completed").count();
        if trained {
            println!("sweep {}: top {} of {} models ({done} completed), ranked by maximum validation Accuracy20%", f.sweep.name, shown.len(), rows.len());
        } else {
            println!("sweep {}: {} models, none with a validation snapshot yet ({done} completed)", f.sweep.name, rows.len());
        }
    }
    if let Some(s) = &scaling {
        println!();
        println!("scalability study ({}, measured {}):", s.node_key, crate::html::utc(s.measured_unix.max(0) as u64));
        print_scaling(s, format)?;
    }
    Ok(())
}

/// The scalability study's rows: per model and core count the mean and standard deviation of the
/// time, the speed-up against the fewest cores measured (`ScalingModel::speedups`) and the
/// efficiency speed-up / (N / fewest). `cyplam scale` and `cyplam report` print the same table.
pub fn scaling_rows(s: &Scaling) -> Vec<ScalingRow<'_>> {
    let mut out = Vec::new();
    for m in &s.models {
        let points = m.points();
        let Some(fewest) = points.first().map(|p| p.cores as f64) else { continue };
        for (point, (_, speedup)) in points.into_iter().zip(m.speedups()) {
            out.push(ScalingRow { model: m, point, speedup, efficiency: speedup / (point.cores as f64 / fewest) });
        }
    }
    out
}

pub struct ScalingRow<'a> {
    pub model: &'a ScalingModel,
    pub point: ScalingPoint,
    pub speedup: f64,
    pub efficiency: f64,
}

/// The scalability study as two tables (times per core count, then the packings and the
/// recommendation), or as JSON.
pub fn print_scaling(s: &Scaling, format: Format) -> Result<()> {
    let rows = scaling_rows(s);
    if format == Format::Json {
        let scaling: Vec<serde_json::Value> = rows.iter().map(|r| serde_json::json!({"model": r.model.name, "arch": r.model.arch,
            "free_params": r.model.free_params, "cores": r.point.cores, "runs": r.point.runs, "mean_seconds": r.point.mean,
            "sd_seconds": r.point.sd, "speedup": r.speedup, "efficiency": r.efficiency})).collect();
        let packings: Vec<serde_json::Value> = s.packings.iter().map(|p| serde_json::json!({"trainings": p.trainings,
            "cores_each": p.cores_each, "wall_seconds": p.wall_seconds, "trainings_per_hour": p.trainings_per_hour,
            "recommended": p.recommended})).collect();
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"node": s.node_key, "scaling": scaling, "packings": packings}))?);
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows.iter().map(|r| vec![r.model.name.clone(), r.model.arch.clone(), r.model.free_params.to_string(),
        r.point.cores.to_string(), r.point.runs.to_string(), format!("{:.2}", r.point.mean), format!("{:.2}", r.point.sd),
        format!("{:.2}", r.speedup), format!("{:.2}", r.efficiency)]).collect();
    print_rows(&["model", "arch", "free params", "cores", "runs", "mean s", "sd s", "speed-up", "efficiency"], &table, format)?;
    if !s.packings.is_empty() {
        println!();
        let packs: Vec<Vec<String>> = s.packings.iter().map(|p| vec![p.label(), format!("{:.2}", p.wall_seconds),
            format!("{:.1}", p.trainings_per_hour), format!("{:.2}", s.relative(p)),
            if p.recommended { "recommended".into() } else { String::new() }]).collect();
        print_rows(&["packing (trainings x cores)", "wall s", "trainings/hour", "relative", ""], &packs, format)?;
        if let Some(p) = s.packings.iter().find(|p| p.recommended) {
            println!("recommendation: {} trainings of {} cores each per node ({:.1} trainings/hour, measured concurrently); `cyplam submit --packing auto` uses it",
                p.trainings, p.cores_each, p.trainings_per_hour);
        }
    }
    Ok(())
}

/// The ranking's columns and rows as shown (the grid's varying settings beyond the architecture
/// get a column each); the HTML report shows the same table.
pub fn ranking_table(shown: &[&ModelRow], varying: &[&str]) -> (Vec<String>, Vec<Vec<String>>) {
    let mut header: Vec<String> = ["rank", "name", "wc1", "ncv1", "wc2", "ncv2", "nfc1"].map(String::from).to_vec();
    let extra: Vec<&str> = varying.iter().copied().filter(|v| !["wc1", "ncv1", "wc2", "ncv2", "nfc1"].contains(v)).collect();
    header.extend(extra.iter().map(|e| e.to_string()));
    header.extend(["max acc20", "iteration", "free params", "train s", "status"].map(String::from));
    let table: Vec<Vec<String>> = shown.iter().enumerate().map(|(i, r)| {
        let mut v = vec![(i + 1).to_string(), r.name.clone(), r.wc1.to_string(), r.ncv1.to_string(), r.wc2.to_string(), r.ncv2.to_string(), r.nfc1.to_string()];
        for e in &extra {
            v.push(match r.settings.get(*e) {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(x) => x.to_string(),
                None => String::new(),
            });
        }
        v.push(r.best_accuracy20.map(|a| format!("{a:.4}")).unwrap_or_default());
        v.push(opt(r.best_iteration));
        v.push(r.free_params.to_string());
        v.push(r.train_seconds.map(|s| format!("{s:.1}")).unwrap_or_default());
        v.push(r.status.clone());
        v
    }).collect();
    (header, table)
}

async fn print_curve(db: &Db, id: i64, f: &Frozen, which: &str, format: Format) -> Result<()> {
    let m = match which.parse::<usize>() {
        Ok(i) => f.sweep.model(i),
        Err(_) => f.sweep.model_by_name(which),
    }
    .with_context(|| format!("no model {which:?} in sweep {} ({} models)", f.sweep.name, f.sweep.grid.models.len()))?;
    let curve = db.curve(id, m.index).await?;
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&curve)?);
        return Ok(());
    }
    let header = ["iteration", "train loss", "train acc20", "val loss", "val acc20", "seconds"];
    let rows: Vec<Vec<String>> = curve.iter().map(|r| vec![
        r.iteration.to_string(), format!("{:.6}", r.train_loss), format!("{:.4}", r.train_accuracy20),
        format!("{:.6}", r.validation_loss), format!("{:.4}", r.validation_accuracy20), format!("{:.1}", r.elapsed_seconds),
    ]).collect();
    print_rows(&header, &rows, format)?;
    if format == Format::Table {
        match cyplam_core::files::best_row(&curve) {
            Some(b) => println!("{} ({}): {} snapshots; best validation Accuracy20% {:.4} at iteration {}", m.name, m.arch_label(), curve.len(), b.validation_accuracy20, b.iteration),
            None => println!("{} ({}): no snapshot yet", m.name, m.arch_label()),
        }
    }
    Ok(())
}

/// Prints rows as a table, CSV or Markdown (JSON is each caller's own).
pub fn print_rows(header: &[&str], rows: &[Vec<String>], format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Csv | Format::Json => {
            let esc = |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
            writeln!(out, "{}", header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(","))?;
            for r in rows {
                writeln!(out, "{}", r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(","))?;
            }
        }
        Format::Markdown => {
            writeln!(out, "| {} |", header.join(" | "))?;
            writeln!(out, "|{}", header.iter().map(|_| "---|").collect::<String>())?;
            for r in rows {
                writeln!(out, "| {} |", r.iter().map(|c| c.replace('|', "\\|")).collect::<Vec<_>>().join(" | "))?;
            }
        }
        Format::Table => {
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled).set_header(header.to_vec());
            for r in rows {
                t.add_row(r.clone());
            }
            writeln!(out, "{t}")?;
        }
    }
    Ok(())
}
