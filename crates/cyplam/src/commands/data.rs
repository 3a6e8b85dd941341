//! `cyplam data synth|import-tracks|import-convlmd|show`: synthesize a melt-pool data set, import
//! recordings kept one file per track or the lab's ConvLMD HDF5 files, and show what a data set
//! holds (`--html`: the page of data_page.rs).

use crate::ctx::Ctx;
use crate::output::outln;
use crate::slurm::Scheduler;
use anyhow::{Context, Result};
use clap::Subcommand;
use cyplam_core::data::OnExisting;
use std::path::{Path, PathBuf};

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
        /// Replace the data set OUT already holds (the new set is built aside and replaces it only
        /// once complete; without this flag an existing set is refused).
        #[arg(long)]
        replace: bool,
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
        /// Replace the data set OUT already holds (the new set is built aside and replaces it only
        /// once complete; without this flag an existing set is refused).
        #[arg(long)]
        replace: bool,
    },
    /// Import the lab's ConvLMD data set (HDF5): DIR holding train_pow_speed.hdf5 and
    /// test_pow_speed.hdf5, or --train FILE --validation FILE.
    #[command(name = "import-convlmd")]
    ImportConvlmd {
        #[arg(required_unless_present_all = ["train", "validation"], conflicts_with_all = ["train", "validation"])]
        dir: Option<PathBuf>,
        #[arg(long)]
        out: PathBuf,
        /// The training file (default DIR/train_pow_speed.hdf5).
        #[arg(long, requires = "validation")]
        train: Option<PathBuf>,
        /// The validation file (default DIR/test_pow_speed.hdf5).
        #[arg(long, requires = "train")]
        validation: Option<PathBuf>,
        /// Replace the data set OUT already holds (the new set is built aside and replaces it only
        /// once complete; without this flag an existing set is refused).
        #[arg(long)]
        replace: bool,
    },
    /// What a data set holds: frames, labels, tracks, train/validation overlap; --html for a page
    /// with histograms and sample frames of every track.
    Show {
        /// A data set (with train/ and validation/) or one set.
        dir: PathBuf,
        /// Write the page to OUT/index.html.
        #[arg(long, value_name = "OUT")]
        html: Option<PathBuf>,
        /// Sample frames per track on the page.
        #[arg(long, default_value_t = 8)]
        samples: usize,
        #[arg(long, value_enum, default_value_t = ShowFormat::Table)]
        format: ShowFormat,
    },
}

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShowFormat {
    Table,
    Json,
}

impl DataCommand {
    pub async fn run<S: Scheduler>(&self, _ctx: &Ctx<'_, S>) -> Result<()> {
        match self.clone() {
            DataCommand::Synth { out, train_frames, validation_frames, seed, replace } => {
                let t = std::time::Instant::now();
                let opts = cyplam_core::synth::SynthOptions { train_frames, validation_frames, seed };
                let s = cyplam_core::synth::synthesize(&out, &opts, on_existing(replace))?;
                outln!(
                    "wrote {} training frames ({} tracks) to {} and {} validation frames ({} tracks) to {} in {:.1}s",
                    s.train_frames,
                    s.train_tracks,
                    out.join("train").display(),
                    s.validation_frames,
                    s.validation_tracks,
                    out.join("validation").display(),
                    t.elapsed().as_secs_f64()
                )?;
                print_replaced(&out, &s.replaced)?;
            }
            DataCommand::ImportTracks { dir, out, trim, validation_fraction, seed, replace } => {
                if !(validation_fraction > 0.0 && validation_fraction < 1.0) {
                    anyhow::bail!("--validation-fraction {validation_fraction} must be between 0 and 1");
                }
                let opts = cyplam_core::import::ImportOptions { trim, validation_fraction, seed };
                let s = cyplam_core::import::import_tracks(&dir, &out, &opts, on_existing(replace))?;
                outln!(
                    "training: {} frames from {} tracks ({}); validation: {} frames from {} tracks ({})",
                    s.train_frames,
                    s.train_tracks.len(),
                    s.train_tracks.join(" "),
                    s.validation_frames,
                    s.validation_tracks.len(),
                    s.validation_tracks.join(" ")
                )?;
                print_replaced(&out, &s.replaced)?;
            }
            DataCommand::ImportConvlmd { dir, out, train, validation, replace } => {
                let (train, validation) = match (dir, train, validation) {
                    (_, Some(t), Some(v)) => (t, v),
                    (Some(d), _, _) => cyplam_core::convlmd::files_in(&d)?,
                    _ => anyhow::bail!("give DIR, or --train FILE and --validation FILE"),
                };
                let t = std::time::Instant::now();
                let s = cyplam_core::convlmd::import(&train, &validation, &out, on_existing(replace))?;
                for (name, set) in [("training", &s.train), ("validation", &s.validation)] {
                    outln!(
                        "{name}: {} frames ({}, cropped to 28 x 28) from {} recordings of {} -> {}",
                        set.frames,
                        set.image,
                        set.tracks.len(),
                        set.source.display(),
                        set.dir.display()
                    )?;
                }
                outln!("input scale recorded: x1/255 (dataset.json), used by grids that do not set data.input_scale; {:.1}s", t.elapsed().as_secs_f64())?;
                print_replaced(&out, &s.replaced)?;
                for w in &s.warnings {
                    eprintln!("warning: {w}");
                }
            }
            DataCommand::Show { dir, html, samples, format } => {
                let v = cyplam_core::datashow::show(&dir, if html.is_some() { samples } else { 0 })?;
                // The page is written even when nothing reads stdout any more (`| head`); the
                // write's error comes after it.
                let shown = match format {
                    ShowFormat::Json => outln!("{}", serde_json::to_string_pretty(&v)?),
                    ShowFormat::Table => print_view(&v),
                };
                if let Some(out) = html {
                    crate::output::create_dir(&out)?;
                    let p = out.join("index.html");
                    cyplam_core::files::write_atomic(&p, crate::data_page::page(&v)?.as_bytes()).with_context(|| format!("writing {}", p.display()))?;
                    eprintln!("wrote {}", p.display());
                }
                shown?;
            }
        }
        Ok(())
    }
}

fn on_existing(replace: bool) -> OnExisting {
    if replace {
        OnExisting::Replace
    } else {
        OnExisting::Refuse
    }
}

/// What `--replace` replaced, if anything.
fn print_replaced(out: &Path, replaced: &[String]) -> std::io::Result<()> {
    if !replaced.is_empty() {
        outln!("replaced the previous set in {}: {}", out.display(), replaced.join(", "))?;
    }
    Ok(())
}

fn print_view(v: &cyplam_core::datashow::DataView) -> std::io::Result<()> {
    let r = |(lo, hi): (f32, f32)| if lo == hi { format!("{lo}") } else { format!("{lo}..{hi}") };
    for s in &v.sets {
        let scale = match (s.input_scale, &s.source) {
            (Some(f), Some(src)) => format!("x{f} recorded ({src})"),
            (Some(f), None) => format!("x{f} recorded"),
            (None, _) => "none recorded".into(),
        };
        outln!("{} ({}): {} frames, {}, values {}..{}, input scale {scale}", s.name, s.dir.display(), s.frames, s.frames_dtype, s.min_value, s.max_value)?;
        outln!("  LP {}, PS {}; {} tracks, {} (LP, PS) pairs", r(s.lp_range), r(s.ps_range), s.tracks.len(), s.label_counts.len())?;
        outln!("  {:>10} {:>8} {:>14} {:>12}", "track", "frames", "LP", "PS")?;
        for t in &s.tracks {
            let id = t.id.map(|i| i.to_string()).unwrap_or_else(|| "all".into());
            outln!("  {id:>10} {:>8} {:>14} {:>12}", t.frames, r(t.lp), r(t.ps))?;
        }
        for (what, h) in [("LP", &s.lp_histogram), ("PS", &s.ps_histogram)] {
            let top = h.counts.iter().copied().max().unwrap_or(0).max(1);
            let bars: String = h.counts.iter().map(|&c| [' ', '.', ':', '-', '=', '+', '*', '#'][if c == 0 { 0 } else { 1 + c * 6 / top }]).collect();
            outln!("  {what} histogram {}..{} |{bars}|", h.lo, h.hi)?;
        }
    }
    if v.sets.len() == 2 {
        if v.shared_tracks.is_empty() {
            outln!("overlap: no recording is in both sets; {} (LP, PS) pair(s) in both", v.shared_labels.len())?;
        } else {
            let ids: Vec<String> = v.shared_tracks.iter().map(|i| i.to_string()).collect();
            outln!("overlap: {} recording(s) in both sets ({}); {} (LP, PS) pair(s) in both", ids.len(), ids.join(", "), v.shared_labels.len())?;
        }
    }
    Ok(())
}
