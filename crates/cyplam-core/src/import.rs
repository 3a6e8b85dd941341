//! Importing recordings kept the way the original lab kept them: one `<track>.npy` per track
//! (N x 32 x 32, 10-bit counts) and a space-separated `cords.csv` with rows `name power speed`.
//! Frames are cropped to the central 28 x 28, scaled by 1/1024, the first and last K frames of
//! each track dropped, and the tracks split into training and validation sets whole. Both sets are
//! written aside and put in place together once complete (`StagedSets`).

use crate::data::{read_npy_header, DataError, Dtype, OnExisting, StageError, StagedSets};
use crate::files::write_atomic;
use ndarray::{Array1, Array2, Array3, ArrayD};
use ndarray_npy::{ReadNpyExt, WriteNpyExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ImportOptions {
    /// Frames dropped at the start and at the end of each track.
    pub trim: usize,
    /// Fraction of the tracks (at least one) that go to the validation set.
    pub validation_fraction: f64,
    /// Seed of the track split.
    pub seed: u64,
}

impl Default for ImportOptions {
    fn default() -> Self {
        ImportOptions { trim: 2000, validation_fraction: 0.25, seed: 0 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub train_tracks: Vec<String>,
    pub validation_tracks: Vec<String>,
    pub train_frames: usize,
    pub validation_frames: usize,
    /// The sets `out` held before, replaced, described.
    pub replaced: Vec<String>,
}

/// Why tracks could not be imported: a source file, or where the set goes.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Data(#[from] DataError),
    #[error(transparent)]
    Output(#[from] StageError),
}

fn derr(path: &Path, m: impl Into<String>) -> DataError {
    DataError { path: path.to_path_buf(), message: m.into() }
}

struct Track {
    name: String,
    power: f32,
    speed: f32,
    frames: Vec<f32>,
}

/// Reads `cords.csv`: rows `name power speed`, separated by spaces; `#` starts a comment.
pub fn read_cords(path: &Path) -> Result<Vec<(String, f32, f32)>, DataError> {
    let text = std::fs::read_to_string(path).map_err(|e| derr(path, e.to_string()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 3 {
            return Err(derr(path, format!("line {}: expected `name power speed`, found {} fields", i + 1, f.len())));
        }
        let num = |s: &str, what: &str| -> Result<f32, DataError> {
            let v: f32 = s.parse().map_err(|_| derr(path, format!("line {}: {what} {s:?} is not a number", i + 1)))?;
            if !(v.is_finite() && v > 0.0) {
                return Err(derr(path, format!("line {}: {what} {v} must be > 0", i + 1)));
            }
            Ok(v)
        };
        // A header line (`name power speed`) is allowed.
        if i == 0 && f[1].parse::<f32>().is_err() {
            continue;
        }
        out.push((f[0].to_string(), num(f[1], "power")?, num(f[2], "speed")?));
    }
    if out.is_empty() {
        return Err(derr(path, "no tracks listed"));
    }
    Ok(out)
}

fn read_track(path: &Path, trim: usize) -> Result<Vec<f32>, DataError> {
    let h = read_npy_header(path)?;
    match h.shape.as_slice() {
        [_, 32, 32] => {}
        s => return Err(derr(path, format!("shape {s:?} is not valid; a track is (N, 32, 32)"))),
    }
    let f = std::fs::File::open(path).map_err(|e| derr(path, e.to_string()))?;
    let r = std::io::BufReader::new(f);
    let data: Vec<f32> = match h.dtype() {
        Some(Dtype::U16) => ArrayD::<u16>::read_npy(r).map_err(|e| derr(path, e.to_string()))?.iter().map(|&x| x as f32).collect(),
        Some(Dtype::F32) => ArrayD::<f32>::read_npy(r).map_err(|e| derr(path, e.to_string()))?.iter().copied().collect(),
        Some(Dtype::F64) => ArrayD::<f64>::read_npy(r).map_err(|e| derr(path, e.to_string()))?.iter().map(|&x| x as f32).collect(),
        Some(Dtype::I32) => ArrayD::<i32>::read_npy(r).map_err(|e| derr(path, e.to_string()))?.iter().map(|&x| x as f32).collect(),
        _ => return Err(derr(path, format!("dtype {:?} is not supported; valid: uint16, int32, float32, float64", h.descr))),
    };
    let n = h.shape[0];
    if n <= 2 * trim {
        return Err(derr(path, format!("{n} frames, all dropped by trimming {trim} at each end; lower --trim")));
    }
    let mut out = Vec::with_capacity((n - 2 * trim) * 784);
    for k in trim..n - trim {
        let frame = &data[k * 1024..(k + 1) * 1024];
        for row in 2..30 {
            for col in 2..30 {
                let v = frame[row * 32 + col];
                if !v.is_finite() {
                    return Err(derr(path, format!("frame {k} holds a non-finite value")));
                }
                out.push(v / 1024.0);
            }
        }
    }
    Ok(out)
}

fn write_set(dir: &Path, tracks: &[(usize, &Track)]) -> Result<usize, DataError> {
    let n: usize = tracks.iter().map(|(_, t)| t.frames.len() / 784).sum();
    let mut frames = Vec::with_capacity(n * 784);
    let mut labels = Vec::with_capacity(n * 2);
    let mut ids = Vec::with_capacity(n);
    for (id, t) in tracks {
        frames.extend_from_slice(&t.frames);
        for _ in 0..t.frames.len() / 784 {
            labels.push(t.power);
            labels.push(t.speed);
            ids.push(*id as i32);
        }
    }
    let save = |name: &str, write: &dyn Fn(&mut Vec<u8>) -> Result<(), ndarray_npy::WriteNpyError>| -> Result<(), DataError> {
        let p = dir.join(name);
        let mut buf = Vec::new();
        write(&mut buf).map_err(|e| derr(&p, e.to_string()))?;
        write_atomic(&p, &buf).map_err(|e| derr(&p, e.to_string()))
    };
    let fa = Array3::from_shape_vec((n, 28, 28), frames).map_err(|e| derr(dir, e.to_string()))?;
    let la = Array2::from_shape_vec((n, 2), labels).map_err(|e| derr(dir, e.to_string()))?;
    let ta = Array1::from_vec(ids);
    save("frames.npy", &|b| fa.write_npy(b))?;
    save("labels.npy", &|b| la.write_npy(b))?;
    save("tracks.npy", &|b| ta.write_npy(b))?;
    Ok(n)
}

/// Imports the tracks of `dir` into `out/train` and `out/validation`; a set already in `out` is
/// replaced only with [`OnExisting::Replace`], once the new one is complete.
pub fn import_tracks(dir: &Path, out: &Path, opts: &ImportOptions, on_existing: OnExisting) -> Result<ImportSummary, ImportError> {
    let mut staged = StagedSets::new(out, on_existing)?;
    let cords = read_cords(&dir.join("cords.csv"))?;
    if cords.len() < 2 {
        return Err(derr(&dir.join("cords.csv"), "at least 2 tracks are needed to split training and validation by track").into());
    }
    let mut tracks = Vec::new();
    for (name, power, speed) in &cords {
        let p: PathBuf = dir.join(format!("{name}.npy"));
        tracks.push(Track { name: name.clone(), power: *power, speed: *speed, frames: read_track(&p, opts.trim)? });
    }
    // A seeded shuffle of the track order; the first ones go to validation.
    let mut order: Vec<usize> = (0..tracks.len()).collect();
    let mut s = opts.seed ^ 0x5EED;
    for i in (1..order.len()).rev() {
        s = s.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        order.swap(i, ((s >> 33) % (i as u64 + 1)) as usize);
    }
    let n_val = ((tracks.len() as f64 * opts.validation_fraction).round() as usize).clamp(1, tracks.len() - 1);
    let (val_idx, train_idx) = order.split_at(n_val);
    let mut val_idx = val_idx.to_vec();
    let mut train_idx = train_idx.to_vec();
    val_idx.sort();
    train_idx.sort();
    let pick = |ix: &[usize]| ix.iter().map(|&i| (i, &tracks[i])).collect::<Vec<_>>();
    let train_frames = write_set(&staged.set_dir("train")?, &pick(&train_idx))?;
    let validation_frames = write_set(&staged.set_dir("validation")?, &pick(&val_idx))?;
    Ok(ImportSummary {
        train_tracks: train_idx.iter().map(|&i| tracks[i].name.clone()).collect(),
        validation_tracks: val_idx.iter().map(|&i| tracks[i].name.clone()).collect(),
        train_frames,
        validation_frames,
        replaced: staged.commit()?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Four tracks of 10 frames in `src`: frame value = 100 * track + frame index, plus the column.
    fn lab(src: &Path) {
        std::fs::create_dir_all(src).unwrap();
        let mut cords = String::from("name power speed\n");
        for (k, name) in ["t1", "t2", "t3", "t4"].iter().enumerate() {
            let a = Array3::<u16>::from_shape_fn((10, 32, 32), |(f, _r, c)| (100 * (k + 1) + f) as u16 + c as u16);
            a.write_npy(std::fs::File::create(src.join(format!("{name}.npy"))).unwrap()).unwrap();
            cords += &format!("{name} {} {}\n", 600 + 100 * k, 4 + k);
        }
        std::fs::write(src.join("cords.csv"), cords).unwrap();
    }

    #[test]
    fn imports_crops_scales_trims_and_splits_by_track() {
        let t = tempfile::tempdir().unwrap();
        let src = t.path().join("lab");
        lab(&src);
        let out = t.path().join("out");
        let s = import_tracks(&src, &out, &ImportOptions { trim: 2, validation_fraction: 0.25, seed: 1 }, OnExisting::Refuse).unwrap();
        assert_eq!(s.validation_tracks.len(), 1);
        assert_eq!(s.train_tracks.len(), 3);
        assert_eq!((s.train_frames, s.validation_frames), (18, 6));
        let d = crate::data::load_dataset(&out.join("validation")).unwrap();
        let k = ["t1", "t2", "t3", "t4"].iter().position(|n| *n == s.validation_tracks[0]).unwrap();
        // First kept frame is frame 2; first pixel is column 2 of the 32 x 32 frame.
        assert_eq!(d.frames[0], ((100 * (k + 1) + 2 + 2) as f32) / 1024.0);
        assert_eq!(d.labels[0], (600 + 100 * k) as f32);
        assert!(d.info.has_tracks);
    }

    #[test]
    fn bad_cords_are_named() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join("cords.csv"), "a 600 4\nb 700\n").unwrap();
        let e = import_tracks(t.path(), &t.path().join("o"), &ImportOptions::default(), OnExisting::Refuse).unwrap_err().to_string();
        assert!(e.contains("cords.csv: line 2: expected `name power speed`, found 2 fields"), "{e}");
        std::fs::write(t.path().join("cords.csv"), "a 600 4\nb 700 5\n").unwrap();
        let e = import_tracks(t.path(), &t.path().join("o"), &ImportOptions::default(), OnExisting::Refuse).unwrap_err().to_string();
        assert!(e.contains("a.npy: missing file"), "{e}");
    }

    #[test]
    fn an_existing_set_is_replaced_only_when_asked_and_left_whole_by_a_failed_import() {
        let t = tempfile::tempdir().unwrap();
        let (src, out) = (t.path().join("lab"), t.path().join("out"));
        lab(&src);
        let opts = ImportOptions { trim: 2, validation_fraction: 0.25, seed: 1 };
        import_tracks(&src, &out, &opts, OnExisting::Refuse).unwrap();
        let files = |set: &str| ["frames.npy", "labels.npy", "tracks.npy"].map(|f| std::fs::read(out.join(set).join(f)).unwrap());
        let before = (files("train"), files("validation"));
        let e = import_tracks(&src, &out, &opts, OnExisting::Refuse).unwrap_err().to_string();
        assert!(e.ends_with("out: already holds a data set (train (18 frames), validation (6 frames)); give --replace to replace it (the new set is built aside and replaces it only once complete), or another --out"), "{e}");
        // A track that cannot be read: the previous set stays, every byte.
        std::fs::write(src.join("t3.npy"), b"not npy").unwrap();
        assert!(import_tracks(&src, &out, &opts, OnExisting::Replace).is_err());
        assert!((files("train"), files("validation")) == before, "a failed import changed the set");
        lab(&src);
        let s = import_tracks(&src, &out, &ImportOptions { seed: 2, ..opts }, OnExisting::Replace).unwrap();
        assert_eq!(s.replaced, ["train (18 frames)", "validation (6 frames)"]);
        assert_eq!(std::fs::read_dir(&out).unwrap().count(), 2, "train and validation, nothing left aside");
    }
}
