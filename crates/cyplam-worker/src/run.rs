//! Runs one model of a sweep from start (or from its newest checkpoint) to its result file:
//! training, a validation pass at each snapshot, metrics rows, snapshot and best weights,
//! checkpoints, and a clean stop on SIGTERM/SIGUSR1.

use crate::checkpoint::{self, Progress};
use crate::eval::evaluate_sets;
use crate::lock;
use crate::prepare::{load_data, Prepared};
use crate::schedule::{EpochBatches, Plan};
use crate::train::Trainer;
use crate::weights;
use crate::LIBTORCH_VERSION;
use anyhow::{Context, Result};
use cyplam_core::files::{now_unix, read_json, read_metrics, write_atomic, write_json_atomic, ModelResult, ResultStatus, SweepFile};
use cyplam_core::layout::{ModelDir, SweepDir};
use cyplam_core::metrics_csv::{best_row, MetricsRow, METRICS_HEADER};
use cyplam_core::spec::{KeepSnapshots, ModelSpec};
use cyplam_core::tensorboard::EventWriter;
use std::io::Write;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;
use tch::Device;

/// How a worker's run of a model ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Completed(ModelResult),
    Failed(ModelResult),
    /// Stopped by a signal, checkpoint written.
    Preempted(ModelResult),
    /// Successive halving: at the end of its rung, checkpoint kept, waiting for the decision.
    Waiting(ModelResult),
    /// result.json already said completed, failed or pruned (or waiting after this rung).
    AlreadyDone(ResultStatus),
}

/// Settings of this process, not of the model.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub threads: u32,
    pub device: Device,
    /// Successive halving: the rung this run trains in, recorded in result.json.
    pub rung: Option<u32>,
    /// Successive halving: the iteration at which the rung ends (before the model's end), where
    /// the run stops with a `waiting` result and its checkpoint.
    pub stop_at: Option<u64>,
}

/// Early stopping's rule lives in core, beside successive halving's, so that a finished sweep's
/// curves replay it (`cyplam report --what-if`).
pub use cyplam_core::stopping::early_stop;

/// Whether `row` becomes the best snapshot after `best`: a higher validation Accuracy20% (the
/// first one on ties), and never a row whose values are not finite. The rule of
/// [`cyplam_core::metrics_csv::best_row`], one row at a time.
pub fn is_new_best(best: Option<&MetricsRow>, row: &MetricsRow) -> bool {
    row.is_finite() && best.is_none_or(|b| row.validation_accuracy20 > b.validation_accuracy20)
}

/// Trains (or resumes) one model. `stop` is set by the signal handler. A model that cannot start
/// training (bad data, a batch larger than the training set, an unreadable checkpoint) gets a
/// `failed` result.json with the reason, and the error is returned.
pub fn run_model(sweep_dir: &Path, sweep: &SweepFile, spec: &ModelSpec, opts: &RunOptions, stop: &AtomicBool) -> Result<Outcome> {
    let dir = SweepDir::new(sweep_dir).model(&spec.name);
    cyplam_core::files::create_dir(&dir.root)?;
    let lock = lock::acquire(&dir.lock())?;
    if let Some(status) = finished_before(&dir, opts.rung)? {
        tracing::info!("{}: already {} (result.json); nothing to do", spec.name, status.as_str());
        return Ok(Outcome::AlreadyDone(status));
    }
    match Run::start(sweep, spec, opts, dir.clone(), &lock) {
        Ok(run) => run.train(stop),
        Err(e) => {
            let reason = format!("cannot start training: {e:#}");
            match failed_before_training(sweep, spec, opts, &dir, reason) {
                Ok(_) => tracing::error!("{}: marked failed in {}", spec.name, dir.result().display()),
                Err(w) => tracing::error!("{}: could not record the failure: {w:#}", spec.name),
            }
            Err(e)
        }
    }
}

/// What every result file of `spec` says, whatever the outcome (the rest is filled in by the
/// caller).
fn result_base(sweep: &SweepFile, spec: &ModelSpec, opts: &RunOptions) -> ModelResult {
    ModelResult {
        host: cyplam_core::files::hostname(),
        threads: opts.threads,
        device: format!("{:?}", opts.device).to_lowercase(),
        libtorch: LIBTORCH_VERSION.to_string(),
        rung: opts.rung,
        ..ModelResult::empty(&sweep.name, spec, ResultStatus::Failed)
    }
}

/// The result of a model that could not start training: failed, with `reason`; what its metrics
/// file holds from earlier runs (if it reads) is kept in the counts and the best.
fn failed_before_training(sweep: &SweepFile, spec: &ModelSpec, opts: &RunOptions, dir: &ModelDir, reason: String) -> Result<ModelResult> {
    let rows = read_metrics(&dir.metrics()).unwrap_or_default();
    let best = best_row(&rows);
    let r = ModelResult {
        reason: Some(reason),
        best_accuracy20: best.map(|b| b.validation_accuracy20),
        best_iteration: best.map(|b| b.iteration),
        iterations_done: rows.last().map(|r| r.iteration).unwrap_or(0),
        snapshots_done: rows.len() as u32,
        train_seconds: rows.last().map(|r| r.elapsed_seconds).unwrap_or(0.0),
        ..result_base(sweep, spec, opts)
    };
    write_json_atomic(&dir.result(), &r).with_context(|| format!("writing {}", dir.result().display()))?;
    Ok(r)
}

/// The status of an earlier run that leaves nothing to do (completed, failed or pruned; or
/// waiting at the end of this rung or a later one). A preempted one resumes, and so does one
/// waiting after an earlier rung.
fn finished_before(dir: &ModelDir, rung: Option<u32>) -> Result<Option<ResultStatus>> {
    if !dir.result().exists() {
        return Ok(None);
    }
    let prev: ModelResult = read_json(&dir.result())?;
    Ok(match prev.status {
        ResultStatus::Preempted => None,
        ResultStatus::Waiting if rung.is_none_or(|r| prev.rung.is_none_or(|p| p < r)) => None,
        s => Some(s),
    })
}

/// The progress line of each snapshot: training loss averaged since the last line, speed and time
/// left.
struct ProgressLog {
    since: Instant,
    it_at: u64,
    loss_sum: f64,
    loss_n: u64,
}

impl ProgressLog {
    fn new(it: u64) -> ProgressLog {
        ProgressLog { since: Instant::now(), it_at: it, loss_sum: 0.0, loss_n: 0 }
    }

    fn add(&mut self, loss: f64) {
        self.loss_sum += loss;
        self.loss_n += 1;
    }

    /// Logs the snapshot `row` and starts over.
    fn snapshot(&mut self, name: &str, row: &MetricsRow, total: u64) {
        let it = row.iteration;
        let rate = (it - self.it_at) as f64 / self.since.elapsed().as_secs_f64().max(1e-9);
        let left = (total - it) as f64 / rate.max(1e-9);
        tracing::info!(
            "{name} iter {it}/{total} loss {:.5} train acc20 {:.4} val loss {:.5} val acc20 {:.4} | {:.1} it/s, {:.0}s left",
            self.loss_sum / self.loss_n.max(1) as f64,
            row.train_accuracy20,
            row.validation_loss,
            row.validation_accuracy20,
            rate,
            left
        );
        *self = ProgressLog::new(it);
    }
}

/// One model's training under way: what it has done and the files it writes to.
struct Run<'a> {
    sweep: &'a SweepFile,
    spec: &'a ModelSpec,
    opts: &'a RunOptions,
    dir: ModelDir,
    prep: Prepared,
    plan: Plan,
    trainer: Trainer,
    /// Iterations done.
    it: u64,
    /// Training time of the model's earlier runs (before this resume).
    elapsed_before: f64,
    /// When this run's training started.
    t0: Instant,
    resumes: u32,
    started_unix: u64,
    /// The model's lock: checked before every write (fencing, [`lock::ModelLock::check`]).
    lock: &'a lock::ModelLock,
    /// Metrics rows so far, one per snapshot; `metrics` is the file they are appended to.
    rows: Vec<MetricsRow>,
    best: Option<MetricsRow>,
    metrics: std::fs::File,
    tensorboard: Option<EventWriter>,
    batches: EpochBatches,
    log: ProgressLog,
}

impl<'a> Run<'a> {
    /// Loads the data, builds the network and, if the model has a checkpoint, resumes from it.
    fn start(sweep: &'a SweepFile, spec: &'a ModelSpec, opts: &'a RunOptions, dir: ModelDir, lock: &'a lock::ModelLock) -> Result<Run<'a>> {
        let data = sweep.grid.data.as_ref().context("the sweep has no [data] table")?;
        let (train, val) = load_data(sweep)?;
        let prep = Prepared::new(train, val, data.input_scale, opts.device);
        let plan = Plan::new(spec, prep.train_len() as u64)?;
        let mut trainer = Trainer::new(spec, opts.device);
        let started_unix = now_unix();
        let restored = checkpoint::restore(&dir, &mut trainer.adam).with_context(|| {
            format!("resuming from the checkpoint in {} (remove that directory to train the model from the start)", dir.checkpoint_dir().display())
        })?;
        let (progress, rows) = match restored {
            Some(p) => {
                // Metrics rows written after the checkpoint are written again.
                let mut rows = read_metrics(&dir.metrics())?;
                rows.retain(|r| r.iteration <= p.iteration);
                let p = Progress { resumes: p.resumes + 1, ..p };
                tracing::info!("{}: resuming at iteration {} of {} (resume {})", spec.name, p.iteration, plan.total, p.resumes);
                (p, rows)
            }
            None => (Progress { iteration: 0, elapsed_seconds: 0.0, resumes: 0, started_unix }, Vec::new()),
        };
        let metrics = rewrite_metrics(&dir, &rows)?;
        if spec.keep_snapshots == KeepSnapshots::All {
            cyplam_core::files::create_dir(&dir.snapshots_dir())?;
        }
        // TensorBoard: one event file per worker run under the model's tensorboard directory, so
        // `tensorboard --logdir runs/<sweep>` shows every model.
        let tensorboard = if sweep.grid.output.tensorboard {
            let tb = dir.tensorboard_dir();
            Some(EventWriter::create(&tb).with_context(|| format!("creating an event file in {}", tb.display()))?)
        } else {
            None
        };
        Ok(Run {
            sweep,
            spec,
            opts,
            dir,
            lock,
            prep,
            plan,
            trainer,
            it: progress.iteration,
            elapsed_before: progress.elapsed_seconds,
            t0: Instant::now(),
            resumes: progress.resumes,
            started_unix: progress.started_unix,
            best: best_row(&rows).copied(),
            rows,
            metrics,
            tensorboard,
            batches: EpochBatches::default(),
            log: ProgressLog::new(progress.iteration),
        })
    }

    /// Trains to the end, to early stopping, to a diverged loss or to a stop request.
    fn train(mut self, stop: &AtomicBool) -> Result<Outcome> {
        // A run resumed after the snapshot that stopped it early (killed before result.json)
        // stops again at once.
        let mut stopped_early = self.early_stop();
        let stop_at = self.opts.stop_at.unwrap_or(self.plan.total).min(self.plan.total);
        while self.it < stop_at && stopped_early.is_none() {
            if stop.load(Ordering::SeqCst) {
                return self.preempt();
            }
            let (xb, yb) = self.batches.batch(&self.prep, &self.plan, self.spec.seed, self.opts.device, self.it);
            let loss = self.trainer.step(&xb, &yb, self.it);
            self.it += 1;
            if !loss.is_finite() {
                return self.fail(loss);
            }
            self.log.add(loss);
            if self.plan.is_snapshot(self.it) {
                self.snapshot()?;
                stopped_early = self.early_stop();
            }
        }
        if stopped_early.is_none() && self.it < self.plan.total {
            return self.wait();
        }
        self.complete(stopped_early)
    }

    fn early_stop(&self) -> Option<String> {
        self.spec.early_stopping.as_ref().and_then(|es| early_stop(es, &self.rows))
    }

    /// Training time over every run of the model.
    fn seconds(&self) -> f64 {
        self.elapsed_before + self.t0.elapsed().as_secs_f64()
    }

    /// A snapshot: the validation pass, a metrics row, weights files, event file, checkpoint.
    fn snapshot(&mut self) -> Result<()> {
        let prep = &self.prep;
        let ev = evaluate_sets(&self.trainer.net, &[(&prep.train_x, &prep.train_y), (&prep.val_x, &prep.val_y)], prep.label_scale);
        let (tr, va) = (ev[0], ev[1]);
        let secs = self.seconds();
        let row = MetricsRow {
            iteration: self.it,
            train_loss: tr.loss,
            train_accuracy20: tr.accuracy20,
            validation_loss: va.loss,
            validation_accuracy20: va.accuracy20,
            elapsed_seconds: secs,
        };
        let weights = self.trainer.weights(prep.label_scale, prep.input_factor);
        self.lock.check()?;
        if self.spec.keep_snapshots == KeepSnapshots::All {
            weights::save(&self.dir.snapshot(self.it), &weights)?;
        }
        if is_new_best(self.best.as_ref(), &row) {
            weights::save(&self.dir.best(), &weights)?;
            self.best = Some(row);
        }
        self.metrics
            .write_all(row.to_csv_line().as_bytes())
            .and_then(|_| self.metrics.sync_data())
            .with_context(|| format!("appending to {}", self.dir.metrics().display()))?;
        self.rows.push(row);
        if let Some(tb) = self.tensorboard.as_mut() {
            tb.scalars(
                row.iteration,
                &[
                    ("loss/train", row.train_loss as f32),
                    ("loss/validation", row.validation_loss as f32),
                    ("accuracy20/train", row.train_accuracy20 as f32),
                    ("accuracy20/validation", row.validation_accuracy20 as f32),
                ],
            )
            .with_context(|| format!("writing {}", tb.path.display()))?;
        }
        self.checkpoint(secs)?;
        self.log.snapshot(&self.spec.name, &row, self.plan.total);
        Ok(())
    }

    fn checkpoint(&self, secs: f64) -> Result<()> {
        let weights = self.trainer.weights(self.prep.label_scale, self.prep.input_factor);
        self.lock.check()?;
        let at = Progress { iteration: self.it, elapsed_seconds: secs, resumes: self.resumes, started_unix: self.started_unix };
        checkpoint::save(&self.dir, &self.trainer.adam, weights, &at)?;
        Ok(())
    }

    /// Stopped by a signal: a checkpoint, and a result that says the model can resume.
    fn preempt(self) -> Result<Outcome> {
        let secs = self.seconds();
        self.checkpoint(secs)?;
        let reason = format!("stopped by a signal at iteration {}; resumable from its checkpoint", self.it);
        let r = self.finish(ResultStatus::Preempted, Some(reason), secs)?;
        tracing::warn!("{}: stop requested; checkpoint written at iteration {}", self.spec.name, self.it);
        Ok(Outcome::Preempted(r))
    }

    /// At the end of its rung: a result that says so (the checkpoint of the rung's last snapshot
    /// stays, for the next rung).
    fn wait(self) -> Result<Outcome> {
        let rung = self.opts.rung.unwrap_or(0);
        let reason = format!("reached iteration {}, the end of rung {rung}; the rung's decision says whether it goes on", self.it);
        let r = self.finish(ResultStatus::Waiting, Some(reason), self.seconds())?;
        tracing::info!("{}: end of rung {rung} at iteration {} of {}", self.spec.name, self.it, self.plan.total);
        Ok(Outcome::Waiting(r))
    }

    fn fail(self, loss: f64) -> Result<Outcome> {
        let it = self.it;
        let reason = format!("the training loss became {loss} at iteration {it} (diverged); lower the learning rate");
        let r = self.finish(ResultStatus::Failed, Some(reason), self.seconds())?;
        tracing::error!("{}: loss is {loss} at iteration {it}; marked failed", self.spec.name);
        Ok(Outcome::Failed(r))
    }

    fn complete(self, stopped_early: Option<String>) -> Result<Outcome> {
        let secs = self.seconds();
        if let Some(why) = &stopped_early {
            tracing::info!("{}: {why}; stopped at iteration {} of {}", self.spec.name, self.it, self.plan.total);
        }
        let r = self.finish(ResultStatus::Completed, stopped_early, secs)?;
        checkpoint::discard(&self.dir);
        tracing::info!(
            "{}: completed; best validation Accuracy20% {:.4} at iteration {} ({:.1}s)",
            self.spec.name,
            r.best_accuracy20.unwrap_or(0.0),
            r.best_iteration.unwrap_or(0),
            secs
        );
        Ok(Outcome::Completed(r))
    }

    /// Writes the model's result file.
    fn finish(&self, status: ResultStatus, reason: Option<String>, secs: f64) -> Result<ModelResult> {
        let r = ModelResult {
            status,
            reason,
            best_accuracy20: self.best.map(|b| b.validation_accuracy20),
            best_iteration: self.best.map(|b| b.iteration),
            iterations_done: self.it,
            iterations_total: self.plan.total,
            snapshots_done: self.rows.len() as u32,
            train_seconds: secs,
            started_unix: self.started_unix,
            resumes: self.resumes,
            ..result_base(self.sweep, self.spec, self.opts)
        };
        self.lock.check()?;
        write_json_atomic(&self.dir.result(), &r).with_context(|| format!("writing {}", self.dir.result().display()))?;
        Ok(r)
    }
}

/// (Re)writes the metrics file with exactly `rows`, and opens it to append the next ones.
fn rewrite_metrics(dir: &ModelDir, rows: &[MetricsRow]) -> Result<std::fs::File> {
    let mut text = format!("{METRICS_HEADER}\n");
    for r in rows {
        text.push_str(&r.to_csv_line());
    }
    let path = dir.metrics();
    write_atomic(&path, text.as_bytes()).with_context(|| format!("writing {}", path.display()))?;
    std::fs::OpenOptions::new().append(true).open(&path).with_context(|| format!("opening {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyplam_core::spec::EarlyStopping;

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
    fn a_row_without_numbers_never_becomes_the_best() {
        let mut r = rows(&[0.3, 0.5, 0.5, 0.7, 0.6]);
        r[0].validation_loss = f64::NAN; // a validation pass that gave NaN: accuracy 0.3 but no numbers
        r[3].train_loss = f64::INFINITY;
        let mut best: Option<MetricsRow> = None;
        let mut chosen = Vec::new();
        for row in &r {
            if is_new_best(best.as_ref(), row) {
                best = Some(*row);
                chosen.push(row.iteration);
            }
        }
        assert_eq!(chosen, vec![20, 50], "not the NaN first row, the first of the ties, not the infinite one");
        assert_eq!(best.as_ref(), best_row(&r), "the worker and core agree");
        let nan_first = rows(&[f64::NAN, 0.1]);
        assert!(!is_new_best(None, &nan_first[0]), "a NaN first row is not taken");
        assert!(is_new_best(None, &nan_first[1]));
        // Early stopping ignores such rows as improvements too.
        let es = EarlyStopping { patience: 2, min_delta: 0.0, noise: 0.0, drop: 0.0 };
        let mut r = rows(&[0.1, 0.2, 0.3]);
        r[0].validation_loss = f64::NAN;
        assert_eq!(early_stop(&es, &r), None);
        let mut r = rows(&[0.1, 0.2, 0.3]);
        r[1].validation_loss = f64::NAN;
        r[2].validation_accuracy20 = 0.05;
        let why = early_stop(&es, &r).expect("two snapshots without improvement");
        assert!(why.contains("(best 0.1000 at iteration 10)"), "{why}");
    }
}
