//! `cyplam submit GRID`: checks the grid and its data, freezes the sweep, and submits every model
//! that is neither completed nor pending or running as Slurm job arrays; `--dry-run` prints the
//! scripts and the arithmetic and submits nothing, writes nothing.

use crate::ctx::Ctx;
use crate::db::Submission;
use crate::halving::{plan, plan_for, plan_text, with_rounds, Pick, Plan};
use crate::output::outln;
use crate::slurm::Scheduler;
use crate::state::SweepView;
use crate::submission::{dry_run, submit_models, Frames};
use crate::sweep::{self, Frozen, GridFile};
use anyhow::{bail, Result};
use clap::Args;
use cyplam_core::search::rounds::Rounds;
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct SubmitArgs {
    /// The grid file (TOML).
    pub grid: PathBuf,
    /// Print the script(s) and the arithmetic; submit nothing, write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Device of the workers (cpu, cuda).
    #[arg(long)]
    pub device: Option<String>,
    /// Trainings per node x cores each, overriding the grid: `4x6`, or `auto` for the packing
    /// `cyplam scale` recommended for the grid's partition.
    #[arg(long)]
    pub packing: Option<String>,
}

impl SubmitArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let mut file = sweep::load_grid(&self.grid)?;
        let pack = self.packing(ctx, &file).await?;
        sweep::apply_packing(&mut file.grid, pack);
        let device = self.device.as_deref();
        if self.dry_run {
            return self.dry_run(ctx, file).await;
        }
        let o = ctx.freeze_sweep(&self.grid, file).await?;
        let view = SweepView::read(&o.sweep, o.db.submissions(o.id).await?, Some(ctx.scheduler)).await?;
        let grid = &o.sweep.sweep.grid;
        // One path for every sweep: a grid without [halving] is a sweep of one rung.
        let planned = plan_for(&o.sweep, &view, Pick::Unfinished)?;
        match &planned {
            Plan::Nothing(why) => outln!("nothing to submit for sweep {}: {why}", grid.name)?,
            Plan::Submit { stages, damaged, .. } => {
                if !damaged.is_empty() {
                    eprintln!(
                        "not submitting {} damaged model(s) ({}): their files cannot be read; `cyplam status` says which file and line",
                        damaged.len(),
                        damaged.join(", ")
                    );
                }
                submit_models(&o.db, o.id, &o.sweep, stages, ctx.scheduler, device).await?;
                if let Some(line) = planned.skipped(grid) {
                    outln!("{line}")?;
                }
            }
        }
        Ok(())
    }

    /// What the real submit would do, said and not done: the same refusal of a changed grid, the
    /// same models skipped (completed, pending or running, damaged), the scripts of the rest, and
    /// the rung plan of a halving sweep.
    async fn dry_run<S: Scheduler>(&self, ctx: &Ctx<'_, S>, file: GridFile) -> Result<()> {
        let frames = Frames { train: file.train_frames, validation: file.validation_frames };
        let runs = std::path::absolute(&ctx.global.runs_dir)?;
        let dir = runs.join(&file.grid.name);
        let existing = sweep::existing(&runs, &self.grid, &file.grid)?;
        // A TPE search's known models are the frozen sweep's (its start and the rounds proposed).
        let grid = existing.as_ref().filter(|f| Rounds::of(&f.sweep.grid).is_some()).map_or(&file.grid, |f| &f.sweep.grid);
        let planned = match &existing {
            // A sweep not frozen yet: every model is new and nothing is decided.
            None => {
                let base = plan(grid, grid.halving, &[], &[], &[], &[], Pick::Unfinished);
                match Rounds::of(grid) {
                    Some(r) => with_rounds(grid, &r, base, &[], &[], &[]),
                    None => base,
                }
            }
            Some(frozen) => {
                // Read what the database knows without creating one.
                let view = SweepView::read(frozen, self.recorded_submissions(ctx, frozen).await?, Some(ctx.scheduler)).await?;
                plan_for(frozen, &view, Pick::Unfinished)?
            }
        };
        if let Some(line) = planned.would_skip(grid) {
            outln!("{line}")?;
        }
        match planned {
            Plan::Nothing(why) => {
                outln!("nothing to submit for sweep {}: {why}", grid.name)?;
                outln!("# ---- dry run: nothing was submitted or written ----")?;
                Ok(())
            }
            Plan::Submit { stages, .. } => {
                let extra = match Rounds::of(grid) {
                    Some(r) => crate::rounds::plan_text(grid, &r, frames),
                    None => plan_text(grid, &stages, frames)?,
                };
                dry_run(grid, &dir, &stages, ctx.scheduler, self.device.as_deref(), frames, &extra).await
            }
        }
    }

    /// What the database knows of the sweep's submissions, without creating a database.
    async fn recorded_submissions<S: Scheduler>(&self, ctx: &Ctx<'_, S>, frozen: &Frozen) -> Result<Vec<Submission>> {
        if !ctx.global.db_path().exists() {
            return Ok(Vec::new());
        }
        let db = ctx.open_db().await?;
        Ok(match db.sweep_id(&frozen.sweep.name).await? {
            Some(id) => db.submissions(id).await?,
            None => Vec::new(),
        })
    }

    /// The packing asked for with `--packing`: `KxC`, or `auto` (measured by `cyplam scale`).
    async fn packing<S: Scheduler>(&self, ctx: &Ctx<'_, S>, file: &GridFile) -> Result<Option<(u32, u32)>> {
        let Some(p) = &self.packing else { return Ok(None) };
        if p == "auto" {
            let db = ctx.open_db().await?;
            let (k, c) = crate::scaling::store::recommended_packing(&db, file.grid.slurm.partition.as_deref()).await?;
            // Said before anything is submitted: a closed stdout must not stop the submission
            // (its later lines meet the same closed pipe and say so once the jobs are in).
            outln!("packing: {k} trainings x {c} cores per node (measured by `cyplam scale`)").ok();
            return Ok(Some((k, c)));
        }
        let parse = |s: &str| s.trim().parse::<u32>().ok().filter(|v| *v > 0);
        match p.split_once('x').map(|(k, c)| (parse(k), parse(c))) {
            Some((Some(k), Some(c))) => Ok(Some((k, c))),
            _ => bail!("--packing {p:?}: give TRAININGSxCORES such as 4x6, or auto"),
        }
    }
}
