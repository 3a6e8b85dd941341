//! Importing the lab's public ConvLMD data set: two HDF5 files (`train_pow_speed.hdf5`,
//! `test_pow_speed.hdf5`), each a PyTables table at `/df` whose rows hold `image` (a 32 x 32
//! frame), `power`, `velocity` and `id_recording`. Every frame is cropped to its central 28 x 28
//! (the lab's `[2:30, 2:30]`) and kept in its stored type; LP = power, PS = velocity, the track is
//! `id_recording`; `dataset.json` records the lab's input scale (divide by 255). Streamed: a chunk
//! of rows at a time, whatever the file's size.

use crate::data::{npy_header, DatasetMeta, META_FILE};
use crate::files::{write_json_atomic, AtomicFile};
use cyplam_hdf5::{FieldType, Native, Scalar, Table, Want};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

/// The training file's published name.
pub const TRAIN_FILE: &str = "train_pow_speed.hdf5";
/// The validation file's published name (the lab calls it the test set).
pub const VALIDATION_FILE: &str = "test_pow_speed.hdf5";
/// The table in each file.
pub const NODE: &str = "df";
/// The lab's input scale: frames are divided by 255.
pub const INPUT_SCALE: f64 = 1.0 / 255.0;
/// Rows read per HDF5 read: what bounds the importer's memory (at most about 8 MB of float64
/// frames per chunk).
pub const CHUNK_ROWS: usize = 1024;

const FIELDS: [&str; 4] = ["image", "power", "velocity", "id_recording"];

/// A problem with a ConvLMD file or with writing the imported set, naming the file and, where it
/// is about one, the row and the field.
#[derive(Debug, thiserror::Error)]
pub enum ConvlmdError {
    #[error("{}: missing file", path.display())]
    Missing { path: PathBuf },
    #[error("{}: no such directory (the folder holding {TRAIN_FILE} and {VALIDATION_FILE})", dir.display())]
    NoDir { dir: PathBuf },
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
    #[error("{}: row {row}: image holds a non-finite value ({value}) at pixel ({y}, {x}) of the cropped frame", path.display())]
    BadFrame { path: PathBuf, row: usize, value: f64, y: usize, x: usize },
    #[error("{}: row {row}: id_recording {value} is not an integer recording id", path.display())]
    BadId { path: PathBuf, row: usize, value: String },
    #[error("{}: the training and the validation file are the same file", path.display())]
    SameFile { path: PathBuf },
    #[error("{}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}

/// What one imported set holds.
#[derive(Debug, Clone, PartialEq)]
pub struct SetSummary {
    pub source: PathBuf,
    pub dir: PathBuf,
    pub frames: usize,
    /// The `image` field as the file stores it, e.g. `uint8 of 32 x 32`.
    pub image: String,
    /// Frames per recording id.
    pub tracks: BTreeMap<i64, usize>,
    /// Largest pixel value of the cropped frames.
    pub max_value: f64,
}

/// What `import` wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportSummary {
    pub train: SetSummary,
    pub validation: SetSummary,
    /// Recording ids found in both sets.
    pub shared_recordings: Vec<i64>,
    /// Things the user should know; the import still succeeded.
    pub warnings: Vec<String>,
}

/// The two files of a ConvLMD directory, by their published names.
pub fn files_in(dir: &Path) -> Result<(PathBuf, PathBuf), ConvlmdError> {
    let found = || -> String {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
            .unwrap_or_default();
        names.sort();
        if names.is_empty() { "nothing".into() } else { names.join(", ") }
    };
    if !dir.is_dir() {
        return Err(ConvlmdError::NoDir { dir: dir.to_path_buf() });
    }
    let train = dir.join(TRAIN_FILE);
    let validation = dir.join(VALIDATION_FILE);
    if !train.is_file() {
        return Err(ConvlmdError::NotInDir { dir: dir.to_path_buf(), file: TRAIN_FILE, what: "training", found: found() });
    }
    if !validation.is_file() {
        return Err(ConvlmdError::NotInDir { dir: dir.to_path_buf(), file: VALIDATION_FILE, what: "validation", found: found() });
    }
    Ok((train, validation))
}

/// How the `image` field is read and stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Pixels {
    U8,
    U16,
    F32,
    F64,
}

impl Pixels {
    fn native(self) -> Native {
        match self {
            Pixels::U8 => Native::U8,
            Pixels::U16 => Native::U16,
            Pixels::F32 => Native::F32,
            Pixels::F64 => Native::F64,
        }
    }
    fn descr(self) -> &'static str {
        match self {
            Pixels::U8 => "|u1",
            Pixels::U16 => "<u2",
            Pixels::F32 => "<f4",
            Pixels::F64 => "<f8",
        }
    }
    fn bytes(self) -> usize {
        self.native().bytes()
    }
    fn value(self, b: &[u8]) -> f64 {
        match self {
            Pixels::U8 => b[0] as f64,
            Pixels::U16 => u16::from_ne_bytes([b[0], b[1]]) as f64,
            Pixels::F32 => f32::from_ne_bytes([b[0], b[1], b[2], b[3]]) as f64,
            Pixels::F64 => f64::from_ne_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]),
        }
    }
}

/// An opened, checked source file.
struct Source {
    path: PathBuf,
    table: Table,
    pixels: Pixels,
    side: usize,
    image: String,
    id: Native,
}

fn open(path: &Path) -> Result<Source, ConvlmdError> {
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
    let (pixels, side) = match image_ty {
        FieldType::Array(s, dims) if dims == &[32, 32] || dims == &[28, 28] => {
            let p = match s {
                Scalar::Int { signed: false, bytes: 1 } => Pixels::U8,
                Scalar::Int { signed: false, bytes: 2 } => Pixels::U16,
                Scalar::Float { bytes: 4 } => Pixels::F32,
                Scalar::Float { bytes: 8 } => Pixels::F64,
                _ => return Err(ConvlmdError::FieldType {
                    path: path.to_path_buf(), field: "image", found: image_ty.to_string(),
                    valid: "frames of uint8, uint16, float32 or float64",
                }),
            };
            (p, dims[0])
        }
        other => return Err(ConvlmdError::FrameShape { path: path.to_path_buf(), found: other.to_string() }),
    };
    for name in ["power", "velocity"] {
        let ty = field(name)?;
        if !matches!(ty, FieldType::Scalar(_)) {
            return Err(ConvlmdError::FieldType { path: path.to_path_buf(), field: name, found: ty.to_string(), valid: "a number (any integer or float type)" });
        }
    }
    let id = match field("id_recording")? {
        FieldType::Scalar(Scalar::Int { signed: true, .. }) => Native::I64,
        FieldType::Scalar(Scalar::Int { signed: false, .. }) => Native::U64,
        FieldType::Scalar(Scalar::Float { .. }) => Native::F64,
        other => return Err(ConvlmdError::FieldType {
            path: path.to_path_buf(), field: "id_recording", found: other.to_string(), valid: "an integer (any integer type, or a float holding one)",
        }),
    };
    if table.rows == 0 {
        return Err(ConvlmdError::Empty { path: path.to_path_buf() });
    }
    Ok(Source { path: path.to_path_buf(), pixels, side, image: image_ty.to_string(), id, table })
}

/// The three `.npy` files of a set, streamed.
struct SetFiles {
    frames: (PathBuf, AtomicFile),
    labels: (PathBuf, AtomicFile),
    tracks: (PathBuf, AtomicFile),
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> ConvlmdError + '_ {
    move |source| ConvlmdError::Write { path: path.to_path_buf(), source }
}

impl SetFiles {
    fn create(dir: &Path, n: usize, pixels: Pixels) -> Result<SetFiles, ConvlmdError> {
        std::fs::create_dir_all(dir).map_err(write_err(dir))?;
        let file = |name: &str, descr: &str, shape: &[usize]| -> Result<(PathBuf, AtomicFile), ConvlmdError> {
            let p = dir.join(name);
            let mut f = AtomicFile::create(&p).map_err(write_err(&p))?;
            f.write_all(&npy_header(descr, shape)).map_err(write_err(&p))?;
            Ok((p, f))
        };
        Ok(SetFiles {
            frames: file("frames.npy", pixels.descr(), &[n, 28, 28])?,
            labels: file("labels.npy", "<f4", &[n, 2])?,
            tracks: file("tracks.npy", "<i8", &[n])?,
        })
    }
    fn commit(self) -> Result<(), ConvlmdError> {
        for (p, f) in [self.frames, self.labels, self.tracks] {
            f.commit().map_err(write_err(&p))?;
        }
        Ok(())
    }
}

fn label(src: &Source, row: usize, field: &'static str, v: f64) -> Result<f32, ConvlmdError> {
    label_at(&src.path, row, field, v)
}

/// A label as stored (float32), checked there: a tiny positive float64 could round to 0.
fn label_at(path: &Path, row: usize, field: &'static str, v: f64) -> Result<f32, ConvlmdError> {
    if v.is_finite() && v > 0.0 && (v as f32) > 0.0 && (v as f32).is_finite() {
        Ok(v as f32)
    } else {
        Err(ConvlmdError::BadLabel { path: path.to_path_buf(), row, field, value: v })
    }
}

fn copy_set(src: &Source, dir: &Path) -> Result<SetSummary, ConvlmdError> {
    let n = src.table.rows;
    let side = src.side;
    let px = src.pixels.bytes();
    let wants = [
        Want { name: "image".into(), native: src.pixels.native(), dims: vec![side, side] },
        Want { name: "power".into(), native: Native::F64, dims: vec![] },
        Want { name: "velocity".into(), native: Native::F64, dims: vec![] },
        Want { name: "id_recording".into(), native: src.id, dims: vec![] },
    ];
    let layout = src.table.layout(&wants)?;
    let [o_img, o_pow, o_vel, o_id] = [layout.offsets[0], layout.offsets[1], layout.offsets[2], layout.offsets[3]];
    let mut out = SetFiles::create(dir, n, src.pixels)?;
    let lo = (side - 28) / 2;
    let float = matches!(src.pixels, Pixels::F32 | Pixels::F64);
    let mut buf = Vec::new();
    let (mut fbuf, mut lbuf, mut tbuf) = (Vec::new(), Vec::new(), Vec::new());
    let mut tracks = BTreeMap::new();
    let mut max_value = f64::NEG_INFINITY;
    for start in (0..n).step_by(CHUNK_ROWS) {
        let count = CHUNK_ROWS.min(n - start);
        src.table.read(&layout, start, count, &mut buf)?;
        fbuf.clear();
        lbuf.clear();
        tbuf.clear();
        for (k, row) in buf.chunks_exact(layout.row_bytes).enumerate() {
            let r = start + k;
            for y in 0..28 {
                let at = o_img + ((y + lo) * side + lo) * px;
                let line = &row[at..at + 28 * px];
                for (x, b) in line.chunks_exact(px).enumerate() {
                    let v = src.pixels.value(b);
                    if float && !v.is_finite() {
                        return Err(ConvlmdError::BadFrame { path: src.path.clone(), row: r, value: v, y, x });
                    }
                    max_value = max_value.max(v);
                }
                fbuf.extend_from_slice(line);
            }
            let f64_at = |o: usize| f64::from_ne_bytes(row[o..o + 8].try_into().unwrap_or([0; 8]));
            lbuf.extend_from_slice(&label(src, r, "power", f64_at(o_pow))?.to_le_bytes());
            lbuf.extend_from_slice(&label(src, r, "velocity", f64_at(o_vel))?.to_le_bytes());
            let raw: [u8; 8] = row[o_id..o_id + 8].try_into().unwrap_or([0; 8]);
            let id = match src.id {
                Native::I64 => Some(i64::from_ne_bytes(raw)),
                Native::U64 => i64::try_from(u64::from_ne_bytes(raw)).ok(),
                _ => {
                    let v = f64::from_ne_bytes(raw);
                    (v.is_finite() && v.fract() == 0.0 && v.abs() < 9.0e15).then_some(v as i64)
                }
            };
            let Some(id) = id else {
                let value = match src.id {
                    Native::U64 => u64::from_ne_bytes(raw).to_string(),
                    _ => f64::from_ne_bytes(raw).to_string(),
                };
                return Err(ConvlmdError::BadId { path: src.path.clone(), row: r, value });
            };
            tbuf.extend_from_slice(&id.to_le_bytes());
            *tracks.entry(id).or_insert(0) += 1;
        }
        // The files are little-endian; the rows come native-endian.
        if cfg!(target_endian = "big") {
            return Err(ConvlmdError::Write { path: dir.to_path_buf(), source: std::io::Error::other("big-endian hosts are not supported") });
        }
        out.frames.1.write_all(&fbuf).map_err(write_err(&out.frames.0))?;
        out.labels.1.write_all(&lbuf).map_err(write_err(&out.labels.0))?;
        out.tracks.1.write_all(&tbuf).map_err(write_err(&out.tracks.0))?;
    }
    out.commit()?;
    let meta = DatasetMeta {
        source: format!("ConvLMD {}", src.path.display()),
        input_scale: Some(INPUT_SCALE),
        note: Some("the lab's training code divides every frame by 255".into()),
    };
    let mp = dir.join(META_FILE);
    write_json_atomic(&mp, &meta).map_err(write_err(&mp))?;
    Ok(SetSummary { source: src.path.clone(), dir: dir.to_path_buf(), frames: n, image: src.image.clone(), tracks, max_value })
}

/// Imports the ConvLMD training and validation files into `out/train` and `out/validation`.
/// Both files are opened and their layouts checked before anything is written.
pub fn import(train: &Path, validation: &Path, out: &Path) -> Result<ImportSummary, ConvlmdError> {
    if let (Ok(a), Ok(b)) = (train.canonicalize(), validation.canonicalize()) {
        if a == b {
            return Err(ConvlmdError::SameFile { path: a });
        }
    }
    let t = open(train)?;
    let v = open(validation)?;
    let train = copy_set(&t, &out.join("train"))?;
    let validation = copy_set(&v, &out.join("validation"))?;
    let shared_recordings: Vec<i64> = train.tracks.keys().filter(|k| validation.tracks.contains_key(k)).copied().collect();
    let mut warnings = Vec::new();
    if !shared_recordings.is_empty() {
        let ids: Vec<String> = shared_recordings.iter().take(20).map(|i| i.to_string()).collect();
        let more = if shared_recordings.len() > 20 { format!(" and {} more", shared_recordings.len() - 20) } else { String::new() };
        warnings.push(format!(
            "{} recording(s) are in both the training and the validation set (id_recording {}{more}); the study's sets share no experiment, so validation accuracy will flatter the models",
            shared_recordings.len(), ids.join(", ")));
    }
    for s in [&train, &validation] {
        if s.max_value <= 1.0 {
            warnings.push(format!(
                "{}: every pixel is at most {}: the frames look already scaled, and the recorded input scale (divide by 255) would shrink them again; set `input_scale = \"none\"` (or \"max\") in the grid's [data]",
                s.source.display(), s.max_value));
        }
    }
    Ok(ImportSummary { train, validation, shared_recordings, warnings })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_directory_form_names_what_is_missing() {
        let t = tempfile::tempdir().unwrap();
        let e = files_in(&t.path().join("nope")).unwrap_err().to_string();
        assert!(e.ends_with("nope: no such directory (the folder holding train_pow_speed.hdf5 and test_pow_speed.hdf5)"), "{e}");
        let e = files_in(t.path()).unwrap_err().to_string();
        assert!(e.ends_with("holds no train_pow_speed.hdf5 (the ConvLMD training file); found: nothing"), "{e}");
        std::fs::write(t.path().join(TRAIN_FILE), b"").unwrap();
        std::fs::write(t.path().join("notes.txt"), b"").unwrap();
        let e = files_in(t.path()).unwrap_err().to_string();
        assert!(e.ends_with("holds no test_pow_speed.hdf5 (the ConvLMD validation file); found: notes.txt, train_pow_speed.hdf5"), "{e}");
        std::fs::write(t.path().join(VALIDATION_FILE), b"").unwrap();
        assert_eq!(files_in(t.path()).unwrap(), (t.path().join(TRAIN_FILE), t.path().join(VALIDATION_FILE)));
    }

    #[test]
    fn labels_are_checked_as_stored() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("x.hdf5");
        let check = |v: f64| label_at(&p, 4, "power", v);
        assert_eq!(check(612.5).unwrap(), 612.5f32);
        assert!(check(1e-50).unwrap_err().to_string().contains("row 4: power is 0.0000"), "a float64 that rounds to 0 in float32 is refused");
        assert!(check(1e300).is_err(), "and one that overflows float32");
        assert!(check(-1.0).unwrap_err().to_string().ends_with("x.hdf5: row 4: power is -1; labels must be finite and > 0 (Accuracy20% divides by them)"));
        assert!(check(f64::NAN).is_err() && check(0.0).is_err());
    }

    #[test]
    fn pixels_decode_native_endian() {
        assert_eq!(Pixels::U8.value(&[200]), 200.0);
        assert_eq!(Pixels::U16.value(&1023u16.to_ne_bytes()), 1023.0);
        assert_eq!(Pixels::F32.value(&0.5f32.to_ne_bytes()), 0.5);
        assert!(Pixels::F64.value(&f64::NAN.to_ne_bytes()).is_nan());
        assert_eq!((Pixels::U8.descr(), Pixels::U16.descr(), Pixels::F32.descr(), Pixels::F64.descr()), ("|u1", "<u2", "<f4", "<f8"));
    }
}
