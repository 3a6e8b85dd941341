//! `dataset.json`: where a data set came from and the input scale it asks for.

use super::error::{derr, loop_error, DataError};
use std::path::Path;

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
        Err(e) => return Err(loop_error(&p, "a dataset.json file", Some("the data set directory")).unwrap_or_else(|| derr(&p, e.to_string()))),
    };
    let m: DatasetMeta = serde_json::from_str(&text).map_err(|e| derr(&p, e.to_string()))?;
    if let Some(f) = m.input_scale {
        if !(f.is_finite() && f > 0.0) {
            return Err(derr(&p, format!("input_scale {f} must be finite and > 0")));
        }
    }
    Ok(Some(m))
}
