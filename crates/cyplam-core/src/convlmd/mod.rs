//! Importing the lab's public ConvLMD data set: two HDF5 files (`train_pow_speed.hdf5`,
//! `test_pow_speed.hdf5`), each a PyTables table at `/df` whose rows hold `image` (a 32 x 32
//! frame), `power`, `velocity` and `id_recording`. Every frame is cropped to its central 28 x 28
//! (the lab's `[2:30, 2:30]`) and kept in its stored type; LP = power, PS = velocity, the track is
//! `id_recording`; `dataset.json` records the lab's input scale (divide by 255). Streamed: a chunk
//! of rows at a time, whatever the file's size.

mod copy;
mod error;
mod source;

pub use error::ConvlmdError;

use source::Role;

use crate::data::{OnExisting, StagedSets};
use std::collections::BTreeMap;
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
    /// Smallest and largest pixel value of the cropped frames.
    pub min_value: f64,
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
    /// The sets OUT held before, replaced (`--replace`), described.
    pub replaced: Vec<String>,
}

/// The two files of a ConvLMD directory, by their published names.
pub fn files_in(dir: &Path) -> Result<(PathBuf, PathBuf), ConvlmdError> {
    let found = || -> String {
        let mut names: Vec<String> =
            std::fs::read_dir(dir).map(|r| r.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect()).unwrap_or_default();
        names.sort();
        if names.is_empty() {
            "nothing".into()
        } else {
            names.join(", ")
        }
    };
    if dir.is_file() {
        return Err(ConvlmdError::DirIsFile { dir: dir.to_path_buf() });
    }
    if !dir.is_dir() {
        return Err(ConvlmdError::NoDir { dir: dir.to_path_buf() });
    }
    let file = |role: Role| {
        let p = dir.join(role.published());
        if p.is_dir() {
            Err(role.is_dir(&p))
        } else if p.is_file() {
            Ok(p)
        } else {
            Err(ConvlmdError::NotInDir { dir: dir.to_path_buf(), file: role.published(), what: role.what(), found: found() })
        }
    };
    Ok((file(Role::Training)?, file(Role::Validation)?))
}

/// Imports the ConvLMD training and validation files into `out/train` and `out/validation`.
/// Both files are opened and their layouts checked before anything is written; both sets are
/// written aside and put in place together once complete ([`StagedSets`]), so a failed import
/// leaves what `out` held as it was. A set already in `out` is replaced only with
/// [`OnExisting::Replace`].
pub fn import(train: &Path, validation: &Path, out: &Path, on_existing: OnExisting) -> Result<ImportSummary, ConvlmdError> {
    if let (Ok(a), Ok(b)) = (train.canonicalize(), validation.canonicalize()) {
        if a == b {
            return Err(ConvlmdError::SameFile { path: a });
        }
    }
    let mut staged = StagedSets::new(out, on_existing)?;
    let t = source::open(train, Role::Training)?;
    let v = source::open(validation, Role::Validation)?;
    let train = copy::copy_set(&t, &staged.set_dir("train")?, &staged.final_dir("train"))?;
    let validation = copy::copy_set(&v, &staged.set_dir("validation")?, &staged.final_dir("validation"))?;
    let replaced = staged.commit()?;
    let shared_recordings: Vec<i64> = train.tracks.keys().filter(|k| validation.tracks.contains_key(k)).copied().collect();
    let mut warnings = Vec::new();
    if !shared_recordings.is_empty() {
        let ids: Vec<String> = shared_recordings.iter().take(20).map(|i| i.to_string()).collect();
        let more = if shared_recordings.len() > 20 { format!(" and {} more", shared_recordings.len() - 20) } else { String::new() };
        warnings.push(format!(
            "{} recording(s) are in both the training and the validation set (id_recording {}{more}); the study's sets share no experiment, so validation accuracy will flatter the models",
            shared_recordings.len(), ids.join(", ")));
    }
    warnings.extend([&train, &validation].into_iter().filter_map(scale_warning));
    Ok(ImportSummary { train, validation, shared_recordings, warnings, replaced })
}

/// What the pixel values of a set say about its frames, when they look wrong for the lab's input
/// scale (divide by 255).
fn scale_warning(s: &SetSummary) -> Option<String> {
    let file = s.source.display();
    if s.max_value <= 0.0 {
        let what = if s.min_value == s.max_value {
            format!("every pixel of every frame is {}", s.max_value)
        } else {
            format!("no pixel is above {} (values {}..{})", s.max_value, s.min_value, s.max_value)
        };
        Some(format!("{file}: {what}: the frames hold no image (nothing a model could learn from); check the file was exported from the recordings"))
    } else if s.max_value <= 1.0 {
        Some(format!(
            "{file}: every pixel is at most {}: the frames look already scaled, and the recorded input scale (divide by 255) would shrink them again; set `input_scale = \"none\"` (or \"max\") in the grid's [data]",
            s.max_value))
    } else {
        None
    }
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
    fn a_file_given_as_the_directory_and_a_directory_named_as_a_file_are_said_to_be_so() {
        let t = tempfile::tempdir().unwrap();
        let file = t.path().join(TRAIN_FILE);
        std::fs::write(&file, b"").unwrap();
        let e = files_in(&file).unwrap_err().to_string();
        assert_eq!(e, format!("{}: is a file, not a directory; give the folder holding train_pow_speed.hdf5 and test_pow_speed.hdf5, or the two files as --train FILE --validation FILE", file.display()));
        // A directory under the published name: not "holds no X; found: X".
        std::fs::create_dir(t.path().join(VALIDATION_FILE)).unwrap();
        let e = files_in(t.path()).unwrap_err().to_string();
        assert!(e.starts_with(&format!("{}: is a directory, not the ConvLMD validation file;", t.path().join(VALIDATION_FILE).display())), "{e}");
        assert!(!e.contains("holds no"), "{e}");
    }

    fn set(max_value: f64, min_value: f64) -> SetSummary {
        SetSummary {
            source: "x.hdf5".into(),
            dir: "out/train".into(),
            frames: 3,
            image: "uint8 of 32 x 32".into(),
            tracks: BTreeMap::new(),
            min_value,
            max_value,
        }
    }

    #[test]
    fn blank_frames_are_not_told_they_look_scaled() {
        let w = scale_warning(&set(0.0, 0.0)).unwrap_or_default();
        assert_eq!(w, "x.hdf5: every pixel of every frame is 0: the frames hold no image (nothing a model could learn from); check the file was exported from the recordings");
        let w = scale_warning(&set(-0.5, -3.0)).unwrap_or_default();
        assert!(w.starts_with("x.hdf5: no pixel is above -0.5 (values -3..-0.5): the frames hold no image"), "{w}");
        assert!(scale_warning(&set(0.8, 0.0)).is_some_and(|w| w.contains("look already scaled")));
        assert_eq!(scale_warning(&set(255.0, 0.0)), None);
    }
}
