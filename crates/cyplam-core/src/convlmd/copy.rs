//! Copying one checked source file into a set directory: a chunk of rows at a time, each frame
//! cropped to its central 28 x 28, every label and id checked as it goes.

use super::error::{label_at, recording_id, ConvlmdError};
use super::source::{Pixels, Source};
use super::{SetSummary, CHUNK_ROWS, INPUT_SCALE};
use crate::data::{npy_header, DatasetMeta, META_FILE};
use crate::files::{write_json_atomic, AtomicFile};
use cyplam_hdf5::{Native, Want};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The three `.npy` files of a set, streamed.
struct SetFiles {
    frames: (PathBuf, AtomicFile),
    labels: (PathBuf, AtomicFile),
    tracks: (PathBuf, AtomicFile),
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> ConvlmdError + '_ {
    move |error| ConvlmdError::Write { path: path.to_path_buf(), error }
}

impl SetFiles {
    fn create(dir: &Path, n: usize, pixels: Pixels) -> Result<SetFiles, ConvlmdError> {
        let file = |name: &str, descr: &str, shape: &[usize]| -> Result<(PathBuf, AtomicFile), ConvlmdError> {
            let p = dir.join(name);
            let mut f = AtomicFile::create(&p).map_err(write_err(&p))?;
            f.write_all(&npy_header(descr, shape)).map_err(write_err(&p))?;
            Ok((p, f))
        };
        Ok(SetFiles {
            frames: file("frames.npy", pixels.descr(), &[n, 28, 28])?,
            labels: file("labels.npy", "<f4", &[n, 2])?,
            tracks: file("tracks.npy", "<i8", &[n])?,
        })
    }
    fn commit(self) -> Result<(), ConvlmdError> {
        for (p, f) in [self.frames, self.labels, self.tracks] {
            f.commit().map_err(write_err(&p))?;
        }
        Ok(())
    }
}

/// What the rows of a set held, gathered while they are copied.
struct Seen {
    tracks: BTreeMap<i64, usize>,
    min_value: f64,
    max_value: f64,
}

/// Copies `src` into the set directory `dir` (which exists); the summary names `shown` as the
/// set's directory (where it will be once put in place).
pub(super) fn copy_set(src: &Source, dir: &Path, shown: &Path) -> Result<SetSummary, ConvlmdError> {
    // The files are little-endian; the rows come native-endian.
    if cfg!(target_endian = "big") {
        return Err(ConvlmdError::Write { path: dir.to_path_buf(), error: std::io::Error::other("big-endian hosts are not supported") });
    }
    let n = src.table.rows;
    let side = src.side;
    let wants = [
        Want { name: "image".into(), native: src.pixels.native(), dims: vec![side, side] },
        Want { name: "power".into(), native: Native::F64, dims: vec![] },
        Want { name: "velocity".into(), native: Native::F64, dims: vec![] },
        Want { name: "id_recording".into(), native: src.id, dims: vec![] },
    ];
    let layout = src.table.layout(&wants)?;
    let mut out = SetFiles::create(dir, n, src.pixels)?;
    let mut buf = Vec::new();
    let (mut fbuf, mut lbuf, mut tbuf) = (Vec::new(), Vec::new(), Vec::new());
    let mut seen = Seen { tracks: BTreeMap::new(), min_value: f64::INFINITY, max_value: f64::NEG_INFINITY };
    for start in (0..n).step_by(CHUNK_ROWS) {
        let count = CHUNK_ROWS.min(n - start);
        src.table.read(&layout, start, count, &mut buf)?;
        fbuf.clear();
        lbuf.clear();
        tbuf.clear();
        for (k, row) in buf.chunks_exact(layout.row_bytes).enumerate() {
            let r = start + k;
            crop(src, r, &row[layout.offsets[0]..], &mut fbuf, &mut seen)?;
            let f64_at = |o: usize| f64::from_ne_bytes(row[o..o + 8].try_into().unwrap_or([0; 8]));
            lbuf.extend_from_slice(&label_at(&src.path, r, "power", f64_at(layout.offsets[1]))?.to_le_bytes());
            lbuf.extend_from_slice(&label_at(&src.path, r, "velocity", f64_at(layout.offsets[2]))?.to_le_bytes());
            let o_id = layout.offsets[3];
            let id = recording_id(&src.path, r, src.id, row[o_id..o_id + 8].try_into().unwrap_or([0; 8]))?;
            tbuf.extend_from_slice(&id.to_le_bytes());
            *seen.tracks.entry(id).or_insert(0) += 1;
        }
        out.frames.1.write_all(&fbuf).map_err(write_err(&out.frames.0))?;
        out.labels.1.write_all(&lbuf).map_err(write_err(&out.labels.0))?;
        out.tracks.1.write_all(&tbuf).map_err(write_err(&out.tracks.0))?;
    }
    out.commit()?;
    let meta = DatasetMeta {
        source: format!("ConvLMD {}", src.path.display()),
        input_scale: Some(INPUT_SCALE),
        note: Some("the lab's training code divides every frame by 255".into()),
    };
    let mp = dir.join(META_FILE);
    write_json_atomic(&mp, &meta).map_err(write_err(&mp))?;
    Ok(SetSummary {
        source: src.path.clone(),
        dir: shown.to_path_buf(),
        frames: n,
        image: src.image.clone(),
        tracks: seen.tracks,
        min_value: seen.min_value,
        max_value: seen.max_value,
    })
}

/// Appends the central 28 x 28 of the frame at the start of `image` (row `r`) to `out`, checking
/// float pixels are finite.
fn crop(src: &Source, r: usize, image: &[u8], out: &mut Vec<u8>, seen: &mut Seen) -> Result<(), ConvlmdError> {
    let (side, px) = (src.side, src.pixels.bytes());
    let lo = (side - 28) / 2;
    let float = matches!(src.pixels, Pixels::F32 | Pixels::F64);
    for y in 0..28 {
        let at = ((y + lo) * side + lo) * px;
        let line = &image[at..at + 28 * px];
        for (x, b) in line.chunks_exact(px).enumerate() {
            let v = src.pixels.value(b);
            if float && !v.is_finite() {
                return Err(ConvlmdError::BadFrame { path: src.path.clone(), row: r, value: v, y, x });
            }
            seen.min_value = seen.min_value.min(v);
            seen.max_value = seen.max_value.max(v);
        }
        out.extend_from_slice(line);
    }
    Ok(())
}
