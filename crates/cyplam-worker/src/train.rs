//! Training and validation of one model: data on the device, the Adam optimizer (our own, so its
//! state can be checkpointed), deterministic batch order, snapshots and learning curves.

use crate::model::Net;
use cyplam_core::data::Dataset;
use cyplam_core::grid::InputScale;
use cyplam_core::spec::{Arch, ModelSpec};
use tch::{nn, nn::ModuleT, Device, Kind, Tensor};

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
                if m > 0.0 { 1.0 / m } else { 1.0 }
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

/// Adam as PyTorch defines it (betas 0.9 / 0.999, eps 1e-8, no weight decay), with state we can
/// save and restore.
pub struct Adam {
    pub names: Vec<String>,
    pub params: Vec<Tensor>,
    pub m: Vec<Tensor>,
    pub v: Vec<Tensor>,
    pub step: i64,
    pub lr: f64,
    /// Per-parameter work buffers of `step` (not state: never saved).
    scratch: Vec<Tensor>,
}

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPS: f64 = 1e-8;

impl Adam {
    pub fn new(vs: &nn::VarStore, lr: f64) -> Adam {
        let mut vars: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let m = vars.iter().map(|(_, t)| t.zeros_like()).collect();
        let v = vars.iter().map(|(_, t)| t.zeros_like()).collect();
        let (names, params) = vars.into_iter().unzip();
        Adam { names, params, m, v, step: 0, lr, scratch: Vec::new() }
    }

    pub fn zero_grad(&mut self) {
        for p in &mut self.params {
            p.zero_grad();
        }
    }

    pub fn step(&mut self) {
        self.step += 1;
        let bc1 = 1.0 - BETA1.powi(self.step as i32);
        let bc2 = 1.0 - BETA2.powi(self.step as i32);
        let step_size = self.lr / bc1;
        let bc2_sqrt = bc2.sqrt();
        tch::no_grad(|| {
            if self.scratch.len() != self.params.len() {
                self.scratch = self.params.iter().map(|p| p.zeros_like()).collect();
            }
            for (((p, m), v), d) in self.params.iter_mut().zip(&mut self.m).zip(&mut self.v).zip(&mut self.scratch) {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                // m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
                // p -= step_size * m / (sqrt(v) / sqrt(bc2) + eps), written as p += m / d with
                // d = (sqrt(v) / sqrt(bc2) + eps) / -step_size, in a reused buffer d: seven passes
                // over the parameters and no allocation.
                let _ = m.lerp_(&g, 1.0 - BETA1);
                let _ = g.square_out(d);
                let _ = v.lerp_(d, 1.0 - BETA2);
                // sqrt of zeros and subnormals takes MKL's slow path (3.2M subnormals: 52-70 ms
                // instead of 1.9 ms), and v decays into them when a weight's gradients vanish.
                // Below 1e-36, sqrt(v) / sqrt(bc2) is under 4e-9 of eps: raising v to 1e-36 in
                // the work buffer changes no result, and v itself is left as it is.
                let _ = v.clamp_min_out(d, 1e-36);
                let _ = d.sqrt_();
                let _ = d.g_mul_scalar_(-1.0 / (bc2_sqrt * step_size));
                let _ = d.g_add_scalar_(-EPS / step_size);
                let _ = p.addcdiv_(m, d);
            }
        });
    }
}

/// SplitMix64: the one source of randomness for the batch order, so a resumed run draws the
/// same batches without any saved generator state.
pub fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let mut z = x;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// The order in which epoch `epoch` visits the `n` training frames.
pub fn epoch_permutation(n: usize, seed: u64, epoch: u64) -> Vec<i64> {
    let mut perm: Vec<i64> = (0..n as i64).collect();
    let mut state = splitmix(seed ^ splitmix(epoch.wrapping_add(1)));
    for i in (1..n).rev() {
        state = splitmix(state);
        let j = (state % (i as u64 + 1)) as usize;
        perm.swap(i, j);
    }
    perm
}

/// Seed of torch's generator (dropout) for one iteration.
pub fn iteration_seed(seed: u64, iteration: u64) -> i64 {
    (splitmix(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ iteration) >> 1) as i64
}

/// Iterations (1-based counts of steps done) at which snapshots are taken: `snapshots` points
/// evenly spaced, the last at `total`.
pub fn snapshot_iterations(total: u64, snapshots: u32) -> Vec<u64> {
    let s = (snapshots as u64).clamp(1, total.max(1));
    let mut out: Vec<u64> = (1..=s).map(|k| (k * total + s / 2) / s).filter(|&i| i > 0).collect();
    out.dedup();
    out
}

/// A model being trained: its network and optimizer.
pub struct Trainer {
    pub vs: nn::VarStore,
    pub net: Net,
    pub adam: Adam,
    pub spec: ModelSpec,
}

impl Trainer {
    pub fn new(spec: &ModelSpec, device: Device) -> Trainer {
        tch::manual_seed(spec.seed as i64);
        let vs = nn::VarStore::new(device);
        let mut net = Net::new(&vs.root(), spec.arch(), spec.activation, spec.dropout_keep);
        net.precision = spec.precision;
        let adam = Adam::new(&vs, spec.learning_rate);
        Trainer { vs, net, adam, spec: spec.clone() }
    }

    /// One optimisation step on a batch; returns the loss (regularization included).
    pub fn step(&mut self, xb: &Tensor, yb: &Tensor, iteration: u64) -> f64 {
        tch::manual_seed(iteration_seed(self.spec.seed, iteration));
        let pred = self.net.forward_t(xb, true);
        let mut loss = (pred - yb).square().mean(Kind::Float);
        let reg = &self.spec.regularization;
        for layer in &reg.layers {
            let w = self.net.weight(*layer);
            if reg.l1 != 0.0 {
                loss = loss + w.abs().sum(Kind::Float) * reg.l1;
            }
            if reg.l2 != 0.0 {
                loss = loss + w.square().sum(Kind::Float) * reg.l2;
            }
        }
        self.adam.zero_grad();
        loss.backward();
        self.adam.step();
        f64::try_from(&loss).unwrap_or(f64::NAN)
    }

    /// Named tensors of a self-contained weights file: the parameters plus what `predict` needs
    /// to rebuild the network and undo the scaling.
    pub fn weights(&self, label_scale: [f64; 2], input_factor: f64) -> Vec<(String, Tensor)> {
        let mut out: Vec<(String, Tensor)> = self
            .adam
            .names
            .iter()
            .zip(&self.adam.params)
            .map(|(n, t)| (n.clone(), t.detach().to_device(Device::Cpu)))
            .collect();
        out.extend(meta_tensors(&self.spec, label_scale, input_factor));
        out
    }
}

/// `meta.*` tensors that describe a weights file.
pub fn meta_tensors(spec: &ModelSpec, label_scale: [f64; 2], input_factor: f64) -> Vec<(String, Tensor)> {
    let act = cyplam_core::spec::Activation::ALL.iter().position(|a| *a == spec.activation).unwrap_or(0) as i64;
    vec![
        ("meta.arch".into(), Tensor::from_slice(&[spec.wc1 as i64, spec.ncv1 as i64, spec.wc2 as i64, spec.ncv2 as i64, spec.nfc1 as i64])),
        ("meta.activation".into(), Tensor::from_slice(&[act])),
        ("meta.label_scale".into(), Tensor::from_slice(&label_scale)),
        ("meta.input_factor".into(), Tensor::from_slice(&[input_factor])),
    ]
}

/// Reads the architecture back from a weights file's `meta.*` tensors.
pub fn arch_from_meta(tensors: &[(String, Tensor)]) -> Option<(Arch, cyplam_core::spec::Activation, [f64; 2], f64)> {
    let get = |name: &str| tensors.iter().find(|(n, _)| n == name).map(|(_, t)| t);
    let arch: Vec<i64> = Vec::<i64>::try_from(get("meta.arch")?).ok()?;
    let act: Vec<i64> = Vec::<i64>::try_from(get("meta.activation")?).ok()?;
    let ls: Vec<f64> = Vec::<f64>::try_from(get("meta.label_scale")?).ok()?;
    let inf: Vec<f64> = Vec::<f64>::try_from(get("meta.input_factor")?).ok()?;
    if arch.len() != 5 || ls.len() != 2 || inf.len() != 1 || act.len() != 1 {
        return None;
    }
    let a = Arch { wc1: arch[0] as u32, ncv1: arch[1] as u32, wc2: arch[2] as u32, ncv2: arch[3] as u32, nfc1: arch[4] as u32 };
    let activation = *cyplam_core::spec::Activation::ALL.get(act[0] as usize)?;
    Some((a, activation, [ls[0], ls[1]], inf[0]))
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

    fn tiny_spec(precision: cyplam_core::spec::Precision) -> ModelSpec {
        use cyplam_core::spec::*;
        ModelSpec {
            index: 0, name: "Model-000".into(), wc1: 5, ncv1: 4, wc2: 5, ncv2: 8, nfc1: 32,
            activation: Activation::Relu, dropout_keep: 0.75, learning_rate: 3e-3, batch_size: 64,
            length: Length::Iterations(400), snapshots: 4,
            regularization: Regularization { l1: 0.0, l2: 0.0, layers: vec![] }, seed: 5,
            keep_snapshots: KeepSnapshots::None, precision, early_stopping: None, threads: 1,
            free_params: 0,
        }
    }

    /// A learnable toy task: labels (LP, PS) are linear in two image statistics, around 1.
    fn toy_data(n: i64, seed: i64) -> (Tensor, Tensor) {
        tch::manual_seed(seed);
        let x = Tensor::rand([n, 1, 28, 28], (Kind::Float, Device::Cpu));
        let left = x.narrow(3, 0, 14).mean_dim([1, 2, 3].as_slice(), false, Kind::Float);
        let top = x.narrow(2, 0, 14).mean_dim([1, 2, 3].as_slice(), false, Kind::Float);
        let y = Tensor::stack(&[(left - 0.5) * 20.0 + 1.0, (top - 0.5) * 20.0 + 1.0], 1);
        (x, y)
    }

    #[test]
    fn the_fast_validation_pass_agrees_with_a_plain_forward() {
        let _rng = crate::torch_rng_lock();
        use cyplam_core::spec::Precision;
        let (x, y) = toy_data(1500, 1);
        let (vx, vy) = toy_data(700, 2);
        let mut t = Trainer::new(&tiny_spec(Precision::Fp32), Device::Cpu);
        for i in 0..150 {
            let b = (i % 20) * 64;
            t.step(&x.narrow(0, b, 64), &y.narrow(0, b, 64), i as u64);
        }
        let fast = evaluate_sets(&t.net, &[(&x, &y), (&vx, &vy)], [900.0, 8.0]);
        for (e, (sx, sy)) in fast.iter().zip([(&x, &y), (&vx, &vy)]) {
            let plain = evaluate(&t.net, sx, sy, [900.0, 8.0]);
            assert_eq!(e.accuracy20, plain.accuracy20);
            assert!((e.loss - plain.loss).abs() <= 1e-5 * plain.loss.abs(), "{} vs {}", e.loss, plain.loss);
            assert!(plain.accuracy20 > 0.0 && plain.accuracy20 < 1.0, "{}: a test that can tell", plain.accuracy20);
        }
    }

    /// A toy task a small network learns to near-perfect Accuracy20% in a few hundred steps, so
    /// that fp32 and bf16 are compared on their plateau, not on the steep part of the curve where
    /// run-to-run noise dominates: the left and right halves of each frame have brightness a and b
    /// (plus noise), the labels are (1 + 2a, 1 + 2b).
    fn plateau_data(n: i64, seed: i64) -> (Tensor, Tensor) {
        tch::manual_seed(seed);
        let ab = Tensor::rand([n, 2], (Kind::Float, Device::Cpu));
        let halves = ab.view([n, 1, 1, 2]).repeat_interleave_self_int(14, 3, None).expand([n, 1, 28, 28], false);
        let x = halves + Tensor::randn([n, 1, 28, 28], (Kind::Float, Device::Cpu)) * 0.1;
        (x, ab * 2.0 + 1.0)
    }

    #[test]
    fn bf16_training_converges_like_fp32() {
        let _rng = crate::torch_rng_lock();
        use cyplam_core::spec::Precision;
        // One thread and the generator lock, as the determinism guarantees assume (an earlier
        // version of this test, without them, moved by 0.05 run to run). Seeds 3 to 6 were tried
        // when it was written: best Accuracy20% 0.969 to 1.0, fp32 - bf16 within 0.013, and the
        // final validation loss 270x to 1750x below the initial one.
        tch::set_num_threads(1);
        let (x, y) = plateau_data(2560, 3);
        let (vx, vy) = plateau_data(1000, 103);
        let mut bests = Vec::new();
        for p in [Precision::Fp32, Precision::Bf16] {
            let mut t = Trainer::new(&tiny_spec(p), Device::Cpu);
            let before = evaluate_sets(&t.net, &[(&vx, &vy)], [1.0, 1.0])[0];
            let mut best = 0.0f64;
            for i in 0..800u64 {
                let b = ((i % 40) * 64) as i64;
                let loss = t.step(&x.narrow(0, b, 64), &y.narrow(0, b, 64), i);
                assert!(loss.is_finite(), "{p:?}: loss {loss} at step {i}");
                if (i + 1) % 100 == 0 {
                    best = best.max(evaluate_sets(&t.net, &[(&vx, &vy)], [1.0, 1.0])[0].accuracy20);
                }
            }
            let after = evaluate_sets(&t.net, &[(&vx, &vy)], [1.0, 1.0])[0];
            assert!(before.accuracy20 < 0.5, "{p:?}: an untrained network must not pass: {}", before.accuracy20);
            assert!(after.loss < before.loss / 100.0, "{p:?}: loss {} -> {}", before.loss, after.loss);
            assert!(best > 0.95, "{p:?}: best Accuracy20% {best}");
            // Weights and Adam state stay fp32 under bf16.
            assert!(t.adam.params.iter().chain(&t.adam.m).chain(&t.adam.v).all(|p| p.kind() == Kind::Float));
            bests.push(best);
            eprintln!("{p:?}: validation loss {} -> {}, best Accuracy20% {best}", before.loss, after.loss);
        }
        let (best32, best16) = (bests[0], bests[1]);
        assert!((best32 - best16).abs() <= 0.02, "best Accuracy20%: fp32 {best32}, bf16 {best16}");
    }

    #[test]
    fn permutations_are_deterministic_and_complete() {
        let a = epoch_permutation(100, 7, 3);
        assert_eq!(a, epoch_permutation(100, 7, 3));
        assert_ne!(a, epoch_permutation(100, 7, 4));
        assert_ne!(a, epoch_permutation(100, 8, 3));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<i64>>());
    }

    #[test]
    fn snapshots_are_evenly_spaced_and_end_at_the_last_iteration() {
        assert_eq!(snapshot_iterations(1000, 4), vec![250, 500, 750, 1000]);
        assert_eq!(snapshot_iterations(416_400, 200).len(), 200);
        assert_eq!(snapshot_iterations(416_400, 200)[0], 2082);
        assert_eq!(snapshot_iterations(3, 10), vec![1, 2, 3]);
        assert_eq!(*snapshot_iterations(7, 3).last().unwrap(), 7);
    }

    #[test]
    fn our_adam_matches_torchs_definition() {
        let _rng = crate::torch_rng_lock();
        // One parameter, gradient 2x at x = 1: after one step, x = 1 - lr (Adam's first step is
        // lr * sign(g)).
        let vs = nn::VarStore::new(Device::Cpu);
        let x = vs.root().var("x", &[1], nn::Init::Const(1.0));
        let mut adam = Adam::new(&vs, 0.1);
        let loss = (&x * &x).sum(Kind::Float);
        adam.zero_grad();
        loss.backward();
        adam.step();
        let v = f64::try_from(x.squeeze()).unwrap();
        assert!((v - 0.9).abs() < 1e-6, "{v}");
        // Second step with g = 1.8: m = 0.9*0.1*2 + 0.1*1.8 ... checked against torch.optim.Adam.
        let loss = (&x * &x).sum(Kind::Float);
        adam.zero_grad();
        loss.backward();
        adam.step();
        let v2 = f64::try_from(x.squeeze()).unwrap();
        assert!((v2 - 0.8000_0).abs() < 1e-3, "{v2}");
    }
}
