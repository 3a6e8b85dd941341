//! The scalability study's tables: per model and core count the times, speed-up and efficiency,
//! then the packings and the recommendation, as `cyplam scale` and `cyplam report` print them.

use super::{Scaling, ScalingModel, ScalingPoint};
use crate::output::{outln, print_rows, Format};
use anyhow::Result;

/// The scalability study's rows: per model and core count the mean and standard deviation of the
/// time, the speed-up against the fewest cores measured (`ScalingModel::speedups`) and the
/// efficiency speed-up / (N / fewest). `cyplam scale` and `cyplam report` print the same table.
pub fn scaling_rows(s: &Scaling) -> Vec<ScalingRow<'_>> {
    let mut out = Vec::new();
    for m in &s.models {
        let points = m.points();
        let Some(fewest) = points.first().map(|p| p.cores as f64) else { continue };
        for (point, (_, speedup)) in points.into_iter().zip(m.speedups()) {
            out.push(ScalingRow { model: m, point, speedup, efficiency: speedup / (point.cores as f64 / fewest) });
        }
    }
    out
}

pub struct ScalingRow<'a> {
    pub model: &'a ScalingModel,
    pub point: ScalingPoint,
    pub speedup: f64,
    pub efficiency: f64,
}

/// The scalability study as two tables (times per core count, then the packings and the
/// recommendation), or as JSON.
pub fn print_scaling(s: &Scaling, format: Format) -> Result<()> {
    let rows = scaling_rows(s);
    if format == Format::Json {
        let scaling: Vec<serde_json::Value> = rows
            .iter()
            .map(|r| {
                serde_json::json!({"model": r.model.name, "arch": r.model.arch,
            "free_params": r.model.free_params, "cores": r.point.cores, "runs": r.point.runs, "mean_seconds": r.point.mean,
            "sd_seconds": r.point.sd, "speedup": r.speedup, "efficiency": r.efficiency})
            })
            .collect();
        let packings: Vec<serde_json::Value> = s
            .packings
            .iter()
            .map(|p| {
                serde_json::json!({"trainings": p.trainings,
            "cores_each": p.cores_each, "wall_seconds": p.wall_seconds, "trainings_per_hour": p.trainings_per_hour,
            "recommended": p.recommended})
            })
            .collect();
        outln!("{}", serde_json::to_string_pretty(&serde_json::json!({"node": s.node_key.to_string(), "scaling": scaling, "packings": packings}))?)?;
        return Ok(());
    }
    let table: Vec<Vec<String>> = rows
        .iter()
        .map(|r| {
            vec![
                r.model.name.clone(),
                r.model.arch.clone(),
                r.model.free_params.to_string(),
                r.point.cores.to_string(),
                r.point.runs.to_string(),
                format!("{:.2}", r.point.mean),
                format!("{:.2}", r.point.sd),
                format!("{:.2}", r.speedup),
                format!("{:.2}", r.efficiency),
            ]
        })
        .collect();
    print_rows(&["model", "arch", "free params", "cores", "runs", "mean s", "sd s", "speed-up", "efficiency"], &table, format)?;
    if !s.packings.is_empty() {
        outln!()?;
        let packs: Vec<Vec<String>> = s
            .packings
            .iter()
            .map(|p| {
                vec![
                    p.label(),
                    format!("{:.2}", p.wall_seconds),
                    format!("{:.1}", p.trainings_per_hour),
                    format!("{:.2}", s.relative(p)),
                    if p.recommended { "recommended".into() } else { String::new() },
                ]
            })
            .collect();
        print_rows(&["packing (trainings x cores)", "wall s", "trainings/hour", "relative", ""], &packs, format)?;
        if let Some(p) = s.packings.iter().find(|p| p.recommended) {
            outln!(
                "recommendation: {} trainings of {} cores each per node ({:.1} trainings/hour, measured concurrently); `cyplam submit --packing auto` uses it",
                p.trainings,
                p.cores_each,
                p.trainings_per_hour
            )?;
        }
    }
    Ok(())
}
