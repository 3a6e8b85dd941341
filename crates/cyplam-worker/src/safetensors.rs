//! The layout of a `.safetensors` file, checked before libtorch reads one, so that a file that is
//! not one says so (rather than libtorch's "HeaderTooLarge"). Pure Rust on bytes (std and
//! serde_json only): the fuzz target `weights` builds this file on its own.

use std::fmt::Write as _;

/// One tensor a safetensors header announces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorEntry {
    pub name: String,
    pub dtype: String,
    pub shape: Vec<u64>,
    /// Offsets of its bytes in the data that follows the header.
    pub begin: u64,
    pub end: u64,
}

/// The most header bytes read (the safetensors format's own limit).
pub const MAX_HEADER: u64 = 100_000_000;

fn dtype_size(dtype: &str) -> Option<u64> {
    Some(match dtype {
        "BOOL" | "U8" | "I8" | "F8_E5M2" | "F8_E4M3" => 1,
        "I16" | "U16" | "F16" | "BF16" => 2,
        "I32" | "U32" | "F32" => 4,
        "I64" | "U64" | "F64" => 8,
        _ => return None,
    })
}

/// What is wrong with the layout of a file read as safetensors (std only, as the rest of this
/// file: no thiserror).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LayoutError {
    /// Shorter than the 8-byte header length.
    Short {
        file_len: u64,
    },
    /// The header length is more than the file holds, or than the format allows.
    HeaderLength {
        announced: u64,
        file_len: u64,
    },
    /// A header too short to be a JSON object.
    TinyHeader(u64),
    LengthOverflow,
    Truncated {
        announced: u64,
        present: usize,
    },
    NotText,
    NotObject,
    NotJson(String),
    /// One tensor's entry, and what is wrong with it.
    Tensor {
        name: String,
        problem: String,
    },
}

impl std::fmt::Display for LayoutError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LayoutError::Short { file_len } => write!(f, "{file_len} bytes, shorter than a safetensors header"),
            LayoutError::HeaderLength { announced, file_len } => {
                write!(f, "its first 8 bytes announce a header of {announced} bytes, the file has {file_len} bytes")
            }
            LayoutError::TinyHeader(n) => write!(f, "a header of {n} bytes"),
            LayoutError::LengthOverflow => f.write_str("header length overflows"),
            LayoutError::Truncated { announced, present } => write!(f, "truncated header: {announced} bytes announced, {present} present"),
            LayoutError::NotText => f.write_str("the header is not text"),
            LayoutError::NotObject => f.write_str("the header is not a JSON object"),
            LayoutError::NotJson(e) => write!(f, "the header is not JSON: {e}"),
            LayoutError::Tensor { name, problem } => write!(f, "tensor {name:?}: {problem}"),
        }
    }
}

impl std::error::Error for LayoutError {}

/// How many header bytes the first 8 bytes of a file of `file_len` bytes announce, if that is a
/// safetensors header's length.
pub fn header_len(prefix: &[u8], file_len: u64) -> Result<u64, LayoutError> {
    let Some(first) = prefix.get(..8) else {
        return Err(LayoutError::Short { file_len });
    };
    let mut le = [0u8; 8];
    le.copy_from_slice(first);
    let n = u64::from_le_bytes(le);
    let room = file_len.saturating_sub(8);
    if n > room || n > MAX_HEADER {
        return Err(LayoutError::HeaderLength { announced: n, file_len });
    }
    if n < 2 {
        return Err(LayoutError::TinyHeader(n));
    }
    Ok(n)
}

/// Checks the header of a safetensors file: `bytes` is the file's start (the 8-byte length and
/// at least the header), `file_len` its whole length. Returns the tensors it announces, each of
/// whose bytes lie inside the file and match its dtype and shape.
pub fn parse_header(bytes: &[u8], file_len: u64) -> Result<Vec<TensorEntry>, LayoutError> {
    let n = header_len(bytes, file_len)?;
    let end = usize::try_from(n).ok().and_then(|n| n.checked_add(8)).ok_or(LayoutError::LengthOverflow)?;
    let header = bytes.get(8..end).ok_or_else(|| LayoutError::Truncated { announced: n, present: bytes.len().saturating_sub(8) })?;
    let text = std::str::from_utf8(header).map_err(|_| LayoutError::NotText)?;
    if !text.starts_with('{') {
        return Err(LayoutError::NotObject);
    }
    let map: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text).map_err(|e| LayoutError::NotJson(e.to_string()))?;
    let data_len = file_len - 8 - n;
    let mut out = Vec::with_capacity(map.len());
    for (name, v) in &map {
        if name == "__metadata__" {
            continue;
        }
        let bad = |what: &str| LayoutError::Tensor { name: name.clone(), problem: what.to_string() };
        let dtype = v.get("dtype").and_then(|d| d.as_str()).ok_or_else(|| bad("no dtype"))?;
        let size = dtype_size(dtype).ok_or_else(|| bad(&format!("unknown dtype {dtype:?}")))?;
        let shape: Vec<u64> = v
            .get("shape")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("no shape"))?
            .iter()
            .map(|d| d.as_u64())
            .collect::<Option<_>>()
            .ok_or_else(|| bad("a dimension that is not a count"))?;
        let offsets: Vec<u64> = v
            .get("data_offsets")
            .and_then(|s| s.as_array())
            .ok_or_else(|| bad("no data_offsets"))?
            .iter()
            .map(|d| d.as_u64())
            .collect::<Option<_>>()
            .ok_or_else(|| bad("data_offsets that are not offsets"))?;
        let [begin, end] = offsets[..] else { return Err(bad("data_offsets is not [begin, end]")) };
        if begin > end || end > data_len {
            return Err(bad(&format!("bytes {begin}..{end} of a data section of {data_len} bytes")));
        }
        let want = shape.iter().try_fold(size, |a, &d| a.checked_mul(d));
        if want != Some(end - begin) {
            let mut dims = String::new();
            for d in &shape {
                let _ = write!(dims, "{}{d}", if dims.is_empty() { "" } else { ", " });
            }
            return Err(bad(&format!("shape [{dims}] of {dtype} does not take the {} bytes it is given", end - begin)));
        }
        out.push(TensorEntry { name: name.clone(), dtype: dtype.to_string(), shape, begin, end });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(header: &str, data: usize) -> Vec<u8> {
        let mut b = (header.len() as u64).to_le_bytes().to_vec();
        b.extend_from_slice(header.as_bytes());
        b.resize(b.len() + data, 0);
        b
    }

    #[test]
    fn headers_are_checked_before_libtorch_reads_them() {
        let ok = file(r#"{"__metadata__":{"a":"b"},"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#, 24);
        let t = parse_header(&ok, ok.len() as u64).unwrap();
        assert_eq!(t, vec![TensorEntry { name: "w".into(), dtype: "F32".into(), shape: vec![2, 3], begin: 0, end: 24 }]);
        let e = |b: &[u8]| parse_header(b, b.len() as u64).unwrap_err().to_string();
        assert_eq!(e(b"frame,laser_power,process_speed\n0,1,2\n"), "its first 8 bytes announce a header of 7020034733302182502 bytes, the file has 38 bytes");
        assert_eq!(e(b"abc"), "3 bytes, shorter than a safetensors header");
        assert_eq!(e(&file("[1, 2]", 0)), "the header is not a JSON object");
        assert!(e(&file("{nope", 0)).starts_with("the header is not JSON: "));
        assert_eq!(e(&file(r#"{"w":{"dtype":"F32","shape":[2,3],"data_offsets":[0,24]}}"#, 20)), "tensor \"w\": bytes 0..24 of a data section of 20 bytes");
        assert_eq!(
            e(&file(r#"{"w":{"dtype":"F32","shape":[2,4],"data_offsets":[0,24]}}"#, 24)),
            "tensor \"w\": shape [2, 4] of F32 does not take the 24 bytes it is given"
        );
        assert_eq!(e(&file(r#"{"w":{"dtype":"Q7","shape":[1],"data_offsets":[0,1]}}"#, 1)), "tensor \"w\": unknown dtype \"Q7\"");
        // A shape whose byte count overflows is a mismatch, not a wrap-around.
        assert!(e(&file(r#"{"w":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}}"#, 0)).contains("does not take the 0 bytes"));
    }
}
