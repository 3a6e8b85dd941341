//! The `cyplam` command line: a root with the global options (runs directory, database) and one
//! subcommand per verb; each verb's work lives in its own module.

use crate::db::Db;
use crate::slurm::{Scheduler, Slurm};
use crate::sweep;
use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

#[derive(Parser, Debug)]
#[command(name = "cyplam", version, about = "Run neural-network hyper-parameter sweeps on Slurm, gather results in SQLite, rank them")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Args, Debug, Clone)]
pub struct Global {
    /// Where sweeps live: RUNS/<sweep>/.
    #[arg(long, global = true, env = "CYPLAM_RUNS", default_value = "runs")]
    pub runs_dir: PathBuf,
    /// The results database; default RUNS/cyplam.db.
    #[arg(long, global = true, env = "CYPLAM_DB")]
    pub db: Option<PathBuf>,
}

impl Global {
    pub fn db_path(&self) -> PathBuf {
        self.db.clone().unwrap_or_else(|| self.runs_dir.join("cyplam.db"))
    }
    pub async fn open_db(&self) -> Result<Db> {
        Db::open(&self.db_path()).await
    }
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Expand a grid file and print its models.
    Grid(GridArgs),
    /// Make or import data sets.
    #[command(subcommand)]
    Data(crate::data_cmd::DataCommand),
    /// Check a grid and its data, freeze the sweep and submit it as a Slurm job array.
    Submit(crate::submit::SubmitArgs),
    /// Submit again the models of a sweep that failed, were preempted or were lost.
    Resubmit(crate::submit::ResubmitArgs),
    /// Run a sweep on this machine, without Slurm, with the same worker, files and database.
    Run(crate::local::RunArgs),
    /// Where each model of a sweep stands.
    Status(crate::status::StatusArgs),
    /// Ingest the workers' files into the database (status and report do it too).
    Collect(SweepArg),
    /// Rank the models of a sweep, or show one model's learning curve.
    Report(crate::report::ReportArgs),
    /// Cancel a sweep's Slurm jobs.
    Cancel(SweepArg),
    /// The scalability study: time the grid's models per core count, measure packings, recommend one.
    Scale(crate::scale::ScaleArgs),
}

#[derive(Args, Debug)]
pub struct SweepArg {
    /// Sweep name (or directory); default: the newest sweep in the database.
    pub sweep: Option<String>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
    Markdown,
}

#[derive(Args, Debug)]
pub struct GridArgs {
    /// The grid file (TOML).
    pub file: PathBuf,
    #[arg(long, value_enum, default_value = "table")]
    pub format: Format,
}

pub fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_env("CYPLAM_LOG").unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .try_init();
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cyplam: error: starting the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match rt.block_on(dispatch(cli)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            // A closed pipe (`cyplam report | head`) is not an error.
            if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return std::process::ExitCode::SUCCESS;
            }
            eprintln!("cyplam: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

pub async fn dispatch(cli: Cli) -> Result<()> {
    let g = cli.global;
    match cli.command {
        Command::Grid(a) => grid(&a),
        Command::Data(c) => crate::data_cmd::run(c),
        Command::Submit(a) => crate::submit::submit(&g, &a, &Slurm).await,
        Command::Resubmit(a) => crate::submit::resubmit(&g, &a, &Slurm).await,
        Command::Run(a) => crate::local::run(&g, &a).await,
        Command::Status(a) => crate::status::run(&g, &a, &Slurm).await,
        Command::Collect(a) => {
            let db = g.open_db().await?;
            let f = sweep::pick(&g.runs_dir, &db, a.sweep.as_deref()).await?;
            let id = db.register_sweep(&f.dir, &f.sweep).await?;
            let n = db.collect(id, &f.dir, &f.sweep).await?;
            println!("collected {n} model(s) of sweep {} into {}", f.sweep.name, g.db_path().display());
            Ok(())
        }
        Command::Report(a) => crate::report::run(&g, &a).await,
        Command::Cancel(a) => cancel(&g, &a, &Slurm).await,
        Command::Scale(a) => crate::scale::run(&g, &a, &Slurm).await,
    }
}

fn grid(a: &GridArgs) -> Result<()> {
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
            crate::report::print_rows(&header, &rows, a.format)?;
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

async fn cancel<S: Scheduler>(g: &Global, a: &SweepArg, s: &S) -> Result<()> {
    let db = g.open_db().await?;
    let f = sweep::pick(&g.runs_dir, &db, a.sweep.as_deref()).await?;
    let id = db.sweep_id(&f.sweep.name).await?.context("the sweep is not in the database")?;
    let jobs: Vec<String> = db.submissions(id).await?.into_iter().filter(|s| s.backend == "slurm").map(|s| s.job_id).collect();
    if jobs.is_empty() {
        println!("sweep {} has no Slurm jobs", f.sweep.name);
        return Ok(());
    }
    s.cancel(&jobs).await?;
    println!("cancelled job(s) {} of sweep {}; workers checkpoint on SIGTERM, `cyplam submit` resumes them", jobs.join(", "), f.sweep.name);
    Ok(())
}
