//! The model lock through the real worker: a lock whose owner cannot be checked is never broken.

use super::*;
use cyplam_core::files::EXIT_LOCKED;
use cyplam_core::layout::ModelDir;
use std::os::unix::fs::PermissionsExt;

/// A directory holding a `squeue` that fails as it does when the controller is down.
fn failing_squeue(root: &Path) -> PathBuf {
    let bin = root.join("fake-bin");
    std::fs::create_dir_all(&bin).unwrap();
    let s = bin.join("squeue");
    std::fs::write(&s, "#!/bin/sh\necho 'slurm_load_jobs error: Unable to contact slurm controller (connect failure)' >&2\nexit 1\n").unwrap();
    std::fs::set_permissions(&s, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

#[test]
fn a_lock_of_another_host_is_kept_when_slurm_cannot_be_asked() {
    let t = tempfile::tempdir().unwrap();
    let (dir, _) = make_sweep(t.path(), "locked", TINY);
    let md = ModelDir::new(dir.join("models").join("Model-000"));
    std::fs::create_dir_all(&md.root).unwrap();
    let lock = r#"{"host":"node-17.elsewhere","pid":4242,"slurm_job":"77_5","since_unix":0}"#;
    std::fs::write(md.lock(), lock).unwrap();
    let fake = failing_squeue(t.path());
    let empty = t.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    let system_path = std::env::var("PATH").unwrap_or_default();
    for (what, path) in [("squeue failing", format!("{}:{system_path}", fake.display())), ("no squeue on PATH", empty.display().to_string())] {
        let out = Command::new(WORKER)
            .args(["--sweep", dir.to_str().unwrap(), "--model", "0"])
            .env("PATH", &path)
            .env_remove("SLURM_PROCID")
            .env_remove("SLURM_CPUS_PER_TASK")
            .env_remove("SLURM_JOB_ID")
            .output()
            .unwrap();
        let e = stderr(&out);
        assert_eq!(out.status.code(), Some(EXIT_LOCKED), "{what}: {e}");
        assert!(e.contains("the model is locked by host node-17.elsewhere, pid 4242, Slurm job 77_5"), "{what}: {e}");
        assert!(e.contains("Slurm cannot be asked about job 77_5"), "{what}: {e}");
        assert!(
            e.contains(&format!(
                "If Slurm job 77_5 no longer runs (`squeue -j 77_5` where Slurm answers lists nothing), remove {} and run again",
                md.lock().display()
            )),
            "{what}: {e}"
        );
        if what == "squeue failing" {
            assert!(e.contains("Unable to contact slurm controller"), "squeue's own words: {e}");
        }
        assert!(!e.contains("removing the stale lock"), "{what}: {e}");
        assert_eq!(std::fs::read_to_string(md.lock()).unwrap(), lock, "{what}: the lock is left as it was");
        assert!(!md.metrics().exists() && !md.result().exists(), "{what}: nothing was trained");
    }
}

#[test]
fn an_empty_lock_file_is_reported_with_the_way_to_clear_it() {
    let t = tempfile::tempdir().unwrap();
    let (dir, _) = make_sweep(t.path(), "emptylock", TINY);
    let md = ModelDir::new(dir.join("models").join("Model-000"));
    std::fs::create_dir_all(&md.root).unwrap();
    std::fs::write(md.lock(), "").unwrap();
    let out = worker(&["--sweep", dir.to_str().unwrap(), "--model", "0"]);
    let e = stderr(&out);
    assert_eq!(out.status.code(), Some(EXIT_LOCKED), "{e}");
    assert!(e.contains("the lock file is empty"), "{e}");
    assert!(e.contains(&format!("remove {} and run again", md.lock().display())), "{e}");
    assert!(!e.contains("3 tries"), "{e}");
    assert!(!md.metrics().exists(), "nothing was trained");
}
