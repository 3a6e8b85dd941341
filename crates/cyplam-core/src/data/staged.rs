//! Writing a data set (`OUT/train` and `OUT/validation`) aside and putting it in place only once
//! both sets are complete. `synth` and every importer write through [`StagedSets`], so a failed
//! run leaves what OUT held before exactly as it was, and replacing an existing set needs saying
//! so (`--replace`).

use super::meta::read_meta;
use super::set::check_dataset;
use crate::files::{create_dir, partial_path, FileError};
use std::path::{Path, PathBuf};

/// The sets of a data set directory, in the order they are written and put in place.
pub const SETS: [&str; 2] = ["train", "validation"];

/// What to do when OUT already holds a set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnExisting {
    /// Refuse, naming `--replace`.
    Refuse,
    /// Replace it, once the new set is complete (`--replace`).
    Replace,
}

/// Why a data set cannot be written to OUT, or put in place there.
#[derive(Debug, thiserror::Error)]
pub enum StageError {
    #[error("{}: already holds a data set ({what}); give --replace to replace it (the new set is built aside and replaces it only once complete), or another --out", out.display())]
    Exists { out: PathBuf, what: String },
    #[error("{}: is a file, not a directory; give --out a directory (a new one, or one holding a data set, with --replace)", out.display())]
    OutIsFile { out: PathBuf },
    #[error("{}: is {what}, where the data set's `{name}` directory goes; move it away or give another --out", path.display())]
    NotASetDir { path: PathBuf, name: &'static str, what: &'static str },
    #[error(transparent)]
    Dir(#[from] FileError),
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("putting the new set in place failed ({error}) and so did putting the previous one back ({undo}); the previous sets are in {}: move them back into {}", kept.display(), out.display())]
    Stranded { out: PathBuf, kept: PathBuf, error: String, undo: String },
}

/// A data set being written aside: each set goes to [`StagedSets::set_dir`] (a hidden directory in
/// OUT, so the renames that put it in place stay on one file system); [`StagedSets::commit`] puts
/// both in place. Dropped without a commit, what was written is removed (and OUT with it when this
/// run created it), and OUT is left as it was.
#[derive(Debug)]
pub struct StagedSets {
    out: PathBuf,
    stage: PathBuf,
    /// The sets OUT holds now, described (what a commit replaces).
    replaces: Vec<String>,
    created_out: bool,
    /// Nothing more to clean up: committed, or the stage holds the previous sets after a failed undo.
    done: bool,
}

impl StagedSets {
    /// Checks OUT, writing nothing: a file there, or a set there without [`OnExisting::Replace`], is
    /// refused.
    pub fn new(out: &Path, on_existing: OnExisting) -> Result<StagedSets, StageError> {
        if out.is_file() {
            return Err(StageError::OutIsFile { out: out.to_path_buf() });
        }
        let mut replaces = Vec::new();
        for name in SETS {
            let p = out.join(name);
            match std::fs::metadata(&p) {
                Ok(m) if m.is_dir() => replaces.push(describe(&p, name)),
                Ok(_) => return Err(StageError::NotASetDir { path: p, name, what: "a file" }),
                Err(_) if p.symlink_metadata().is_ok() => return Err(StageError::NotASetDir { path: p, name, what: "a symbolic link that leads nowhere" }),
                Err(_) => {}
            }
        }
        if !replaces.is_empty() && on_existing == OnExisting::Refuse {
            return Err(StageError::Exists { out: out.to_path_buf(), what: replaces.join(", ") });
        }
        Ok(StagedSets { out: out.to_path_buf(), stage: partial_path(&out.join("sets")), replaces, created_out: false, done: false })
    }

    /// Where set `name` (one of [`SETS`]) is written; created, with OUT when it does not exist.
    pub fn set_dir(&mut self, name: &str) -> Result<PathBuf, StageError> {
        if !self.out.exists() {
            create_dir(&self.out)?;
            self.created_out = true;
        }
        let dir = self.stage.join(name);
        create_dir(&dir)?;
        Ok(dir)
    }

    /// Where set `name` will be once committed.
    pub fn final_dir(&self, name: &str) -> PathBuf {
        self.out.join(name)
    }

    /// Puts the written sets in place, each replacing the one OUT held; returns what was replaced.
    /// Should a rename fail, the renames done are undone, so OUT holds the previous sets again.
    pub fn commit(mut self) -> Result<Vec<String>, StageError> {
        let old = self.stage.join("replaced");
        create_dir(&old)?;
        let mut moved: Vec<(PathBuf, PathBuf)> = Vec::new();
        let result = SETS.iter().filter(|n| self.stage.join(n).is_dir()).try_for_each(|name| {
            let at = self.out.join(name);
            if at.symlink_metadata().is_ok() {
                rename_noted(&at, &old.join(name), &mut moved)?;
            }
            rename_noted(&self.stage.join(name), &at, &mut moved)
        });
        if let Err(e) = result {
            let undo: Vec<String> =
                moved.iter().rev().filter_map(|(from, to)| std::fs::rename(to, from).err().map(|u| format!("{}: {u}", to.display()))).collect();
            if undo.is_empty() {
                return Err(e);
            }
            self.done = true;
            return Err(StageError::Stranded { out: self.out.clone(), kept: old, error: e.to_string(), undo: undo.join("; ") });
        }
        self.done = true;
        sync_dir(&self.out);
        // The previous sets go with the stage; a failure here leaves a hidden directory, not a
        // wrong set.
        let _ = std::fs::remove_dir_all(&self.stage);
        Ok(std::mem::take(&mut self.replaces))
    }
}

impl Drop for StagedSets {
    fn drop(&mut self) {
        if self.done {
            return;
        }
        let _ = std::fs::remove_dir_all(&self.stage);
        if self.created_out {
            // Only when empty: nothing else was put there meanwhile.
            let _ = std::fs::remove_dir(&self.out);
        }
    }
}

/// `train (8000 frames, from ConvLMD /data/train_pow_speed.hdf5)`, or what the directory is when
/// it is not a readable set.
fn describe(dir: &Path, name: &str) -> String {
    match check_dataset(dir) {
        Ok(info) => {
            let source = read_meta(dir).ok().flatten().map(|m| format!(", from {}", m.source)).unwrap_or_default();
            format!("{name} ({} frames{source})", info.frames)
        }
        Err(_) => {
            let n = std::fs::read_dir(dir).map(|r| r.count()).unwrap_or(0);
            format!("{name}/, not a readable data set ({n} entries)")
        }
    }
}

/// Renames `from` to `to`, noting it in `moved` (to be undone should a later rename fail).
fn rename_noted(from: &Path, to: &Path, moved: &mut Vec<(PathBuf, PathBuf)>) -> Result<(), StageError> {
    std::fs::rename(from, to).map_err(|error| StageError::Io { path: from.to_path_buf(), error })?;
    moved.push((from.to_path_buf(), to.to_path_buf()));
    Ok(())
}

/// Makes the renames in `dir` durable.
fn sync_dir(dir: &Path) {
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_set(dir: &Path, marker: &[u8]) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("frames.npy"), marker).unwrap();
    }

    #[test]
    fn an_existing_set_is_refused_without_replace_and_replaced_whole_with_it() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        let mut s = StagedSets::new(&out, OnExisting::Refuse).unwrap();
        write_set(&s.set_dir("train").unwrap(), b"new train");
        write_set(&s.set_dir("validation").unwrap(), b"new validation");
        assert!(!out.join("train").exists(), "nothing in place before the commit");
        assert_eq!(s.commit().unwrap(), Vec::<String>::new());
        assert_eq!(std::fs::read(out.join("train/frames.npy")).unwrap(), b"new train");

        let e = StagedSets::new(&out, OnExisting::Refuse).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: already holds a data set (train/, not a readable data set (1 entries), validation/", out.display())), "{e}");
        assert!(e.contains("give --replace to replace it"), "{e}");

        let mut s = StagedSets::new(&out, OnExisting::Replace).unwrap();
        write_set(&s.set_dir("train").unwrap(), b"newer");
        write_set(&s.set_dir("validation").unwrap(), b"newer too");
        let replaced = s.commit().unwrap();
        assert_eq!(replaced.len(), 2, "{replaced:?}");
        assert_eq!(std::fs::read(out.join("validation/frames.npy")).unwrap(), b"newer too");
        let names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 2, "no stage left behind: {names:?}");
    }

    #[test]
    fn a_dropped_stage_leaves_out_as_it_was() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        write_set(&out.join("train"), b"old");
        std::fs::write(out.join("notes.txt"), b"mine").unwrap();
        {
            let mut s = StagedSets::new(&out, OnExisting::Replace).unwrap();
            write_set(&s.set_dir("train").unwrap(), b"new");
        }
        let names: Vec<String> = std::fs::read_dir(&out).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        assert_eq!(names.len(), 2, "{names:?}");
        assert_eq!(std::fs::read(out.join("train/frames.npy")).unwrap(), b"old");
        // An OUT this run created goes too.
        let fresh = t.path().join("fresh");
        drop(StagedSets::new(&fresh, OnExisting::Refuse).unwrap().set_dir("train").map(drop));
        assert!(!fresh.exists());
    }

    #[test]
    fn a_rename_failing_mid_commit_puts_the_previous_sets_back() {
        let t = tempfile::tempdir().unwrap();
        let out = t.path().join("out");
        write_set(&out.join("train"), b"old train");
        write_set(&out.join("validation"), b"old validation");
        let mut s = StagedSets::new(&out, OnExisting::Replace).unwrap();
        write_set(&s.set_dir("train").unwrap(), b"new train");
        write_set(&s.set_dir("validation").unwrap(), b"new validation");
        // Where the previous validation set is moved aside is taken: that rename fails after the
        // training set was put in place.
        let blocker = partial_path(&out.join("sets")).join("replaced/validation/x");
        std::fs::create_dir_all(&blocker).unwrap();
        let e = s.commit().unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: ", out.join("validation").display())), "{e}");
        assert_eq!(std::fs::read(out.join("train/frames.npy")).unwrap(), b"old train");
        assert_eq!(std::fs::read(out.join("validation/frames.npy")).unwrap(), b"old validation");
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2, "the stage is removed");
    }

    #[test]
    fn what_stands_in_the_way_is_named() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join("file");
        std::fs::write(&file, b"").unwrap();
        let e = StagedSets::new(&file, OnExisting::Replace).unwrap_err().to_string();
        assert_eq!(e, format!("{}: is a file, not a directory; give --out a directory (a new one, or one holding a data set, with --replace)", file.display()));
        let out = t.path().join("out");
        std::fs::create_dir_all(&out).unwrap();
        std::fs::write(out.join("validation"), b"").unwrap();
        let e = StagedSets::new(&out, OnExisting::Replace).unwrap_err().to_string();
        assert!(e.ends_with("validation: is a file, where the data set's `validation` directory goes; move it away or give another --out"), "{e}");
        let under = file.join("out");
        let e = StagedSets::new(&under, OnExisting::Refuse).unwrap().set_dir("train").unwrap_err().to_string();
        assert!(e.contains("is a file, not a directory"), "{e}");
        assert!(!e.contains("os error"), "{e}");
    }
}
