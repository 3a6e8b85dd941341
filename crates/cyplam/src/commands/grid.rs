//! `cyplam grid GRID`: expands a grid file and prints its models (index, name, architecture, the
//! settings that vary, free parameters).

use crate::ctx::Ctx;
use crate::output::{outln, print_rows, Format};
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
        let g = cyplam_core::grid::load(&self.file)?;
        let varying = g.varying_settings();
        let mut cols: Vec<&str> = vec!["wc1", "ncv1", "wc2", "ncv2", "nfc1"];
        for v in &varying {
            if !cols.contains(v) {
                cols.push(v);
            }
        }
        cols.push("free_params");
        let mut header = vec!["index", "name"];
        header.extend(&cols);
        let row = |m: &cyplam_core::spec::ModelSpec| -> Vec<String> {
            let s = cyplam_core::grid::model_settings(m);
            let mut r = vec![m.index.to_string(), m.name.clone()];
            r.extend(cols.iter().map(|c| match s.get(*c) {
                // A drawn float to four figures in a table; exact in CSV and JSON.
                Some(v) if self.format == Format::Table => crate::output::short(v),
                Some(serde_json::Value::String(x)) => x.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            }));
            r
        };
        let object = |m: &cyplam_core::spec::ModelSpec| {
            let mut o = serde_json::Map::new();
            o.insert("index".into(), m.index.into());
            o.insert("name".into(), m.name.clone().into());
            for (k, v) in cyplam_core::grid::model_settings(m) {
                o.insert(k, v);
            }
            serde_json::Value::Object(o)
        };
        if g.models.len() > STREAM_ABOVE {
            stream(&g, &header, self.format, &row, &object)?;
        } else if self.format == Format::Json {
            let rows: Vec<serde_json::Value> = g.models.iter().map(object).collect();
            outln!("{}", serde_json::to_string_pretty(&rows)?)?;
        } else {
            let rows: Vec<Vec<String>> = g.models.iter().map(row).collect();
            print_rows(&header, &rows, self.format)?;
        }
        if self.format == Format::Table {
            let min = g.models.iter().map(|m| m.free_params).min().unwrap_or(0);
            let max = g.models.iter().map(|m| m.free_params).max().unwrap_or(0);
            outln!("{} models ({}), {} to {} free parameters", g.models.len(), g.axes.iter().map(|a| a.label()).collect::<Vec<_>>().join(", "), min, max)?;
            if let Some(r) = cyplam_core::search::rounds::Rounds::of(&g) {
                outln!(
                    "TPE search, seed {}: these {} models are its random start (drawn as strategy \"random\" draws them); {} more follow in {} round(s) of {}, each proposed from the scores of the models before it once they have trained",
                    r.seed,
                    r.start,
                    r.models - r.start,
                    r.last(),
                    r.batch
                )?;
            } else if let Some(s) = g.search {
                outln!(
                    "sampled search: strategy {}, seed {}: model k is the k-th distinct point drawn, so growing `models` keeps these",
                    s.strategy.as_str(),
                    s.seed
                )?;
            }
            if let Some(h) = g.halving {
                let n = g.models.len();
                let sizes: Vec<String> =
                    h.sizes(n).iter().zip(h.max_sizes(n)).map(|(&a, b)| if a == b { a.to_string() } else { format!("{a} to {b}") }).collect();
                outln!(
                    "successive halving: eta {}, {} rungs, promotion {}: {} models per rung (`submit --dry-run` gives the iterations)",
                    h.eta,
                    h.rungs,
                    h.promotion.describe(),
                    sizes.join(", ")
                )?;
            }
        }
        Ok(())
    }
}

/// Grids of more models than this are printed a row at a time (plain columns for the table, one
/// JSON object a line), never held as text in memory.
const STREAM_ABOVE: usize = 10_000;

fn stream(
    g: &cyplam_core::grid::Grid,
    header: &[&str],
    format: Format,
    row: &dyn Fn(&cyplam_core::spec::ModelSpec) -> Vec<String>,
    object: &dyn Fn(&cyplam_core::spec::ModelSpec) -> serde_json::Value,
) -> Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match format {
        Format::Json => {
            writeln!(out, "[")?;
            for (i, m) in g.models.iter().enumerate() {
                writeln!(out, "{}{}", serde_json::to_string(&object(m))?, if i + 1 < g.models.len() { "," } else { "" })?;
            }
            writeln!(out, "]")?;
        }
        Format::Csv => {
            writeln!(out, "{}", header.join(","))?;
            for m in &g.models {
                let r = row(m);
                writeln!(
                    out,
                    "{}",
                    r.iter()
                        .map(|c| if c.contains([',', '"', '\n']) { format!("\"{}\"", c.replace('"', "\"\"")) } else { c.clone() })
                        .collect::<Vec<_>>()
                        .join(",")
                )?;
            }
        }
        Format::Markdown => {
            writeln!(out, "| {} |", header.join(" | "))?;
            writeln!(out, "|{}", header.iter().map(|_| "---|").collect::<String>())?;
            for m in &g.models {
                writeln!(out, "| {} |", row(m).iter().map(|c| c.replace('|', "\\|")).collect::<Vec<_>>().join(" | "))?;
            }
        }
        Format::Table => {
            // Two passes: the column widths, then the rows.
            let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
            for m in &g.models {
                for (w, c) in widths.iter_mut().zip(row(m)) {
                    *w = (*w).max(c.chars().count());
                }
            }
            let line = |cells: &[String]| cells.iter().zip(&widths).map(|(c, w)| format!("{c:>w$}")).collect::<Vec<_>>().join("  ");
            writeln!(out, "{}", line(&header.iter().map(|h| h.to_string()).collect::<Vec<_>>()))?;
            for m in &g.models {
                writeln!(out, "{}", line(&row(m)))?;
            }
        }
    }
    out.flush()?;
    Ok(())
}
