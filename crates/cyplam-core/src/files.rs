//! The files a sweep directory holds and a worker leaves on disk, shared by the coordinator (which
//! reads them) and the worker (which writes them): the frozen sweep, each model's metrics file and
//! result file, and the atomic write every one of them goes through.

use crate::grid::Grid;
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

/// Writes `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// crash leaves either the old file or the new one, never a torn one.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut f = AtomicFile::create(path)?;
    f.write_all(bytes)?;
    f.commit()
}

/// A file written in pieces that appears at `path` only once complete: the bytes go to a
/// temporary file beside it (`.<name>.tmp.<pid>`), which `commit` syncs and renames over `path`.
/// Dropped without `commit` (an error on the way), the temporary file is removed.
pub struct AtomicFile {
    path: PathBuf,
    tmp: PathBuf,
    out: Option<std::io::BufWriter<std::fs::File>>,
}

impl AtomicFile {
    pub fn create(path: &Path) -> std::io::Result<AtomicFile> {
        let dir = path.parent().unwrap_or(Path::new("."));
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("file");
        let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
        let f = std::fs::File::create(&tmp)?;
        Ok(AtomicFile { path: path.to_path_buf(), tmp, out: Some(std::io::BufWriter::with_capacity(1 << 20, f)) })
    }

    /// Flushes and syncs the bytes, then renames the file into place (and syncs the directory).
    pub fn commit(mut self) -> std::io::Result<()> {
        let Some(out) = self.out.take() else { return Err(std::io::Error::other("already committed")) };
        let result = (|| {
            let f = out.into_inner().map_err(|e| e.into_error())?;
            f.sync_all()?;
            drop(f);
            std::fs::rename(&self.tmp, &self.path)?;
            // Make the rename itself durable.
            if let Ok(d) = std::fs::File::open(self.path.parent().unwrap_or(Path::new("."))) {
                let _ = d.sync_all();
            }
            Ok(())
        })();
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
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// Layout of a sweep directory `RUNS/<name>/`.
#[derive(Debug, Clone)]
pub struct SweepDir {
    pub root: PathBuf,
}

impl SweepDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        SweepDir { root: root.into() }
    }
    /// The frozen, fully resolved sweep the workers read.
    pub fn sweep_json(&self) -> PathBuf {
        self.root.join("sweep.json")
    }
    /// A copy of the grid file as it was when the sweep was frozen.
    pub fn grid_copy(&self) -> PathBuf {
        self.root.join("grid.toml")
    }
    pub fn models_dir(&self) -> PathBuf {
        self.root.join("models")
    }
    pub fn model_dir(&self, name: &str) -> PathBuf {
        self.models_dir().join(name)
    }
    pub fn logs_dir(&self) -> PathBuf {
        self.root.join("logs")
    }
    pub fn submit_dir(&self) -> PathBuf {
        self.root.join("submit")
    }
    pub fn load(&self) -> Result<SweepFile, String> {
        let sweep: SweepFile = read_json(&self.sweep_json())?;
        if sweep.format > FORMAT_VERSION {
            return Err(format!(
                "{}: written by a newer cyplam (format {}, this one reads {FORMAT_VERSION})",
                self.sweep_json().display(),
                sweep.format
            ));
        }
        Ok(sweep)
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

/// Files of one model's directory.
#[derive(Debug, Clone)]
pub struct ModelDir {
    pub root: PathBuf,
}

impl ModelDir {
    pub fn new(root: impl Into<PathBuf>) -> Self {
        ModelDir { root: root.into() }
    }
    pub fn metrics(&self) -> PathBuf {
        self.root.join("metrics.csv")
    }
    pub fn result(&self) -> PathBuf {
        self.root.join("result.json")
    }
    pub fn best(&self) -> PathBuf {
        self.root.join("best.safetensors")
    }
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    pub fn snapshot(&self, iteration: u64) -> PathBuf {
        self.snapshots_dir().join(format!("iter-{iteration:09}.safetensors"))
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.root.join("checkpoint")
    }
    pub fn lock(&self) -> PathBuf {
        self.root.join("lock")
    }
    pub fn log(&self) -> PathBuf {
        self.root.join("worker.log")
    }
}

/// How a model's training ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResultStatus {
    Completed,
    Failed,
    Preempted,
}

impl ResultStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Preempted => "preempted",
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
}

/// One learning-curve point: a row of `metrics.csv`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    pub iteration: u64,
    pub train_loss: f64,
    pub train_accuracy20: f64,
    pub validation_loss: f64,
    pub validation_accuracy20: f64,
    /// Training seconds up to this snapshot (summed over resumes).
    pub elapsed_seconds: f64,
}

pub const METRICS_HEADER: &str =
    "iteration,train_loss,train_accuracy20,validation_loss,validation_accuracy20,elapsed_seconds";

impl MetricsRow {
    pub fn to_csv_line(&self) -> String {
        format!(
            "{},{:.9e},{:.9},{:.9e},{:.9},{:.3}\n",
            self.iteration,
            self.train_loss,
            self.train_accuracy20,
            self.validation_loss,
            self.validation_accuracy20,
            self.elapsed_seconds
        )
    }
}

/// Reads a metrics file up to its last complete row: a line cut by a crash (no final newline) is
/// ignored. A complete line that does not parse is an error naming the file and line.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>, String> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(format!("{}: {e}", path.display())),
    };
    parse_metrics(&text).map_err(|(line, m)| format!("{}:{line}: {m}", path.display()))
}

/// Parses metrics text; see [`read_metrics`]. Errors carry the 1-based line.
pub fn parse_metrics(text: &str) -> Result<Vec<MetricsRow>, (usize, String)> {
    let complete = match text.rfind('\n') {
        Some(i) => &text[..=i],
        None => "",
    };
    let mut rows = Vec::new();
    for (i, line) in complete.lines().enumerate() {
        if i == 0 {
            if line != METRICS_HEADER {
                return Err((1, format!("unexpected header {line:?}; expected {METRICS_HEADER:?}")));
            }
            continue;
        }
        let f: Vec<&str> = line.split(',').collect();
        if f.len() != 6 {
            return Err((i + 1, format!("expected 6 fields, found {}", f.len())));
        }
        let num = |j: usize| -> Result<f64, (usize, String)> {
            f[j].parse::<f64>().map_err(|e| (i + 1, format!("field {} {:?}: {e}", j + 1, f[j])))
        };
        let iteration = f[0].parse::<u64>().map_err(|e| (i + 1, format!("iteration {:?}: {e}", f[0])))?;
        rows.push(MetricsRow {
            iteration,
            train_loss: num(1)?,
            train_accuracy20: num(2)?,
            validation_loss: num(3)?,
            validation_accuracy20: num(4)?,
            elapsed_seconds: num(5)?,
        });
    }
    Ok(rows)
}

/// The row with the best validation Accuracy20% (the first one on ties).
pub fn best_row(rows: &[MetricsRow]) -> Option<&MetricsRow> {
    rows.iter().fold(None, |best: Option<&MetricsRow>, r| match best {
        Some(b) if b.validation_accuracy20 >= r.validation_accuracy20 => Some(b),
        _ => Some(r),
    })
}

/// This machine's host name (as `hostname` prints it), the one name every cyplam file and record
/// uses for it.
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "localhost".into())
}

/// Seconds since the Unix epoch.
pub fn now_unix() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(it: u64, acc: f64) -> MetricsRow {
        MetricsRow {
            iteration: it,
            train_loss: 0.5,
            train_accuracy20: acc,
            validation_loss: 0.25,
            validation_accuracy20: acc,
            elapsed_seconds: it as f64,
        }
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
        let (line, msg) = parse_metrics(&text).unwrap_err();
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
