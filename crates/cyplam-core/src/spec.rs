//! The fully resolved description of one model of a sweep: its network, its training settings, and
//! the arithmetic on it (free parameters).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A setting given a name it does not know (`activation = "tanh"`), with the names it knows.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown {setting} {value:?}; valid: {valid}")]
pub struct ParseSettingError {
    /// What was being named (`activation`, `layer`, `keep_snapshots`, `precision`).
    pub setting: &'static str,
    pub value: String,
    /// The valid names, as the message lists them.
    pub valid: &'static str,
}

impl ParseSettingError {
    fn new(setting: &'static str, value: &str, valid: &'static str) -> Self {
        ParseSettingError { setting, value: value.to_string(), valid }
    }
}

/// Activation applied after every layer but the last.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    Relu,
    Elu,
    Softplus,
    Sigmoid,
}

impl Activation {
    pub const ALL: [Activation; 4] = [Self::Relu, Self::Elu, Self::Softplus, Self::Sigmoid];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Relu => "relu",
            Self::Elu => "elu",
            Self::Softplus => "softplus",
            Self::Sigmoid => "sigmoid",
        }
    }
}

impl fmt::Display for Activation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Activation {
    type Err = ParseSettingError;
    fn from_str(s: &str) -> Result<Self, ParseSettingError> {
        Self::ALL.into_iter().find(|a| a.as_str() == s).ok_or_else(|| ParseSettingError::new("activation", s, "relu, elu, softplus, sigmoid"))
    }
}

/// A layer that regularization can apply to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layer {
    Conv1,
    Conv2,
    Fc1,
    Fc2,
}

impl Layer {
    pub const ALL: [Layer; 4] = [Self::Conv1, Self::Conv2, Self::Fc1, Self::Fc2];
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Conv1 => "conv1",
            Self::Conv2 => "conv2",
            Self::Fc1 => "fc1",
            Self::Fc2 => "fc2",
        }
    }
}

impl FromStr for Layer {
    type Err = ParseSettingError;
    fn from_str(s: &str) -> Result<Self, ParseSettingError> {
        Self::ALL.into_iter().find(|l| l.as_str() == s).ok_or_else(|| ParseSettingError::new("layer", s, "conv1, conv2, fc1, fc2"))
    }
}

/// Which snapshot weight files a worker keeps (`best.safetensors` is always kept).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum KeepSnapshots {
    All,
    Best,
    None,
}

impl FromStr for KeepSnapshots {
    type Err = ParseSettingError;
    fn from_str(s: &str) -> Result<Self, ParseSettingError> {
        match s {
            "all" => Ok(Self::All),
            "best" => Ok(Self::Best),
            "none" => Ok(Self::None),
            _ => Err(ParseSettingError::new("keep_snapshots", s, "\"all\", \"best\", \"none\"")),
        }
    }
}

/// Arithmetic precision of training and validation: `fp32` everywhere, or `bf16` autocast-style
/// (convolutions and dense layers computed in bfloat16; weights, gradients and Adam state kept in
/// fp32).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Precision {
    #[default]
    Fp32,
    Bf16,
}

impl Precision {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fp32 => "fp32",
            Self::Bf16 => "bf16",
        }
    }
}

impl FromStr for Precision {
    type Err = ParseSettingError;
    fn from_str(s: &str) -> Result<Self, ParseSettingError> {
        match s {
            "fp32" => Ok(Self::Fp32),
            "bf16" => Ok(Self::Bf16),
            _ => Err(ParseSettingError::new("precision", s, "\"fp32\", \"bf16\"")),
        }
    }
}

/// Stop training when the validation Accuracy20% has not improved by more than the larger of
/// `min_delta` and `noise` times the curve's jitter over the best so far for `patience`
/// consecutive snapshots (`stopping::early_stop`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct EarlyStopping {
    /// Snapshots without improvement before stopping, at least 1.
    pub patience: u32,
    /// Smallest rise of validation Accuracy20% that counts as an improvement, >= 0.
    pub min_delta: f64,
    /// A rise must also exceed this many times the curve's own snapshot-to-snapshot jitter
    /// (0: off; a sweep frozen before this setting had it off).
    #[serde(default)]
    pub noise: f64,
    /// And stop only once the mean of the last `patience` snapshots lies more than this many
    /// times the curve's jitter below the best: the curve has fallen, not only flattened (0: off;
    /// off in a sweep frozen before this setting).
    #[serde(default)]
    pub drop: f64,
}

impl EarlyStopping {
    /// Early stopping's defaults (bench/halving, docs/halving.md): patience in snapshots, and the
    /// noise factor.
    pub const DEFAULT_PATIENCE: u32 = 15;
    pub const DEFAULT_NOISE: f64 = 0.0;
    pub const DEFAULT_DROP: f64 = 0.0;
}

/// How long a model trains: a number of iterations, or of epochs (one epoch is
/// floor(training frames / batch size) iterations, resolved once the data is known).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Length {
    Iterations(u64),
    Epochs(u64),
}

impl ModelSpec {
    /// The iterations after which this model takes its snapshots, for a training set of
    /// `train_frames` frames (the last is the end of training).
    pub fn snapshot_iterations(&self, train_frames: u64) -> Vec<u64> {
        snapshot_iterations(self.length.iterations(train_frames, self.batch_size as u64), self.snapshots)
    }
}

impl Length {
    /// Iterations for a training set of `train_frames` frames.
    pub fn iterations(self, train_frames: u64, batch_size: u64) -> u64 {
        match self {
            Length::Iterations(n) => n,
            Length::Epochs(e) => e.saturating_mul((train_frames / batch_size.max(1)).max(1)),
        }
    }
}

/// Iterations (1-based counts of steps done) at which snapshots are taken: `snapshots` points
/// evenly spaced, the last at `total`.
pub fn snapshot_iterations(total: u64, snapshots: u32) -> Vec<u64> {
    let s = (snapshots as u64).clamp(1, total.max(1));
    let mut out: Vec<u64> = (1..=s).map(|k| snapshot_at(total, s, k)).filter(|&i| i > 0).collect();
    out.dedup();
    out
}

/// The `k`-th of `s` evenly spaced snapshots of a `total`-iteration run (in u128: no overflow).
fn snapshot_at(total: u64, s: u64, k: u64) -> u64 {
    ((k as u128 * total as u128 + (s / 2) as u128) / s.max(1) as u128) as u64
}

/// The first of `snapshot_iterations(total, snapshots)` at or after `target` (the last when none
/// is), found without listing them.
pub fn first_snapshot_at_or_after(total: u64, snapshots: u32, target: u64) -> u64 {
    let s = (snapshots as u64).clamp(1, total.max(1));
    let (mut lo, mut hi) = (1u64, s);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if snapshot_at(total, s, mid) >= target {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    snapshot_at(total, s, lo)
}

/// L1 or L2 penalty on the weights of some layers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regularization {
    /// lambda of `lambda * sum |w|`; 0 for none.
    pub l1: f64,
    /// lambda of `lambda * sum w^2`; 0 for none.
    pub l2: f64,
    /// Layers whose weights (not biases) are penalised.
    pub layers: Vec<Layer>,
}

impl Regularization {
    pub fn is_none(&self) -> bool {
        self.l1 == 0.0 && self.l2 == 0.0
    }

    /// A short label such as `none`, `l1=0.001@fc1`, `l2=0.01@conv2+fc1`.
    pub fn label(&self) -> String {
        if self.is_none() {
            return "none".into();
        }
        let layers: Vec<&str> = self.layers.iter().map(|l| l.as_str()).collect();
        let mut parts = Vec::new();
        if self.l1 != 0.0 {
            parts.push(format!("l1={}", self.l1));
        }
        if self.l2 != 0.0 {
            parts.push(format!("l2={}", self.l2));
        }
        format!("{}@{}", parts.join(","), layers.join("+"))
    }
}

/// Everything a worker needs to train one model, every default resolved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSpec {
    pub index: usize,
    pub name: String,
    pub wc1: u32,
    pub ncv1: u32,
    pub wc2: u32,
    pub ncv2: u32,
    pub nfc1: u32,
    pub activation: Activation,
    pub dropout_keep: f64,
    pub learning_rate: f64,
    pub batch_size: u32,
    pub length: Length,
    pub snapshots: u32,
    pub regularization: Regularization,
    pub seed: u64,
    pub keep_snapshots: KeepSnapshots,
    /// fp32 (default) or bf16 mixed precision.
    #[serde(default)]
    pub precision: Precision,
    /// Off (None) by default: the study's protocol keeps every snapshot.
    #[serde(default)]
    pub early_stopping: Option<EarlyStopping>,
    /// Threads used when neither `--threads` nor SLURM_CPUS_PER_TASK says otherwise.
    pub threads: u32,
    pub free_params: u64,
}

impl ModelSpec {
    pub fn arch(&self) -> Arch {
        Arch { wc1: self.wc1, ncv1: self.ncv1, wc2: self.wc2, ncv2: self.ncv2, nfc1: self.nfc1 }
    }

    /// The short architecture label used in reports: `5-8-5-32-700` (wc1-ncv1-wc2-ncv2-nfc1).
    pub fn arch_label(&self) -> String {
        self.arch().to_string()
    }
}

/// The five layer sizes of the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Arch {
    pub wc1: u32,
    pub ncv1: u32,
    pub wc2: u32,
    pub ncv2: u32,
    pub nfc1: u32,
}

impl fmt::Display for Arch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}-{}-{}-{}", self.wc1, self.ncv1, self.wc2, self.ncv2, self.nfc1)
    }
}

impl Arch {
    /// Free parameters (weights and biases) of the network of SPEC.md section 2.
    pub fn free_params(&self) -> u64 {
        let (wc1, ncv1, wc2, ncv2, nfc1) = (self.wc1 as u64, self.ncv1 as u64, self.wc2 as u64, self.ncv2 as u64, self.nfc1 as u64);
        let conv1 = wc1 * wc1 * ncv1 + ncv1;
        let conv2 = wc2 * wc2 * ncv1 * ncv2 + ncv2;
        let fc1 = 7 * 7 * ncv2 * nfc1 + nfc1;
        let fc2 = 2 * nfc1 + 2;
        conv1 + conv2 + fc1 + fc2
    }
}

/// Name of the model at `index` in a sweep of `count` models: `Model-007` (at least three digits).
pub fn model_name(index: usize, count: usize) -> String {
    let width = count.saturating_sub(1).to_string().len().max(3);
    format!("Model-{index:0width$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_figures_of_the_spec() {
        let a = |wc1, ncv1, wc2, ncv2, nfc1| Arch { wc1, ncv1, wc2, ncv2, nfc1 }.free_params();
        assert_eq!(a(5, 8, 5, 32, 100), 163_742);
        assert_eq!(a(5, 8, 5, 32, 700), 1_106_342);
        assert_eq!(a(5, 32, 5, 64, 1000), 3_191_098);
        // The grid study's extremes.
        assert_eq!(a(3, 8, 3, 32, 128), 203_506);
        assert_eq!(a(5, 32, 5, 64, 1024), 3_266_434);
    }

    #[test]
    fn names_are_zero_padded() {
        assert_eq!(model_name(0, 192), "Model-000");
        assert_eq!(model_name(108, 192), "Model-108");
        assert_eq!(model_name(7, 5), "Model-007");
        assert_eq!(model_name(1234, 2000), "Model-1234");
    }

    #[test]
    fn regularization_labels() {
        let r = Regularization { l1: 0.001, l2: 0.0, layers: vec![Layer::Conv2, Layer::Fc1] };
        assert_eq!(r.label(), "l1=0.001@conv2+fc1");
        assert_eq!(Regularization { l1: 0.0, l2: 0.0, layers: vec![Layer::Fc1] }.label(), "none");
    }

    #[test]
    fn unknown_names_list_the_valid_ones() {
        assert_eq!("tanh".parse::<Activation>().unwrap_err().to_string(), "unknown activation \"tanh\"; valid: relu, elu, softplus, sigmoid");
        assert_eq!("fc3".parse::<Layer>().unwrap_err().to_string(), "unknown layer \"fc3\"; valid: conv1, conv2, fc1, fc2");
        assert_eq!("some".parse::<KeepSnapshots>().unwrap_err().to_string(), "unknown keep_snapshots \"some\"; valid: \"all\", \"best\", \"none\"");
        assert_eq!("fp16".parse::<Precision>().unwrap_err().to_string(), "unknown precision \"fp16\"; valid: \"fp32\", \"bf16\"");
        assert_eq!("bf16".parse::<Precision>(), Ok(Precision::Bf16));
    }

    #[test]
    fn epochs_resolve_against_the_data() {
        // The study: 1,200 epochs of 347 iterations over 44,505 frames, batch 128.
        assert_eq!(Length::Epochs(1200).iterations(44_505, 128), 416_400);
        assert_eq!(Length::Iterations(10).iterations(44_505, 128), 10);
    }
}
