//! The data of a training run on its device: the sweep's training and validation sets loaded,
//! inputs scaled, labels divided by the training set's mean label.

use anyhow::{Context, Result};
use cyplam_core::data::{load_dataset, Dataset};
use cyplam_core::files::SweepFile;
use cyplam_core::grid::InputScale;
use tch::{Device, Tensor};

/// Loads training and validation data of a sweep.
pub fn load_data(sweep: &SweepFile) -> Result<(Dataset, Dataset)> {
    let data = sweep.grid.data.as_ref().context("the sweep has no [data] table: name the training and validation directories")?;
    let train = load_dataset(&data.train)?;
    let val = load_dataset(&data.validation)?;
    Ok((train, val))
}

/// The training and validation sets as tensors, inputs scaled, labels divided by the training
/// set's mean label (per output) for training; metrics undo that scaling.
pub struct Prepared {
    pub train_x: Tensor,
    pub train_y: Tensor,
    pub val_x: Tensor,
    pub val_y: Tensor,
    /// Mean training label per output: scaled label = label / label_scale.
    pub label_scale: [f64; 2],
    /// Factor applied to the stored frame values.
    pub input_factor: f64,
}

impl Prepared {
    /// Takes the data sets by value: each set's frames are freed as soon as its tensor is made
    /// (and scaled in place), so at most one set is held twice. With the study's data set
    /// (44,505 + 162,216 frames, 648 MB as fp32) that lowered a worker's peak memory from 2.12 to
    /// 1.49 GB for Model-108 (docs/performance.md).
    pub fn new(train: Dataset, val: Dataset, scale: InputScale, device: Device) -> Prepared {
        let input_factor = match scale {
            InputScale::None => 1.0,
            InputScale::Max => {
                let m = train.max_value() as f64;
                if m > 0.0 {
                    1.0 / m
                } else {
                    1.0
                }
            }
            InputScale::Factor(f) => f,
        };
        let n = train.len() as f64;
        let mut label_scale = [0.0f64; 2];
        for row in train.labels.chunks_exact(2) {
            label_scale[0] += row[0] as f64 / n;
            label_scale[1] += row[1] as f64 / n;
        }
        let scale_t = Tensor::from_slice(&[label_scale[0] as f32, label_scale[1] as f32]);
        let tensors = |d: Dataset| {
            let len = d.len() as i64;
            let y = (Tensor::from_slice(&d.labels).view([len, 2]) / &scale_t).to_device(device);
            let mut x = Tensor::from_slice(&d.frames);
            drop(d);
            let _ = x.g_mul_scalar_(input_factor);
            (x.view([len, 1, 28, 28]).to_device(device), y)
        };
        let (train_x, train_y) = tensors(train);
        let (val_x, val_y) = tensors(val);
        Prepared { train_x, train_y, val_x, val_y, label_scale, input_factor }
    }

    pub fn train_len(&self) -> i64 {
        self.train_x.size()[0]
    }
}
