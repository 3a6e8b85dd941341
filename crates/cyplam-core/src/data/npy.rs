//! The `.npy` format as cyplam reads it: the header grammar (versions 1 to 3), the dtypes, the
//! sizes a header announces (checked arithmetic, and the file's length against them), and the
//! values, read as f32 in C order whatever the file's order.

use super::error::{derr, loop_error, DataError};
use std::io::Read;
use std::path::Path;

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

/// Opens a data file; a missing one or a directory in its place is said so.
pub(super) fn open_data_file(path: &Path) -> Result<std::fs::File, DataError> {
    if path.is_dir() {
        return Err(derr(path, "is a directory, not a .npy file"));
    }
    std::fs::File::open(path).map_err(|e| match loop_error(path, "the .npy file", Some("the data set directory")) {
        Some(looped) => looped,
        None if e.kind() == std::io::ErrorKind::NotFound => derr(path, "missing file"),
        None => derr(path, e.to_string()),
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
            return Err(derr(
                path,
                format!("truncated: the header announces shape {:?} of {} ({want} bytes in all), the file has {file_len} bytes", h.shape, d.name()),
            ));
        }
        if file_len > want {
            return Err(derr(
                path,
                format!(
                    "the header announces shape {:?} of {} ({want} bytes in all), the file has {file_len} bytes: {} bytes after the data",
                    h.shape,
                    d.name(),
                    file_len - want
                ),
            ));
        }
    }
    Ok(h)
}

/// What a dtype error says: big-endian data gets the way to convert it.
pub(super) fn dtype_error(path: &Path, h: &NpyHeader, valid: &str) -> DataError {
    if h.is_big_endian() {
        let little = h.descr.replacen('>', "<", 1);
        return derr(
            path,
            format!("dtype {:?} is big-endian; cyplam reads little-endian data: save it little-endian (numpy: arr.astype('{little}'))", h.descr),
        );
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
    // Known to fit: read_npy_header checked the file length it gives.
    let n = h.elements().ok_or_else(|| derr(path, "too many values"))?;
    let mut out = Vec::new();
    out.try_reserve_exact(n).map_err(|_| derr(path, format!("{n} values do not fit in memory")))?;
    stream_values(path, h, dtype, CHUNK, |_, chunk| {
        out.extend_from_slice(chunk);
        Ok(())
    })?;
    if h.fortran_order && h.shape.len() > 1 {
        out = fortran_to_c(&out, &h.shape);
    }
    Ok(out)
}

/// Values decoded at a time by [`read_npy_f32`].
const CHUNK: usize = 65536;

/// Calls `f(start, values)` for every value of a `.npy` file whose header is `h` (from
/// [`read_npy_header`]) and dtype `dtype`, as f32, in the order the file stores them (see
/// [`c_index`] for a Fortran-ordered file), `chunk` values at a time (the last chunk may be
/// shorter); `start` is the file position of the chunk's first value. Memory: one chunk, whatever
/// the file's size. An error from `f` stops the reading and is returned.
pub fn stream_values(
    path: &Path,
    h: &NpyHeader,
    dtype: Dtype,
    chunk: usize,
    mut f: impl FnMut(usize, &[f32]) -> Result<(), DataError>,
) -> Result<(), DataError> {
    use std::io::{Seek, SeekFrom};
    let n = h.elements().ok_or_else(|| derr(path, "too many values"))?;
    let chunk = chunk.max(1);
    let size = dtype.size();
    let mut file = open_data_file(path)?;
    file.seek(SeekFrom::Start(h.data_offset as u64)).map_err(|e| derr(path, e.to_string()))?;
    let mut r = std::io::BufReader::with_capacity(1 << 20, file);
    let mut bytes = vec![0u8; size * chunk.min(n)];
    let mut values = Vec::with_capacity(chunk.min(n));
    let mut start = 0;
    while start < n {
        let k = (n - start).min(chunk);
        let b = &mut bytes[..k * size];
        r.read_exact(b).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                derr(path, "the file ended before its data did (changed while read?)")
            } else {
                derr(path, e.to_string())
            }
        })?;
        values.clear();
        decode(dtype, b, &mut values);
        f(start, &values)?;
        start += k;
    }
    Ok(())
}

/// Appends the little-endian values of `bytes` (of `dtype`) to `out` as f32.
fn decode(dtype: Dtype, bytes: &[u8], out: &mut Vec<f32>) {
    match dtype {
        Dtype::F32 => out.extend(bytes.chunks_exact(4).map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
        Dtype::F64 => out.extend(bytes.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)),
        Dtype::U8 => out.extend(bytes.iter().map(|&b| f32::from(b))),
        Dtype::U16 => out.extend(bytes.chunks_exact(2).map(|b| f32::from(u16::from_le_bytes([b[0], b[1]])))),
        Dtype::I32 => out.extend(bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32)),
        Dtype::I64 => out.extend(bytes.chunks_exact(8).map(|b| i64::from_le_bytes(b.try_into().unwrap_or([0; 8])) as f32)),
    }
}

/// The C-order (row-major) position of the value stored at file position `at` of an array of
/// `shape`: `at` itself in a C-ordered file; in a Fortran-ordered one the first index varies
/// fastest in the file.
pub fn c_index(shape: &[usize], fortran_order: bool, at: usize) -> usize {
    if !fortran_order || shape.len() < 2 {
        return at;
    }
    let (mut rest, mut c) = (at, 0usize);
    let mut idx = Vec::with_capacity(shape.len());
    for &d in shape {
        idx.push(rest % d.max(1));
        rest /= d.max(1);
    }
    for (i, &d) in idx.iter().zip(shape) {
        c = c * d + i;
    }
    c
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
