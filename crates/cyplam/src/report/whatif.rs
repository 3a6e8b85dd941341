//! `cyplam report --what-if`: what successive halving and early stopping would have kept of a
//! sweep whose models all ran to the end, from the recorded curves alone, through the functions
//! the workers call (`cyplam_core::stopping`): for each setting asked (by default the grid file's
//! defaults; several eta, rungs, rules and noise factors at once), the compute it spends against
//! the full grid, the best model it finds, and where the full grid's top 10 would have ended; then
//! the cheapest halving setting that kept the full grid's best: what a user runs on a pilot sweep.
//! With `--search`, a sampled search replayed on the full grid instead ([`print_search`]).

use crate::db::query::ModelRow;
use crate::db::{Db, RecordedStatus};
use crate::output::{outln, print_rows, Format};
use anyhow::{bail, Result};
use cyplam_core::halving::replay::{judge, replay_halving_verdicts, Judgement, Stop};
use cyplam_core::halving::rule::Verdict;
use cyplam_core::halving::settings::Halving;
use cyplam_core::metrics_csv::MetricsRow;
use cyplam_core::search::replay::{FullGrid, SampleSpec, Sampler, Tally};
use cyplam_core::search::tpe;
use cyplam_core::spec::EarlyStopping;
use cyplam_core::stopping::replay_early_stopping;

/// How close to the full grid's best a policy's pick must be to count as having kept it.
pub const KEPT_TOLERANCE: f64 = 0.005;

/// The recorded curves, in model order, of a sweep whose every model completed its training.
pub async fn complete_curves(db: &Db, id: i64) -> Result<(Vec<ModelRow>, Vec<Vec<MetricsRow>>)> {
    let mut rows = db.ranking(id).await?;
    rows.sort_by_key(|r| r.index);
    let mut curves = db.curves(id).await?;
    let unfinished: Vec<&str> = rows
        .iter()
        .filter(|r| r.status != RecordedStatus::Completed || r.iterations_done != r.iterations_total || !curves.contains_key(&r.index))
        .map(|r| r.name.as_str())
        .collect();
    if !unfinished.is_empty() {
        bail!(
            "--what-if replays curves of models trained to the end; {} of {} are not ({}{})",
            unfinished.len(),
            rows.len(),
            unfinished.iter().take(8).copied().collect::<Vec<_>>().join(", "),
            if unfinished.len() > 8 { ", ..." } else { "" }
        );
    }
    let c = rows.iter().map(|r| curves.remove(&r.index).unwrap_or_default()).collect();
    Ok((rows, c))
}

/// One policy replayed.
pub struct Outcome {
    pub policy: String,
    pub kind: Kind,
    pub stops: Vec<Stop>,
    pub judged: Judgement,
}

pub enum Kind {
    Full,
    /// Halving, with the models of each rung and each decision's verdict.
    Halving {
        halving: Halving,
        rungs: Vec<Vec<usize>>,
        verdicts: Vec<Verdict>,
    },
    EarlyStopping(EarlyStopping),
}

/// Every policy: the full grid, each halving setting, each early-stopping setting. `axes[m]` is
/// model m's position in each grid axis.
pub fn outcomes(curves: &[Vec<MetricsRow>], axes: &[Vec<usize>], halvings: &[Halving], stoppings: &[EarlyStopping]) -> Vec<Outcome> {
    let full = cyplam_core::halving::replay::full(curves);
    let mut out = vec![Outcome { policy: "full grid".into(), kind: Kind::Full, judged: judge(&full, &full), stops: full.clone() }];
    for h in halvings {
        let (r, verdicts) = replay_halving_verdicts(h, curves, axes);
        out.push(Outcome {
            policy: halving_name(h),
            judged: judge(&full, &r.stops),
            stops: r.stops,
            kind: Kind::Halving { halving: *h, rungs: r.rungs, verdicts },
        });
    }
    for es in stoppings {
        let stops = replay_early_stopping(es, curves);
        out.push(Outcome {
            policy: format!("early stopping (patience {}, noise x{}, drop x{}, min_delta {})", es.patience, es.noise, es.drop, es.min_delta),
            judged: judge(&full, &stops),
            stops,
            kind: Kind::EarlyStopping(*es),
        });
    }
    out
}

fn halving_name(h: &Halving) -> String {
    format!("halving (eta {}, {} rungs, {})", h.eta, h.rungs, h.promotion.describe())
}

/// The cheapest halving outcome (by iterations) whose pick is within [`KEPT_TOLERANCE`] of the
/// full grid's best.
pub fn cheapest_that_kept(outs: &[Outcome]) -> Option<&Outcome> {
    outs.iter()
        .filter(|o| matches!(o.kind, Kind::Halving { .. }) && o.judged.loss <= KEPT_TOLERANCE)
        .min_by(|a, b| a.judged.iterations_fraction.total_cmp(&b.judged.iterations_fraction))
}

pub fn print(
    models: &[ModelRow],
    curves: &[Vec<MetricsRow>],
    axes: &[Vec<usize>],
    halvings: &[Halving],
    stoppings: &[EarlyStopping],
    format: Format,
) -> Result<()> {
    let outs = outcomes(curves, axes, halvings, stoppings);
    let name = |m: Option<usize>| m.map(|m| models[m].name.clone()).unwrap_or_default();
    let mut table = Vec::new();
    let mut json = Vec::new();
    for o in &outs {
        let j = &o.judged;
        table.push(vec![
            o.policy.clone(),
            format!("{:.1}", j.seconds),
            format!("{:.3}", j.seconds_fraction),
            format!("{:.0}", j.iterations),
            format!("{:.3}", j.iterations_fraction),
            name(j.best_found),
            j.best_found_full.map(|a| format!("{a:.4}")).unwrap_or_default(),
            format!("{:.4}", -j.loss),
            format!("{} of {}", j.top_overlap, j.full_top.len()),
            format!("{:.4}", j.worst_top_loss),
        ]);
        let mut v = serde_json::json!({
            "policy": o.policy, "seconds": j.seconds, "seconds_fraction": j.seconds_fraction, "iterations": j.iterations,
            "iterations_fraction": j.iterations_fraction, "best_model": name(j.best_found),
            "best_model_accuracy20_when_stopped": j.best_found.and_then(|m| o.stops[m].best), "best_model_full_accuracy20": j.best_found_full,
            "full_grid_best_model": name(j.full_best), "full_grid_best_accuracy20": j.full_best_accuracy20,
            "loss": j.loss, "kept_the_best": j.loss <= KEPT_TOLERANCE,
            "top10_overlap": j.top_overlap, "worst_top10_loss": j.worst_top_loss,
            "full_top10_stopped_at": j.full_top.iter().map(|&m| serde_json::json!({"model": models[m].name, "iteration": o.stops[m].iteration})).collect::<Vec<_>>(),
        });
        match &o.kind {
            Kind::Halving { halving, rungs, verdicts } => {
                v["eta"] = halving.eta.into();
                v["rungs"] = halving.rungs.into();
                v["promotion"] = serde_json::to_value(halving.promotion)?;
                v["rung_models"] = serde_json::json!(rungs.iter().map(|r| r.iter().map(|&m| models[m].name.clone()).collect::<Vec<_>>()).collect::<Vec<_>>());
                v["rung_decisions"] = serde_json::json!(verdicts
                    .iter()
                    .map(|d| serde_json::json!({
                        "noise": d.noise, "margin": d.margin, "cutoff": d.cutoff, "kept": d.kept, "cap": d.cap, "summary": d.summary(),
                    }))
                    .collect::<Vec<_>>());
            }
            Kind::EarlyStopping(es) => v["early_stopping"] = serde_json::to_value(es)?,
            Kind::Full => {}
        }
        json.push(v);
    }
    let first_halving = outs.iter().find_map(|o| match &o.kind {
        Kind::Halving { rungs, .. } => Some(rungs),
        _ => None,
    });
    let cheapest = cheapest_that_kept(&outs);
    if format == Format::Json {
        let rungs = first_halving.cloned().unwrap_or_default();
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "policies": json,
                "halving_rungs": rungs.iter().map(|r| r.len()).collect::<Vec<_>>(),
                "halving_rung_models": rungs.iter().map(|r| r.iter().map(|&m| models[m].name.clone()).collect::<Vec<_>>()).collect::<Vec<_>>(),
                "cheapest_halving_that_kept_the_best": cheapest.map(|o| o.policy.clone()),
            }))?
        )?;
        return Ok(());
    }
    print_rows(
        &[
            "policy",
            "train+validation s",
            "of full",
            "iterations",
            "of full",
            "best model found",
            "its full-length best",
            "vs full grid's best",
            "top-10 overlap",
            "worst top-10 loss",
        ],
        &table,
        format,
    )?;
    if format == Format::Table {
        for o in &outs {
            let Kind::Halving { halving, rungs, verdicts } = &o.kind else { continue };
            outln!("{}:", o.policy)?;
            for (k, models_k) in rungs.iter().enumerate() {
                let end =
                    models_k.first().and_then(|&m| halving.rung_ends(&curves[m].iter().map(|r| r.iteration).collect::<Vec<_>>()).get(k).copied()).unwrap_or(0);
                let how = verdicts.get(k).map(|v| format!("; {} went on: {}", v.promoted.len(), v.summary())).unwrap_or_default();
                outln!("  rung {k}: {} model(s) train to iteration {end}{how}", models_k.len())?;
            }
            let ended: Vec<String> = o.judged.full_top.iter().map(|&m| format!("{} at {}", models[m].name, o.stops[m].iteration)).collect();
            outln!("  the full grid's top {} stopped at: {}", ended.len(), ended.join(", "))?;
        }
        match cheapest {
            Some(o) => outln!(
                "cheapest halving setting that kept the full grid's best (within {KEPT_TOLERANCE}): {} at {:.3} of the full grid's iterations",
                o.policy,
                o.judged.iterations_fraction
            )?,
            None => outln!(
                "no halving setting asked kept the full grid's best (within {KEPT_TOLERANCE}); try a larger --noise or --cap, a smaller --eta or fewer --rungs"
            )?,
        }
        outln!("(replayed from the recorded curves: seconds are the recorded training and validation time up to each stop)")?;
    }
    Ok(())
}

/// `--what-if --search`: each sampled search asked ([`SampleSpec`]: a strategy and its counts K),
/// drawn with seeds 0 to `draws` - 1 on the full grid's lists (`lens`) through the sampler a
/// `[search]` sweep uses, alone and with each halving setting on the drawn models only, or
/// proposed round by round by the TPE (alone): how often its pick was within [`KEPT_TOLERANCE`] of
/// the full grid's best, its mean and worst loss, and its iterations against the full grid's.
#[allow(clippy::too_many_arguments)]
pub fn print_search(
    models: &[ModelRow],
    curves: &[Vec<MetricsRow>],
    axes: &[Vec<usize>],
    lens: &[usize],
    specs: &[SampleSpec],
    draws: u32,
    halvings: &[Halving],
    format: Format,
) -> Result<()> {
    let g = FullGrid::new(curves, axes, lens)?;
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    let policies: Vec<String> = std::iter::once("sample".to_string()).chain(halvings.iter().map(|h| format!("sample + {}", halving_name(h)))).collect();
    let n = curves.len();
    let mut table = Vec::new();
    let mut json = Vec::new();
    for spec in specs {
        for &k in &spec.counts {
            let r = g.replay(spec.sampler, k, draws, halvings, KEPT_TOLERANCE, threads)?;
            // The TPE's rounds: each waits for the one before (random and Sobol: one array).
            let (rounds, label) = match spec.sampler {
                Sampler::Draw(s) => (1, s.as_str().to_string()),
                Sampler::Tpe { batch } => {
                    let rounds = tpe::rounds(k as usize, batch as usize);
                    (rounds, format!("tpe, batches of {batch}, {rounds} round{}", if rounds == 1 { "" } else { "s" }))
                }
            };
            for (i, t) in std::iter::once(&r.alone).chain(&r.halving).enumerate() {
                let t: &Tally = t;
                table.push(vec![
                    label.clone(),
                    format!("{k} of {n}"),
                    policies[i].clone(),
                    t.draws.to_string(),
                    format!("{:.1}%", 100.0 * t.chance()),
                    format!("{:.4}", t.mean_loss),
                    format!("{:.4}", t.worst_loss),
                    format!("{:.3}", t.mean_iterations_fraction),
                    format!("{:.3}", t.max_iterations_fraction),
                ]);
                let mut v = serde_json::json!({
                    "strategy": spec.sampler.name(), "models": k, "rounds": rounds, "policy": policies[i], "draws": t.draws, "found": t.found,
                    "chance": t.chance(), "mean_loss": t.mean_loss, "worst_loss": t.worst_loss,
                    "mean_iterations_fraction": t.mean_iterations_fraction, "max_iterations_fraction": t.max_iterations_fraction,
                });
                if i > 0 {
                    let h = &halvings[i - 1];
                    v["eta"] = h.eta.into();
                    v["rungs"] = h.rungs.into();
                    v["promotion"] = serde_json::to_value(h.promotion)?;
                }
                json.push(v);
            }
        }
    }
    let best = g.best_model().map(|m| models[m].name.clone()).unwrap_or_default();
    if format == Format::Json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({
                "full_grid_models": n, "full_grid_best_model": best, "full_grid_best_accuracy20": g.best(),
                "draws": draws, "tolerance": KEPT_TOLERANCE, "samples": json,
            }))?
        )?;
        return Ok(());
    }
    if format == Format::Table {
        outln!(
            "sampled search replayed on the full grid of {n} models (best: {best}, {}): {draws} draws (seeds 0 to {}) per strategy and number of models; found: the pick's full-length best within {KEPT_TOLERANCE} of the full grid's best",
            g.best().map(|a| format!("{a:.4}")).unwrap_or_default(), draws - 1
        )?;
    }
    print_rows(&["strategy", "models", "policy", "draws", "found the best", "mean loss", "worst loss", "iterations of full", "at most"], &table, format)?;
    if format == Format::Table {
        outln!(
            "(replayed from the recorded curves: a [search] over this grid's lists trains the models drawn; halving there sees only them, in the order drawn)"
        )?;
        if specs.iter().any(|s| matches!(s.sampler, Sampler::Tpe { .. })) {
            outln!(
                "(tpe: the first max(2, K/4) models drawn as random's, then each round's batch proposed from the full-length bests of the models before it; every model trains in full, and halving is not replayed with it; a [search] sweep cannot use it yet)"
            )?;
        }
    }
    Ok(())
}
