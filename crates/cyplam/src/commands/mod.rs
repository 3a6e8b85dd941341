//! One file per `cyplam` subcommand: its clap arguments and one `run` taking the command's
//! context ([`crate::ctx::Ctx`]). The work they share lives in the domain modules (sweep, state,
//! submission, db, slurm, report, scaling).

pub mod cancel;
pub mod collect;
pub mod completions;
pub mod data;
pub mod doctor;
pub mod grid;
pub mod prune;
pub mod report;
pub mod resubmit;
pub mod run;
pub mod scale;
pub mod status;
pub mod submit;
