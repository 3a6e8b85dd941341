//! cyplam, the coordinator: turns a grid file into a Slurm job array (or a local run), follows the
//! sweep, gathers the workers' results into SQLite and ranks the models. docs/architecture.md maps
//! the modules: `cli` parses, `commands/` holds one file per verb, `ctx` opens sweeps, and the
//! domain modules below do the work.
#![cfg_attr(test, allow(clippy::unwrap_used))] // tests fail by panicking: an unwrap there is the check

pub mod args;
pub mod cli;
pub mod commands;
pub mod ctx;
pub mod data_page;
pub mod db;
pub mod doctor;
pub mod halving;
pub mod launch;
pub mod output;
pub mod plot;
pub mod report;
pub mod rounds;
pub mod scaling;
pub mod slurm;
pub mod state;
pub mod submission;
pub mod sweep;
pub mod worker;
