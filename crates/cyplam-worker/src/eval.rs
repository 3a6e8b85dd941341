//! The validation pass: loss and Accuracy20% of a network over whole sets, in eval mode and
//! without gradients; the fast pass of every snapshot and the plain reference it must agree with.

use crate::model::Net;
use tch::{Kind, Tensor};

/// Loss and Accuracy20% of a network over a whole set, in eval mode and without gradients.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Eval {
    /// (1 / 2n) sum of squared errors on the scaled labels (the training objective without
    /// regularization).
    pub loss: f64,
    pub accuracy20: f64,
}

/// Frames per forward pass during evaluation (the plain reference pass).
pub const EVAL_BATCH: i64 = 4096;

fn env_i64(name: &str, default: i64) -> i64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Frames per forward pass of the fast validation pass: 256 (measured best or near it on the
/// scalability models, docs/performance.md); CYPLAM_EVAL_BATCH overrides it for tuning.
pub fn fast_eval_batch() -> i64 {
    env_i64("CYPLAM_EVAL_BATCH", 256).max(1)
}

/// Loss and Accuracy20% of one set with a plain forward pass in batches of `EVAL_BATCH`: the
/// reference that `evaluate_sets` must agree with.
pub fn evaluate(net: &Net, x: &Tensor, y: &Tensor, label_scale: [f64; 2]) -> Eval {
    evaluate_batched(net, x, y, label_scale, EVAL_BATCH, false)
}

fn evaluate_batched(net: &Net, x: &Tensor, y: &Tensor, label_scale: [f64; 2], batch: i64, fast: bool) -> Eval {
    let n = x.size()[0];
    if n == 0 {
        return Eval { loss: 0.0, accuracy20: 0.0 };
    }
    let device = x.device();
    let scale = Tensor::from_slice(&[label_scale[0] as f32, label_scale[1] as f32]).to_device(device);
    // Sums stay on the device and are read once at the end: no synchronisation per batch.
    let mut sq = Tensor::zeros([], (Kind::Double, device));
    let mut hits = Tensor::zeros([], (Kind::Int64, device));
    tch::no_grad(|| {
        let mut start = 0;
        while start < n {
            let len = batch.min(n - start);
            let xb = x.narrow(0, start, len);
            let yb = y.narrow(0, start, len);
            let pred = if fast { net.forward_eval(&xb) } else { net.forward_plain(&xb) };
            let _ = sq.g_add_(&(&pred - &yb).square().sum(Kind::Double));
            let _ = hits.g_add_(&accuracy_hits(&(&pred * &scale), &(&yb * &scale)));
            start += len;
        }
    });
    let sq = f64::try_from(&sq).unwrap_or(f64::NAN);
    let hits = i64::try_from(&hits).unwrap_or(0);
    Eval { loss: sq / (2.0 * n as f64), accuracy20: hits as f64 / n as f64 }
}

/// The validation pass of a snapshot: loss and Accuracy20% of each (frames, labels) set, with
/// no autograd and no dropout, channels-last convolutions, in fp32 (under `precision = "bf16"`
/// too), in batches of `fast_eval_batch()` frames.
pub fn evaluate_sets(net: &Net, sets: &[(&Tensor, &Tensor)], label_scale: [f64; 2]) -> Vec<Eval> {
    let batch = fast_eval_batch();
    sets.iter().map(|(x, y)| evaluate_batched(net, x, y, label_scale, batch, true)).collect()
}

/// Number of frames with max(|y1/h1 - 1|, |y2/h2 - 1|) < 0.2 (labels and predictions in real
/// units). A zero or non-finite prediction gives an infinite or NaN error, which never counts.
pub fn accuracy_hits(pred: &Tensor, labels: &Tensor) -> Tensor {
    let err = (labels / pred - 1.0).abs().amax([1], false);
    err.lt(0.2).sum(Kind::Int64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensor_accuracy_matches_the_reference() {
        let labels = [[1000.0, 10.0], [1000.0, 10.0], [1000.0, 10.0], [600.0, 4.0], [700.0, 5.0]];
        let preds = [[1000.0, 10.0], [0.0, 10.0], [800.0, 10.0], [610.0, 4.1], [f64::NAN, 5.0]];
        let flat = |a: &[[f64; 2]]| Tensor::from_slice(&a.concat()).view([-1, 2]).to_kind(Kind::Float);
        let hits = i64::try_from(accuracy_hits(&flat(&preds), &flat(&labels))).unwrap();
        let reference = cyplam_core::metric::accuracy20(&labels, &preds);
        assert_eq!(hits as f64 / 5.0, reference);
        assert_eq!(hits, 2);
    }
}
