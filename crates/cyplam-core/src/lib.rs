//! Shared by the cyplam coordinator and worker: grid files and their expansion, model specs,
//! the files a worker leaves on disk, the Accuracy20% metric, data set checks, synthetic data and
//! importers.

#[cfg(feature = "convlmd")]
pub mod convlmd;
pub mod data;
pub mod datashow;
pub mod files;
pub mod grid;
pub mod import;
pub mod metric;
pub mod spec;
pub mod synth;
pub mod tensorboard;
