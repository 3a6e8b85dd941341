//! TensorBoard event files (`events.out.tfevents.*`), so `tensorboard --logdir runs/<sweep>` shows
//! every model's learning curves: TFRecord framing (length, masked CRC-32C) around hand-encoded
//! `Event` protocol buffers holding scalar summaries. Only what scalars need is written.

use std::io::Write;
use std::path::{Path, PathBuf};

/// CRC-32C (Castagnoli), as TFRecord uses.
pub fn crc32c(data: &[u8]) -> u32 {
    static TABLE: std::sync::OnceLock<[u32; 256]> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = [0u32; 256];
        for (i, e) in t.iter_mut().enumerate() {
            let mut c = i as u32;
            for _ in 0..8 {
                c = if c & 1 != 0 { 0x82F6_3B78 ^ (c >> 1) } else { c >> 1 };
            }
            *e = c;
        }
        t
    });
    let mut crc = !0u32;
    for &b in data {
        crc = table[((crc ^ b as u32) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

fn masked(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(0xA282_EAD8)
}

fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn key(out: &mut Vec<u8>, field: u32, wire: u8) {
    varint(out, ((field as u64) << 3) | wire as u64);
}

fn bytes_field(out: &mut Vec<u8>, field: u32, b: &[u8]) {
    key(out, field, 2);
    varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// An `Event` message: wall_time (1), step (2), and either file_version (3) or summary (5).
fn event(wall_time: f64, step: i64, file_version: Option<&str>, scalars: &[(&str, f32)]) -> Vec<u8> {
    let mut e = Vec::new();
    key(&mut e, 1, 1);
    e.extend_from_slice(&wall_time.to_le_bytes());
    if step != 0 {
        key(&mut e, 2, 0);
        varint(&mut e, step as u64);
    }
    if let Some(v) = file_version {
        bytes_field(&mut e, 3, v.as_bytes());
    }
    if !scalars.is_empty() {
        let mut summary = Vec::new();
        for (tag, value) in scalars {
            let mut v = Vec::new();
            bytes_field(&mut v, 1, tag.as_bytes());
            key(&mut v, 2, 5);
            v.extend_from_slice(&value.to_le_bytes());
            bytes_field(&mut summary, 1, &v);
        }
        bytes_field(&mut e, 5, &summary);
    }
    e
}

/// One TFRecord: length, masked CRC of the length, data, masked CRC of the data.
pub fn record(data: &[u8]) -> Vec<u8> {
    let mut r = Vec::with_capacity(data.len() + 16);
    let len = (data.len() as u64).to_le_bytes();
    r.extend_from_slice(&len);
    r.extend_from_slice(&masked(crc32c(&len)).to_le_bytes());
    r.extend_from_slice(data);
    r.extend_from_slice(&masked(crc32c(data)).to_le_bytes());
    r
}

/// Appends scalar events to one event file.
pub struct EventWriter {
    file: std::fs::File,
    pub path: PathBuf,
}

fn now() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs_f64()).unwrap_or(0.0)
}

impl EventWriter {
    /// Creates a new event file in `dir` (one per worker run, as TensorBoard expects).
    pub fn create(dir: &Path) -> std::io::Result<EventWriter> {
        std::fs::create_dir_all(dir)?;
        let host = crate::files::hostname();
        let path = dir.join(format!("events.out.tfevents.{}.{host}.{}", now() as u64, std::process::id()));
        let mut file = std::fs::OpenOptions::new().create(true).append(true).open(&path)?;
        file.write_all(&record(&event(now(), 0, Some("brain.Event:2"), &[])))?;
        file.flush()?;
        Ok(EventWriter { file, path })
    }

    /// Writes scalars at a step, and flushes.
    pub fn scalars(&mut self, step: u64, values: &[(&str, f32)]) -> std::io::Result<()> {
        self.file.write_all(&record(&event(now(), step as i64, None, values)))?;
        self.file.flush()
    }
}

/// Reads scalars back with the Python `tensorboard` package (for tests): one line per tag,
/// `tag [(step, value), ...]`. Panics with a clear message if the package is missing.
#[doc(hidden)]
pub fn read_back(dir: &Path) -> String {
    let py = format!(
        "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n\
         a = EventAccumulator({:?}); a.Reload()\n\
         for t in sorted(a.Tags()['scalars']):\n    print(t, [(e.step, round(e.value, 6)) for e in a.Scalars(t)])",
        dir.display().to_string()
    );
    let cache = std::env::var_os("CYPLAM_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/cyplam")))
        .unwrap_or_default();
    let mut path = cache.join("python").into_os_string();
    if let Some(old) = std::env::var_os("PYTHONPATH") {
        path.push(":");
        path.push(old);
    }
    let out = std::process::Command::new("python3").args(["-c", &py]).env("PYTHONPATH", path).output().expect("python3");
    assert!(
        out.status.success(),
        "reading the event files back with the tensorboard package failed (scripts/test installs it into ~/.cache/cyplam/python; set PYTHONPATH): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32c_matches_the_standard_check_value() {
        assert_eq!(crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(crc32c(b""), 0);
    }

    #[test]
    fn records_frame_their_data() {
        let r = record(b"abc");
        assert_eq!(&r[..8], &3u64.to_le_bytes());
        assert_eq!(&r[12..15], b"abc");
        assert_eq!(r.len(), 8 + 4 + 3 + 4);
    }

    /// Read back with the `tensorboard` package when it is installed (scripts/test installs it);
    /// the worker's integration test checks a real run the same way.
    #[test]
    fn tensorboard_reads_our_scalars() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = EventWriter::create(dir.path()).unwrap();
        w.scalars(10, &[("loss/train", 0.5), ("accuracy20/validation", 0.25)]).unwrap();
        w.scalars(20, &[("loss/train", 0.25), ("accuracy20/validation", 0.5)]).unwrap();
        let got = crate::tensorboard::read_back(dir.path());
        assert_eq!(got.trim(), "accuracy20/validation [(10, 0.25), (20, 0.5)]\nloss/train [(10, 0.5), (20, 0.25)]");
    }
}
