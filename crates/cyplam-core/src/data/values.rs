//! The values of a data set: every frame value finite, every label finite and > 0 (Accuracy20%
//! divides by them), checked when a set is loaded into memory (the worker) and, a chunk at a
//! time, before anything is submitted (`check_values`).

use super::error::{derr, DataError};
use super::npy::{c_index, read_npy_f32, read_npy_header, stream_values, Dtype};
use super::set::{check_dataset, check_frames_header, check_labels_header, DatasetInfo};
use std::path::Path;

/// A data set in memory: frames as f32 in stored units, labels as f32.
#[derive(Debug, Clone)]
pub struct Dataset {
    pub info: DatasetInfo,
    /// N * 784 values, frame after frame.
    pub frames: Vec<f32>,
    /// N * 2 values: LP, PS.
    pub labels: Vec<f32>,
}

impl Dataset {
    pub fn len(&self) -> usize {
        self.info.frames
    }
    pub fn is_empty(&self) -> bool {
        self.info.frames == 0
    }
    /// Largest frame value.
    pub fn max_value(&self) -> f32 {
        self.frames.iter().copied().fold(0.0, f32::max)
    }
}

/// The rule every value of one kind of file obeys, and what a value that breaks it is told.
struct Rule {
    bad: fn(f32) -> bool,
    /// The message for bad value `value` at C-order position `at` of the file.
    message: fn(&Path, usize, f32) -> DataError,
}

/// Frames: every value finite.
const FRAMES: Rule =
    Rule { bad: |v| !v.is_finite(), message: |path, at, v| derr(path, format!("frame {} holds a non-finite value ({v}) at pixel {}", at / 784, at % 784)) };

/// Labels (laser power, then process speed, per row): finite and > 0.
const LABELS: Rule = Rule {
    bad: |v| !(v.is_finite() && v > 0.0),
    message: |path, at, v| {
        let what = if at % 2 == 0 { "laser power" } else { "process speed" };
        if v.is_finite() {
            derr(path, format!("row {} holds a {what} of {v}; labels must be > 0 (Accuracy20% divides by them)", at / 2))
        } else {
            derr(path, format!("row {} holds a non-finite {what} ({v})", at / 2))
        }
    },
};

impl Rule {
    /// The first bad value of `values` (in C order), as an error.
    fn check(&self, path: &Path, values: &[f32]) -> Result<(), DataError> {
        match values.iter().position(|&v| (self.bad)(v)) {
            Some(at) => Err((self.message)(path, at, values[at])),
            None => Ok(()),
        }
    }
}

/// Reads a frames file (checked header, every value finite): N * 784 values.
pub fn read_frames(fpath: &Path) -> Result<Vec<f32>, DataError> {
    check_frames_header(fpath)?;
    let (_, frames) = read_npy_f32(fpath)?;
    FRAMES.check(fpath, &frames)?;
    Ok(frames)
}

/// Reads a labels file for `n` frames (every value finite and > 0): N * 2 values.
pub fn read_labels(lpath: &Path, n: usize, frames_path: &Path) -> Result<Vec<f32>, DataError> {
    check_labels_header(lpath, n, frames_path)?;
    let (_, labels) = read_npy_f32(lpath)?;
    LABELS.check(lpath, &labels)?;
    Ok(labels)
}

/// Loads a data set and checks every value: frames finite, labels finite and > 0.
pub fn load_dataset(dir: &Path) -> Result<Dataset, DataError> {
    let info = check_dataset(dir)?;
    let fpath = dir.join("frames.npy");
    let frames = read_frames(&fpath)?;
    let labels = read_labels(&dir.join("labels.npy"), info.frames, &fpath)?;
    Ok(Dataset { info, frames, labels })
}

/// What streaming a data set's values found (every one valid).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Values {
    /// The largest frame value (what `input_scale = "max"` divides by).
    pub max_frame: f32,
}

/// Values decoded at a time by [`check_values`]: 256 KiB of f32, whatever the set's size.
const STREAM_CHUNK: usize = 65536;

/// Checks every value of a data set as [`load_dataset`] does (frames finite, labels finite and
/// > 0, the same messages: the file, the row and the value) without holding the set in memory:
/// > each file is streamed once, a chunk at a time. What `cyplam submit`, its dry run and
/// > `cyplam run` check before a worker is started.
pub fn check_values(dir: &Path) -> Result<Values, DataError> {
    let info = check_dataset(dir)?;
    let mut max_frame = f32::NEG_INFINITY;
    // Integer frames are finite by construction: only their largest value is looked for.
    let frames_rule = if matches!(info.frames_dtype, Dtype::F32 | Dtype::F64) { Some(&FRAMES) } else { None };
    stream_checked(&dir.join("frames.npy"), info.frames_dtype, frames_rule, |chunk| {
        max_frame = chunk.iter().copied().fold(max_frame, f32::max);
    })?;
    stream_checked(&dir.join("labels.npy"), info.labels_dtype, Some(&LABELS), |_| {})?;
    Ok(Values { max_frame })
}

/// Streams the values of `path`, giving each chunk to `each`, and reports the first value that
/// breaks `rule` in C order. A C-ordered file stops at the first; a Fortran-ordered one is read
/// to its end, keeping the bad value that comes first in C order, so the message is the one
/// [`load_dataset`] gives.
fn stream_checked(path: &Path, dtype: Dtype, rule: Option<&Rule>, mut each: impl FnMut(&[f32])) -> Result<(), DataError> {
    let h = read_npy_header(path)?;
    let mut first: Option<(usize, f32)> = None;
    stream_values(path, &h, dtype, STREAM_CHUNK, |start, chunk| {
        each(chunk);
        let Some(rule) = rule else { return Ok(()) };
        for (k, &v) in chunk.iter().enumerate() {
            if !(rule.bad)(v) {
                continue;
            }
            let at = c_index(&h.shape, h.fortran_order, start + k);
            if !h.fortran_order {
                return Err((rule.message)(path, at, v));
            }
            if first.is_none_or(|(f, _)| at < f) {
                first = Some((at, v));
            }
        }
        Ok(())
    })?;
    match (first, rule) {
        (Some((at, v)), Some(rule)) => Err((rule.message)(path, at, v)),
        _ => Ok(()),
    }
}
