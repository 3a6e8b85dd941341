//! The error of a data file, naming the file, and what a path that cannot be followed (a
//! symbolic link loop) is told.

use std::path::{Path, PathBuf};

/// A problem with a data file, naming the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct DataError {
    pub path: PathBuf,
    pub message: String,
}

pub(super) fn derr(path: &Path, message: impl Into<String>) -> DataError {
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
pub(super) fn loop_error(path: &Path, what: &str, parent: Option<&str>) -> Option<DataError> {
    let (at, chain) = symlink_loop(path)?;
    let what = match parent {
        _ if at == path => what,
        Some(p) if Some(at.as_path()) == path.parent() => p,
        _ => "the directory it stands for",
    };
    Some(derr(&at, format!("is a symbolic link loop ({chain}); point the link at {what}")))
}
