//! cyplam-worker: trains and validates models of a cyplam sweep with libtorch, on a Slurm compute
//! node (inside an array task) or on the local machine (`cyplam run`).
#![cfg_attr(test, allow(clippy::unwrap_used))] // tests fail by panicking: an unwrap there is the check

pub mod adam;
pub mod args;
pub mod checkpoint;
pub mod cli;
pub mod eval;
pub mod lock;
pub mod malloc;
pub mod model;
pub mod predict;
pub mod prepare;
pub mod probe;
pub mod round;
pub mod run;
pub mod rung;
pub mod safetensors;
pub mod schedule;
pub mod train;
pub mod weights;

/// libtorch version the worker was built against.
pub const LIBTORCH_VERSION: &str = env!("CYPLAM_LIBTORCH_VERSION");

/// libtorch's random generator is one per process, shared by the unit tests that run in parallel
/// threads: a test whose result depends on its seed (the bf16 convergence test) takes this lock,
/// and so does every test that draws random numbers, so that none draws in between.
#[cfg(test)]
pub(crate) fn torch_rng_lock() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}
