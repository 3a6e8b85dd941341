//! cyplam, the coordinator: turns a grid file into a Slurm job array (or a local run), follows the
//! sweep, gathers the workers' results into SQLite and ranks the models.

pub mod cli;
pub mod data_cmd;
pub mod data_page;
pub mod db;
pub mod html;
pub mod local;
pub mod plot;
pub mod report;
pub mod scale;
pub mod slurm;
pub mod status;
pub mod submit;
pub mod sweep;

/// The worker binary: `CYPLAM_WORKER`, else `cyplam-worker` beside this executable, else on PATH.
pub fn worker_path() -> anyhow::Result<std::path::PathBuf> {
    if let Some(p) = std::env::var_os("CYPLAM_WORKER") {
        return Ok(std::path::PathBuf::from(p));
    }
    let exe = std::env::current_exe()?;
    let beside = exe.with_file_name("cyplam-worker");
    if beside.exists() {
        return Ok(beside);
    }
    for dir in std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default()) {
        let p = dir.join("cyplam-worker");
        if p.exists() {
            return Ok(p);
        }
    }
    anyhow::bail!("cyplam-worker was not found beside {} nor on PATH; build it (cargo build) or set CYPLAM_WORKER", exe.display())
}
