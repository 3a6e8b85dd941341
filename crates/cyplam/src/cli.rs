//! The `cyplam` command line: a root with the global options and one subcommand per verb. This
//! file only parses and dispatches; each verb is a file under `commands/`.

use crate::commands::{cancel, collect, completions, data, doctor, grid, prune, report, resubmit, run, scale, status, submit};
use crate::ctx::{Ctx, Global};
use crate::slurm::{Scheduler, Slurm};
use anyhow::Result;
use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(name = "cyplam", version, about = "Run neural-network hyper-parameter sweeps on Slurm, gather results in SQLite, rank them")]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
#[allow(clippy::large_enum_variant)] // parsed once per process: boxing buys nothing
pub enum Command {
    /// Expand a grid file and print its models.
    Grid(grid::GridArgs),
    /// Make or import data sets.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Check a grid and its data, freeze the sweep and submit it as a Slurm job array.
    Submit(submit::SubmitArgs),
    /// Submit again the models of a sweep that failed, were preempted or were lost.
    Resubmit(resubmit::ResubmitArgs),
    /// Run a sweep on this machine, without Slurm, with the same worker, files and database.
    Run(run::RunArgs),
    /// Where each model of a sweep stands.
    Status(status::StatusArgs),
    /// Ingest the workers' files into the database (status and report do it too).
    Collect(collect::CollectArgs),
    /// Rank the models of a sweep, or show one model's learning curve.
    Report(report::ReportArgs),
    /// Cancel a sweep's Slurm jobs.
    Cancel(cancel::CancelArgs),
    /// Withdraw models from a halving sweep, so that their rung is decided without them.
    Prune(prune::PruneArgs),
    /// The scalability study: time the grid's models per core count, measure packings, recommend one.
    Scale(scale::ScaleArgs),
    /// Check, before a study, that it would run here: worker, runs directory, Slurm, partition, packing, a compute node.
    Doctor(doctor::DoctorArgs),
    /// Print a shell completion script (bash, zsh, fish, ...).
    Completions(completions::CompletionsArgs),
}

impl Command {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        match self {
            Command::Grid(a) => a.run(ctx).await,
            Command::Data(a) => a.run(ctx).await,
            Command::Submit(a) => a.run(ctx).await,
            Command::Resubmit(a) => a.run(ctx).await,
            Command::Run(a) => a.run(ctx).await,
            Command::Status(a) => a.run(ctx).await,
            Command::Collect(a) => a.run(ctx).await,
            Command::Report(a) => a.run(ctx).await,
            Command::Cancel(a) => a.run(ctx).await,
            Command::Prune(a) => a.run(ctx).await,
            Command::Scale(a) => a.run(ctx).await,
            Command::Doctor(a) => a.run(ctx).await,
            Command::Completions(a) => a.run(&mut <Cli as clap::CommandFactory>::command()),
        }
    }
}

/// `cyplam --version`: this version, and the worker's (which names the libtorch it was built
/// against).
fn version() -> String {
    format!("cyplam {}\nworker: {}", env!("CARGO_PKG_VERSION"), crate::worker::worker_version())
}

pub fn main() -> std::process::ExitCode {
    // clap's own --version knows only this crate's version; the worker's libtorch is asked at
    // run time.
    if matches!(std::env::args().nth(1).as_deref(), Some("--version" | "-V")) {
        return exit(crate::output::outln!("{}", version()).map_err(Into::into));
    }
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
    let ctx = Ctx::new(cli.global, &Slurm);
    exit(rt.block_on(cli.command.run(&ctx)))
}

/// The exit status of a command's outcome, its error said on stderr.
fn exit(outcome: Result<()>) -> std::process::ExitCode {
    match outcome {
        Ok(()) => std::process::ExitCode::SUCCESS,
        // Said already ("stopped; ... resumes"); 128 + SIGINT, as a shell reports it.
        Err(e) if e.downcast_ref::<run::Interrupted>().is_some() => std::process::ExitCode::from(130),
        Err(e) => {
            // A closed pipe (`cyplam report | head`) is not an error: every line a command
            // prints goes through `output::out!`/`outln!`, which return the write's error
            // (`println!` would panic on it) for the command to stop on and hand back here.
            if e.chain().any(|c| c.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)) {
                return std::process::ExitCode::SUCCESS;
            }
            eprintln!("cyplam: error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
