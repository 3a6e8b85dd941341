//! Data sets: a directory with `frames.npy` (N x 784 or N x 28 x 28; float32, float64, uint8 or
//! uint16), `labels.npy` (N x 2: laser power, process speed; float32 or float64, all > 0) and
//! optionally `tracks.npy` (N recording ids) and `dataset.json` (where the set came from and the
//! input scale it asks for; see `DatasetMeta`). Header checks are cheap (what `cyplam submit` runs
//! before submitting); loading checks every value.

use ndarray::ArrayD;
use ndarray_npy::ReadNpyExt;
use std::io::Read;
use std::path::{Path, PathBuf};

/// A problem with a data file, naming the file.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{}: {message}", path.display())]
pub struct DataError {
    pub path: PathBuf,
    pub message: String,
}

fn derr(path: &Path, message: impl Into<String>) -> DataError {
    DataError { path: path.to_path_buf(), message: message.into() }
}

/// Element types the data files may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    F32,
    F64,
    U8,
    U16,
    I32,
    I64,
}

impl Dtype {
    fn from_descr(descr: &str) -> Option<Dtype> {
        // '<' little-endian, '|' not applicable, '=' native (little on the machines we run on).
        // By characters: the header is text from the file, not necessarily ASCII (found by the
        // fuzzer: a multi-byte first character made a byte split panic).
        let mut chars = descr.chars();
        let order = chars.next()?;
        let kind = chars.as_str();
        if !matches!(order, '<' | '|' | '=') {
            return None;
        }
        Some(match kind {
            "f4" => Dtype::F32,
            "f8" => Dtype::F64,
            "u1" => Dtype::U8,
            "u2" => Dtype::U16,
            "i4" => Dtype::I32,
            "i8" => Dtype::I64,
            _ => return None,
        })
    }
    pub fn size(self) -> usize {
        match self {
            Dtype::U8 => 1,
            Dtype::U16 => 2,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::F64 | Dtype::I64 => 8,
        }
    }
    pub fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::U8 => "uint8",
            Dtype::U16 => "uint16",
            Dtype::I32 => "int32",
            Dtype::I64 => "int64",
        }
    }
}

/// What the header of a `.npy` file says.
#[derive(Debug, Clone, PartialEq)]
pub struct NpyHeader {
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
    /// Byte offset of the data.
    pub data_offset: usize,
}

impl NpyHeader {
    pub fn dtype(&self) -> Option<Dtype> {
        Dtype::from_descr(&self.descr)
    }
    pub fn elements(&self) -> Option<usize> {
        self.shape.iter().try_fold(1usize, |a, &d| a.checked_mul(d))
    }
}

/// What is wrong with the header of a `.npy` file (the file is named by [`DataError`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NpyHeaderError {
    #[error("not a .npy file (no \\x93NUMPY magic)")]
    NoMagic,
    #[error("truncated .npy header")]
    TruncatedPreamble,
    #[error(".npy format version {0} is not supported (1, 2 or 3)")]
    Version(u8),
    #[error("header length overflows")]
    LengthOverflow,
    #[error("truncated .npy header: {announced} bytes announced, {present} present")]
    Truncated { announced: usize, present: usize },
    #[error("the .npy header is not text")]
    NotText,
    #[error("the .npy header has no '{0}'")]
    MissingField(&'static str),
    #[error("'descr' is not a simple type string (structured arrays are not supported)")]
    StructuredDescr,
    #[error("unterminated 'descr'")]
    UnterminatedDescr,
    #[error("'fortran_order' is neither True nor False")]
    FortranOrder,
    #[error("'shape' is not a tuple")]
    ShapeNotTuple,
    #[error("unterminated 'shape'")]
    UnterminatedShape,
    #[error("bad dimension {0:?} in 'shape'")]
    BadDimension(String),
}

/// Parses the header at the start of a `.npy` file (format versions 1, 2 and 3).
pub fn parse_npy_header(bytes: &[u8]) -> Result<NpyHeader, NpyHeaderError> {
    use NpyHeaderError as E;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(E::NoMagic);
    }
    let major = bytes[6];
    let (len, start): (usize, usize) = match major {
        1 => (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10),
        2 | 3 => {
            if bytes.len() < 12 {
                return Err(E::TruncatedPreamble);
            }
            (u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize, 12)
        }
        v => return Err(E::Version(v)),
    };
    let end = start.checked_add(len).ok_or(E::LengthOverflow)?;
    if bytes.len() < end {
        return Err(E::Truncated { announced: len, present: bytes.len() - start });
    }
    let text = std::str::from_utf8(&bytes[start..end]).map_err(|_| E::NotText)?;
    let field = |name: &'static str| -> Result<&str, NpyHeaderError> {
        let key = format!("'{name}':");
        let at = text.find(&key).ok_or(E::MissingField(name))?;
        Ok(text[at + key.len()..].trim_start())
    };
    let descr = {
        let rest = field("descr")?;
        let rest = rest.strip_prefix('\'').ok_or(E::StructuredDescr)?;
        let close = rest.find('\'').ok_or(E::UnterminatedDescr)?;
        rest[..close].to_string()
    };
    let fortran_order = {
        let rest = field("fortran_order")?;
        if rest.starts_with("True") {
            true
        } else if rest.starts_with("False") {
            false
        } else {
            return Err(E::FortranOrder);
        }
    };
    let shape = {
        let rest = field("shape")?;
        let rest = rest.strip_prefix('(').ok_or(E::ShapeNotTuple)?;
        let close = rest.find(')').ok_or(E::UnterminatedShape)?;
        let mut dims = Vec::new();
        for part in rest[..close].split(',') {
            let part = part.trim();
            if part.is_empty() {
                continue;
            }
            dims.push(part.trim_end_matches('L').parse::<usize>().map_err(|_| E::BadDimension(part.to_string()))?);
        }
        dims
    };
    Ok(NpyHeader { descr, fortran_order, shape, data_offset: end })
}

/// A version 1.0 `.npy` header for a C-order array of `descr` (e.g. `<f4`, `|u1`) and `shape`,
/// padded so the data starts on a 64-byte boundary: what a streamed writer puts first.
pub fn npy_header(descr: &str, shape: &[usize]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(|d| d.to_string()).collect();
    let shape = if dims.len() == 1 { format!("({},)", dims[0]) } else { format!("({})", dims.join(", ")) };
    let mut dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let unpadded = 10 + dict.len() + 1;
    dict.push_str(&" ".repeat((64 - unpadded % 64) % 64));
    dict.push('\n');
    let mut out = b"\x93NUMPY\x01\x00".to_vec();
    out.extend_from_slice(&(dict.len() as u16).to_le_bytes());
    out.extend_from_slice(dict.as_bytes());
    out
}

/// The file in a data set directory that says where the set came from and how its frames are to
/// be scaled.
pub const META_FILE: &str = "dataset.json";

/// `dataset.json`: written by importers whose source fixes the input scale (ConvLMD: the lab
/// divides every frame by 255). A grid that does not set `data.input_scale` takes the training
/// set's `input_scale` from here (docs/data.md); without the file it divides by the training
/// set's largest value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DatasetMeta {
    /// What the set was imported from (e.g. `ConvLMD /data/train_pow_speed.hdf5`).
    pub source: String,
    /// The factor frames are multiplied by before they enter the network.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input_scale: Option<f64>,
    /// Why that factor, in words.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Reads `dir/dataset.json` if there is one; checks that its `input_scale` is finite and > 0.
pub fn read_meta(dir: &Path) -> Result<Option<DatasetMeta>, DataError> {
    let p = dir.join(META_FILE);
    let text = match std::fs::read_to_string(&p) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(derr(&p, e.to_string())),
    };
    let m: DatasetMeta = serde_json::from_str(&text).map_err(|e| derr(&p, e.to_string()))?;
    if let Some(f) = m.input_scale {
        if !(f.is_finite() && f > 0.0) {
            return Err(derr(&p, format!("input_scale {f} must be finite and > 0")));
        }
    }
    Ok(Some(m))
}

/// Reads and checks a `.npy` header, including that the file holds all the data it announces.
pub fn read_npy_header(path: &Path) -> Result<NpyHeader, DataError> {
    let mut f = std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound { derr(path, "missing file") } else { derr(path, e.to_string()) }
    })?;
    let mut buf = vec![0u8; 4096];
    let mut n = 0;
    while n < buf.len() {
        let k = f.read(&mut buf[n..]).map_err(|e| derr(path, e.to_string()))?;
        if k == 0 {
            break;
        }
        n += k;
    }
    let h = parse_npy_header(&buf[..n]).map_err(|e| derr(path, e.to_string()))?;
    let file_len = f.metadata().map_err(|e| derr(path, e.to_string()))?.len();
    if let (Some(d), Some(el)) = (h.dtype(), h.elements()) {
        let want = h.data_offset as u64 + (el as u64) * d.size() as u64;
        if file_len < want {
            return Err(derr(path, format!(
                "truncated: the header announces shape {:?} of {} ({want} bytes in all), the file has {file_len} bytes",
                h.shape, d.name())));
        }
    }
    Ok(h)
}

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
        _ => return Err(derr(fpath, format!("dtype {:?} is not supported; valid: float32, float64, uint8, uint16", fh.descr))),
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
        _ => return Err(derr(lpath, format!("dtype {:?} is not supported; valid: float32, float64", lh.descr))),
    };
    match lh.shape.as_slice() {
        [m, 2] if *m == n => Ok(dtype),
        [m, 2] => Err(derr(lpath, format!("{m} labels for {n} frames in {}; the counts must be equal", frames_path.display()))),
        s => Err(derr(lpath, format!("shape {s:?} is not valid; expected (N, 2): laser power, process speed"))),
    }
}

/// Checks a data set's headers: files present, dtypes and shapes valid, counts equal.
pub fn check_dataset(dir: &Path) -> Result<DatasetInfo, DataError> {
    if !dir.is_dir() {
        return Err(derr(dir, "the data set directory does not exist (create one with `cyplam data synth --out DIR`)"));
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
            return Err(derr(&tpath, format!("dtype {:?} is not supported; valid: int32, int64, uint8, uint16", th.descr)));
        }
    }
    Ok(DatasetInfo { dir: dir.to_path_buf(), frames: n, frames_dtype, labels_dtype, has_tracks })
}

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

fn read_all<T>(path: &Path) -> Result<Vec<T>, DataError>
where
    T: ndarray_npy::ReadableElement + Copy,
{
    let f = std::fs::File::open(path).map_err(|e| derr(path, e.to_string()))?;
    let a: ArrayD<T> = ArrayD::<T>::read_npy(std::io::BufReader::new(f)).map_err(|e| derr(path, format!("cannot read: {e}")))?;
    Ok(a.iter().copied().collect())
}

fn read_as_f32(path: &Path, dtype: Dtype) -> Result<Vec<f32>, DataError> {
    Ok(match dtype {
        Dtype::F32 => read_all::<f32>(path)?,
        Dtype::F64 => read_all::<f64>(path)?.into_iter().map(|x| x as f32).collect(),
        Dtype::U8 => read_all::<u8>(path)?.into_iter().map(f32::from).collect(),
        Dtype::U16 => read_all::<u16>(path)?.into_iter().map(f32::from).collect(),
        Dtype::I32 => read_all::<i32>(path)?.into_iter().map(|x| x as f32).collect(),
        Dtype::I64 => read_all::<i64>(path)?.into_iter().map(|x| x as f32).collect(),
    })
}

/// Reads a frames file (checked header, every value finite): N * 784 values.
pub fn read_frames(fpath: &Path) -> Result<Vec<f32>, DataError> {
    let (_, dtype) = check_frames_header(fpath)?;
    let frames = read_as_f32(fpath, dtype)?;
    if let Some(i) = frames.iter().position(|x| !x.is_finite()) {
        return Err(derr(fpath, format!("frame {} holds a non-finite value ({}) at pixel {}", i / 784, frames[i], i % 784)));
    }
    Ok(frames)
}

/// Reads a labels file for `n` frames (every value finite and > 0): N * 2 values.
pub fn read_labels(lpath: &Path, n: usize, frames_path: &Path) -> Result<Vec<f32>, DataError> {
    let dtype = check_labels_header(lpath, n, frames_path)?;
    let labels = read_as_f32(lpath, dtype)?;
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

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{Array1, Array2, Array3};
    use ndarray_npy::WriteNpyExt;

    fn write<A: WriteNpyExt>(path: &Path, a: &A) {
        let f = std::fs::File::create(path).unwrap();
        a.write_npy(std::io::BufWriter::new(f)).unwrap();
    }

    fn good(dir: &Path, n: usize) {
        std::fs::create_dir_all(dir).unwrap();
        write(&dir.join("frames.npy"), &Array3::<u16>::from_elem((n, 28, 28), 7));
        write(&dir.join("labels.npy"), &Array2::<f32>::from_shape_fn((n, 2), |(i, j)| if j == 0 { 600.0 + i as f32 } else { 4.0 }));
    }

    fn msg(dir: &Path) -> String {
        load_dataset(dir).unwrap_err().to_string()
    }

    #[test]
    fn a_good_set_loads_in_every_frame_dtype() {
        let t = tempfile::tempdir().unwrap();
        good(t.path(), 3);
        let d = load_dataset(t.path()).unwrap();
        assert_eq!(d.len(), 3);
        assert_eq!(d.frames.len(), 3 * 784);
        assert_eq!(d.labels, vec![600.0, 4.0, 601.0, 4.0, 602.0, 4.0]);
        write(&t.path().join("frames.npy"), &Array2::<f64>::from_elem((3, 784), 0.5));
        assert_eq!(load_dataset(t.path()).unwrap().frames[0], 0.5);
        write(&t.path().join("frames.npy"), &Array2::<u8>::from_elem((3, 784), 200));
        assert_eq!(load_dataset(t.path()).unwrap().max_value(), 200.0);
        write(&t.path().join("frames.npy"), &Array2::<f32>::from_elem((3, 784), 1.5));
        write(&t.path().join("labels.npy"), &Array2::<f64>::from_elem((3, 2), 5.0));
        write(&t.path().join("tracks.npy"), &Array1::<i32>::from_elem(3, 1));
        let d = load_dataset(t.path()).unwrap();
        assert!(d.info.has_tracks);
        assert_eq!(d.labels[0], 5.0);
    }

    #[test]
    fn every_bad_case_names_the_file_and_problem() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let e = msg(&d.join("nope"));
        assert!(e.contains("nope: the data set directory does not exist"), "{e}");

        good(d, 3);
        std::fs::remove_file(d.join("labels.npy")).unwrap();
        let e = msg(d);
        assert!(e.ends_with("labels.npy: missing file"), "{e}");

        good(d, 3);
        write(&d.join("frames.npy"), &Array2::<f32>::zeros((3, 783)));
        let e = msg(d);
        assert!(e.contains("frames.npy: shape [3, 783] is not valid; expected (N, 784) or (N, 28, 28)"), "{e}");

        write(&d.join("frames.npy"), &Array2::<i64>::zeros((3, 784)));
        let e = msg(d);
        assert!(e.contains("frames.npy: dtype \"<i8\" is not supported; valid: float32, float64, uint8, uint16"), "{e}");

        good(d, 3);
        write(&d.join("labels.npy"), &Array2::<f32>::from_elem((4, 2), 1.0));
        let e = msg(d);
        assert!(e.contains("labels.npy: 4 labels for 3 frames"), "{e}");

        write(&d.join("labels.npy"), &Array2::<f32>::from_elem((3, 3), 1.0));
        assert!(msg(d).contains("labels.npy: shape [3, 3] is not valid; expected (N, 2)"));

        write(&d.join("labels.npy"), &Array2::<u16>::from_elem((3, 2), 1));
        assert!(msg(d).contains("labels.npy: dtype \"<u2\" is not supported; valid: float32, float64"));

        good(d, 3);
        let mut f = Array2::<f32>::zeros((3, 784));
        f[[1, 5]] = f32::NAN;
        write(&d.join("frames.npy"), &f);
        let e = msg(d);
        assert!(e.contains("frames.npy: frame 1 holds a non-finite value (NaN) at pixel 5"), "{e}");
        f[[1, 5]] = f32::INFINITY;
        write(&d.join("frames.npy"), &f);
        assert!(msg(d).contains("frame 1 holds a non-finite value (inf)"));

        good(d, 3);
        let mut l = Array2::<f64>::from_elem((3, 2), 10.0);
        l[[2, 1]] = 0.0;
        write(&d.join("labels.npy"), &l);
        let e = msg(d);
        assert!(e.contains("labels.npy: row 2 holds a process speed of 0; labels must be > 0 (Accuracy20% divides by them)"), "{e}");
        l[[2, 1]] = -3.0;
        l[[0, 0]] = f64::NAN;
        write(&d.join("labels.npy"), &l);
        assert!(msg(d).contains("row 0 holds a non-finite laser power (NaN)"));

        good(d, 3);
        let bytes = std::fs::read(d.join("frames.npy")).unwrap();
        std::fs::write(d.join("frames.npy"), &bytes[..bytes.len() - 100]).unwrap();
        let e = msg(d);
        assert!(e.contains("frames.npy: truncated: the header announces shape [3, 28, 28] of uint16"), "{e}");
        std::fs::write(d.join("frames.npy"), &bytes[..30]).unwrap();
        assert!(msg(d).contains("frames.npy: truncated .npy header"));
        std::fs::write(d.join("frames.npy"), b"hello").unwrap();
        assert!(msg(d).contains("frames.npy: not a .npy file"));
    }

    #[test]
    fn written_headers_parse_back_and_align_the_data() {
        for shape in [vec![3usize, 28, 28], vec![1_000_000], vec![7, 2]] {
            let h = npy_header("<f4", &shape);
            assert_eq!(h.len() % 64, 0);
            let back = parse_npy_header(&h).unwrap();
            assert_eq!((back.dtype(), back.shape, back.data_offset), (Some(Dtype::F32), shape, h.len()));
        }
    }

    #[test]
    fn dataset_meta_is_optional_and_checked() {
        let t = tempfile::tempdir().unwrap();
        assert_eq!(read_meta(t.path()).unwrap(), None);
        std::fs::write(t.path().join(META_FILE), r#"{"source": "ConvLMD x.hdf5", "input_scale": 0.00392156862745098}"#).unwrap();
        assert_eq!(read_meta(t.path()).unwrap().unwrap().input_scale, Some(1.0 / 255.0));
        std::fs::write(t.path().join(META_FILE), r#"{"source": "x", "input_scale": -1}"#).unwrap();
        let e = read_meta(t.path()).unwrap_err().to_string();
        assert!(e.ends_with("dataset.json: input_scale -1 must be finite and > 0"), "{e}");
        std::fs::write(t.path().join(META_FILE), "{").unwrap();
        assert!(read_meta(t.path()).unwrap_err().to_string().contains("dataset.json: EOF while parsing"));
    }

    #[test]
    fn headers_parse() {
        let h = parse_npy_header(b"\x93NUMPY\x01\x00\x46\x00{'descr': '<f4', 'fortran_order': False, 'shape': (10, 28, 28), }          \n").unwrap();
        assert_eq!(h.shape, vec![10, 28, 28]);
        assert_eq!(h.dtype(), Some(Dtype::F32));
        assert!(!h.fortran_order);
        assert!(parse_npy_header(b"\x93NUMPY\x09\x00\x00\x00").is_err());
        // Fuzzer regression: a descr whose first character is not ASCII.
        let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
        let dict = "{'descr': '\u{28a}2', 'fortran_order': False, 'shape': (1, 784), }";
        bytes.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        bytes.extend_from_slice(dict.as_bytes());
        let h = parse_npy_header(&bytes).unwrap();
        assert_eq!(h.dtype(), None);
    }

    #[test]
    fn header_errors_say_what_is_wrong() {
        let e = |b: &[u8]| parse_npy_header(b).unwrap_err().to_string();
        assert_eq!(e(b"hello world"), "not a .npy file (no \\x93NUMPY magic)");
        assert_eq!(e(b"\x93NUMPY\x09\x00\x00\x00"), ".npy format version 9 is not supported (1, 2 or 3)");
        assert_eq!(e(b"\x93NUMPY\x01\x00\x46\x00{'descr'"), "truncated .npy header: 70 bytes announced, 8 present");
        assert_eq!(e(b"\x93NUMPY\x01\x00\x0c\x00{'descr': 1}"), "'descr' is not a simple type string (structured arrays are not supported)");
        assert_eq!(e(b"\x93NUMPY\x01\x00\x08\x00{'x': 1}"), "the .npy header has no 'descr'");
        assert_eq!(e(b"\x93NUMPY\x01\x00\x39\x00{'descr': '<f4', 'fortran_order': False, 'shape': (1, x)}"), "bad dimension \"x\" in 'shape'");
    }
}
