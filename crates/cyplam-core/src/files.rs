//! The files a sweep directory holds and a worker leaves on disk, shared by the coordinator (which
//! reads them) and the worker (which writes them): the frozen sweep, each model's metrics file and
//! result file, and the atomic write every one of them goes through.

use crate::grid::Grid;
use crate::layout::SweepDir;
use crate::metrics_csv::{parse_metrics, MetricsLineError, MetricsRow};
use crate::spec::ModelSpec;
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

/// Version of the sweep and result file formats written by this build.
pub const FORMAT_VERSION: u32 = 1;

/// Exit code of a worker that was asked to stop (SIGTERM, SIGUSR1) and left a checkpoint:
/// "preempted, resume me" (EX_TEMPFAIL).
pub const EXIT_PREEMPTED: i32 = 75;
/// Exit code of a worker that found the model locked by another live worker.
pub const EXIT_LOCKED: i32 = 73;

/// A problem with one of a sweep's files, naming the file (and the line, for line-based files).
#[derive(Debug, thiserror::Error)]
pub enum FileError {
    #[error("{}: {error}", path.display())]
    Io { path: PathBuf, error: std::io::Error },
    #[error("{}: {error}", path.display())]
    Json { path: PathBuf, error: serde_json::Error },
    #[error("{}:{line}: {message}", path.display())]
    Line { path: PathBuf, line: usize, message: String },
    #[error("{}: written by a newer cyplam (format {found}, this one reads {FORMAT_VERSION})", path.display())]
    NewerFormat { path: PathBuf, found: u32 },
    /// The file reads, but what it says cannot be so.
    #[error("{}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("cannot create the directory {}: {} is a file, not a directory; give another path or move the file", path.display(), file.display())]
    NotADirectory { path: PathBuf, file: PathBuf },
}

/// Creates a directory and its parents; a file standing where a directory is expected is named
/// as such (not "File exists"). Every directory cyplam and its worker create goes through here.
pub fn create_dir(path: &Path) -> Result<(), FileError> {
    std::fs::create_dir_all(path).map_err(|error| match path.ancestors().find(|a| !a.as_os_str().is_empty() && a.exists() && !a.is_dir()) {
        Some(file) => FileError::NotADirectory { path: path.to_path_buf(), file: file.to_path_buf() },
        None => FileError::Io { path: path.to_path_buf(), error },
    })
}

/// The name a file is written under before it is renamed into place: `.<name>.partial.<pid>` in
/// the same directory (hidden, and never taken for the finished file).
pub fn partial_path(path: &Path) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "file".into());
    path.with_file_name(format!(".{name}.partial.{}", std::process::id()))
}

/// The one atomic write: `write` fills the temporary file [`partial_path`], which is then synced
/// and renamed to `path` (and the rename made durable), so a crash leaves either the old file or
/// the new one, never a torn one. On any failure the temporary file is removed. `io_error` turns a
/// failed sync or rename (of the temporary file) into the caller's error type.
pub fn write_atomic_with<E>(path: &Path, write: impl FnOnce(&Path) -> Result<(), E>, io_error: impl FnOnce(&Path, std::io::Error) -> E) -> Result<(), E> {
    let tmp = partial_path(path);
    let result =
        write(&tmp).and_then(|()| std::fs::File::open(&tmp).and_then(|f| f.sync_all()).and_then(|()| put_in_place(&tmp, path)).map_err(|e| io_error(&tmp, e)));
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Renames a synced temporary file over `path` and makes the rename durable.
fn put_in_place(tmp: &Path, path: &Path) -> std::io::Result<()> {
    std::fs::rename(tmp, path)?;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically ([`write_atomic_with`]).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    write_atomic_with(path, |tmp| std::fs::File::create(tmp).and_then(|mut f| f.write_all(bytes)), |_, e| e)
}

/// The streaming form of the atomic write, for a file written in pieces (an import that never
/// holds the whole file): the bytes go to [`partial_path`], which `commit` syncs and puts in
/// place as [`write_atomic_with`] does. Dropped without `commit` (an error on the way), the
/// temporary file is removed.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> std::io::Result<AtomicFile> {
        let tmp = partial_path(path);
        let f = std::fs::File::create(&tmp)?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp, out: Some(std::io::BufWriter::with_capacity(1 << 20, f)) })
    }

    /// Flushes and syncs the bytes, then puts the file in place.
    pub fn commit(mut self) -> std::io::Result<()> {
        let Some(out) = self.out.take() else { return Err(std::io::Error::other("already committed")) };
        let result = out.into_inner().map_err(|e| e.into_error()).and_then(|f| f.sync_all()).and_then(|()| put_in_place(&self.tmp, &self.path));
        if result.is_err() {
            let _ = std::fs::remove_file(&self.tmp);
        }
        result
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match &mut self.out {
            Some(o) => o.write(buf),
            None => Err(std::io::Error::other("already committed")),
        }
    }
    fn flush(&mut self) -> std::io::Result<()> {
        match &mut self.out {
            Some(o) => o.flush(),
            None => Ok(()),
        }
    }
}

impl Drop for AtomicFile {
    fn drop(&mut self) {
        if self.out.take().is_some() {
            let _ = std::fs::remove_file(&self.tmp);
        }
    }
}

/// JSON, pretty, written atomically.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> std::io::Result<()> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    bytes.push(b'\n');
    write_atomic(path, &bytes)
}

/// Reads a JSON file, with the path in the error.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, FileError> {
    let text = std::fs::read_to_string(path).map_err(|error| FileError::Io { path: path.to_path_buf(), error })?;
    serde_json::from_str(&text).map_err(|error| FileError::Json { path: path.to_path_buf(), error })
}

/// Reads a sweep's `sweep.json`, refusing one written in a newer format.
pub fn load_sweep(dir: &SweepDir) -> Result<SweepFile, FileError> {
    let path = dir.sweep_json();
    let sweep: SweepFile = read_json(&path)?;
    if sweep.format > FORMAT_VERSION {
        return Err(FileError::NewerFormat { path, found: sweep.format });
    }
    Ok(sweep)
}

impl SweepDir {
    /// [`load_sweep`].
    pub fn load(&self) -> Result<SweepFile, FileError> {
        load_sweep(self)
    }
}

/// `sweep.json`: the frozen sweep.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepFile {
    pub format: u32,
    pub name: String,
    /// The grid file the sweep was frozen from, and the SHA-256 of its text.
    pub source: PathBuf,
    pub grid_sha256: String,
    pub created_unix: u64,
    pub grid: Grid,
}

impl SweepFile {
    pub fn model(&self, index: usize) -> Option<&ModelSpec> {
        self.grid.models.get(index)
    }
    pub fn model_by_name(&self, name: &str) -> Option<&ModelSpec> {
        self.grid.models.iter().find(|m| m.name == name)
    }
}

/// How a model's training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    Completed,
    Failed,
    Preempted,
    /// Successive halving: trained to the end of its rung (`rung`), checkpoint kept; the rung's
    /// decision says whether it goes on.
    Waiting,
    /// Successive halving: not among the best of its rung (`rung`), or failed in it; its files
    /// and curve are kept.
    Pruned,
}

impl ResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Preempted => "preempted",
            Self::Waiting => "waiting",
            Self::Pruned => "pruned",
        }
    }
}

/// `result.json`: written (atomically) when a worker stops working on a model.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelResult {
    pub format: u32,
    pub sweep: String,
    pub model: String,
    pub index: usize,
    pub status: ResultStatus,
    /// Why it failed or stopped.
    pub reason: Option<String>,
    pub best_accuracy20: Option<f64>,
    pub best_iteration: Option<u64>,
    pub iterations_done: u64,
    pub iterations_total: u64,
    pub snapshots_done: u32,
    /// Seconds spent training and validating, summed over every run of this model.
    pub train_seconds: f64,
    pub free_params: u64,
    pub host: String,
    pub threads: u32,
    pub device: String,
    pub libtorch: String,
    pub started_unix: u64,
    pub finished_unix: u64,
    /// How many times this model was resumed from a checkpoint.
    pub resumes: u32,
    /// Successive halving: the rung (from 0) the model trained in last.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rung: Option<u32>,
}

impl ModelResult {
    /// The result of `spec` in sweep `sweep` before anything was done: `status`, no counts, no
    /// best, and the fields of the run (host, threads, device, libtorch) empty for the worker to
    /// fill in.
    pub fn empty(sweep: &str, spec: &ModelSpec, status: ResultStatus) -> ModelResult {
        let now = now_unix();
        ModelResult {
            format: FORMAT_VERSION,
            sweep: sweep.to_string(),
            model: spec.name.clone(),
            index: spec.index,
            status,
            reason: None,
            best_accuracy20: None,
            best_iteration: None,
            iterations_done: 0,
            iterations_total: 0,
            snapshots_done: 0,
            train_seconds: 0.0,
            free_params: spec.free_params,
            host: String::new(),
            threads: 0,
            device: String::new(),
            libtorch: String::new(),
            started_unix: now,
            finished_unix: now,
            resumes: 0,
            rung: None,
        }
    }

    /// Checks that a result read from `path` is the one of model `name` (index `index`), that its
    /// best Accuracy20% is between 0 and 1 and, when the model's metrics rows are at hand, that
    /// its best is one of them.
    pub fn check(&self, path: &Path, name: &str, index: usize, rows: Option<&[MetricsRow]>) -> Result<(), FileError> {
        let invalid = |message: String| Err(FileError::Invalid { path: path.to_path_buf(), message });
        if self.model != name || self.index != index {
            return invalid(format!("the result of {} (index {}), not of {name} (index {index})", self.model, self.index));
        }
        if let Some(b) = self.best_accuracy20 {
            if !(0.0..=1.0).contains(&b) {
                return invalid(format!("best_accuracy20 {b} is not between 0 and 1"));
            }
        }
        if let (Some(rows), Some(it), Some(acc)) = (rows, self.best_iteration, self.best_accuracy20) {
            if !rows.iter().any(|r| r.iteration == it && (r.validation_accuracy20 - acc).abs() <= 1e-6) {
                return invalid(format!("says the best validation Accuracy20% is {acc} at iteration {it}, which no row of the metrics file holds"));
            }
        }
        Ok(())
    }
}

/// Reads a metrics file up to its last complete row: a line cut by a crash (no final newline) is
/// ignored. A complete line that does not parse is an error naming the file and line.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>, FileError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(error) => return Err(FileError::Io { path: path.to_path_buf(), error }),
    };
    parse_metrics(&text).map_err(|MetricsLineError { line, message }| FileError::Line { path: path.to_path_buf(), line, message })
}

/// This machine's host name (as `hostname` prints it), the one name every cyplam file and record
/// uses for it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics_csv::{best_row, METRICS_HEADER};

    fn row(it: u64, acc: f64) -> MetricsRow {
        MetricsRow { iteration: it, train_loss: 0.5, train_accuracy20: acc, validation_loss: 0.25, validation_accuracy20: acc, elapsed_seconds: it as f64 }
    }

    #[test]
    fn metrics_round_trip_and_torn_last_line() {
        let mut text = format!("{METRICS_HEADER}\n");
        text += &row(10, 0.5).to_csv_line();
        text += &row(20, 0.75).to_csv_line();
        let rows = parse_metrics(&text).unwrap();
        assert_eq!(rows, vec![row(10, 0.5), row(20, 0.75)]);
        // A crash in the middle of the third row: the first two are read, the third ignored.
        let torn = format!("{text}30,0.1,0.");
        assert_eq!(parse_metrics(&torn).unwrap().len(), 2);
        // Only a header cut in half: nothing.
        assert_eq!(parse_metrics("iteration,tr").unwrap().len(), 0);
    }

    #[test]
    fn a_bad_complete_line_is_named() {
        let text = format!("{METRICS_HEADER}\n10,1,0.5,1,0.5,1\n20,x,0.5,1,0.5,1\n");
        let MetricsLineError { line, message: msg } = parse_metrics(&text).unwrap_err();
        assert_eq!(line, 3);
        assert!(msg.contains("field 2 \"x\""), "{msg}");
    }

    #[test]
    fn best_row_is_the_first_maximum() {
        let rows = vec![row(1, 0.2), row(2, 0.8), row(3, 0.8), row(4, 0.1)];
        assert_eq!(best_row(&rows).unwrap().iteration, 2);
        assert!(best_row(&[]).is_none());
    }

    #[test]
    fn a_diverged_row_is_kept_but_never_the_best() {
        let text = format!("{METRICS_HEADER}\n10,1,0.5,1,0.5,1\n20,NaN,NaN,NaN,NaN,2\n30,inf,0.1,inf,0.1,3\n");
        let rows = parse_metrics(&text).unwrap();
        assert_eq!(rows.len(), 3);
        assert!(rows[1].validation_loss.is_nan() && !rows[1].is_finite());
        assert_eq!(best_row(&rows).unwrap().iteration, 10);
        let all_nan = parse_metrics(&format!("{METRICS_HEADER}\n20,NaN,NaN,NaN,NaN,2\n")).unwrap();
        assert!(best_row(&all_nan).is_none());
    }

    #[test]
    fn values_out_of_range_are_refused_with_the_line() {
        for (bad, says) in [
            ("20,1,1.5,1,0.5,1", "train_accuracy20 1.5 is not between 0 and 1"),
            ("20,1,0.5,1,-0.1,1", "validation_accuracy20 -0.1 is not between 0 and 1"),
            ("20,1,0.5,1,inf,1", "validation_accuracy20 inf is not between 0 and 1"),
            ("20,-1,0.5,1,0.5,1", "train_loss -1 is negative"),
            ("20,1,0.5,1,0.5,NaN", "elapsed_seconds NaN is not a time"),
            ("5,1,0.5,1,0.5,1", "iteration 5 after iteration 10: the rows must rise"),
            ("10,1,0.5,1,0.5,1", "iteration 10 after iteration 10"),
        ] {
            let text = format!("{METRICS_HEADER}\n10,1,0.5,1,0.5,1\n{bad}\n");
            let MetricsLineError { line, message: msg } = parse_metrics(&text).unwrap_err();
            assert_eq!(line, 3, "{bad}");
            assert!(msg.contains(says), "{bad}: {msg}");
        }
    }

    #[test]
    fn atomic_write_replaces_whole_files() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("result.json");
        write_atomic(&p, b"first").unwrap();
        write_atomic(&p, b"second").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"second");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(leftovers.len(), 1, "no temporary file is left behind");
    }

    #[test]
    fn an_atomic_file_appears_only_when_committed() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("frames.npy");
        let mut f = AtomicFile::create(&p).unwrap();
        f.write_all(b"part one, ").unwrap();
        assert!(!p.exists(), "nothing at the path before the commit");
        f.write_all(b"part two").unwrap();
        f.commit().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"part one, part two");
        let mut g = AtomicFile::create(&p).unwrap();
        g.write_all(b"torn").unwrap();
        drop(g);
        assert_eq!(std::fs::read(&p).unwrap(), b"part one, part two", "an abandoned write leaves the old file");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1, "and no temporary file");
    }
}
