//! Data sets: a directory with `frames.npy` (N x 784 or N x 28 x 28; float32, float64, uint8 or
//! uint16), `labels.npy` (N x 2: laser power, process speed; float32 or float64, all > 0) and
//! optionally `tracks.npy` (N recording ids) and `dataset.json` (where the set came from and the
//! input scale it asks for; see `DatasetMeta`). Header checks are cheap (what `cyplam submit` runs
//! before submitting); loading checks every value.

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
        // '<' little-endian, '|' not applicable, '=' native (little on the machines we run on);
        // '>' big-endian, which only a one-byte type may be.
        // By characters: the header is text from the file, not necessarily ASCII (found by the
        // fuzzer: a multi-byte first character made a byte split panic).
        let mut chars = descr.chars();
        let order = chars.next()?;
        let kind = chars.as_str();
        if !matches!(order, '<' | '|' | '=' | '>') || (order == '>' && kind != "u1") {
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
    /// Whether the dtype is a big-endian multi-byte one (`>f4`), which is not read.
    pub fn is_big_endian(&self) -> bool {
        self.descr.starts_with('>') && self.dtype().is_none() && Dtype::from_descr(&self.descr.replacen('>', "<", 1)).is_some()
    }
    /// The length a file with this header must have: the header, then every value (None when that
    /// does not fit in 64 bits, or the dtype is not one cyplam reads).
    pub fn file_len(&self) -> Option<u64> {
        let values = u64::try_from(self.elements()?).ok()?;
        let bytes = values.checked_mul(self.dtype()?.size() as u64)?;
        bytes.checked_add(self.data_offset as u64)
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

/// Opens a data file; a missing one or a directory in its place is said so.
fn open_data_file(path: &Path) -> Result<std::fs::File, DataError> {
    if path.is_dir() {
        return Err(derr(path, "is a directory, not a .npy file"));
    }
    std::fs::File::open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::NotFound { derr(path, "missing file") } else { derr(path, e.to_string()) }
    })
}

/// Reads and checks a `.npy` header, including that the file holds exactly the data it announces
/// (nothing missing, nothing after it): what the values are read with ([`read_npy_f32`]), so a
/// file that passes here is not refused later for its size.
pub fn read_npy_header(path: &Path) -> Result<NpyHeader, DataError> {
    let mut f = open_data_file(path)?;
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
    if h.elements().is_none() {
        return Err(derr(path, format!("the header announces shape {:?}: more values than a file can hold", h.shape)));
    }
    if let Some(d) = h.dtype() {
        let Some(want) = h.file_len() else {
            return Err(derr(path, format!("the header announces shape {:?} of {}: more bytes than a file can hold", h.shape, d.name())));
        };
        if file_len < want {
            return Err(derr(path, format!(
                "truncated: the header announces shape {:?} of {} ({want} bytes in all), the file has {file_len} bytes",
                h.shape, d.name())));
        }
        if file_len > want {
            return Err(derr(path, format!(
                "the header announces shape {:?} of {} ({want} bytes in all), the file has {file_len} bytes: {} bytes after the data",
                h.shape, d.name(), file_len - want)));
        }
    }
    Ok(h)
}

/// What a dtype error says: big-endian data gets the way to convert it.
fn dtype_error(path: &Path, h: &NpyHeader, valid: &str) -> DataError {
    if h.is_big_endian() {
        let little = h.descr.replacen('>', "<", 1);
        return derr(path, format!(
            "dtype {:?} is big-endian; cyplam reads little-endian data: save it little-endian (numpy: arr.astype('{little}'))", h.descr));
    }
    derr(path, format!("dtype {:?} is not supported; valid: {valid}", h.descr))
}

/// Reads every value of a `.npy` file as f32, in C (row-major) order whatever the file's order,
/// with the header of [`read_npy_header`] (the same grammar and size checks as `cyplam submit`).
pub fn read_npy_f32(path: &Path) -> Result<(NpyHeader, Vec<f32>), DataError> {
    let h = read_npy_header(path)?;
    let dtype = h.dtype().ok_or_else(|| dtype_error(path, &h, "float32, float64, uint8, uint16, int32, int64"))?;
    let values = read_values(path, &h, dtype)?;
    Ok((h, values))
}

fn read_values(path: &Path, h: &NpyHeader, dtype: Dtype) -> Result<Vec<f32>, DataError> {
    use std::io::{Seek, SeekFrom};
    // Both known to fit: read_npy_header checked the file length they give.
    let n = h.elements().ok_or_else(|| derr(path, "too many values"))?;
    let size = dtype.size();
    let mut f = open_data_file(path)?;
    f.seek(SeekFrom::Start(h.data_offset as u64)).map_err(|e| derr(path, e.to_string()))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, f);
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| derr(path, format!("{n} values do not fit in memory")))?;
    let mut chunk = vec![0u8; size * 65536];
    let mut left = n;
    while left > 0 {
        let k = left.min(65536);
        let bytes = &mut chunk[..k * size];
        r.read_exact(bytes).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof { derr(path, "the file ended before its data did (changed while read?)") } else { derr(path, e.to_string()) }
        })?;
        match dtype {
            Dtype::F32 => out.extend(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            Dtype::F64 => out.extend(bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)),
            Dtype::U8 => out.extend(bytes.iter().map(|&b| f32::from(b))),
            Dtype::U16 => out.extend(bytes.chunks_exact(2).map(|b| f32::from(u16::from_le_bytes([b[0], b[1]])))),
            Dtype::I32 => out.extend(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)),
            Dtype::I64 => out.extend(bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)),
        }
        left -= k;
    }
    if h.fortran_order && h.shape.len() > 1 {
        out = fortran_to_c(&out, &h.shape);
    }
    Ok(out)
}

/// The values of a Fortran-ordered (column-major) array of `shape`, in C order.
fn fortran_to_c(values: &[f32], shape: &[usize]) -> Vec<f32> {
    // Fortran strides: 1, d0, d0*d1, ...; visit the indices in C order (last fastest).
    let mut strides = Vec::with_capacity(shape.len());
    let mut s = 1usize;
    for &d in shape {
        strides.push(s);
        s = s.saturating_mul(d);
    }
    let mut idx = vec![0usize; shape.len()];
    let mut out = Vec::with_capacity(values.len());
    for _ in 0..values.len() {
        let at: usize = idx.iter().zip(&strides).map(|(i, st)| i * st).sum();
        out.push(values[at]);
        for k in (0..shape.len()).rev() {
            idx[k] += 1;
            if idx[k] < shape[k] {
                break;
            }
            idx[k] = 0;
        }
    }
    out
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
    if dir.exists() && !dir.is_dir() {
        let hint = match dir.file_name().and_then(|n| n.to_str()) {
            Some("frames.npy" | "labels.npy" | "tracks.npy") => "; name the directory that holds it",
            _ => "",
        };
        return Err(derr(dir, format!("is a file, not a data set directory (a directory holding frames.npy and labels.npy){hint}")));
    }
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
            return Err(dtype_error(&tpath, &th, "int32, int64, uint8, uint16"));
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

    /// A `.npy` file as bytes: a version 1 header with `descr` and `shape`, then `data` bytes.
    fn npy_bytes(descr: &str, shape: &str, data: usize) -> Vec<u8> {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}\n");
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(dict.len() as u16).to_le_bytes());
        b.extend_from_slice(dict.as_bytes());
        b.resize(b.len() + data, 0);
        b
    }

    #[test]
    fn sizes_from_a_header_are_checked_never_wrapped() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("frames.npy");
        let e = |bytes: Vec<u8>| {
            std::fs::write(&p, bytes).unwrap();
            check_frames_header(&p).unwrap_err().to_string()
        };
        let name = p.display().to_string();
        // 2^62 rows: more values than a usize counts.
        assert_eq!(e(npy_bytes("<f4", "(4611686018427387904, 784)", 0)),
            format!("{name}: the header announces shape [4611686018427387904, 784]: more values than a file can hold"));
        // The values fit in a usize, their bytes do not fit in a u64.
        assert_eq!(e(npy_bytes("<f8", "(2305843009213693952,)", 0)),
            format!("{name}: the header announces shape [2305843009213693952] of float64: more bytes than a file can hold"));
        // Large but countable: the file is too short for it.
        let bytes = npy_bytes("<u2", "(1099511627776, 784)", 10);
        let (len, header) = (bytes.len(), bytes.len() - 10);
        assert_eq!(e(bytes), format!("{name}: truncated: the header announces shape [1099511627776, 784] of uint16 ({} bytes in all), the file has {len} bytes",
            1_099_511_627_776u64 * 784 * 2 + header as u64));
        // A dimension beyond 64 bits is not a number.
        assert!(e(npy_bytes("<f4", "(99999999999999999999, 784)", 0)).ends_with("bad dimension \"99999999999999999999\" in 'shape'"));
    }

    #[test]
    fn the_header_check_refuses_what_the_reader_would() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        good(d, 3);
        let fpath = d.join("frames.npy");
        let name = fpath.display().to_string();
        let whole = std::fs::read(&fpath).unwrap();
        // Trailing bytes: both sizes named; submit's check (check_dataset) and the reader agree.
        let mut longer = whole.clone();
        longer.extend_from_slice(b"extra");
        std::fs::write(&fpath, &longer).unwrap();
        let want = whole.len();
        let said = format!("{name}: the header announces shape [3, 28, 28] of uint16 ({want} bytes in all), the file has {} bytes: 5 bytes after the data", want + 5);
        assert_eq!(check_dataset(d).unwrap_err().to_string(), said);
        assert_eq!(load_dataset(d).unwrap_err().to_string(), said);
        // Truncated: the same for both.
        std::fs::write(&fpath, &whole[..want - 1]).unwrap();
        let said = format!("{name}: truncated: the header announces shape [3, 28, 28] of uint16 ({want} bytes in all), the file has {} bytes", want - 1);
        assert_eq!(check_dataset(d).unwrap_err().to_string(), said);
        assert_eq!(load_dataset(d).unwrap_err().to_string(), said);

        // Big-endian data: said so, with the way to convert it.
        std::fs::write(&fpath, npy_bytes(">f4", "(3, 784)", 3 * 784 * 4)).unwrap();
        assert_eq!(check_dataset(d).unwrap_err().to_string(), format!(
            "{name}: dtype \">f4\" is big-endian; cyplam reads little-endian data: save it little-endian (numpy: arr.astype('<f4'))"));
        good(d, 3);
        std::fs::write(d.join("labels.npy"), npy_bytes(">f8", "(3, 2)", 3 * 2 * 8)).unwrap();
        assert!(check_dataset(d).unwrap_err().to_string().ends_with("labels.npy: dtype \">f8\" is big-endian; cyplam reads little-endian data: save it little-endian (numpy: arr.astype('<f8'))"));
        // One byte has no order: '>u1' reads as uint8.
        std::fs::write(&fpath, npy_bytes(">u1", "(3, 784)", 3 * 784)).unwrap();
        good(d, 3);
        std::fs::write(&fpath, npy_bytes(">u1", "(3, 784)", 3 * 784)).unwrap();
        assert_eq!(check_dataset(d).unwrap().frames_dtype, Dtype::U8);

        // A file where the directory should be, and a directory where a file should be.
        let e = check_dataset(&fpath).unwrap_err().to_string();
        assert_eq!(e, format!("{name}: is a file, not a data set directory (a directory holding frames.npy and labels.npy); name the directory that holds it"));
        std::fs::remove_file(&fpath).unwrap();
        std::fs::create_dir(&fpath).unwrap();
        assert_eq!(check_dataset(d).unwrap_err().to_string(), format!("{name}: is a directory, not a .npy file"));
    }

    #[test]
    fn fortran_ordered_files_read_in_the_same_order() {
        use ndarray::ShapeBuilder;
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        good(d, 3);
        let c = Array3::<f32>::from_shape_fn((3, 28, 28), |(i, a, b)| (i * 10_000 + a * 100 + b) as f32);
        let mut f = Array3::<f32>::zeros((3, 28, 28).f());
        f.assign(&c);
        write(&d.join("frames.npy"), &f);
        assert!(read_npy_header(&d.join("frames.npy")).unwrap().fortran_order, "the test writes a Fortran-ordered file");
        let loaded = load_dataset(d).unwrap();
        assert_eq!(loaded.frames, c.iter().copied().collect::<Vec<f32>>());
        let l = Array2::<f64>::from_shape_fn((3, 2).f(), |(i, j)| (1 + i * 2 + j) as f64);
        write(&d.join("labels.npy"), &l);
        assert_eq!(load_dataset(d).unwrap().labels, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
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
