//! The values of a data set: every frame value finite, every label finite and > 0 (Accuracy20%
//! divides by them), checked when a set is loaded into memory (the worker).

use super::npy::read_npy_f32;
use super::set::{check_dataset, check_frames_header, check_labels_header, DatasetInfo};
use super::{derr, DataError};
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

/// Reads a frames file (checked header, every value finite): N * 784 values.
pub fn read_frames(fpath: &Path) -> Result<Vec<f32>, DataError> {
    check_frames_header(fpath)?;
    let (_, frames) = read_npy_f32(fpath)?;
    if let Some(i) = frames.iter().position(|x| !x.is_finite()) {
        return Err(derr(fpath, format!("frame {} holds a non-finite value ({}) at pixel {}", i / 784, frames[i], i % 784)));
    }
    Ok(frames)
}

/// Reads a labels file for `n` frames (every value finite and > 0): N * 2 values.
pub fn read_labels(lpath: &Path, n: usize, frames_path: &Path) -> Result<Vec<f32>, DataError> {
    check_labels_header(lpath, n, frames_path)?;
    let (_, labels) = read_npy_f32(lpath)?;
    for (i, x) in labels.iter().enumerate() {
        let what = if i % 2 == 0 { "laser power" } else { "process speed" };
        if !x.is_finite() {
            return Err(derr(lpath, format!("row {} holds a non-finite {what} ({x})", i / 2)));
        }
        if *x <= 0.0 {
            return Err(derr(lpath, format!(
                "row {} holds a {what} of {x}; labels must be > 0 (Accuracy20% divides by them)", i / 2)));
        }
    }
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
