//! Shared by the cyplam coordinator and worker: grid files and their expansion, model specs,
//! the layout and formats of the files a sweep keeps on disk, how models pack into array tasks
//! and how a worker is started, what each Slurm job state means, the Accuracy20% metric, data set
//! checks, synthetic data and importers.
#![cfg_attr(test, allow(clippy::unwrap_used))] // tests fail by panicking: an unwrap there is the check

#[cfg(feature = "convlmd")]
pub mod convlmd;
pub mod curve;
pub mod data;
pub mod datashow;
pub mod files;
pub mod forecast;
pub mod grid;
pub mod halving;
pub mod import;
pub mod invocation;
pub mod layout;
pub mod memory;
pub mod metric;
pub mod metrics_csv;
pub mod packing;
pub mod probe;
pub mod rng;
pub mod search;
pub mod slurm_state;
pub mod spec;
pub mod stopping;
pub mod synth;
pub mod tensorboard;
