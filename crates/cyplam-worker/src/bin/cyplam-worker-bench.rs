//! Times the worker's own training step (`Trainer::step` on pre-made batches) and validation pass
//! (`evaluate_sets` over N frames; once, in fp32, as the worker's validation pass always is), for
//! bench/run, which sets it beside the PyTorch reference (bench/reference.py). Prints one JSON
//! object a line.

use anyhow::{Context, Result};
use cyplam_core::spec::{Activation, KeepSnapshots, Length, ModelSpec, Precision, Regularization};
use cyplam_worker::eval::evaluate_sets;
use cyplam_worker::train::Trainer;
use std::time::Instant;
use tch::{Device, Kind, Tensor};

struct Args {
    models: Vec<[u32; 5]>,
    threads: Vec<i32>,
    iters: u32,
    reps: usize,
    eval_frames: i64,
    precisions: Vec<Precision>,
}

fn parse_args() -> Result<Args> {
    let mut a = Args {
        models: vec![[5, 8, 5, 32, 100], [5, 8, 5, 32, 700], [5, 32, 5, 64, 1000]],
        threads: vec![1, 2],
        iters: 20,
        reps: 5,
        eval_frames: 8192,
        precisions: vec![Precision::Fp32, Precision::Bf16],
    };
    let mut it = std::env::args().skip(1);
    while let Some(k) = it.next() {
        let v = it.next().with_context(|| format!("{k} needs a value"))?;
        match k.as_str() {
            "--models" => {
                a.models = v
                    .split(',')
                    .map(|m| {
                        let p: Vec<u32> = m.split('-').map(|x| x.parse()).collect::<Result<_, _>>()?;
                        p.try_into().map_err(|_| anyhow::anyhow!("a model is wc1-ncv1-wc2-ncv2-nfc1, not {m}"))
                    })
                    .collect::<Result<_>>()?
            }
            "--threads" => a.threads = v.split(',').map(|x| x.parse()).collect::<Result<_, _>>()?,
            "--iters" => a.iters = v.parse()?,
            "--reps" => a.reps = v.parse()?,
            "--eval-frames" => a.eval_frames = v.parse()?,
            "--precision" => a.precisions = v.split(',').map(|x| Ok(x.parse::<Precision>()?)).collect::<Result<_>>()?,
            _ => anyhow::bail!("unknown option {k}; valid: --models, --threads, --iters, --reps, --eval-frames, --precision"),
        }
    }
    Ok(a)
}

fn spec(m: [u32; 5], precision: Precision) -> ModelSpec {
    let arch = cyplam_core::spec::Arch { wc1: m[0], ncv1: m[1], wc2: m[2], ncv2: m[3], nfc1: m[4] };
    ModelSpec {
        index: 0,
        name: "Model-000".into(),
        wc1: m[0],
        ncv1: m[1],
        wc2: m[2],
        ncv2: m[3],
        nfc1: m[4],
        activation: Activation::Relu,
        dropout_keep: 0.75,
        learning_rate: 1e-5,
        batch_size: 128,
        length: Length::Iterations(1_000_000),
        snapshots: 1,
        regularization: Regularization { l1: 0.0, l2: 0.0, layers: vec![] },
        seed: 1,
        keep_snapshots: KeepSnapshots::None,
        precision,
        early_stopping: None,
        threads: 1,
        free_params: arch.free_params(),
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() -> Result<()> {
    let a = parse_args()?;
    cyplam_worker::malloc::ensure_tunables();
    tch::set_num_interop_threads(1);
    for &t in &a.threads {
        tch::set_num_threads(t);
        for &m in &a.models {
            let label = m.map(|x| x.to_string()).join("-");
            for &p in &a.precisions {
                let emit = |what: &str, key: &str, v: f64| {
                    println!("{}", serde_json::json!({"impl": "cyplam", "model": label, "threads": t, "what": format!("{what}_{}", p.as_str()), key: v}));
                };
                tch::manual_seed(0);
                let batches: Vec<(Tensor, Tensor)> = (0..16)
                    .map(|_| (Tensor::rand([128, 1, 28, 28], (Kind::Float, Device::Cpu)), Tensor::randn([128, 2], (Kind::Float, Device::Cpu)) * 0.1 + 1.0))
                    .collect();
                let mut tr = Trainer::new(&spec(m, p), Device::Cpu);
                let mut i = 0u64;
                let mut run = |n: u32, tr: &mut Trainer| {
                    for _ in 0..n {
                        let (x, y) = &batches[i as usize % batches.len()];
                        tr.step(x, y, i);
                        i += 1;
                    }
                };
                run(5, &mut tr);
                let times: Vec<f64> = (0..a.reps)
                    .map(|_| {
                        let t0 = Instant::now();
                        run(a.iters, &mut tr);
                        t0.elapsed().as_secs_f64() * 1000.0 / a.iters as f64
                    })
                    .collect();
                emit("train", "ms_per_it", median(times));
                if p != Precision::Fp32 {
                    continue; // the validation pass is fp32 whatever the training precision
                }

                let x = Tensor::rand([a.eval_frames, 1, 28, 28], (Kind::Float, Device::Cpu));
                let y = Tensor::randn([a.eval_frames, 2], (Kind::Float, Device::Cpu)) * 0.1 + 1.0;
                let empty = (x.narrow(0, 0, 0), y.narrow(0, 0, 0));
                let sets = [(&x, &y), (&empty.0, &empty.1)];
                let _ = evaluate_sets(&tr.net, &sets, [1.0, 1.0]);
                let rates: Vec<f64> = (0..a.reps)
                    .map(|_| {
                        let t0 = Instant::now();
                        let _ = evaluate_sets(&tr.net, &sets, [1.0, 1.0]);
                        a.eval_frames as f64 / t0.elapsed().as_secs_f64()
                    })
                    .collect();
                emit("eval", "frames_per_s", median(rates));
            }
        }
    }
    Ok(())
}
