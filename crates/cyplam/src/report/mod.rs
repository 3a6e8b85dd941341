//! The report of a sweep: the ranking of SPEC.md section 5 (best validation Accuracy20% first)
//! as a table, CSV, JSON or Markdown, one model's learning curve, and the HTML page with every
//! figure (html.rs). `cyplam report` (commands/report.rs) and `cyplam run` print through here.

pub mod html;
pub mod whatif;

use crate::db::query::ModelRow;
use crate::db::{Db, RecordedStatus};
use crate::output::{opt, outln, print_rows, Format};
use crate::scaling::Scaling;
use crate::sweep::Frozen;
use anyhow::{Context, Result};

/// What a report shows, read from the database once: every model's row in ranking order and the
/// newest scalability measurement.
pub struct Loaded {
    pub rows: Vec<ModelRow>,
    pub scaling: Option<Scaling>,
    /// A halving sweep's line per decided rung (`halving::decision_lines`), for the text and the page.
    pub halving: Vec<String>,
    /// A TPE search's line per proposed round (`rounds::report_lines`).
    pub rounds: Vec<String>,
}

/// Reads the ranking, the scalability study and a halving sweep's decisions (once, for both the
/// printed ranking and the HTML page).
pub async fn load(db: &Db, id: i64, f: &Frozen) -> Result<Loaded> {
    Ok(Loaded {
        rows: db.ranking(id).await?,
        scaling: crate::scaling::store::load(db, id, f).await?,
        halving: crate::halving::decision_lines(f),
        rounds: crate::rounds::report_lines(f),
    })
}

/// Prints the ranking's top `top` (and, below it, the scalability study's tables).
/// What a halving sweep spent against its full grid: seconds and iterations trained, and the
/// full grid's estimated from each model's own seconds per iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct HalvingCompute {
    pub seconds: f64,
    pub full_seconds: f64,
    pub iterations: f64,
    pub full_iterations: f64,
}

impl HalvingCompute {
    pub fn of<'a>(f: &Frozen, rows: impl IntoIterator<Item = &'a crate::db::query::ModelRow>) -> Option<HalvingCompute> {
        f.sweep.grid.halving?;
        let mut c = HalvingCompute { seconds: 0.0, full_seconds: 0.0, iterations: 0.0, full_iterations: 0.0 };
        for r in rows {
            let (Some(done), Some(total), Some(secs)) = (r.iterations_done, r.iterations_total, r.train_seconds) else { continue };
            if done <= 0 || total <= 0 {
                continue;
            }
            c.seconds += secs;
            c.iterations += done as f64;
            c.full_iterations += total as f64;
            c.full_seconds += secs * total as f64 / done as f64;
        }
        Some(c)
    }

    /// In words, with the fractions.
    pub fn text(&self) -> String {
        let frac = |a: f64, b: f64| if b > 0.0 { 100.0 * a / b } else { 0.0 };
        format!(
            "successive halving spent {:.1} s of training and validation ({:.0} % of the {:.1} s the full grid would take at the same speeds) and {:.0} iterations ({:.0} % of {:.0})",
            self.seconds, frac(self.seconds, self.full_seconds), self.full_seconds, self.iterations, frac(self.iterations, self.full_iterations), self.full_iterations
        )
    }
}

pub fn print_ranking(loaded: &Loaded, f: &Frozen, top: usize, format: Format) -> Result<()> {
    let rows = &loaded.rows;
    let varying = f.sweep.grid.varying_settings();
    let shown: Vec<_> = rows.iter().take(top).collect();
    if format == Format::Json {
        let v: Vec<serde_json::Value> = shown
            .iter()
            .enumerate()
            .map(|(i, r)| {
                serde_json::json!({
                    "rank": i + 1, "name": r.name, "index": r.index, "wc1": r.wc1, "ncv1": r.ncv1, "wc2": r.wc2, "ncv2": r.ncv2, "nfc1": r.nfc1,
                    "activation": r.activation, "regularization": r.regularization, "free_params": r.free_params,
                    "best_accuracy20": r.best_accuracy20, "best_iteration": r.best_iteration, "iterations_done": r.iterations_done,
                    "train_seconds": r.train_seconds, "status": r.status, "rung": r.rung, "diverged": r.diverged, "host": r.host, "settings": r.settings,
                })
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&v)?)?;
        return Ok(());
    }
    // A sweep of which only the scalability study ran (`cyplam scale`) has no accuracy to rank
    // by: its report is the study's tables. The CSV stays one table.
    let scaling = if format == Format::Csv { None } else { loaded.scaling.as_ref() };
    let trained = rows.iter().any(|r| r.best_accuracy20.is_some());
    if trained || scaling.is_none() {
        let (header, table) = ranking_table(&shown, &varying);
        let header: Vec<&str> = header.iter().map(String::as_str).collect();
        print_rows(&header, &table, format)?;
    }
    if format == Format::Table {
        let done = rows.iter().filter(|r| r.status == RecordedStatus::Completed).count();
        if trained {
            outln!("sweep {}: top {} of {} models ({done} completed), ranked by maximum validation Accuracy20%", f.sweep.name, shown.len(), rows.len())?;
            if let Some(c) = HalvingCompute::of(f, rows) {
                let pruned = rows.iter().filter(|r| r.status == RecordedStatus::Pruned).count();
                outln!("{pruned} pruned (ranked by the best they reached before their rung ended); {}", c.text())?;
                for line in &loaded.halving {
                    outln!("{line}")?;
                }
            }
            for line in &loaded.rounds {
                outln!("{line}")?;
            }
        } else {
            outln!("sweep {}: {} models, none with a validation snapshot yet ({done} completed)", f.sweep.name, rows.len())?;
        }
    }
    if let Some(s) = scaling {
        outln!()?;
        outln!("scalability study ({}, measured {}):", s.node_key, crate::output::utc(s.measured_unix.max(0) as u64))?;
        crate::scaling::print::print_scaling(s, format)?;
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
    let table: Vec<Vec<String>> = shown
        .iter()
        .enumerate()
        .map(|(i, r)| {
            let mut v =
                vec![(i + 1).to_string(), r.name.clone(), r.wc1.to_string(), r.ncv1.to_string(), r.wc2.to_string(), r.ncv2.to_string(), r.nfc1.to_string()];
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
            v.push(match (r.diverged, r.status, r.rung) {
                (true, s, _) => format!("{} (diverged)", s.as_str()),
                // A pruned model's best is what it reached before its rung ended.
                (false, RecordedStatus::Pruned, Some(k)) => format!("pruned at rung {k}"),
                (false, s, _) => s.as_str().to_string(),
            });
            v
        })
        .collect();
    (header, table)
}

pub async fn print_curve(db: &Db, id: i64, f: &Frozen, which: &str, format: Format) -> Result<()> {
    let m = match which.parse::<usize>() {
        Ok(i) => f.sweep.model(i),
        Err(_) => f.sweep.model_by_name(which),
    }
    .with_context(|| format!("no model {which:?} in sweep {} ({} models)", f.sweep.name, f.sweep.grid.models.len()))?;
    let curve = db.curve(id, m.index).await?;
    if format == Format::Json {
        outln!("{}", serde_json::to_string_pretty(&curve)?)?;
        return Ok(());
    }
    let header = ["iteration", "train loss", "train acc20", "val loss", "val acc20", "seconds"];
    let rows: Vec<Vec<String>> = curve
        .iter()
        .map(|r| {
            vec![
                r.iteration.to_string(),
                format!("{:.6}", r.train_loss),
                format!("{:.4}", r.train_accuracy20),
                format!("{:.6}", r.validation_loss),
                format!("{:.4}", r.validation_accuracy20),
                format!("{:.1}", r.elapsed_seconds),
            ]
        })
        .collect();
    print_rows(&header, &rows, format)?;
    if format == Format::Table {
        match cyplam_core::metrics_csv::best_row(&curve) {
            Some(b) => outln!(
                "{} ({}): {} snapshots; best validation Accuracy20% {:.4} at iteration {}",
                m.name,
                m.arch_label(),
                curve.len(),
                b.validation_accuracy20,
                b.iteration
            )?,
            None => outln!("{} ({}): no snapshot yet", m.name, m.arch_label())?,
        }
    }
    Ok(())
}
