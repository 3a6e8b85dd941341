//! What `cyplam data show` tells a user before a sweep spends core-hours on a data set: per set the
//! frames, their type and range, the input scale the set records, the label counts, per track
//! its frames and labels, label histograms, a few sample frames per track; across the training
//! and the validation set, the recordings and the (LP, PS) pairs they share. Works on any set in
//! cyplam's format (synthetic, imported tracks, ConvLMD). Frames are streamed, not loaded.

use crate::data::{check_dataset, read_labels, read_meta, read_npy_header, stream_values, DataError, Dtype};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Bins of the label histograms.
pub const HISTOGRAM_BINS: usize = 20;

/// One track (recording) of a set.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrackView {
    /// The recording id (`tracks.npy`); None for a set without one (all its frames).
    pub id: Option<i64>,
    pub frames: usize,
    /// Smallest and largest laser power of its frames (equal for a recording at one setting).
    pub lp: (f32, f32),
    pub ps: (f32, f32),
    /// The rows of its sample frames, evenly spread over the track.
    pub sample_rows: Vec<usize>,
    /// Those frames, 784 values each, as stored (before any input scale).
    #[serde(skip)]
    pub samples: Vec<Vec<f32>>,
}

/// Frames per distinct (LP, PS) pair.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelCount {
    pub lp: f32,
    pub ps: f32,
    pub frames: usize,
    pub tracks: usize,
}

/// Counts of frames per bin over `[lo, hi]` (the last bin includes `hi`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Histogram {
    pub lo: f64,
    pub hi: f64,
    pub counts: Vec<usize>,
}

impl Histogram {
    fn new(lo: f64, hi: f64, bins: usize, values: impl Iterator<Item = f64>) -> Histogram {
        let mut counts = vec![0; bins];
        let width = (hi - lo) / bins as f64;
        for v in values {
            let k = if width > 0.0 { ((v - lo) / width).floor() as isize } else { 0 };
            counts[k.clamp(0, bins as isize - 1) as usize] += 1;
        }
        Histogram { lo, hi, counts }
    }
}

/// One set (a directory with frames.npy, labels.npy, perhaps tracks.npy and dataset.json).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SetView {
    /// `train`, `validation`, or the directory's name.
    pub name: String,
    pub dir: PathBuf,
    pub frames: usize,
    pub frames_dtype: &'static str,
    pub min_value: f32,
    pub max_value: f32,
    /// What `dataset.json` says: the source and the recorded input scale.
    pub source: Option<String>,
    pub input_scale: Option<f64>,
    pub lp_range: (f32, f32),
    pub ps_range: (f32, f32),
    pub label_counts: Vec<LabelCount>,
    pub tracks: Vec<TrackView>,
    pub lp_histogram: Histogram,
    pub ps_histogram: Histogram,
}

/// A data set: its sets and what they share.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DataView {
    pub dir: PathBuf,
    pub sets: Vec<SetView>,
    /// Recording ids in both the training and the validation set.
    pub shared_tracks: Vec<i64>,
    /// (LP, PS) pairs in both sets.
    pub shared_labels: Vec<(f32, f32)>,
}

fn derr(path: &Path, m: impl Into<String>) -> DataError {
    DataError { path: path.to_path_buf(), message: m.into() }
}

fn read_tracks(path: &Path, n: usize) -> Result<Vec<i64>, DataError> {
    use ndarray::ArrayD;
    use ndarray_npy::ReadNpyExt;
    let h = read_npy_header(path)?;
    let f = std::fs::File::open(path).map_err(|e| derr(path, e.to_string()))?;
    let r = std::io::BufReader::new(f);
    let bad = |e: ndarray_npy::ReadNpyError| derr(path, format!("cannot read: {e}"));
    let v: Vec<i64> = match h.dtype() {
        Some(Dtype::I64) => ArrayD::<i64>::read_npy(r).map_err(bad)?.iter().copied().collect(),
        Some(Dtype::I32) => ArrayD::<i32>::read_npy(r).map_err(bad)?.iter().map(|&x| x as i64).collect(),
        Some(Dtype::U16) => ArrayD::<u16>::read_npy(r).map_err(bad)?.iter().map(|&x| x as i64).collect(),
        Some(Dtype::U8) => ArrayD::<u8>::read_npy(r).map_err(bad)?.iter().map(|&x| x as i64).collect(),
        _ => return Err(derr(path, format!("dtype {:?} is not supported; valid: int32, int64, uint8, uint16", h.descr))),
    };
    if v.len() != n {
        return Err(derr(path, format!("{} recording ids for {n} frames", v.len())));
    }
    Ok(v)
}

/// Calls `f(row, frame)` for every frame of `frames.npy`, a chunk of frames at a time (the
/// data module's reader: one decoder, bounded memory).
fn each_frame(path: &Path, dtype: Dtype, mut f: impl FnMut(usize, &[f32])) -> Result<(), DataError> {
    let h = read_npy_header(path)?;
    stream_values(path, &h, dtype, 2048 * 784, |start, values| {
        for (k, frame) in values.chunks_exact(784).enumerate() {
            f(start / 784 + k, frame);
        }
        Ok(())
    })
}

/// Rows `k * (n - 1) / (s - 1)` of a track of `n` rows (all of them when `n <= s`).
fn spread(rows: &[usize], samples: usize) -> Vec<usize> {
    let n = rows.len();
    if n <= samples {
        return rows.to_vec();
    }
    if samples == 1 {
        return vec![rows[0]];
    }
    (0..samples).map(|k| rows[k * (n - 1) / (samples - 1)]).collect()
}

fn range(v: impl Iterator<Item = f32>) -> (f32, f32) {
    v.fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)))
}

/// Frames of one (LP, PS) pair and the tracks they come from.
type Tally = (usize, BTreeSet<Option<i64>>);

struct Loaded {
    view: SetView,
    labels: Vec<f32>,
}

fn load_set(name: &str, dir: &Path, samples_per_track: usize) -> Result<Loaded, DataError> {
    let info = check_dataset(dir)?;
    let fpath = dir.join("frames.npy");
    let labels = read_labels(&dir.join("labels.npy"), info.frames, &fpath)?;
    let ids: Vec<Option<i64>> =
        if info.has_tracks { read_tracks(&dir.join("tracks.npy"), info.frames)?.into_iter().map(Some).collect() } else { vec![None; info.frames] };
    let meta = read_meta(dir)?;
    // Tracks in order of first appearance.
    let mut order: Vec<Option<i64>> = Vec::new();
    let mut rows: BTreeMap<Option<i64>, Vec<usize>> = BTreeMap::new();
    for (r, id) in ids.iter().enumerate() {
        let e = rows.entry(*id).or_default();
        if e.is_empty() {
            order.push(*id);
        }
        e.push(r);
    }
    let mut tracks: Vec<TrackView> = order
        .iter()
        .map(|id| {
            let rs = &rows[id];
            TrackView {
                id: *id,
                frames: rs.len(),
                lp: range(rs.iter().map(|&r| labels[2 * r])),
                ps: range(rs.iter().map(|&r| labels[2 * r + 1])),
                sample_rows: spread(rs, samples_per_track),
                samples: Vec::new(),
            }
        })
        .collect();
    // Which track and which slot each sample row fills.
    let mut wanted: BTreeMap<usize, (usize, usize)> = BTreeMap::new();
    for (t, tr) in tracks.iter_mut().enumerate() {
        tr.samples = vec![Vec::new(); tr.sample_rows.len()];
        for (k, &r) in tr.sample_rows.iter().enumerate() {
            wanted.insert(r, (t, k));
        }
    }
    let (mut lo, mut hi) = (f32::INFINITY, f32::NEG_INFINITY);
    let mut bad: Option<(usize, f32)> = None;
    each_frame(&fpath, info.frames_dtype, |r, frame| {
        for &v in frame {
            if !v.is_finite() && bad.is_none() {
                bad = Some((r, v));
            }
            lo = lo.min(v);
            hi = hi.max(v);
        }
        if let Some(&(t, k)) = wanted.get(&r) {
            tracks[t].samples[k] = frame.to_vec();
        }
    })?;
    if let Some((r, v)) = bad {
        return Err(derr(&fpath, format!("frame {r} holds a non-finite value ({v})")));
    }
    // By the labels' bits: frames and the tracks they come from.
    let mut counts: BTreeMap<(u32, u32), Tally> = BTreeMap::new();
    for (r, id) in ids.iter().enumerate() {
        let e = counts.entry((labels[2 * r].to_bits(), labels[2 * r + 1].to_bits())).or_default();
        e.0 += 1;
        e.1.insert(*id);
    }
    let mut label_counts: Vec<LabelCount> =
        counts.into_iter().map(|((a, b), (frames, t))| LabelCount { lp: f32::from_bits(a), ps: f32::from_bits(b), frames, tracks: t.len() }).collect();
    label_counts.sort_by(|a, b| a.lp.total_cmp(&b.lp).then(a.ps.total_cmp(&b.ps)));
    let lp_range = range(labels.iter().step_by(2).copied());
    let ps_range = range(labels.iter().skip(1).step_by(2).copied());
    let empty = Histogram { lo: 0.0, hi: 0.0, counts: Vec::new() };
    let view = SetView {
        name: name.to_string(),
        dir: dir.to_path_buf(),
        frames: info.frames,
        frames_dtype: info.frames_dtype.name(),
        min_value: lo,
        max_value: hi,
        source: meta.as_ref().map(|m| m.source.clone()),
        input_scale: meta.and_then(|m| m.input_scale),
        lp_range,
        ps_range,
        label_counts,
        tracks,
        lp_histogram: empty.clone(),
        ps_histogram: empty,
    };
    Ok(Loaded { view, labels })
}

/// Looks at `dir`: a data set with `train/` and `validation/` (what `cyplam data synth` and the
/// importers write), or one set (a directory with `frames.npy`). `samples_per_track` frames of
/// each track are kept for a page of images.
pub fn show(dir: &Path, samples_per_track: usize) -> Result<DataView, DataError> {
    let mut names: Vec<(String, PathBuf)> = Vec::new();
    if dir.join("frames.npy").exists() {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "set".into());
        names.push((name, dir.to_path_buf()));
    } else {
        for s in ["train", "validation"] {
            if dir.join(s).is_dir() {
                names.push((s.to_string(), dir.join(s)));
            }
        }
        if names.is_empty() {
            return Err(derr(
                dir,
                if dir.is_dir() {
                    "holds neither frames.npy (one set) nor train/ and validation/ (a data set)"
                } else {
                    "the data set directory does not exist"
                },
            ));
        }
    }
    let mut loaded = Vec::new();
    for (name, d) in &names {
        loaded.push(load_set(name, d, samples_per_track)?);
    }
    // Both sets' histograms on the same bins, so they can be compared.
    let all = |k: usize| loaded.iter().flat_map(move |l| l.labels.iter().skip(k).step_by(2).map(|&x| x as f64));
    let bounds = |k: usize| all(k).fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let (lp, ps) = (bounds(0), bounds(1));
    for l in &mut loaded {
        l.view.lp_histogram = Histogram::new(lp.0, lp.1, HISTOGRAM_BINS, l.labels.iter().step_by(2).map(|&x| x as f64));
        l.view.ps_histogram = Histogram::new(ps.0, ps.1, HISTOGRAM_BINS, l.labels.iter().skip(1).step_by(2).map(|&x| x as f64));
    }
    let sets: Vec<SetView> = loaded.into_iter().map(|l| l.view).collect();
    let (mut shared_tracks, mut shared_labels) = (Vec::new(), Vec::new());
    if let [a, b] = sets.as_slice() {
        let ids = |s: &SetView| s.tracks.iter().filter_map(|t| t.id).collect::<BTreeSet<i64>>();
        shared_tracks = ids(a).intersection(&ids(b)).copied().collect();
        let pairs = |s: &SetView| s.label_counts.iter().map(|c| (c.lp.to_bits(), c.ps.to_bits())).collect::<BTreeSet<_>>();
        let pa = pairs(a);
        shared_labels = b.label_counts.iter().filter(|c| pa.contains(&(c.lp.to_bits(), c.ps.to_bits()))).map(|c| (c.lp, c.ps)).collect();
    }
    Ok(DataView { dir: dir.to_path_buf(), sets, shared_tracks, shared_labels })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, Array3};
    use ndarray_npy::WriteNpyExt;

    fn write<A: WriteNpyExt>(path: &Path, a: &A) {
        a.write_npy(std::io::BufWriter::new(std::fs::File::create(path).unwrap())).unwrap();
    }

    /// A set of `tracks` (id, frames, LP, PS); frame r's pixels all equal r.
    fn set(dir: &Path, tracks: &[(i32, usize, f32, f32)]) {
        std::fs::create_dir_all(dir).unwrap();
        let n: usize = tracks.iter().map(|t| t.1).sum();
        let mut ids = Vec::new();
        let mut labels = Vec::new();
        for &(id, k, lp, ps) in tracks {
            for _ in 0..k {
                ids.push(id);
                labels.extend([lp, ps]);
            }
        }
        write(&dir.join("frames.npy"), &Array3::<u16>::from_shape_fn((n, 28, 28), |(r, _, _)| r as u16));
        write(&dir.join("labels.npy"), &Array2::from_shape_vec((n, 2), labels).unwrap());
        write(&dir.join("tracks.npy"), &Array1::from_vec(ids));
    }

    #[test]
    fn counts_tracks_labels_overlap_and_samples() {
        let t = tempfile::tempdir().unwrap();
        set(&t.path().join("train"), &[(1, 10, 600.0, 4.0), (2, 5, 800.0, 8.0), (3, 7, 600.0, 4.0)]);
        set(&t.path().join("validation"), &[(3, 4, 600.0, 4.0), (9, 6, 1000.0, 10.0)]);
        let v = show(t.path(), 3).unwrap();
        let [tr, va] = v.sets.as_slice() else { panic!("two sets") };
        assert_eq!((tr.name.as_str(), tr.frames, tr.frames_dtype), ("train", 22, "uint16"));
        assert_eq!((tr.min_value, tr.max_value), (0.0, 21.0));
        let ids: Vec<_> = tr.tracks.iter().map(|t| (t.id, t.frames)).collect();
        assert_eq!(ids, vec![(Some(1), 10), (Some(2), 5), (Some(3), 7)]);
        assert_eq!(tr.tracks[1].lp, (800.0, 800.0));
        // Samples spread over each track, first and last included; the frames are the stored ones.
        assert_eq!(tr.tracks[0].sample_rows, vec![0, 4, 9]);
        assert_eq!(tr.tracks[2].sample_rows, vec![15, 18, 21]);
        assert!(tr.tracks[2].samples[1].iter().all(|&x| x == 18.0));
        assert_eq!(tr.label_counts, vec![LabelCount { lp: 600.0, ps: 4.0, frames: 17, tracks: 2 }, LabelCount { lp: 800.0, ps: 8.0, frames: 5, tracks: 1 },]);
        assert_eq!(v.shared_tracks, vec![3]);
        assert_eq!(v.shared_labels, vec![(600.0, 4.0)]);
        // One set of bins over both sets: LP 600..1000.
        assert_eq!((tr.lp_histogram.lo, tr.lp_histogram.hi), (600.0, 1000.0));
        assert_eq!(tr.lp_histogram.counts.iter().sum::<usize>(), 22);
        assert_eq!(tr.lp_histogram.counts[0], 17);
        assert_eq!(va.lp_histogram.counts[HISTOGRAM_BINS - 1], 6, "the top value lands in the last bin");
        assert_eq!(tr.lp_histogram.counts[HISTOGRAM_BINS / 2], 5);
        assert_eq!(va.source, None);

        // One set on its own, without tracks.npy: one track of all its frames.
        std::fs::remove_file(t.path().join("validation/tracks.npy")).unwrap();
        let v = show(&t.path().join("validation"), 2).unwrap();
        assert_eq!(v.sets.len(), 1);
        assert_eq!(v.sets[0].tracks.len(), 1);
        assert_eq!((v.sets[0].tracks[0].id, v.sets[0].tracks[0].frames), (None, 10));
        assert!(v.shared_tracks.is_empty());
    }

    #[test]
    fn bad_places_are_named() {
        let t = tempfile::tempdir().unwrap();
        let e = show(&t.path().join("nope"), 1).unwrap_err().to_string();
        assert!(e.ends_with("nope: the data set directory does not exist"), "{e}");
        let e = show(t.path(), 1).unwrap_err().to_string();
        assert!(e.ends_with("holds neither frames.npy (one set) nor train/ and validation/ (a data set)"), "{e}");
        set(&t.path().join("train"), &[(1, 3, 600.0, 4.0)]);
        write(&t.path().join("train/tracks.npy"), &Array1::<i32>::zeros(2));
        let e = show(t.path(), 1).unwrap_err().to_string();
        assert!(e.contains("tracks.npy: shape [2] is not valid; expected (3,)"), "{e}");
    }
}
