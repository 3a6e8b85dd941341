//! Command line of `cyplam-worker`: which model(s) to train, with how many threads, on which
//! device; and `predict`, the operator's use of a trained model.

use crate::args::{index_arg, model_arg, round_arg, rung_arg, threads_arg};
use crate::run::{run_model, Outcome, RunOptions};
use anyhow::{bail, Context, Result};
use clap::{Args, Parser, Subcommand};
use cyplam_core::files::{EXIT_LOCKED, EXIT_PREEMPTED};
use cyplam_core::layout::SweepDir;
use cyplam_core::packing::Packing;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tch::Device;

#[derive(Parser, Debug)]
#[command(name = "cyplam-worker", version = concat!(env!("CARGO_PKG_VERSION"), " (libtorch ", env!("CYPLAM_LIBTORCH_VERSION"), ")"), about = "Train and validate models of a cyplam sweep",
    args_conflicts_with_subcommands = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub train: TrainArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Predict laser power and process speed for frames with a trained model's weights.
    Predict(crate::predict::PredictArgs),
    /// Check that this worker starts here and say what it runs on: its libtorch and where that
    /// was loaded from, the CPU's features, the CUDA devices (`cyplam doctor` asks it).
    Probe(crate::probe::ProbeArgs),
}

#[derive(Args, Debug)]
pub struct TrainArgs {
    /// The sweep directory (holding sweep.json); default: the current directory.
    #[arg(long, env = "CYPLAM_SWEEP")]
    pub sweep: Option<PathBuf>,
    /// Array task index: trains model `index * trainings_per_node + SLURM_PROCID`.
    #[arg(long, conflicts_with = "model", allow_negative_numbers = true, value_parser = index_arg)]
    pub index: Option<usize>,
    /// Train one model directly, by number (108) or name (Model-108).
    #[arg(long, allow_negative_numbers = true, value_parser = model_arg)]
    pub model: Option<String>,
    /// Successive halving: train in rung K (from 0) of the sweep's `[halving]`, to the rung's end.
    /// With --index, the slot picks among the models rung K-1's decision promoted (taken first if
    /// no worker took it yet).
    #[arg(long, value_name = "K", allow_negative_numbers = true, value_parser = rung_arg)]
    pub rung: Option<u32>,
    /// TPE search (`strategy = "tpe"`): train a model of round R (from 1). With --index, the slot
    /// picks among the models round R proposes (proposed first, from the scores of every model
    /// before it, if no worker did yet).
    #[arg(long, value_name = "R", conflicts_with = "rung", allow_negative_numbers = true, value_parser = round_arg)]
    pub round: Option<u32>,
    /// Threads for libtorch; default SLURM_CPUS_PER_TASK, else the model's `threads` setting.
    #[arg(long, env = "CYPLAM_WORKER_THREADS", allow_negative_numbers = true, value_parser = threads_arg)]
    pub threads: Option<u32>,
    /// Device: cpu or cuda (cuda:N for another GPU).
    #[arg(long, default_value = "cpu", env = "CYPLAM_DEVICE")]
    pub device: String,
}

fn parse_device(s: &str) -> Result<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => match s.strip_prefix("cuda:").and_then(|n| n.parse().ok()) {
            Some(n) => Ok(Device::Cuda(n)),
            None => bail!("unknown device {s:?}; valid: cpu, cuda, cuda:N"),
        },
    }
}

fn init_logging() {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("CYPLAM_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_target(false).with_writer(std::io::stderr).try_init();
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::malloc::ensure_tunables();
    init_logging();
    tracing::debug!("GLIBC_TUNABLES={}", std::env::var("GLIBC_TUNABLES").unwrap_or_default());
    let result = match cli.command {
        Some(Command::Predict(args)) => crate::predict::run(&args).map(|_| ExitCode::SUCCESS),
        Some(Command::Probe(args)) => crate::probe::run(&args).map(|_| ExitCode::SUCCESS),
        None => train(&cli.train),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            if e.downcast_ref::<crate::lock::LockError>().is_some_and(crate::lock::LockError::is_held) {
                eprintln!("cyplam-worker: {e:#}");
                return ExitCode::from(EXIT_LOCKED as u8);
            }
            eprintln!("cyplam-worker: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// Which model the invocation asks for; None when an array index points past the last model.
pub fn select_model(args: &TrainArgs, trainings_per_node: u32, count: usize, names: &[String]) -> Result<Option<usize>> {
    if let Some(m) = &args.model {
        let idx = match m.parse::<usize>() {
            Ok(i) => i,
            Err(_) => names
                .iter()
                .position(|n| n == m)
                .with_context(|| format!("no model named {m:?} in this sweep (Model-000 ... {})", names.last().map(String::as_str).unwrap_or("none")))?,
        };
        if idx >= count {
            bail!("model {idx} does not exist: the sweep has {count} models (0 ... {})", count.saturating_sub(1));
        }
        return Ok(Some(idx));
    }
    let Some(index) = args.index else { bail!("say which model to train: --index I (array task) or --model N") };
    let procid: usize = match std::env::var("SLURM_PROCID") {
        Ok(p) => p.parse().with_context(|| format!("SLURM_PROCID={p:?} is not a number"))?,
        Err(_) => 0,
    };
    let packing = Packing::new(trainings_per_node);
    if procid >= packing.per_task() as usize {
        bail!("SLURM_PROCID {procid} but the sweep packs {trainings_per_node} trainings per array task");
    }
    let idx = packing.model_at(index, procid).with_context(|| {
        format!("array index {index} is out of range: {index} x {trainings_per_node} trainings per array task + SLURM_PROCID {procid} does not fit in a model number")
    })?;
    Ok(if idx < count { Some(idx) } else { None })
}

fn train(args: &TrainArgs) -> Result<ExitCode> {
    let sweep_root = match &args.sweep {
        Some(s) => s.clone(),
        None => std::env::current_dir()?,
    };
    let sweep_dir = SweepDir::new(&sweep_root);
    let sweep =
        sweep_dir.load().with_context(|| format!("{} is not a cyplam sweep directory (no readable sweep.json); pass --sweep DIR", sweep_root.display()))?;
    // A TPE search's models: the random start and every round proposed so far (round R's, once
    // proposed here).
    let (sweep, round) = match args.round {
        Some(r) => {
            let (s, models) = crate::round::models_of_round(&sweep_dir, sweep, r)?;
            (s, Some(models))
        }
        None => (cyplam_core::search::rounds::with_proposals(&sweep_dir, sweep)?, None),
    };
    let names: Vec<String> = sweep.grid.models.iter().map(|m| m.name.clone()).collect();
    // A halving sweep's model trains rung by rung: without --rung it would train past its rung's
    // end, ahead of the decision (issue 33: it did, without a word).
    if let (Some(h), None) = (sweep.grid.halving, args.rung) {
        bail!(
            "sweep {} has a [halving] table (eta {}, {} rungs): give --rung K (0 to {}) to train a model in rung K, to that rung's end; the sbatch scripts and `cyplam run` do. Without --rung the model would train past its rung's end, ahead of the rung's decision",
            sweep.name, h.eta, h.rungs, h.rungs - 1
        );
    }
    let rung = match args.rung {
        Some(k) => Some(crate::rung::models_of_rung(&sweep_dir, &sweep, k)?),
        None => None,
    };
    // With --index in a rung (or a round), the slot picks among its models.
    let slots = match (&rung, &round) {
        (Some(r), _) if args.model.is_none() => r.models.len(),
        (_, Some(r)) if args.model.is_none() => r.len(),
        _ => names.len(),
    };
    let Some(picked) = select_model(args, sweep.grid.slurm.trainings_per_node, slots, &names)? else {
        tracing::info!(
            "array index {:?} (SLURM_PROCID {}) is past the last model ({slots} models{}): nothing to do",
            args.index,
            std::env::var("SLURM_PROCID").unwrap_or_else(|_| "0".into()),
            args.rung.map(|k| format!(" train in rung {k}")).or(args.round.map(|r| format!(" in round {r}"))).unwrap_or_default()
        );
        return Ok(ExitCode::SUCCESS);
    };
    let picked = match (&round, &args.model) {
        (Some(r), None) => r.start + picked,
        (Some(r), Some(_)) if !r.contains(&picked) => {
            bail!("{} is not a model of round {} (its models are {} to {})", names[picked], args.round.unwrap_or(0), r.start, r.end.saturating_sub(1))
        }
        _ => picked,
    };
    let idx = match &rung {
        Some(r) if args.model.is_none() => r.models[picked],
        Some(r) if !r.models.contains(&picked) => {
            tracing::info!("{} does not train in rung {} (an earlier rung pruned it): nothing to do", names[picked], r.rung);
            return Ok(ExitCode::SUCCESS);
        }
        _ => picked,
    };
    let spec = sweep.grid.models[idx].clone();
    let threads = match args.threads {
        Some(t) => t,
        None => match std::env::var("SLURM_CPUS_PER_TASK").ok().and_then(|v| v.parse().ok()) {
            Some(t) => t,
            None => spec.threads,
        },
    }
    .max(1);
    let device = parse_device(&args.device)?;
    if let Device::Cuda(_) = device {
        if !tch::Cuda::is_available() {
            bail!("--device {} asked for, but libtorch sees no CUDA device", args.device);
        }
    }
    tch::set_num_interop_threads(1);
    tch::set_num_threads(threads as i32);
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGUSR1, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&stop)).context("installing signal handlers")?;
    }
    tracing::info!(
        "{} ({}, {} free parameters) on {} with {threads} thread(s), libtorch {} from {}",
        spec.name,
        spec.arch_label(),
        spec.free_params,
        args.device,
        crate::LIBTORCH_VERSION,
        crate::probe::loaded_libtorch_dir()
    );
    let opts = RunOptions { threads, device, rung: rung.as_ref().map(|r| r.rung), stop_at: rung.as_ref().and_then(|r| r.stop_at(idx)) };
    match run_model(&sweep_root, &sweep, &spec, &opts, &stop)? {
        Outcome::Completed(_) | Outcome::AlreadyDone(_) | Outcome::Waiting(_) => Ok(ExitCode::SUCCESS),
        Outcome::Failed(r) => {
            eprintln!("cyplam-worker: {} failed: {}", spec.name, r.reason.unwrap_or_default());
            Ok(ExitCode::FAILURE)
        }
        Outcome::Preempted(_) => Ok(ExitCode::from(EXIT_PREEMPTED as u8)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(index: Option<usize>, model: Option<&str>) -> TrainArgs {
        TrainArgs { sweep: None, index, model: model.map(str::to_string), rung: None, round: None, threads: None, device: "cpu".into() }
    }

    /// Issue 23: a flag given a value it cannot take says what it accepts (not clap's
    /// "unexpected argument '-1'").
    #[test]
    fn flag_values_outside_their_range_say_what_the_flag_accepts() {
        let said = |argv: &[&str]| Cli::try_parse_from(argv).unwrap_err().to_string();
        let e = said(&["cyplam-worker", "--index", "-1"]);
        assert!(e.contains("invalid value '-1' for '--index <INDEX>': \"-1\" is not an array task index: give a whole number, 0 or more"), "{e}");
        let e = said(&["cyplam-worker", "--model", "-1"]);
        assert!(
            e.contains("invalid value '-1' for '--model <MODEL>': \"-1\" is not a model: give its number, 0 or more (108), or its name (Model-108)"),
            "{e}"
        );
        let e = said(&["cyplam-worker", "--threads", "-1"]);
        assert!(e.contains("invalid value '-1' for '--threads <THREADS>': \"-1\" is not a thread count: give a whole number, 1 or more"), "{e}");
        assert!(said(&["cyplam-worker", "--threads", "0"]).contains("\"0\" is not a thread count"));
        assert!(said(&["cyplam-worker", "--rung", "-2"]).contains("\"-2\" is not a rung: give a whole number, 0 or more"));
        assert!(said(&["cyplam-worker", "--index", "1.5"]).contains("\"1.5\" is not an array task index"));
        assert!(said(&["cyplam-worker", "predict", "--weights", "w", "--frames", "f", "--threads", "-3"]).contains("\"-3\" is not a thread count"));
        // What they accept still parses.
        let ok = Cli::try_parse_from(["cyplam-worker", "--index", "0", "--threads", "4", "--rung", "1"]).unwrap();
        assert_eq!((ok.train.index, ok.train.threads, ok.train.rung), (Some(0), Some(4), Some(1)));
        assert_eq!(Cli::try_parse_from(["cyplam-worker", "--model", "Model-108"]).unwrap().train.model.as_deref(), Some("Model-108"));
    }

    #[test]
    fn models_are_picked_by_number_name_or_array_index() {
        let names: Vec<String> = (0..3).map(|i| format!("Model-00{i}")).collect();
        let pick = |a: &TrainArgs| select_model(a, 2, 3, &names);
        assert_eq!(pick(&args(None, Some("2"))).unwrap(), Some(2));
        assert_eq!(pick(&args(None, Some("Model-001"))).unwrap(), Some(1));
        let e = pick(&args(None, Some("7"))).unwrap_err().to_string();
        assert_eq!(e, "model 7 does not exist: the sweep has 3 models (0 ... 2)");
        if std::env::var_os("SLURM_PROCID").is_none() {
            assert_eq!(pick(&args(Some(1), None)).unwrap(), Some(2));
            assert_eq!(pick(&args(Some(2), None)).unwrap(), None, "past the last model");
            // An index whose models' numbers do not fit: an error, not a wrap-around to model 0.
            let e = pick(&args(Some(usize::MAX), None)).unwrap_err().to_string();
            assert!(e.starts_with(&format!("array index {} is out of range", usize::MAX)), "{e}");
        }
    }
}
