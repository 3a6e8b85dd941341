//! `cyplam report --what-if`: what successive halving and early stopping would have kept of a
//! sweep whose models all ran to the end, from the recorded curves alone (the rules of
//! `cyplam_core::stopping`): the compute each policy spends against the full grid, the best model
//! it finds, and where the full grid's top 10 would have ended.

use crate::db::query::ModelRow;
use crate::db::{Db, RecordedStatus};
use crate::output::{print_rows, Format};
use anyhow::{bail, Result};
use cyplam_core::files::MetricsRow;
use cyplam_core::spec::EarlyStopping;
use cyplam_core::stopping::{full, rank, replay_early_stopping, replay_halving, Halving, Stop};

/// How many of the best models are compared.
const TOP: usize = 10;

/// One policy's outcome.
pub struct Outcome {
    pub policy: String,
    pub stops: Vec<Stop>,
}

/// Models ranked by the best each reached under a policy (`stopping::rank`'s order).
fn ranked(stops: &[Stop]) -> Vec<usize> {
    rank(&stops.iter().enumerate().map(|(m, s)| (m, s.best)).collect::<Vec<_>>())
}

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
            unfinished.len(), rows.len(), unfinished.iter().take(8).copied().collect::<Vec<_>>().join(", "),
            if unfinished.len() > 8 { ", ..." } else { "" }
        );
    }
    let c = rows.iter().map(|r| curves.remove(&r.index).unwrap_or_default()).collect();
    Ok((rows, c))
}

/// The three outcomes: the full grid, halving, early stopping.
pub fn outcomes(curves: &[Vec<MetricsRow>], h: &Halving, es: &EarlyStopping) -> (Vec<Outcome>, Vec<Vec<usize>>) {
    let halving = replay_halving(h, curves);
    let rungs = halving.rungs.clone();
    (
        vec![
            Outcome { policy: "full grid".into(), stops: full(curves) },
            Outcome { policy: format!("halving (eta {}, {} rungs)", h.eta, h.rungs), stops: halving.stops },
            Outcome { policy: format!("early stopping (patience {}, min_delta {})", es.patience, es.min_delta), stops: replay_early_stopping(es, curves) },
        ],
        rungs,
    )
}

pub fn print(models: &[ModelRow], curves: &[Vec<MetricsRow>], h: &Halving, es: &EarlyStopping, format: Format) -> Result<()> {
    let (outs, rungs) = outcomes(curves, h, es);
    let base = &outs[0].stops;
    let sum = |s: &[Stop], f: fn(&Stop) -> f64| s.iter().map(f).sum::<f64>();
    let (full_secs, full_iters) = (sum(base, |s| s.seconds), sum(base, |s| s.iteration as f64));
    let full_top: Vec<usize> = ranked(base).into_iter().take(TOP).collect();
    let best_full = full_top.first().copied();
    let mut table = Vec::new();
    let mut json = Vec::new();
    for o in &outs {
        let (secs, iters) = (sum(&o.stops, |s| s.seconds), sum(&o.stops, |s| s.iteration as f64));
        let top: Vec<usize> = ranked(&o.stops).into_iter().take(TOP).collect();
        let overlap = top.iter().filter(|m| full_top.contains(m)).count();
        let found = top.first().copied();
        let found_acc = found.and_then(|m| o.stops[m].best);
        let full_acc_of_found = found.and_then(|m| base[m].best);
        let frac = |x: f64, of: f64| if of > 0.0 { x / of } else { 0.0 };
        table.push(vec![
            o.policy.clone(),
            format!("{secs:.1}"),
            format!("{:.3}", frac(secs, full_secs)),
            format!("{iters:.0}"),
            format!("{:.3}", frac(iters, full_iters)),
            found.map(|m| models[m].name.clone()).unwrap_or_default(),
            full_acc_of_found.map(|a| format!("{a:.4}")).unwrap_or_default(),
            best_full.and_then(|m| base[m].best).map(|a| format!("{a:.4}")).unwrap_or_default(),
            format!("{overlap} of {}", full_top.len()),
        ]);
        json.push(serde_json::json!({
            "policy": o.policy, "seconds": secs, "seconds_fraction": frac(secs, full_secs), "iterations": iters,
            "iterations_fraction": frac(iters, full_iters), "best_model": found.map(|m| models[m].name.clone()),
            "best_model_accuracy20_when_stopped": found_acc, "best_model_full_accuracy20": full_acc_of_found,
            "full_grid_best_model": best_full.map(|m| models[m].name.clone()), "full_grid_best_accuracy20": best_full.and_then(|m| base[m].best),
            "top10_overlap": overlap,
            "full_top10_stopped_at": full_top.iter().map(|&m| serde_json::json!({"model": models[m].name, "iteration": o.stops[m].iteration})).collect::<Vec<_>>(),
        }));
    }
    if format == Format::Json {
        println!("{}", serde_json::to_string_pretty(&serde_json::json!({"policies": json, "halving_rungs": rungs.iter().map(|r| r.len()).collect::<Vec<_>>(),
            "halving_rung_models": rungs.iter().map(|r| r.iter().map(|&m| models[m].name.clone()).collect::<Vec<_>>()).collect::<Vec<_>>()}))?);
        return Ok(());
    }
    print_rows(
        &["policy", "train+validation s", "of full", "iterations", "of full", "best model found", "its full-length best", "full grid's best", "top-10 overlap"],
        &table,
        format,
    )?;
    if format == Format::Table {
        let h_stops = &outs[1].stops;
        for (k, models_k) in rungs.iter().enumerate() {
            let end = models_k.first().and_then(|&m| h.rung_ends(&curves[m].iter().map(|r| r.iteration).collect::<Vec<_>>()).get(k).copied()).unwrap_or(0);
            println!("halving rung {k}: {} model(s) train to iteration {end}", models_k.len());
        }
        let ended: Vec<String> = full_top.iter().map(|&m| format!("{} at {}", models[m].name, h_stops[m].iteration)).collect();
        println!("the full grid's top {} under halving stopped at: {}", full_top.len(), ended.join(", "));
        println!("(replayed from the recorded curves: seconds are the recorded training and validation time up to each stop)");
    }
    Ok(())
}
