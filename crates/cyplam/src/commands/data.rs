//! `cyplam data synth|import-tracks`: synthesize a melt-pool data set, or import recordings kept
//! one file per track.

use crate::ctx::Ctx;
use crate::slurm::Scheduler;
use anyhow::Result;
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand, Debug, Clone)]
pub enum DataCommand {
    /// Write synthetic melt-pool frames to OUT/train and OUT/validation (see docs/data.md).
    Synth {
        #[arg(long)]
        out: PathBuf,
        #[arg(long, default_value_t = 44_505)]
        train_frames: usize,
        #[arg(long, default_value_t = 162_216)]
        validation_frames: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Import `<track>.npy` files and `cords.csv` (name power speed) from DIR.
    ImportTracks {
        dir: PathBuf,
        #[arg(long)]
        out: PathBuf,
        /// Frames dropped at each end of every track.
        #[arg(long, default_value_t = 2000)]
        trim: usize,
        /// Fraction of the tracks that form the validation set.
        #[arg(long, default_value_t = 0.25)]
        validation_fraction: f64,
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

impl DataCommand {
    pub async fn run<S: Scheduler>(&self, _ctx: &Ctx<'_, S>) -> Result<()> {
        match self.clone() {
            DataCommand::Synth { out, train_frames, validation_frames, seed } => {
                let t = std::time::Instant::now();
                let opts = cyplam_core::synth::SynthOptions { train_frames, validation_frames, seed };
                let s = cyplam_core::synth::synthesize(&out, &opts)?;
                println!(
                    "wrote {} training frames ({} tracks) to {} and {} validation frames ({} tracks) to {} in {:.1}s",
                    s.train_frames, s.train_tracks, out.join("train").display(),
                    s.validation_frames, s.validation_tracks, out.join("validation").display(),
                    t.elapsed().as_secs_f64()
                );
            }
            DataCommand::ImportTracks { dir, out, trim, validation_fraction, seed } => {
                if !(validation_fraction > 0.0 && validation_fraction < 1.0) {
                    anyhow::bail!("--validation-fraction {validation_fraction} must be between 0 and 1");
                }
                let opts = cyplam_core::import::ImportOptions { trim, validation_fraction, seed };
                let s = cyplam_core::import::import_tracks(&dir, &out, &opts)?;
                println!(
                    "training: {} frames from {} tracks ({}); validation: {} frames from {} tracks ({})",
                    s.train_frames, s.train_tracks.len(), s.train_tracks.join(" "),
                    s.validation_frames, s.validation_tracks.len(), s.validation_tracks.join(" ")
                );
            }
        }
        Ok(())
    }
}
