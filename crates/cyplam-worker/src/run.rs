//! Runs one model of a sweep from start (or from its newest checkpoint) to its result file:
//! training, a validation pass at each snapshot, metrics rows, snapshot and best weights,
//! checkpoints, and a clean stop on SIGTERM/SIGUSR1.

use crate::eval::evaluate_sets;
use crate::lock;
use crate::prepare::{load_data, Prepared};
use crate::schedule::{epoch_permutation, snapshot_iterations};
use crate::train::Trainer;
use crate::weights;
use anyhow::{bail, Context, Result};
use cyplam_core::files::{
    best_row, now_unix, read_json, read_metrics, write_atomic, write_json_atomic, MetricsRow, ModelDir,
    ModelResult, ResultStatus, SweepFile, FORMAT_VERSION, METRICS_HEADER,
};
use cyplam_core::spec::{EarlyStopping, KeepSnapshots, ModelSpec};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::{Device, Tensor};

/// libtorch version the worker was built against.
pub const LIBTORCH_VERSION: &str = env!("CYPLAM_LIBTORCH_VERSION");

/// How a worker's run of a model ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed(ModelResult),
    Failed(ModelResult),
    /// Stopped by a signal, checkpoint written.
    Preempted(ModelResult),
    /// result.json already said completed or failed.
    AlreadyDone(ResultStatus),
}

/// Settings of this process, not of the model.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub threads: u32,
    pub device: Device,
}

/// Whether early stopping ends the run after the snapshots in `rows` (in iteration order): the
/// validation Accuracy20% has not risen more than `min_delta` above the best before it for
/// `patience` snapshots in a row. Computed from the metrics rows alone, so a resumed run decides
/// as an uninterrupted one. Returns the explanation for result.json.
pub fn early_stop(es: &EarlyStopping, rows: &[MetricsRow]) -> Option<String> {
    let mut best: Option<&MetricsRow> = None;
    let mut stale = 0u32;
    for r in rows {
        match best {
            Some(b) if r.validation_accuracy20 <= b.validation_accuracy20 + es.min_delta => stale += 1,
            _ => {
                best = Some(r);
                stale = 0;
            }
        }
    }
    let b = best?;
    (stale >= es.patience).then(|| {
        format!(
            "early stopping: validation Accuracy20% did not improve by more than {} for {} snapshots (best {:.4} at iteration {})",
            es.min_delta, stale, b.validation_accuracy20, b.iteration
        )
    })
}

/// The resume point written at every snapshot and on a stop request.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct CheckpointState {
    format: u32,
    iteration: u64,
    adam_step: i64,
    elapsed_seconds: f64,
    resumes: u32,
    started_unix: u64,
    file: String,
}

/// Trains (or resumes) one model. `stop` is set by the signal handler.
pub fn run_model(
    sweep_dir: &Path,
    sweep: &SweepFile,
    spec: &ModelSpec,
    opts: &RunOptions,
    stop: &AtomicBool,
) -> Result<Outcome> {
    let dir = ModelDir::new(sweep_dir.join("models").join(&spec.name));
    std::fs::create_dir_all(&dir.root).with_context(|| format!("creating {}", dir.root.display()))?;
    let _lock = lock::acquire(&dir.lock())?;

    if dir.result().exists() {
        let prev: ModelResult = read_json(&dir.result()).map_err(anyhow::Error::msg)?;
        if prev.status != ResultStatus::Preempted {
            tracing::info!("{}: already {} (result.json); nothing to do", spec.name, prev.status.as_str());
            return Ok(Outcome::AlreadyDone(prev.status));
        }
    }

    let data = sweep.grid.data.as_ref().context("the sweep has no [data] table")?;
    let (train, val) = load_data(sweep)?;
    let prep = Prepared::new(train, val, data.input_scale, opts.device);
    let n = prep.train_len() as u64;
    let bs = spec.batch_size as u64;
    if bs > n {
        bail!("batch_size {bs} is larger than the training set ({n} frames)");
    }
    let total = spec.length.iterations(n, bs);
    let per_epoch = (n / bs).max(1);
    let snaps = snapshot_iterations(total, spec.snapshots);

    let mut trainer = Trainer::new(spec, opts.device);
    let mut it: u64 = 0;
    let mut elapsed_before = 0.0f64;
    let mut resumes = 0u32;
    let mut started_unix = now_unix();

    // Resume from the newest checkpoint, and drop metrics rows written after it.
    let ckpt_dir = dir.checkpoint_dir();
    let state_path = ckpt_dir.join("state.json");
    let mut rows: Vec<MetricsRow> = Vec::new();
    if state_path.exists() {
        let st: CheckpointState = read_json(&state_path).map_err(anyhow::Error::msg)?;
        let tensors = Tensor::read_safetensors(ckpt_dir.join(&st.file))
            .with_context(|| format!("reading checkpoint {}", ckpt_dir.join(&st.file).display()))?;
        restore(&mut trainer, &tensors)?;
        trainer.adam.step = st.adam_step;
        it = st.iteration;
        elapsed_before = st.elapsed_seconds;
        resumes = st.resumes + 1;
        started_unix = st.started_unix;
        rows = read_metrics(&dir.metrics()).map_err(anyhow::Error::msg)?;
        rows.retain(|r| r.iteration <= it);
        tracing::info!("{}: resuming at iteration {it} of {total} (resume {resumes})", spec.name);
    }
    // (Re)write the metrics file with exactly the rows we keep.
    {
        let mut text = format!("{METRICS_HEADER}\n");
        for r in &rows {
            text.push_str(&r.to_csv_line());
        }
        write_atomic(&dir.metrics(), text.as_bytes()).with_context(|| format!("writing {}", dir.metrics().display()))?;
    }
    let mut metrics = std::fs::OpenOptions::new().append(true).open(dir.metrics())
        .with_context(|| format!("opening {}", dir.metrics().display()))?;
    let mut best = best_row(&rows).copied();
    if spec.keep_snapshots == KeepSnapshots::All {
        std::fs::create_dir_all(dir.snapshots_dir())?;
    }
    std::fs::create_dir_all(&ckpt_dir)?;
    // TensorBoard: one event file per worker run under models/<name>/tensorboard/, so
    // `tensorboard --logdir runs/<sweep>` shows every model.
    let mut tensorboard = if sweep.grid.output.tensorboard {
        let tb = dir.root.join("tensorboard");
        Some(cyplam_core::tensorboard::EventWriter::create(&tb).with_context(|| format!("creating an event file in {}", tb.display()))?)
    } else {
        None
    };

    let result = |status, reason: Option<String>, it: u64, secs: f64, best: Option<MetricsRow>, nsnaps: usize| ModelResult {
        format: FORMAT_VERSION,
        sweep: sweep.name.clone(),
        model: spec.name.clone(),
        index: spec.index,
        status,
        reason,
        best_accuracy20: best.map(|b| b.validation_accuracy20),
        best_iteration: best.map(|b| b.iteration),
        iterations_done: it,
        iterations_total: total,
        snapshots_done: nsnaps as u32,
        train_seconds: secs,
        free_params: spec.free_params,
        host: cyplam_core::files::hostname(),
        threads: opts.threads,
        device: format!("{:?}", opts.device).to_lowercase(),
        libtorch: LIBTORCH_VERSION.to_string(),
        started_unix,
        finished_unix: now_unix(),
        resumes,
    };

    let t0 = Instant::now();
    let mut last_log = Instant::now();
    let mut it_at_log = it;
    let mut epoch_cache: Option<(u64, Tensor, Tensor)> = None;
    let mut loss_sum = 0.0;
    let mut loss_n = 0u64;
    // A run resumed after the snapshot that stopped it early (killed before result.json) stops
    // again at once.
    let mut stopped_early = spec.early_stopping.as_ref().and_then(|es| early_stop(es, &rows));
    while it < total && stopped_early.is_none() {
        if stop.load(Ordering::SeqCst) {
            let secs = elapsed_before + t0.elapsed().as_secs_f64();
            save_checkpoint(&trainer, &prep, &ckpt_dir, it, secs, resumes, started_unix)?;
            let r = result(ResultStatus::Preempted, Some(format!("stopped by a signal at iteration {it}; resumable from its checkpoint")), it, secs, best, rows.len());
            write_json_atomic(&dir.result(), &r)?;
            tracing::warn!("{}: stop requested; checkpoint written at iteration {it}", spec.name);
            return Ok(Outcome::Preempted(r));
        }
        let epoch = it / per_epoch;
        if epoch_cache.as_ref().map(|(e, _, _)| *e) != Some(epoch) {
            let perm = Tensor::from_slice(&epoch_permutation(n as usize, spec.seed, epoch)).to_device(opts.device);
            epoch_cache = Some((epoch, prep.train_x.index_select(0, &perm), prep.train_y.index_select(0, &perm)));
        }
        let (_, ex, ey) = epoch_cache.as_ref().expect("filled above");
        let b = ((it % per_epoch) * bs) as i64;
        let loss = trainer.step(&ex.narrow(0, b, bs as i64), &ey.narrow(0, b, bs as i64), it);
        it += 1;
        if !loss.is_finite() {
            let secs = elapsed_before + t0.elapsed().as_secs_f64();
            let r = result(ResultStatus::Failed, Some(format!("the training loss became {loss} at iteration {it} (diverged); lower the learning rate")), it, secs, best, rows.len());
            write_json_atomic(&dir.result(), &r)?;
            tracing::error!("{}: loss is {loss} at iteration {it}; marked failed", spec.name);
            return Ok(Outcome::Failed(r));
        }
        loss_sum += loss;
        loss_n += 1;

        if snaps.binary_search(&it).is_ok() {
            let ev = evaluate_sets(&trainer.net, &[(&prep.train_x, &prep.train_y), (&prep.val_x, &prep.val_y)], prep.label_scale);
            let (tr, va) = (ev[0], ev[1]);
            let secs = elapsed_before + t0.elapsed().as_secs_f64();
            let row = MetricsRow {
                iteration: it,
                train_loss: tr.loss,
                train_accuracy20: tr.accuracy20,
                validation_loss: va.loss,
                validation_accuracy20: va.accuracy20,
                elapsed_seconds: secs,
            };
            let weights = trainer.weights(prep.label_scale, prep.input_factor);
            if spec.keep_snapshots == KeepSnapshots::All {
                weights::save(&dir.snapshot(it), &weights)?;
            }
            if best.is_none_or(|b| row.validation_accuracy20 > b.validation_accuracy20) {
                weights::save(&dir.best(), &weights)?;
                best = Some(row);
            }
            metrics.write_all(row.to_csv_line().as_bytes()).and_then(|_| metrics.sync_data())
                .with_context(|| format!("appending to {}", dir.metrics().display()))?;
            rows.push(row);
            if let Some(tb) = tensorboard.as_mut() {
                tb.scalars(it, &[
                    ("loss/train", row.train_loss as f32),
                    ("loss/validation", row.validation_loss as f32),
                    ("accuracy20/train", row.train_accuracy20 as f32),
                    ("accuracy20/validation", row.validation_accuracy20 as f32),
                ]).with_context(|| format!("writing {}", tb.path.display()))?;
            }
            save_checkpoint(&trainer, &prep, &ckpt_dir, it, secs, resumes, started_unix)?;
            let rate = (it - it_at_log) as f64 / last_log.elapsed().as_secs_f64().max(1e-9);
            let left = (total - it) as f64 / rate.max(1e-9);
            tracing::info!(
                "{} iter {it}/{total} loss {:.5} train acc20 {:.4} val loss {:.5} val acc20 {:.4} | {:.1} it/s, {:.0}s left",
                spec.name, loss_sum / loss_n.max(1) as f64, tr.accuracy20, va.loss, va.accuracy20, rate, left
            );
            last_log = Instant::now();
            it_at_log = it;
            loss_sum = 0.0;
            loss_n = 0;
            stopped_early = spec.early_stopping.as_ref().and_then(|es| early_stop(es, &rows));
            if stopped_early.is_some() {
                break;
            }
        }
    }

    let secs = elapsed_before + t0.elapsed().as_secs_f64();
    if let Some(why) = &stopped_early {
        tracing::info!("{}: {why}; stopped at iteration {it} of {total}", spec.name);
    }
    let r = result(ResultStatus::Completed, stopped_early, it, secs, best, rows.len());
    write_json_atomic(&dir.result(), &r)?;
    let _ = std::fs::remove_dir_all(&ckpt_dir);
    tracing::info!(
        "{}: completed; best validation Accuracy20% {:.4} at iteration {} ({:.1}s)",
        spec.name, r.best_accuracy20.unwrap_or(0.0), r.best_iteration.unwrap_or(0), secs
    );
    Ok(Outcome::Completed(r))
}

fn save_checkpoint(t: &Trainer, prep: &Prepared, dir: &Path, it: u64, secs: f64, resumes: u32, started_unix: u64) -> Result<()> {
    let file = format!("ckpt-{it:09}.safetensors");
    let mut tensors = t.weights(prep.label_scale, prep.input_factor);
    for (name, (m, v)) in t.adam.names.iter().zip(t.adam.m.iter().zip(&t.adam.v)) {
        tensors.push((format!("adam_m.{name}"), m.to_device(Device::Cpu)));
        tensors.push((format!("adam_v.{name}"), v.to_device(Device::Cpu)));
    }
    weights::save(&dir.join(&file), &tensors)?;
    let st = CheckpointState { format: FORMAT_VERSION, iteration: it, adam_step: t.adam.step, elapsed_seconds: secs, resumes, started_unix, file: file.clone() };
    write_json_atomic(&dir.join("state.json"), &st).with_context(|| format!("writing {}", dir.join("state.json").display()))?;
    // Older checkpoints are superseded once state.json names the new one.
    for e in std::fs::read_dir(dir)?.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        if name.starts_with("ckpt-") && name != file {
            let _ = std::fs::remove_file(e.path());
        }
    }
    Ok(())
}

fn restore(t: &mut Trainer, tensors: &[(String, Tensor)]) -> Result<()> {
    let find = |n: &str| tensors.iter().find(|(k, _)| k == n).map(|(_, v)| v);
    tch::no_grad(|| -> Result<()> {
        for i in 0..t.adam.names.len() {
            let name = t.adam.names[i].clone();
            let p = find(&name).with_context(|| format!("checkpoint lacks {name}"))?;
            let m = find(&format!("adam_m.{name}")).with_context(|| format!("checkpoint lacks adam_m.{name}"))?;
            let v = find(&format!("adam_v.{name}")).with_context(|| format!("checkpoint lacks adam_v.{name}"))?;
            t.adam.params[i].f_copy_(p)?;
            t.adam.m[i].f_copy_(m)?;
            t.adam.v[i].f_copy_(v)?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rows(acc: &[f64]) -> Vec<MetricsRow> {
        acc.iter()
            .enumerate()
            .map(|(i, &a)| MetricsRow {
                iteration: (i as u64 + 1) * 10,
                train_loss: 0.0,
                train_accuracy20: 0.0,
                validation_loss: 0.0,
                validation_accuracy20: a,
                elapsed_seconds: 0.0,
            })
            .collect()
    }

    #[test]
    fn early_stopping_waits_patience_snapshots_without_improvement() {
        let es = EarlyStopping { patience: 2, min_delta: 0.0 };
        assert_eq!(early_stop(&es, &[]), None);
        assert_eq!(early_stop(&es, &rows(&[0.1, 0.2, 0.3])), None);
        assert_eq!(early_stop(&es, &rows(&[0.1, 0.3, 0.2])), None);
        let why = early_stop(&es, &rows(&[0.1, 0.3, 0.2, 0.3])).expect("stops");
        assert!(why.contains("for 2 snapshots (best 0.3000 at iteration 20)"), "{why}");
        // A new best resets the count.
        assert_eq!(early_stop(&es, &rows(&[0.1, 0.3, 0.2, 0.4, 0.35])), None);
        // Rises of at most min_delta do not count as improvements.
        let es = EarlyStopping { patience: 2, min_delta: 0.05 };
        assert!(early_stop(&es, &rows(&[0.1, 0.3, 0.33, 0.35])).is_some());
        assert_eq!(early_stop(&es, &rows(&[0.1, 0.3, 0.33, 0.36])), None);
    }
}
