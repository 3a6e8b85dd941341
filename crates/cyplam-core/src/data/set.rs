//! What a data set directory holds, checked from the headers alone (cheap: what `cyplam submit`
//! checks first): the files present, their dtypes and shapes, the counts equal.

use super::error::{derr, loop_error, DataError};
use super::npy::{dtype_error, read_npy_header, Dtype};
use std::path::{Path, PathBuf};

/// What the headers of a data set say.
#[derive(Debug, Clone, PartialEq)]
pub struct DatasetInfo {
    pub dir: PathBuf,
    pub frames: usize,
    pub frames_dtype: Dtype,
    pub labels_dtype: Dtype,
    pub has_tracks: bool,
}

/// Checks the header of a frames file; returns the frame count and dtype.
pub fn check_frames_header(fpath: &Path) -> Result<(usize, Dtype), DataError> {
    let fh = read_npy_header(fpath)?;
    let dtype = match fh.dtype() {
        Some(d @ (Dtype::F32 | Dtype::F64 | Dtype::U8 | Dtype::U16)) => d,
        _ => return Err(dtype_error(fpath, &fh, "float32, float64, uint8, uint16")),
    };
    let n = match fh.shape.as_slice() {
        [n, 784] | [n, 28, 28] => *n,
        s => return Err(derr(fpath, format!("shape {s:?} is not valid; expected (N, 784) or (N, 28, 28)"))),
    };
    if n == 0 {
        return Err(derr(fpath, "the file holds no frames"));
    }
    Ok((n, dtype))
}

/// Checks the header of a labels file against `n` frames (of `frames_path`); returns the dtype.
pub fn check_labels_header(lpath: &Path, n: usize, frames_path: &Path) -> Result<Dtype, DataError> {
    let lh = read_npy_header(lpath)?;
    let dtype = match lh.dtype() {
        Some(d @ (Dtype::F32 | Dtype::F64)) => d,
        _ => return Err(dtype_error(lpath, &lh, "float32, float64")),
    };
    match lh.shape.as_slice() {
        [m, 2] if *m == n => Ok(dtype),
        [m, 2] => Err(derr(lpath, format!("{m} labels for {n} frames in {}; the counts must be equal", frames_path.display()))),
        s => Err(derr(lpath, format!("shape {s:?} is not valid; expected (N, 2): laser power, process speed"))),
    }
}

/// Checks a data set's headers: files present, dtypes and shapes valid, counts equal.
pub fn check_dataset(dir: &Path) -> Result<DatasetInfo, DataError> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => {
            let hint = match dir.file_name().and_then(|n| n.to_str()) {
                Some("frames.npy" | "labels.npy" | "tracks.npy") => "; name the directory that holds it",
                _ => "",
            };
            return Err(derr(dir, format!("is a file, not a data set directory (a directory holding frames.npy and labels.npy){hint}")));
        }
        Err(e) => {
            if let Some(looped) = loop_error(dir, "the data set directory", None) {
                return Err(looped);
            }
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(derr(dir, format!("cannot be read as a data set directory: {e}")));
            }
            if let Ok(target) = std::fs::read_link(dir) {
                return Err(derr(dir, format!("is a symbolic link to {}, which does not exist", target.display())));
            }
            return Err(derr(dir, "the data set directory does not exist (create one with `cyplam data synth --out DIR`)"));
        }
    }
    let fpath = dir.join("frames.npy");
    let lpath = dir.join("labels.npy");
    let tpath = dir.join("tracks.npy");
    let (n, frames_dtype) = check_frames_header(&fpath)?;
    let labels_dtype = check_labels_header(&lpath, n, &fpath)?;
    let has_tracks = tpath.exists();
    if has_tracks {
        let th = read_npy_header(&tpath)?;
        match th.shape.as_slice() {
            [m] if *m == n => {}
            s => return Err(derr(&tpath, format!("shape {s:?} is not valid; expected ({n},), one recording id per frame"))),
        }
        if !matches!(th.dtype(), Some(Dtype::I32 | Dtype::I64 | Dtype::U8 | Dtype::U16)) {
            return Err(dtype_error(&tpath, &th, "int32, int64, uint8, uint16"));
        }
    }
    Ok(DatasetInfo { dir: dir.to_path_buf(), frames: n, frames_dtype, labels_dtype, has_tracks })
}
