//! What can be wrong with a ConvLMD file or with writing the imported set, and the rules every
//! label and recording id of a row obeys, each broken rule told as such.

use super::{NODE, TRAIN_FILE, VALIDATION_FILE};
use crate::data::StageError;
use cyplam_hdf5::Native;
use std::path::{Path, PathBuf};

/// A problem with a ConvLMD file or with writing the imported set, naming the file and, where it
/// is about one, the row and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConvlmdError {
    #[error("{}: missing file", path.display())]
    Missing { path: PathBuf },
    #[error("{}: is a directory, not the ConvLMD {what} file; {hint}", path.display())]
    IsDir { path: PathBuf, what: &'static str, hint: String },
    #[error("{}: no such directory (the folder holding {TRAIN_FILE} and {VALIDATION_FILE})", dir.display())]
    NoDir { dir: PathBuf },
    #[error("{}: is a file, not a directory; give the folder holding {TRAIN_FILE} and {VALIDATION_FILE}, or the two files as --train FILE --validation FILE", dir.display())]
    DirIsFile { dir: PathBuf },
    #[error("{}: holds no {file} (the ConvLMD {what} file); found: {found}", dir.display())]
    NotInDir { dir: PathBuf, file: &'static str, what: &'static str, found: String },
    #[error(transparent)]
    Hdf5(#[from] cyplam_hdf5::Error),
    #[error("{}: the table `/{NODE}` has no field `{field}`; its fields: {found}", path.display())]
    MissingField { path: PathBuf, field: &'static str, found: String },
    #[error("{}: field `image` holds {found}; a frame is 32 x 32 (cropped to its central 28 x 28) or 28 x 28", path.display())]
    FrameShape { path: PathBuf, found: String },
    #[error("{}: field `{field}` holds {found}; valid: {valid}", path.display())]
    FieldType { path: PathBuf, field: &'static str, found: String, valid: &'static str },
    #[error("{}: the table `/{NODE}` holds no rows", path.display())]
    Empty { path: PathBuf },
    #[error("{}: row {row}: {field} is {value}; labels must be finite and > 0 (Accuracy20% divides by them)", path.display())]
    BadLabel { path: PathBuf, row: usize, field: &'static str, value: f64 },
    #[error("{}: row {row}: {field} is {value:e}, beyond float32, the type labels are stored in (largest {:e}); correct row {row} of the file", path.display(), f32::MAX)]
    LabelOverflow { path: PathBuf, row: usize, field: &'static str, value: f64 },
    #[error("{}: row {row}: {field} is {value:e}, nearer 0 than float32, the type labels are stored in, holds (smallest {:e}): it would be stored as 0, and labels must be > 0; correct row {row} of the file", path.display(), f32::from_bits(1))]
    LabelUnderflow { path: PathBuf, row: usize, field: &'static str, value: f64 },
    #[error("{}: row {row}: image holds a non-finite value ({value}) at pixel ({y}, {x}) of the cropped frame", path.display())]
    BadFrame { path: PathBuf, row: usize, value: f64, y: usize, x: usize },
    #[error("{}: row {row}: id_recording {value} is not an integer recording id", path.display())]
    BadId { path: PathBuf, row: usize, value: String },
    #[error("{}: row {row}: id_recording {value} is beyond {limit}; {fix}", path.display())]
    IdBeyond { path: PathBuf, row: usize, value: String, limit: &'static str, fix: &'static str },
    #[error("{}: the training and the validation file are the same file", path.display())]
    SameFile { path: PathBuf },
    #[error("{}: {error}", path.display())]
    Write { path: PathBuf, error: std::io::Error },
    #[error(transparent)]
    Output(#[from] StageError),
}

/// A label as stored (float32), checked there: a value float32 cannot hold is named as such.
pub(super) fn label_at(path: &Path, row: usize, field: &'static str, v: f64) -> Result<f32, ConvlmdError> {
    let (path, stored) = (path.to_path_buf(), v as f32);
    if !(v.is_finite() && v > 0.0) {
        Err(ConvlmdError::BadLabel { path, row, field, value: v })
    } else if stored.is_infinite() {
        Err(ConvlmdError::LabelOverflow { path, row, field, value: v })
    } else if stored == 0.0 {
        Err(ConvlmdError::LabelUnderflow { path, row, field, value: v })
    } else {
        Ok(stored)
    }
}

/// Float64 ids are exact up to 2^53.
const EXACT_FLOAT: f64 = 9_007_199_254_740_992.0;

/// The recording id in the 8 bytes `raw` of a field read as `native` (int64, uint64 or float64).
pub(super) fn recording_id(path: &Path, row: usize, native: Native, raw: [u8; 8]) -> Result<i64, ConvlmdError> {
    let beyond = |value: String, limit, fix| ConvlmdError::IdBeyond { path: path.to_path_buf(), row, value, limit, fix };
    match native {
        Native::I64 => Ok(i64::from_ne_bytes(raw)),
        Native::U64 => {
            let v = u64::from_ne_bytes(raw);
            i64::try_from(v).map_err(|_| {
                beyond(v.to_string(), "int64, the type recording ids are kept in (largest 9223372036854775807)", "number the recordings within int64")
            })
        }
        _ => {
            let v = f64::from_ne_bytes(raw);
            if !(v.is_finite() && v.fract() == 0.0) {
                Err(ConvlmdError::BadId { path: path.to_path_buf(), row, value: v.to_string() })
            } else if v.abs() > EXACT_FLOAT {
                Err(beyond(
                    format!("{v:e}"),
                    "2^53 (9007199254740992), past which a float64 does not hold every integer (two recordings could get one id)",
                    "store the ids as int64",
                ))
            } else {
                Ok(v as i64)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_checked_as_stored() {
        let p = Path::new("x.hdf5");
        let check = |v: f64| label_at(p, 4, "power", v).map_err(|e| e.to_string());
        assert_eq!(check(612.5), Ok(612.5f32));
        assert_eq!(check(1e-50).unwrap_err(), "x.hdf5: row 4: power is 1e-50, nearer 0 than float32, the type labels are stored in, holds (smallest 1e-45): it would be stored as 0, and labels must be > 0; correct row 4 of the file");
        assert_eq!(
            check(1e300).unwrap_err(),
            "x.hdf5: row 4: power is 1e300, beyond float32, the type labels are stored in (largest 3.4028235e38); correct row 4 of the file"
        );
        assert_eq!(check(-1.0).unwrap_err(), "x.hdf5: row 4: power is -1; labels must be finite and > 0 (Accuracy20% divides by them)");
        assert!(check(f64::NAN).unwrap_err().contains("power is NaN; labels must be finite and > 0"));
        assert!(check(0.0).unwrap_err().contains("power is 0; labels must be finite and > 0"));
        // Float32's smallest subnormal is kept: it is > 0.
        assert!(check(1.5e-45).is_ok());
    }

    #[test]
    fn recording_ids_beyond_what_is_kept_are_named() {
        let p = Path::new("x.hdf5");
        let id = |n: Native, raw: [u8; 8]| recording_id(p, 11, n, raw).map_err(|e| e.to_string());
        assert_eq!(id(Native::I64, (-7i64).to_ne_bytes()), Ok(-7));
        assert_eq!(id(Native::U64, (1u64 << 63).to_ne_bytes()).unwrap_err(),
            "x.hdf5: row 11: id_recording 9223372036854775808 is beyond int64, the type recording ids are kept in (largest 9223372036854775807); number the recordings within int64");
        assert_eq!(id(Native::U64, u64::MAX.to_ne_bytes()).unwrap_err().split(" is beyond").next(), Some("x.hdf5: row 11: id_recording 18446744073709551615"));
        assert_eq!(id(Native::F64, 12.0f64.to_ne_bytes()), Ok(12));
        assert_eq!(id(Native::F64, EXACT_FLOAT.to_ne_bytes()), Ok(1 << 53));
        assert_eq!(id(Native::F64, 1e16f64.to_ne_bytes()).unwrap_err(),
            "x.hdf5: row 11: id_recording 1e16 is beyond 2^53 (9007199254740992), past which a float64 does not hold every integer (two recordings could get one id); store the ids as int64");
        assert!(id(Native::F64, 1e19f64.to_ne_bytes()).unwrap_err().contains("is beyond 2^53"));
        assert_eq!(id(Native::F64, 2.5f64.to_ne_bytes()).unwrap_err(), "x.hdf5: row 11: id_recording 2.5 is not an integer recording id");
        assert!(id(Native::F64, f64::INFINITY.to_ne_bytes()).unwrap_err().ends_with("id_recording inf is not an integer recording id"));
    }
}
