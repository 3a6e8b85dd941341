//! glibc's allocator settings for the worker process.
//!
//! A training step allocates and frees the same few-megabyte tensors (activations, gradients,
//! oneDNN workspaces) every iteration. With glibc's defaults the larger ones are served by fresh
//! `mmap`s, and freed memory above 128 KiB at the top of the heap is given back to the kernel, so
//! each step pays page faults and the zeroing of new pages (12 % of a step in the profile of
//! docs/performance.md). Raising the mmap threshold to its maximum (32 MiB) and the trim threshold
//! to 1 GiB keeps that memory in the process: 15 % less time per step, measured by `bench/run`.
//!
//! glibc reads these settings (`GLIBC_TUNABLES`) only when a process starts, and setting them
//! with `mallopt` would need unsafe code, which the workspace forbids. So the worker, when started
//! without them, replaces itself (`exec`, same process id, arguments and environment) with a copy
//! that has them. `CYPLAM_MALLOC_TUNING=0` turns this off; a `GLIBC_TUNABLES` that already sets
//! `glibc.malloc.mmap_threshold` is left as it is.

/// What the worker adds to `GLIBC_TUNABLES`.
pub const TUNABLES: &str = "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824";

/// The `GLIBC_TUNABLES` value to start with, or None when the current one should stay.
pub fn wanted(current: Option<&str>, switch: Option<&str>) -> Option<String> {
    if switch == Some("0") {
        return None;
    }
    match current {
        Some(c) if c.contains("glibc.malloc.mmap_threshold") => None,
        Some(c) if !c.is_empty() => Some(format!("{c}:{TUNABLES}")),
        _ => Some(TUNABLES.to_string()),
    }
}

/// Re-executes the running program with the allocator settings when it lacks them. Returns only
/// when nothing was to be done or the exec failed (the program then goes on with glibc's
/// defaults, after a warning): never call it after threads or files that matter were started.
pub fn ensure_tunables() {
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::process::CommandExt;
        let current = std::env::var("GLIBC_TUNABLES").ok();
        let switch = std::env::var("CYPLAM_MALLOC_TUNING").ok();
        let Some(value) = wanted(current.as_deref(), switch.as_deref()) else { return };
        let Ok(exe) = std::env::current_exe() else { return };
        let mut args = std::env::args_os();
        let arg0 = args.next().unwrap_or_else(|| exe.clone().into_os_string());
        let err = std::process::Command::new(&exe).arg0(arg0).args(args).env("GLIBC_TUNABLES", value).exec();
        eprintln!("warning: could not restart {} with glibc allocator settings ({err}); going on with the defaults", exe.display());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tunables_are_added_once_and_never_override_the_users() {
        assert_eq!(wanted(None, None).as_deref(), Some(TUNABLES));
        assert_eq!(wanted(Some(""), None).as_deref(), Some(TUNABLES));
        assert_eq!(wanted(Some("glibc.pthread.rseq=0"), None), Some(format!("glibc.pthread.rseq=0:{TUNABLES}")));
        assert_eq!(wanted(Some(TUNABLES), None), None);
        assert_eq!(wanted(Some("glibc.malloc.mmap_threshold=65536"), None), None);
        assert_eq!(wanted(None, Some("0")), None);
        assert_eq!(wanted(None, Some("1")).as_deref(), Some(TUNABLES));
    }
}
