//! The worker binary the coordinator starts (locally, or in the scripts it renders):
//! `CYPLAM_WORKER`, else `cyplam-worker` beside this executable, else on PATH.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where `cyplam-worker` is.
pub fn worker_path() -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    find_worker(std::env::var_os("CYPLAM_WORKER"), &exe, std::env::var_os("PATH"))
}

/// `CYPLAM_WORKER` (which must name a file), else `cyplam-worker` beside `exe`, else on `path`.
/// When none is found, what to do that finds it: where to put it, or what to set.
fn find_worker(var: Option<OsString>, exe: &Path, path: Option<OsString>) -> anyhow::Result<PathBuf> {
    let beside = exe.with_file_name("cyplam-worker");
    if let Some(p) = var.filter(|v| !v.is_empty()).map(PathBuf::from) {
        if p.is_file() {
            return Ok(p);
        }
        let what = if p.is_dir() { "a directory" } else { "no file" };
        anyhow::bail!(
            "CYPLAM_WORKER is {}, {what}; set it to the cyplam-worker binary, or unset it (cyplam then takes {} or the one on PATH)",
            p.display(),
            beside.display()
        );
    }
    if beside.is_file() {
        return Ok(beside);
    }
    if let Some(p) = std::env::split_paths(&path.unwrap_or_default()).map(|d| d.join("cyplam-worker")).find(|p| p.is_file()) {
        return Ok(p);
    }
    // In a cargo build directory (target/debug, target/release), cargo puts the worker beside cyplam.
    let profile =
        exe.parent().filter(|d| d.parent().and_then(|t| t.file_name()).is_some_and(|t| t == "target")).and_then(|d| d.file_name()).and_then(|p| p.to_str());
    let build = match profile {
        Some("debug") => " (`cargo build --workspace` in the source tree builds it there)".to_string(),
        Some(p) => {
            format!(" (`cargo build --workspace --profile {p}` in the source tree builds it there)")
        }
        None => String::new(),
    };
    anyhow::bail!(
        "cyplam-worker was found neither beside {} nor on PATH; put it at {}{build}, or set CYPLAM_WORKER to its path",
        exe.display(),
        beside.display()
    )
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_worker_is_told_where_to_go_and_a_wrong_cyplam_worker_is_named() {
        let t = tempfile::tempdir().unwrap();
        let exe = t.path().join("target/release/cyplam");
        std::fs::create_dir_all(exe.parent().unwrap()).unwrap();
        let e = find_worker(None, &exe, None).unwrap_err().to_string();
        assert_eq!(e, format!("cyplam-worker was found neither beside {} nor on PATH; put it at {} (`cargo build --workspace --profile release` in the source tree builds it there), or set CYPLAM_WORKER to its path",
            exe.display(), t.path().join("target/release/cyplam-worker").display()));
        // Following the advice finds it.
        std::fs::write(exe.with_file_name("cyplam-worker"), b"").unwrap();
        assert_eq!(find_worker(None, &exe, None).unwrap(), exe.with_file_name("cyplam-worker"));

        let elsewhere = t.path().join("bin/cyplam");
        let e = find_worker(None, &elsewhere, Some(t.path().join("nothing-here").into_os_string())).unwrap_err().to_string();
        assert!(e.ends_with(&format!("put it at {}, or set CYPLAM_WORKER to its path", t.path().join("bin/cyplam-worker").display())), "{e}");
        let e = find_worker(Some(t.path().join("gone").into_os_string()), &elsewhere, None).unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "CYPLAM_WORKER is {}, no file; set it to the cyplam-worker binary, or unset it (cyplam then takes {} or the one on PATH)",
                t.path().join("gone").display(),
                t.path().join("bin/cyplam-worker").display()
            )
        );
        let e = find_worker(Some(t.path().as_os_str().to_owned()), &elsewhere, None).unwrap_err().to_string();
        assert!(e.contains(", a directory; set it to the cyplam-worker binary"), "{e}");
        // On PATH.
        let found = find_worker(None, &elsewhere, Some(exe.parent().unwrap().as_os_str().to_owned())).unwrap();
        assert_eq!(found, exe.with_file_name("cyplam-worker"));
    }
}
