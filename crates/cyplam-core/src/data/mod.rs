//! Data sets: a directory with `frames.npy` (N x 784 or N x 28 x 28; float32, float64, uint8 or
//! uint16), `labels.npy` (N x 2: laser power, process speed; float32 or float64, all > 0) and
//! optionally `tracks.npy` (N recording ids) and `dataset.json` (where the set came from and the
//! input scale it asks for; see `DatasetMeta`). Header checks are cheap (what `cyplam submit` runs
//! before submitting); loading checks every value.
//!
//! By concern: `npy.rs` (the `.npy` format: header grammar, sizes, reading values), `set.rs`
//! (what a data set directory holds, checked from the headers), `meta.rs` (`dataset.json`),
//! `values.rs` (the rules every value obeys, checked loading a set into memory or streaming it),
//! `error.rs` (`DataError`, and what a symbolic link loop is told), `staged.rs` (writing a data set
//! aside and putting it in place whole: what `synth` and the importers write through).

mod error;
mod meta;
mod npy;
mod set;
mod staged;
mod values;

pub use error::DataError;
pub use meta::{read_meta, DatasetMeta, META_FILE};
pub use npy::{c_index, npy_header, parse_npy_header, read_npy_f32, read_npy_header, stream_values, Dtype, NpyHeader, NpyHeaderError};
pub use set::{check_dataset, check_frames_header, check_labels_header, DatasetInfo};
pub use staged::{OnExisting, StageError, StagedSets, SETS};
pub use values::{check_values, load_dataset, read_frames, read_labels, Dataset, Values};

#[cfg(test)]
mod tests;
