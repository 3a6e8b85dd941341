//! What one training needs in memory, estimated before anything is submitted: libtorch's own
//! footprint, the two data sets as fp32 tensors (and the training set's shuffled copy of an
//! epoch), the weights with their gradients and Adam's two moments, and the activations of a
//! training step and of a validation batch. Computed in f64, so no grid can overflow it.
//!
//! Calibrated on the study-sized run of docs/performance.md: Model-108 (5-16-5-32-640) on 44,505
//! + 162,216 frames peaked at 1.49 GB; this estimate gives 1.5 GB.

use crate::spec::ModelSpec;

/// libtorch, the allocator and the process itself, before any tensor.
pub const RUNTIME_BYTES: f64 = 300e6;
/// Frames per batch of the validation pass (the worker's `fast_eval_batch`, 256), with room for
/// `CYPLAM_EVAL_BATCH` raised to the plain pass's 4096.
pub const EVAL_BATCH: f64 = 4096.0;
/// The largest training cyplam accepts when the grid sets no `[slurm] mem`.
pub const DEFAULT_LIMIT_BYTES: f64 = 256.0 * (1u64 << 30) as f64;

/// Bytes of one 28 x 28 frame as an fp32 tensor.
const FRAME_BYTES: f64 = 784.0 * 4.0;

/// The estimate of one model's peak memory, by part.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MemoryNeed {
    pub runtime: f64,
    pub data: f64,
    pub weights: f64,
    pub activations: f64,
}

impl MemoryNeed {
    pub fn total(&self) -> f64 {
        self.runtime + self.data + self.weights + self.activations
    }
}

/// Values of one frame through the network: conv1 before and after pooling, conv2 likewise, fc1.
fn values_per_frame(m: &ModelSpec) -> f64 {
    let (ncv1, ncv2, nfc1) = (m.ncv1 as f64, m.ncv2 as f64, m.nfc1 as f64);
    ncv1 * (784.0 + 196.0) + ncv2 * (196.0 + 49.0) + nfc1 + 2.0
}

/// The peak memory of training `m` on `train_frames` frames and validating on `val_frames`.
pub fn need(m: &ModelSpec, train_frames: u64, val_frames: u64) -> MemoryNeed {
    let data = (2.0 * train_frames as f64 + val_frames as f64) * (FRAME_BYTES + 8.0);
    // Weights, gradients, Adam's m and v, and Adam's work buffer.
    let weights = m.free_params as f64 * 4.0 * 5.0;
    // A training step keeps every activation for the backward pass, and about as much again for
    // the gradients; a validation batch keeps one layer's at a time, the largest at most twice.
    let train = m.batch_size as f64 * values_per_frame(m) * 4.0 * 2.0;
    let eval = EVAL_BATCH * values_per_frame(m) * 4.0;
    MemoryNeed { runtime: RUNTIME_BYTES, data, weights, activations: train + eval }
}

/// A memory size written as Slurm's `--mem` takes it: a whole number with an optional unit K, M,
/// G or T (powers of 1024; no unit is megabytes). `None` when Slurm would not take it.
pub fn parse_slurm_mem(s: &str) -> Option<u64> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => (&s[..i], &s[i..]),
        None => (s, ""),
    };
    let n: u64 = digits.parse().ok()?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "K" => 10,
        "" | "M" => 20,
        "G" => 30,
        "T" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

/// A time limit written as Slurm's `--time` takes it: `M`, `M:S`, `H:M:S`, `D-H`, `D-H:M`,
/// `D-H:M:S`, or `UNLIMITED`/`infinite`; seconds (`None` for unlimited), or `Err` when Slurm would
/// not take it (the caller names the key and the forms above).
#[allow(clippy::result_unit_err)]
pub fn parse_slurm_time(s: &str) -> Result<Option<u64>, ()> {
    let s = s.trim();
    if s.eq_ignore_ascii_case("unlimited") || s.eq_ignore_ascii_case("infinite") {
        return Ok(None);
    }
    let num = |x: &str| -> Result<u64, ()> {
        if !x.is_empty() && x.chars().all(|c| c.is_ascii_digit()) {
            x.parse().map_err(|_| ())
        } else {
            Err(())
        }
    };
    let (days, rest) = match s.split_once('-') {
        Some((d, r)) => (Some(num(d)?), r),
        None => (None, s),
    };
    let parts: Vec<u64> = rest.split(':').map(num).collect::<Result<_, _>>()?;
    let total = |d: u64, h: u64, m: u64, s: u64| d.checked_mul(86_400)?.checked_add(h.checked_mul(3600)?)?.checked_add(m.checked_mul(60)?)?.checked_add(s);
    let secs = match (days, parts.as_slice()) {
        (None, [m]) => total(0, 0, *m, 0),
        (None, [m, s]) => total(0, 0, *m, *s),
        (None, [h, m, s]) => total(0, *h, *m, *s),
        (Some(d), [h]) => total(d, *h, 0, 0),
        (Some(d), [h, m]) => total(d, *h, *m, 0),
        (Some(d), [h, m, s]) => total(d, *h, *m, *s),
        _ => return Err(()),
    };
    secs.map(Some).ok_or(())
}

/// Bytes in the units people read (`1.5 GB`).
pub fn human_bytes(b: f64) -> String {
    match b {
        b if b >= 1e12 => format!("{:.1} TB", b / 1e12),
        b if b >= 1e9 => format!("{:.2} GB", b / 1e9),
        b if b >= 1e6 => format!("{:.0} MB", b / 1e6),
        b => format!("{:.0} kB", b / 1e3),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slurm_memory_and_time_forms() {
        assert_eq!(parse_slurm_mem("20G"), Some(20 << 30));
        assert_eq!(parse_slurm_mem("512"), Some(512 << 20));
        assert_eq!(parse_slurm_mem("1t"), Some(1 << 40));
        for bad in ["", "20GB", "1.5G", "-1G", "G", "20 G x", "99999999999999999999T"] {
            assert_eq!(parse_slurm_mem(bad), None, "{bad}");
        }
        assert_eq!(parse_slurm_time("90"), Ok(Some(5400)));
        assert_eq!(parse_slurm_time("10:30"), Ok(Some(630)));
        assert_eq!(parse_slurm_time("1:00:00"), Ok(Some(3600)));
        assert_eq!(parse_slurm_time("3-00:00:00"), Ok(Some(3 * 86_400)));
        assert_eq!(parse_slurm_time("2-12"), Ok(Some(2 * 86_400 + 12 * 3600)));
        assert_eq!(parse_slurm_time("1-1:30"), Ok(Some(86_400 + 3600 + 1800)));
        assert_eq!(parse_slurm_time("UNLIMITED"), Ok(None));
        for bad in ["", "3 days", "1:2:3:4", "-1", "1-", "a:b", "1-2:3:4:5", "99999999999999999999"] {
            assert_eq!(parse_slurm_time(bad), Err(()), "{bad}");
        }
    }
}
