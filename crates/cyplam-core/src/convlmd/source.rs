//! Opening one ConvLMD file and checking its layout (the table, its four fields and their types)
//! before any row is read.

use super::error::ConvlmdError;
use super::{NODE, TRAIN_FILE, VALIDATION_FILE};
use cyplam_hdf5::{FieldType, Native, Scalar, Table};
use std::path::{Path, PathBuf};

const FIELDS: [&str; 4] = ["image", "power", "velocity", "id_recording"];

/// Which of the two files: named in messages, with its flag and its published name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    Training,
    Validation,
}

impl Role {
    pub fn what(self) -> &'static str {
        match self {
            Role::Training => "training",
            Role::Validation => "validation",
        }
    }
    fn flag(self) -> &'static str {
        match self {
            Role::Training => "--train",
            Role::Validation => "--validation",
        }
    }
    pub fn published(self) -> &'static str {
        match self {
            Role::Training => TRAIN_FILE,
            Role::Validation => VALIDATION_FILE,
        }
    }
    fn other(self) -> Role {
        match self {
            Role::Training => Role::Validation,
            Role::Validation => Role::Training,
        }
    }
    /// `path` is a directory where this file was expected: what to give instead.
    pub fn is_dir(self, path: &Path) -> ConvlmdError {
        let inside = path.join(self.published());
        let hint = if inside.is_file() {
            format!("give the file in it: {} {} (with {} FILE)", self.flag(), inside.display(), self.other().flag())
        } else {
            format!("give the HDF5 file itself: {} FILE (with {} FILE)", self.flag(), self.other().flag())
        };
        ConvlmdError::IsDir { path: path.to_path_buf(), what: self.what(), hint }
    }
}

/// How the `image` field is read and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Pixels {
    U8,
    U16,
    F32,
    F64,
}

impl Pixels {
    pub(super) fn native(self) -> Native {
        match self {
            Pixels::U8 => Native::U8,
            Pixels::U16 => Native::U16,
            Pixels::F32 => Native::F32,
            Pixels::F64 => Native::F64,
        }
    }
    pub(super) fn descr(self) -> &'static str {
        match self {
            Pixels::U8 => "|u1",
            Pixels::U16 => "<u2",
            Pixels::F32 => "<f4",
            Pixels::F64 => "<f8",
        }
    }
    pub(super) fn bytes(self) -> usize {
        self.native().bytes()
    }
    pub(super) fn value(self, b: &[u8]) -> f64 {
        match self {
            Pixels::U8 => b[0] as f64,
            Pixels::U16 => u16::from_ne_bytes([b[0], b[1]]) as f64,
            Pixels::F32 => f32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Pixels::F64 => f64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }
    fn of(s: &Scalar) -> Option<Pixels> {
        Some(match s {
            Scalar::Int { signed: false, bytes: 1 } => Pixels::U8,
            Scalar::Int { signed: false, bytes: 2 } => Pixels::U16,
            Scalar::Float { bytes: 4 } => Pixels::F32,
            Scalar::Float { bytes: 8 } => Pixels::F64,
            _ => return None,
        })
    }
}

/// An opened, checked source file.
pub(super) struct Source {
    pub(super) path: PathBuf,
    pub(super) table: Table,
    pub(super) pixels: Pixels,
    pub(super) side: usize,
    pub(super) image: String,
    pub(super) id: Native,
}

const PIXEL_TYPES: &str = "frames of uint8, uint16, float32 or float64; convert the column (numpy: `image.astype('float32')`) and write the table again";

pub(super) fn open(path: &Path, role: Role) -> Result<Source, ConvlmdError> {
    if path.is_dir() {
        return Err(role.is_dir(path));
    }
    if !path.is_file() {
        return Err(ConvlmdError::Missing { path: path.to_path_buf() });
    }
    let table = Table::open(path, NODE)?;
    let field = |name: &'static str| -> Result<&FieldType, ConvlmdError> {
        table.field(name).map(|f| &f.ty).ok_or_else(|| ConvlmdError::MissingField {
            path: path.to_path_buf(),
            field: name,
            found: table.fields.iter().map(|f| format!("{} ({})", f.name, f.ty)).collect::<Vec<_>>().join(", "),
        })
    };
    // Every field is looked up before any is judged, so a missing one is named first.
    for name in FIELDS {
        field(name)?;
    }
    let image_ty = field("image")?;
    let type_error = |field, valid| ConvlmdError::FieldType { path: path.to_path_buf(), field, found: image_ty.to_string(), valid };
    let (pixels, side) = match image_ty {
        FieldType::Array(s, dims) if dims == &[32, 32] || dims == &[28, 28] => (Pixels::of(s).ok_or_else(|| type_error("image", PIXEL_TYPES))?, dims[0]),
        // A frame of the right shape whose elements are not numbers (bool, strings).
        FieldType::ArrayOf(_, dims) if dims == &[32, 32] || dims == &[28, 28] => return Err(type_error("image", PIXEL_TYPES)),
        other => return Err(ConvlmdError::FrameShape { path: path.to_path_buf(), found: other.to_string() }),
    };
    for name in ["power", "velocity"] {
        let ty = field(name)?;
        if !matches!(ty, FieldType::Scalar(_)) {
            return Err(ConvlmdError::FieldType {
                path: path.to_path_buf(),
                field: name,
                found: ty.to_string(),
                valid: "a number (any integer or float type)",
            });
        }
    }
    let id = match field("id_recording")? {
        FieldType::Scalar(Scalar::Int { signed: true, .. }) => Native::I64,
        FieldType::Scalar(Scalar::Int { signed: false, .. }) => Native::U64,
        FieldType::Scalar(Scalar::Float { .. }) => Native::F64,
        other => {
            return Err(ConvlmdError::FieldType {
                path: path.to_path_buf(),
                field: "id_recording",
                found: other.to_string(),
                valid: "an integer (any integer type, or a float holding one)",
            })
        }
    };
    if table.rows == 0 {
        return Err(ConvlmdError::Empty { path: path.to_path_buf() });
    }
    Ok(Source { path: path.to_path_buf(), pixels, side, image: image_ty.to_string(), id, table })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pixels_decode_native_endian() {
        assert_eq!(Pixels::U8.value(&[200]), 200.0);
        assert_eq!(Pixels::U16.value(&1023u16.to_ne_bytes()), 1023.0);
        assert_eq!(Pixels::F32.value(&0.5f32.to_ne_bytes()), 0.5);
        assert!(Pixels::F64.value(&f64::NAN.to_ne_bytes()).is_nan());
        assert_eq!((Pixels::U8.descr(), Pixels::U16.descr(), Pixels::F32.descr(), Pixels::F64.descr()), ("|u1", "<u2", "<f4", "<f8"));
        assert_eq!(Pixels::of(&Scalar::Float { bytes: 2 }), None, "float16 frames are refused as a type");
    }

    #[test]
    fn a_directory_given_as_a_file_is_named_one_with_what_to_give() {
        let t = tempfile::tempdir().unwrap();
        let e = open(t.path(), Role::Training).err().map(|e| e.to_string()).unwrap_or_default();
        assert_eq!(
            e,
            format!("{}: is a directory, not the ConvLMD training file; give the HDF5 file itself: --train FILE (with --validation FILE)", t.path().display())
        );
        std::fs::write(t.path().join(VALIDATION_FILE), b"").unwrap();
        let e = open(t.path(), Role::Validation).err().map(|e| e.to_string()).unwrap_or_default();
        assert!(e.ends_with(&format!("give the file in it: --validation {} (with --train FILE)", t.path().join(VALIDATION_FILE).display())), "{e}");
        assert!(!e.contains("missing"), "{e}");
    }
}
