//! `cyplam doctor [GRID]`: checks, on the login node before a study, everything that would make
//! it fail once queued: the worker (its libraries, libtorch, CPU, CUDA), the runs directory and
//! database, Slurm's commands and controller, MaxArraySize, accounting, the partition's nodes
//! against the grid's packing and memory, and a tiny job proving that a compute node runs the
//! worker and shares the runs directory. Prints each check as it ends; exits non-zero when one
//! found a problem. The checks are in `crate::doctor`.

use crate::ctx::Ctx;
use crate::doctor::{self, Check, Verdict};
use crate::output::{out, outln};
use crate::slurm::Scheduler;
use anyhow::{bail, Result};
use clap::Args;
use cyplam_core::grid::SlurmConfig;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// A grid file: check its packing, memory, partition and array sizes against the cluster.
    pub grid: Option<PathBuf>,
    /// Check only what `cyplam run` needs on this machine (the worker, the runs directory), no Slurm.
    #[arg(long)]
    pub local: bool,
    /// Send no job: skip the compute-node check.
    #[arg(long)]
    pub no_job: bool,
    /// Seconds to wait for the compute-node job (queue time included) before cancelling it.
    #[arg(long, default_value = "120", value_parser = crate::args::seconds)]
    pub wait: u64,
}

impl DoctorArgs {
    pub async fn run<S: Scheduler>(&self, ctx: &Ctx<'_, S>) -> Result<()> {
        let mut checks: Vec<Check> = Vec::new();
        let mut say = |c: Check| -> std::io::Result<()> {
            let shown = out!("{}", c.render());
            checks.push(c);
            shown
        };
        let grid = match &self.grid {
            None => None,
            Some(path) => match crate::sweep::load_grid(path) {
                Ok(g) => {
                    say(Check::ok(
                        "grid",
                        format!(
                            "{}: {} models, {} x {} cores per array task",
                            path.display(),
                            g.grid.models.len(),
                            g.grid.slurm.trainings_per_node,
                            g.grid.slurm.cpus_per_training
                        ),
                    ))?;
                    Some(g)
                }
                Err(e) => {
                    say(Check::problem("grid", format!("{e:#}"), "fix the grid file; `cyplam grid FILE` shows how cyplam reads it"))?;
                    None
                }
            },
        };
        let (c, login) = doctor::worker().await;
        say(c)?;
        say(doctor::runs(&ctx.global).await)?;
        if !self.local {
            let slurm_cfg = grid.as_ref().map(|g| g.grid.slurm.clone()).unwrap_or_else(SlurmConfig::default);
            'slurm: {
                let (c, found) = doctor::slurm_commands(ctx.scheduler).await;
                say(c)?;
                if !found {
                    break 'slurm;
                }
                let (c, up) = doctor::controller(ctx.scheduler).await;
                say(c)?;
                if !up {
                    break 'slurm;
                }
                let cfg = match doctor::config(ctx.scheduler).await {
                    Ok(cfg) => cfg,
                    Err(c) => {
                        say(c)?;
                        break 'slurm;
                    }
                };
                say(doctor::array_size(&cfg, grid.as_ref().map(|g| &g.grid)))?;
                say(doctor::accounting(ctx.scheduler, &cfg).await)?;
                let (name, nodes) = match doctor::partition(ctx.scheduler, &slurm_cfg).await {
                    Ok((c, name, nodes)) => {
                        say(c)?;
                        (name, nodes)
                    }
                    Err(c) => {
                        say(c)?;
                        break 'slurm;
                    }
                };
                let fits = {
                    let c = doctor::packing(&slurm_cfg, &name, &nodes, grid.is_some());
                    let fits = c.verdict != Verdict::Problem;
                    say(c)?;
                    fits
                };
                if let Some(g) = &grid {
                    say(doctor::memory_check(&g.grid, g.train_frames, g.validation_frames, &cfg, &nodes))?;
                }
                if self.no_job {
                    say(Check::note(
                        "node",
                        "no job sent (--no-job): whether a compute node runs the worker and sees the runs directory was not checked",
                        None,
                    ))?;
                } else if !fits {
                    say(Check::note("node", "no job sent: the packing does not fit the partition's nodes", None))?;
                } else {
                    say(doctor::job::compute_node(ctx.scheduler, &ctx.global, &slurm_cfg, login.as_ref(), Duration::from_secs(self.wait)).await)?;
                }
            }
        }
        let count = |v: Verdict| checks.iter().filter(|c| c.verdict == v).count();
        let (ok, notes, problems) = (count(Verdict::Ok), count(Verdict::Note), count(Verdict::Problem));
        outln!("doctor: {ok} ok, {notes} note(s), {problems} problem(s)")?;
        if problems > 0 {
            bail!("{problems} problem(s) would make a study fail here: see `what to do` above");
        }
        Ok(())
    }
}
