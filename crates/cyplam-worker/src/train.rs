//! A model being trained: its network and optimizer, one optimisation step at a time (dropout
//! seeded per iteration, so a resumed run repeats an uninterrupted one), and the weights it
//! writes.

use crate::adam::Adam;
use crate::model::Net;
use crate::schedule::iteration_seed;
use crate::weights::meta_tensors;
use cyplam_core::spec::ModelSpec;
use tch::{nn, nn::ModuleT, Device, Kind, Tensor};

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
                loss += w.abs().sum(Kind::Float) * reg.l1;
            }
            if reg.l2 != 0.0 {
                loss += w.square().sum(Kind::Float) * reg.l2;
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
        let mut out: Vec<(String, Tensor)> =
            self.adam.names.iter().zip(&self.adam.params).map(|(n, t)| (n.clone(), t.detach().to_device(Device::Cpu))).collect();
        out.extend(meta_tensors(&self.spec, label_scale, input_factor));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{evaluate, evaluate_sets};

    fn tiny_spec(precision: cyplam_core::spec::Precision) -> ModelSpec {
        use cyplam_core::spec::*;
        ModelSpec {
            index: 0,
            name: "Model-000".into(),
            wc1: 5,
            ncv1: 4,
            wc2: 5,
            ncv2: 8,
            nfc1: 32,
            activation: Activation::Relu,
            dropout_keep: 0.75,
            learning_rate: 3e-3,
            batch_size: 64,
            length: Length::Iterations(400),
            snapshots: 4,
            regularization: Regularization { l1: 0.0, l2: 0.0, layers: vec![] },
            seed: 5,
            keep_snapshots: KeepSnapshots::None,
            precision,
            early_stopping: None,
            threads: 1,
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
}
