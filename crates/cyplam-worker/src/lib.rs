//! cyplam-worker: trains and validates models of a cyplam sweep with libtorch, on a Slurm compute
//! node (inside an array task) or on the local machine (`cyplam run`).

pub mod cli;
pub mod lock;
pub mod malloc;
pub mod model;
pub mod predict;
pub mod run;
pub mod train;
