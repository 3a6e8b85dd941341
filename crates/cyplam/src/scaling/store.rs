//! The scalability study in the database: storing what `cyplam scale` measured, reading the
//! newest measurement back (for its printer, the report and its figures), and the packing it
//! recommends for a partition (`cyplam submit --packing auto`).

use super::{NodeKey, PackingRun, Scaling, ScalingModel};
use crate::db::Db;
use crate::sweep::Frozen;
use anyhow::{bail, Context, Result};

/// One timed training, as stored.
pub struct TimedRun {
    pub model: usize,
    pub cores: u32,
    pub repeat: u32,
    pub iterations: u64,
    pub seconds: f64,
}

/// One measured packing, as stored.
pub struct MeasuredPacking {
    pub trainings: u32,
    pub cores_each: u32,
    pub wall_seconds: f64,
}

/// Stores one run of the study (its timed trainings and its packings, all at `measured_unix`);
/// the packing with the most trainings per hour is marked recommended. In one transaction.
#[allow(clippy::too_many_arguments)]
pub async fn store(
    db: &Db,
    sweep_id: i64,
    node: &NodeKey,
    node_cores: u32,
    runs: &[TimedRun],
    packings: &[MeasuredPacking],
    packing_model: usize,
    packing_iterations: u64,
    measured_unix: i64,
) -> Result<()> {
    let key = node.to_string();
    let mut tx = db.pool.begin().await?;
    for r in runs {
        sqlx::query(
            "INSERT INTO scaling_runs (sweep_id, node_key, model_idx, cores, repeat, iterations, seconds, measured_unix) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(sweep_id)
        .bind(&key)
        .bind(r.model as i64)
        .bind(r.cores as i64)
        .bind(r.repeat as i64)
        .bind(r.iterations as i64)
        .bind(r.seconds)
        .bind(measured_unix)
        .execute(&mut *tx)
        .await?;
    }
    let tph: Vec<f64> = packings.iter().map(|p| p.trainings as f64 * 3600.0 / p.wall_seconds.max(1e-9)).collect();
    let best = tph.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).map(|(i, _)| i);
    for (i, p) in packings.iter().enumerate() {
        sqlx::query("INSERT INTO packings (sweep_id, node_key, node_cores, trainings, cores_each, model_idx, iterations, wall_seconds, trainings_per_hour, recommended, measured_unix) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
            .bind(sweep_id).bind(&key).bind(node_cores as i64).bind(p.trainings as i64).bind(p.cores_each as i64).bind(packing_model as i64)
            .bind(packing_iterations as i64).bind(p.wall_seconds).bind(tph[i]).bind((Some(i) == best) as i64).bind(measured_unix)
            .execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}

/// The newest scalability measurement of the sweep (`cyplam scale`), if any: the node measured
/// last, and of it only the rows of its latest run (the timed trainings and the packings each at
/// their newest `measured_unix`). Other nodes measured for the same sweep are left out.
pub async fn load(db: &Db, sweep_id: i64, f: &Frozen) -> Result<Option<Scaling>> {
    let newest: Option<(String,)> = sqlx::query_as(
        "SELECT node_key FROM (SELECT node_key, measured_unix, id, 0 AS k FROM scaling_runs WHERE sweep_id = ?1 \
         UNION ALL SELECT node_key, measured_unix, id, 1 AS k FROM packings WHERE sweep_id = ?1) \
         ORDER BY measured_unix DESC, k, id DESC LIMIT 1",
    )
    .bind(sweep_id)
    .fetch_optional(&db.pool)
    .await
    .context("reading the scaling study")?;
    let Some((stored_key,)) = newest else { return Ok(None) };
    let node_key = NodeKey::parse(&stored_key).with_context(|| format!("{}: a scaling measurement of node {stored_key:?}", db.path.display()))?;
    let runs: Vec<(i64, i64, i64, f64, i64)> = sqlx::query_as(
        "SELECT model_idx, cores, iterations, seconds, measured_unix FROM scaling_runs WHERE sweep_id = ?1 AND node_key = ?2 \
         AND measured_unix = (SELECT MAX(measured_unix) FROM scaling_runs WHERE sweep_id = ?1 AND node_key = ?2) ORDER BY model_idx, cores, repeat",
    )
    .bind(sweep_id)
    .bind(&stored_key)
    .fetch_all(&db.pool)
    .await
    .context("reading scaling_runs")?;
    type PackRow = (i64, i64, i64, i64, i64, f64, f64, bool, i64);
    let packs: Vec<PackRow> = sqlx::query_as(
        "SELECT node_cores, trainings, cores_each, model_idx, iterations, wall_seconds, trainings_per_hour, recommended != 0, measured_unix \
         FROM packings WHERE sweep_id = ?1 AND node_key = ?2 \
         AND measured_unix = (SELECT MAX(measured_unix) FROM packings WHERE sweep_id = ?1 AND node_key = ?2) ORDER BY trainings, cores_each, id",
    )
    .bind(sweep_id)
    .bind(&stored_key)
    .fetch_all(&db.pool)
    .await
    .context("reading packings")?;
    let spec = |i: i64| usize::try_from(i).ok().and_then(|i| f.sweep.grid.models.get(i));
    let name = |i: i64| spec(i).map(|m| m.name.clone()).unwrap_or_else(|| format!("model {i}"));
    let mut models: Vec<(i64, ScalingModel)> = Vec::new();
    for (idx, cores, iterations, seconds, _) in &runs {
        if models.last().is_none_or(|(i, _)| i != idx) {
            models.push((
                *idx,
                ScalingModel {
                    name: name(*idx),
                    arch: spec(*idx).map(|m| m.arch_label()).unwrap_or_default(),
                    free_params: spec(*idx).map(|m| m.free_params as i64).unwrap_or_default(),
                    iterations: *iterations,
                    runs: Vec::new(),
                },
            ));
        }
        if let Some((_, m)) = models.last_mut() {
            m.runs.push((u32::try_from(*cores).unwrap_or(0), *seconds));
        }
    }
    let measured_unix = runs.iter().map(|r| r.4).chain(packs.iter().map(|p| p.8)).max().unwrap_or(0);
    Ok(Some(Scaling {
        node_key,
        measured_unix,
        models: models.into_iter().map(|(_, m)| m).collect(),
        packings: packs
            .into_iter()
            .map(|(node_cores, trainings, cores_each, model, iterations, wall_seconds, trainings_per_hour, recommended, _)| PackingRun {
                node_cores,
                trainings,
                cores_each,
                model: name(model),
                iterations,
                wall_seconds,
                trainings_per_hour,
                recommended,
            })
            .collect(),
    }))
}

/// The packing recommended for a grid's partition (or this machine), from the database.
pub async fn recommended_packing(db: &Db, partition: Option<&str>) -> Result<(u32, u32)> {
    let key = NodeKey::partition(partition).to_string();
    let local = NodeKey::this_machine().to_string();
    let row: Option<(i64, i64)> = sqlx::query_as(
        "SELECT trainings, cores_each FROM packings WHERE recommended = 1 AND node_key IN (?, ?) ORDER BY node_key = ? DESC, measured_unix DESC, id DESC LIMIT 1")
        .bind(&key).bind(&local).bind(&key).fetch_optional(&db.pool).await?;
    match row {
        Some((k, c)) => match (u32::try_from(k), u32::try_from(c)) {
            (Ok(k), Ok(c)) if k > 0 && c > 0 => Ok((k, c)),
            _ => bail!("{}: the packing recommended for {key} is {k} x {c}, which is not a packing; run `cyplam scale` again", db.path.display()),
        },
        None => bail!("no packing has been measured for {key}; run `cyplam scale GRID` on that partition first (or `--local` here)"),
    }
}
