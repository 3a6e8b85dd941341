//! The worker binary the coordinator starts (locally, or in the scripts it renders):
//! `CYPLAM_WORKER`, else `cyplam-worker` beside this executable, else on PATH.

use std::path::PathBuf;

/// Where `cyplam-worker` is.
pub fn worker_path() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("CYPLAM_WORKER") {
        return Ok(PathBuf::from(p));
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

/// `cyplam-worker --version`'s line (it names the libtorch the worker was built against), or why
/// it could not be had.
pub fn worker_version() -> String {
    match worker_path() {
        Ok(p) => match std::process::Command::new(&p).arg("--version").output() {
            Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_string(),
            Ok(o) => format!("{} --version failed ({})", p.display(), o.status),
            Err(e) => format!("{}: {e}", p.display()),
        },
        Err(e) => format!("{e:#}"),
    }
}
