//! Shared by the cyplam coordinator and worker: grid files and their expansion, model specs,
//! the layout and formats of the files a sweep keeps on disk, how models pack into array tasks
//! and how a worker is started, the Accuracy20% metric and data set checks.

pub mod data;
pub mod files;
pub mod grid;
pub mod import;
pub mod invocation;
pub mod layout;
pub mod metric;
pub mod packing;
pub mod rng;
pub mod spec;
pub mod synth;
pub mod tensorboard;
