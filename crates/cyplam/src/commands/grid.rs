//! `cyplam grid GRID`: expands a grid file and prints its models (index, name, architecture, the
//! settings that vary, free parameters).

use crate::ctx::Ctx;
use crate::output::{print_rows, Format};
use crate::slurm::Scheduler;
use anyhow::Result;
use clap::Args;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct GridArgs {
    /// The grid file (TOML).
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

impl GridArgs {
    pub async fn run<S: Scheduler>(&self, _ctx: &Ctx<'_, S>) -> Result<()> {
        let a = self;
        let g = cyplam_core::grid::load(&a.file)?;
        let varying = g.varying_settings();
        match a.format {
            Format::Json => {
                let rows: Vec<serde_json::Value> = g.models.iter().map(|m| {
                    let mut o = serde_json::Map::new();
                    o.insert("index".into(), m.index.into());
                    o.insert("name".into(), m.name.clone().into());
                    for (k, v) in cyplam_core::grid::model_settings(m) {
                        o.insert(k, v);
                    }
                    serde_json::Value::Object(o)
                }).collect();
                println!("{}", serde_json::to_string_pretty(&rows)?);
            }
            Format::Csv | Format::Table | Format::Markdown => {
                let mut cols: Vec<&str> = vec!["wc1", "ncv1", "wc2", "ncv2", "nfc1"];
                for v in &varying {
                    if !cols.contains(v) {
                        cols.push(v);
                    }
                }
                cols.push("free_params");
                let mut header = vec!["index", "name"];
                header.extend(&cols);
                let rows: Vec<Vec<String>> = g.models.iter().map(|m| {
                    let s = cyplam_core::grid::model_settings(m);
                    let mut r = vec![m.index.to_string(), m.name.clone()];
                    r.extend(cols.iter().map(|c| match s.get(*c) {
                        Some(serde_json::Value::String(x)) => x.clone(),
                        Some(v) => v.to_string(),
                        None => String::new(),
                    }));
                    r
                }).collect();
                print_rows(&header, &rows, a.format)?;
                if a.format == Format::Table {
                    let min = g.models.iter().map(|m| m.free_params).min().unwrap_or(0);
                    let max = g.models.iter().map(|m| m.free_params).max().unwrap_or(0);
                    println!("{} models ({}), {} to {} free parameters", g.models.len(),
                        g.axes.iter().map(|a| format!("{} x{}", a.name, a.len)).collect::<Vec<_>>().join(", "), min, max);
                }
            }
        }
        Ok(())
    }
}
