//! The network of SPEC.md section 2: conv (same padding) -> 2x2 max-pool -> activation, twice;
//! fc1 -> activation -> dropout; fc2 (LP, PS) without activation.
//!
//! With `Precision::Bf16` the forward pass is autocast-style: inputs and weights are cast to
//! bfloat16 for the convolutions and dense layers (the casts are part of the graph, so gradients
//! reach the fp32 weights in fp32), and the output is cast back to fp32 for the loss. Only the
//! training step uses it: the validation pass is fp32, as `cyplam-worker predict` is, so the
//! Accuracy20% recorded for a snapshot is the one its fp32 weights give.

use cyplam_core::spec::{Activation, Arch, Layer, Precision};
use tch::{nn, nn::ModuleT, Kind, Tensor};

#[derive(Debug)]
pub struct Net {
    pub conv1: nn::Conv2D,
    pub conv2: nn::Conv2D,
    pub fc1: nn::Linear,
    pub fc2: nn::Linear,
    pub arch: Arch,
    pub activation: Activation,
    pub dropout_keep: f64,
    /// Arithmetic of the forward pass (fp32 unless set after `new`).
    pub precision: Precision,
}

fn conv(vs: nn::Path, c_in: i64, c_out: i64, k: i64) -> nn::Conv2D {
    let cfg = nn::ConvConfig { padding: (k - 1) / 2, ..Default::default() };
    nn::conv2d(vs, c_in, c_out, k, cfg)
}

impl Net {
    pub fn new(vs: &nn::Path, arch: Arch, activation: Activation, dropout_keep: f64) -> Net {
        let (ncv1, ncv2, nfc1) = (arch.ncv1 as i64, arch.ncv2 as i64, arch.nfc1 as i64);
        Net {
            conv1: conv(vs / "conv1", 1, ncv1, arch.wc1 as i64),
            conv2: conv(vs / "conv2", ncv1, ncv2, arch.wc2 as i64),
            fc1: nn::linear(vs / "fc1", 7 * 7 * ncv2, nfc1, Default::default()),
            fc2: nn::linear(vs / "fc2", nfc1, 2, Default::default()),
            arch,
            activation,
            dropout_keep,
            precision: Precision::Fp32,
        }
    }

    /// The forward pass. Since every activation is monotonic (non-decreasing), max-pooling before
    /// the activation equals max-pooling after it; pooling first applies it to a quarter of the
    /// values.
    ///
    /// `channels_last` gives the input and the convolution weights NHWC strides, which makes
    /// libtorch's oneDNN convolutions and the max-pools run channels-last: on a CPU the NCHW
    /// max-pool is a scalar loop (a fifth of a training step), the channels-last one is vectorised.
    /// The training step and the validation pass use it; `forward_plain` (NCHW) is the reference
    /// the tests compare them with.
    fn forward(&self, xs: &Tensor, train: bool, channels_last: bool, bf16: bool) -> Tensor {
        let c = |t: &Tensor| if bf16 { t.to_kind(Kind::BFloat16) } else { t.shallow_clone() };
        let conv = |x: &Tensor, l: &nn::Conv2D, k: u32| {
            let p = (k as i64 - 1) / 2;
            let w = c(&l.ws);
            let w = if channels_last { w.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2]) } else { w };
            x.conv2d(&w, l.bs.as_ref().map(c).as_ref(), [1, 1], [p, p], [1, 1], 1)
        };
        let lin = |x: &Tensor, l: &nn::Linear| x.linear(&c(&l.ws), l.bs.as_ref().map(c).as_ref());
        // A one-channel image has the same bytes in both layouts; only the strides tell oneDNN
        // which one to use, and (N, 1, 28, 28) strides say NCHW even with channels-last weights.
        let x = if channels_last { xs.view([-1, 28, 28, 1]).permute([0, 3, 1, 2]) } else { xs.view([-1, 1, 28, 28]) };
        let x = c(&x);
        let x = self.act(conv(&x, &self.conv1, self.arch.wc1).max_pool2d_default(2));
        let x = self.act(conv(&x, &self.conv2, self.arch.wc2).max_pool2d_default(2));
        let x = self.act(lin(&x.flatten(1, -1), &self.fc1));
        let x = if train && self.dropout_keep < 1.0 { x.dropout(1.0 - self.dropout_keep, true) } else { x };
        let y = lin(&x, &self.fc2);
        if bf16 {
            y.to_kind(Kind::Float)
        } else {
            y
        }
    }

    fn act(&self, x: Tensor) -> Tensor {
        match self.activation {
            Activation::Relu => x.relu(),
            Activation::Elu => x.elu(),
            Activation::Softplus => x.softplus(),
            Activation::Sigmoid => x.sigmoid(),
        }
    }

    /// The inference forward pass of the validation pass: no dropout, channels-last convolutions,
    /// fp32 whatever `precision` says (bf16 would cost about 0.0014 of Accuracy20% on the quick
    /// study, and the weights written are fp32). Call it under `tch::no_grad`.
    pub fn forward_eval(&self, xs: &Tensor) -> Tensor {
        self.forward(xs, false, true, false)
    }

    /// The forward pass in libtorch's default NCHW layout, without dropout: what a plain PyTorch
    /// script computes; the reference of the tests of the channels-last path.
    pub fn forward_plain(&self, xs: &Tensor) -> Tensor {
        self.forward(xs, false, false, false)
    }

    /// The weight (not bias) of a layer, for regularization.
    pub fn weight(&self, layer: Layer) -> &Tensor {
        match layer {
            Layer::Conv1 => &self.conv1.ws,
            Layer::Conv2 => &self.conv2.ws,
            Layer::Fc1 => &self.fc1.ws,
            Layer::Fc2 => &self.fc2.ws,
        }
    }
}

impl ModuleT for Net {
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        self.forward(xs, train, true, self.precision == Precision::Bf16)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::Device;

    fn count(arch: Arch) -> i64 {
        let vs = nn::VarStore::new(Device::Cpu);
        let _net = Net::new(&vs.root(), arch, Activation::Relu, 0.75);
        vs.trainable_variables().iter().map(|t| t.numel() as i64).sum()
    }

    #[test]
    fn the_built_network_has_the_spec_parameter_counts() {
        let _rng = crate::torch_rng_lock();
        for (a, want) in [
            (Arch { wc1: 5, ncv1: 8, wc2: 5, ncv2: 32, nfc1: 100 }, 163_742),
            (Arch { wc1: 5, ncv1: 8, wc2: 5, ncv2: 32, nfc1: 700 }, 1_106_342),
            (Arch { wc1: 5, ncv1: 32, wc2: 5, ncv2: 64, nfc1: 1000 }, 3_191_098),
        ] {
            assert_eq!(count(a), want, "{a}");
            assert_eq!(a.free_params() as i64, want);
        }
    }

    #[test]
    fn the_channels_last_path_computes_what_the_plain_nchw_one_does() {
        let _rng = crate::torch_rng_lock();
        // Same outputs and the same gradients (the training step runs channels-last). The
        // gradients are compared in f64: in f32 the two layouts run different oneDNN kernels,
        // which disagreed on 1 of 1,500 (input, activation) pairs tried (ELU, one element off by
        // 4 % of the tensor's largest, in CI once), the pattern of a max-pool window whose maxima
        // tie in f32 sending its gradient to another cell, both valid. In f64 the same code paths
        // (strides, permutes, views) run libtorch's own kernels and agree to rounding on all 1,500.
        let arch = Arch { wc1: 5, ncv1: 4, wc2: 3, ncv2: 6, nfc1: 16 };
        for act in Activation::ALL {
            let mut vs = nn::VarStore::new(Device::Cpu);
            let net = Net::new(&vs.root(), arch, act, 1.0);
            let x = Tensor::rand([9, 784], (tch::Kind::Float, Device::Cpu));
            let y_cl = net.forward(&x, true, true, false).detach();
            let y_plain = net.forward(&x, true, false, false).detach();
            assert!(y_cl.allclose(&y_plain, 1e-5, 1e-6, false), "{act:?}: outputs differ");
            vs.double();
            let x = x.to_kind(Kind::Double);
            let grads = |channels_last: bool| {
                vs.trainable_variables().iter_mut().for_each(|t| t.zero_grad());
                let y = net.forward(&x, true, channels_last, false);
                y.square().sum(Kind::Double).backward();
                let g: Vec<Tensor> = vs.trainable_variables().iter().map(|t| t.grad().copy()).collect();
                (y.detach(), g)
            };
            let (y_cl, g_cl) = grads(true);
            let (y_plain, g_plain) = grads(false);
            assert!(y_cl.allclose(&y_plain, 1e-12, 1e-14, false), "{act:?}: f64 outputs differ");
            assert!(g_plain.iter().any(|g| g.abs().sum(Kind::Double).double_value(&[]) > 0.0));
            for (a, b) in g_cl.iter().zip(&g_plain) {
                // Summation orders differ between the layouts, so the bound is relative to the
                // largest gradient of the tensor.
                let diff = (a - b).abs().max().double_value(&[]);
                let scale = b.abs().max().double_value(&[]);
                assert!(diff <= 1e-10 * scale, "{act:?}: gradients differ by {diff} (largest {scale})");
            }
        }
    }

    #[test]
    fn bf16_is_for_the_training_step_only() {
        let _rng = crate::torch_rng_lock();
        let arch = Arch { wc1: 5, ncv1: 4, wc2: 3, ncv2: 6, nfc1: 16 };
        let vs = nn::VarStore::new(Device::Cpu);
        let mut net = Net::new(&vs.root(), arch, Activation::Elu, 1.0);
        let x = Tensor::rand([9, 784], (tch::Kind::Float, Device::Cpu));
        let (train32, eval32) = (net.forward_t(&x, true), tch::no_grad(|| net.forward_eval(&x)));
        net.precision = Precision::Bf16;
        let (train16, eval16) = (net.forward_t(&x, true), tch::no_grad(|| net.forward_eval(&x)));
        assert_eq!(train16.kind(), Kind::Float, "the loss is computed in fp32");
        // bf16 keeps 8 bits of mantissa: the training forward moves, by far less than the outputs.
        let moved = (&train16 - &train32).abs().max().double_value(&[]);
        assert!(moved > 0.0 && moved < 0.05 * train32.abs().max().double_value(&[]), "bf16 moved the outputs by {moved}");
        assert!(eval16.equal(&eval32), "the validation pass must not follow the training precision");
    }

    #[test]
    fn shapes_follow_the_table() {
        let _rng = crate::torch_rng_lock();
        let arch = Arch { wc1: 3, ncv1: 4, wc2: 5, ncv2: 6, nfc1: 10 };
        for act in Activation::ALL {
            let vs = nn::VarStore::new(Device::Cpu);
            let net = Net::new(&vs.root(), arch, act, 0.75);
            let x = Tensor::rand([3, 784], (tch::Kind::Float, Device::Cpu));
            assert_eq!(net.forward_t(&x, true).size(), vec![3, 2]);
            assert_eq!(net.forward_t(&x, false).size(), vec![3, 2]);
        }
    }
}
