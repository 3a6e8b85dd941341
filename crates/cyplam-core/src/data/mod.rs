//! Data sets: a directory with `frames.npy` (N x 784 or N x 28 x 28; float32, float64, uint8 or
//! uint16), `labels.npy` (N x 2: laser power, process speed; float32 or float64, all > 0) and
//! optionally `tracks.npy` (N recording ids) and `dataset.json` (where the set came from and the
//! input scale it asks for; see `DatasetMeta`). Header checks are cheap (what `cyplam submit` runs
//! before submitting); loading checks every value.
//!
//! By concern: `npy.rs` (the `.npy` format: header grammar, sizes, reading values), `set.rs`
//! (what a data set directory holds, checked from the headers), `meta.rs` (`dataset.json`),
//! `values.rs` (the rules every value obeys, checked loading a set into memory or streaming it).

mod meta;
mod npy;
mod set;
mod values;

pub use meta::{read_meta, DatasetMeta, META_FILE};
pub use npy::{c_index, npy_header, parse_npy_header, read_npy_f32, read_npy_header, stream_values, Dtype, NpyHeader, NpyHeaderError};
pub use set::{check_dataset, check_frames_header, check_labels_header, DatasetInfo};
pub use values::{check_values, load_dataset, read_frames, read_labels, Dataset, Values};

use std::path::{Path, PathBuf};

/// A problem with a data file, naming the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct DataError {
    pub path: PathBuf,
    pub message: String,
}

fn derr(path: &Path, message: impl Into<String>) -> DataError {
    DataError { path: path.to_path_buf(), message: message.into() }
}

/// The link of `path` (itself or a directory on its way) whose links lead back to themselves,
/// and the loop as `a -> b -> a`; None when following its links ends.
fn symlink_loop(path: &Path) -> Option<(PathBuf, String)> {
    // The path itself first, then each directory above it.
    for p in path.ancestors().filter(|p| !p.as_os_str().is_empty()) {
        let start = lexical(&std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf()));
        let mut chain = vec![start.clone()];
        let mut at = start;
        while let Ok(target) = std::fs::read_link(&at) {
            let next = lexical(&at.parent().map(|d| d.join(&target)).unwrap_or(target));
            let looped = chain.iter().any(|c| c == &next);
            chain.push(next.clone());
            if looped {
                return Some((p.to_path_buf(), chain.iter().map(|c| c.display().to_string()).collect::<Vec<_>>().join(" -> ")));
            }
            // The kernel's own limit on links followed.
            if chain.len() > 40 {
                return None;
            }
            at = next;
        }
    }
    None
}

/// `path` with `.` and `name/..` taken out, by its text (for comparing links, not for opening).
fn lexical(path: &Path) -> PathBuf {
    use std::path::Component;
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir if matches!(out.components().next_back(), Some(Component::Normal(_))) => {
                out.pop();
            }
            c => out.push(c),
        }
    }
    out
}

/// The error for `path` when it, or a directory on its way, is a symbolic link loop: the link
/// named, the loop, and what the link should point at (`what` for `path` itself, `parent` for
/// the directory holding it, when the caller knows what that is).
fn loop_error(path: &Path, what: &str, parent: Option<&str>) -> Option<DataError> {
    let (at, chain) = symlink_loop(path)?;
    let what = match parent {
        _ if at == path => what,
        Some(p) if Some(at.as_path()) == path.parent() => p,
        _ => "the directory it stands for",
    };
    Some(derr(&at, format!("is a symbolic link loop ({chain}); point the link at {what}")))
}

#[cfg(test)]
mod tests;
