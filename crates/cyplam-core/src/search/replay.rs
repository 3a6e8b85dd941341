//! A sampled search replayed on a recorded full grid (`cyplam report --what-if --search`,
//! bench/halving/replay `--sample`), or a model-based one ([`super::tpe`], `tpe:K`). A `[search]` over a full grid's own lists with `models = k`
//! trains exactly the grid models whose axis positions the sampler draws ([`sample`]: `draw_n`
//! with a uniform `Dist::Choice` per axis), so drawing with seeds 0, 1, ... D-1 and looking up each
//! drawn model's recorded curve says how often a search of k models would have found the full
//! grid's best, how much it would have lost when not, and at what compute; and the same with
//! successive halving run on the drawn models only (the rule then sees only them, in draw order,
//! as a sampled sweep numbers them).

use super::{sample, tpe, SearchError, Strategy};
use crate::halving::replay::{full, judge, replay_halving, Stop};
use crate::halving::settings::Halving;
use crate::metrics_csv::MetricsRow;

/// Seeds replayed per strategy and count unless told otherwise, and the most allowed.
pub const DEFAULT_DRAWS: u32 = 1000;
pub const MAX_DRAWS: u32 = 100_000;

/// What a sample spec may be, for the error messages.
pub const SPEC_FORMS: &str = "give STRATEGY:K[,K...], STRATEGY random, sobol, tpe (batches of 2) or tpeB (batches of B) and each K a number of models of at least 1, e.g. random:16,32 or sobol:16, or tpe:16 and tpe4:16";

/// What proposes a replayed search's models: the sampler of a `[search]` sweep, or the TPE
/// ([`tpe`]) in rounds of `batch` models.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sampler {
    Draw(Strategy),
    Tpe { batch: u32 },
}

impl Sampler {
    /// As a spec names it: `random`, `sobol`, `tpe` (batch 2), `tpe4`.
    pub fn name(&self) -> String {
        match self {
            Sampler::Draw(s) => s.as_str().to_string(),
            Sampler::Tpe { batch } if *batch == tpe::DEFAULT_BATCH => "tpe".to_string(),
            Sampler::Tpe { batch } => format!("tpe{batch}"),
        }
    }
}

impl std::str::FromStr for Sampler {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.strip_prefix("tpe") {
            Some("") => Ok(Sampler::Tpe { batch: tpe::DEFAULT_BATCH }),
            Some(b) => b
                .parse::<u32>()
                .ok()
                .filter(|&b| b >= 1)
                .map(|batch| Sampler::Tpe { batch })
                .ok_or_else(|| format!("tpe{b}: {b:?} is not a batch of at least 1 model")),
            None => s.parse().map(Sampler::Draw),
        }
    }
}

/// `random:16,32`: a strategy and the model counts to replay it at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleSpec {
    pub sampler: Sampler,
    pub counts: Vec<u32>,
}

impl std::str::FromStr for SampleSpec {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let Some((sampler, counts)) = s.trim().split_once(':') else {
            return Err(format!("{s:?} is not a sample spec; {SPEC_FORMS}"));
        };
        let sampler: Sampler = sampler.trim().parse().map_err(|e| format!("{s:?}: {e}; {SPEC_FORMS}"))?;
        let counts = counts
            .split(',')
            .map(|c| {
                c.trim().parse::<u32>().ok().filter(|&k| k >= 1).ok_or_else(|| format!("{s:?}: {c:?} is not a number of models of at least 1; {SPEC_FORMS}"))
            })
            .collect::<Result<Vec<u32>, String>>()?;
        Ok(SampleSpec { sampler, counts })
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SampleError {
    #[error("a sample of {k} models: give at least 1")]
    Empty { k: u32 },
    #[error("a sample of {k} models of a grid of {n}: give at most {n}")]
    TooMany { k: u32, n: usize },
    #[error("{draws} draws: give 1 to {MAX_DRAWS}")]
    Draws { draws: u32 },
    #[error("the grid's axes hold {space} models but {curves} curves were given")]
    Shape { space: u64, curves: usize },
    #[error(transparent)]
    Search(#[from] SearchError),
    #[error(transparent)]
    Tpe(#[from] tpe::TpeError),
}

/// Over the draws: how often the sample's pick was within the tolerance of the full grid's best,
/// the shortfall of its pick (mean, worst), and the iterations spent as a fraction of the full
/// grid's (mean, most).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Tally {
    pub draws: u32,
    pub found: u32,
    pub mean_loss: f64,
    pub worst_loss: f64,
    pub mean_iterations_fraction: f64,
    pub max_iterations_fraction: f64,
}

impl Tally {
    /// The fraction of the draws that found the best.
    pub fn chance(&self) -> f64 {
        if self.draws == 0 {
            0.0
        } else {
            self.found as f64 / self.draws as f64
        }
    }

    /// Sums the draws' (loss, iterations fraction), in seed order: what [`FullGrid::replay`]
    /// reports of them.
    pub fn of(per_draw: &[(f64, f64)], tolerance: f64) -> Tally {
        let n = per_draw.len().max(1) as f64;
        Tally {
            draws: per_draw.len() as u32,
            found: per_draw.iter().filter(|(l, _)| *l <= tolerance).count() as u32,
            mean_loss: per_draw.iter().map(|d| d.0).sum::<f64>() / n,
            worst_loss: per_draw.iter().map(|d| d.0).fold(0.0, f64::max),
            mean_iterations_fraction: per_draw.iter().map(|d| d.1).sum::<f64>() / n,
            max_iterations_fraction: per_draw.iter().map(|d| d.1).fold(0.0, f64::max),
        }
    }
}

/// One strategy at one count, replayed: the sample trained in full, and with each halving setting.
#[derive(Debug, Clone, PartialEq)]
pub struct SampleReplay {
    pub sampler: Sampler,
    pub k: u32,
    pub alone: Tally,
    /// One per halving setting asked, in order; none for the TPE (its rounds train in full).
    pub halving: Vec<Tally>,
}

/// The recorded full grid a search is replayed on: every model's complete curve in model order,
/// each model's position on each axis ([`crate::grid::Grid::axis_values`], for the halving rule's
/// axis hedge) and each axis's length.
pub struct FullGrid<'a> {
    pub curves: &'a [Vec<MetricsRow>],
    pub axes: &'a [Vec<usize>],
    pub lens: &'a [usize],
    base: Vec<Stop>,
    best_model: Option<usize>,
    best: Option<f64>,
    iterations: f64,
}

impl<'a> FullGrid<'a> {
    pub fn new(curves: &'a [Vec<MetricsRow>], axes: &'a [Vec<usize>], lens: &'a [usize]) -> Result<Self, SampleError> {
        let space = lens.iter().fold(1u64, |n, &l| n.saturating_mul(l.max(1) as u64));
        if space != curves.len() as u64 {
            return Err(SampleError::Shape { space, curves: curves.len() });
        }
        let base = full(curves);
        let j = judge(&base, &base);
        let iterations = base.iter().map(|s| s.iteration as f64).sum();
        Ok(FullGrid { curves, axes, lens, base, best_model: j.full_best, best: j.full_best_accuracy20, iterations })
    }

    /// The full grid's best validation Accuracy20% (over each whole curve).
    pub fn best(&self) -> Option<f64> {
        self.best
    }

    /// The full grid's best model.
    pub fn best_model(&self) -> Option<usize> {
        self.best_model
    }

    /// Model `m`'s full-length best.
    pub fn model_best(&self, m: usize) -> Option<f64> {
        self.base.get(m).and_then(|s| s.best)
    }

    /// The full grid's best minus what a pick reaches trained in full (0 when it is as good).
    fn loss(&self, picked: Option<f64>) -> f64 {
        match (self.best, picked) {
            (Some(a), Some(b)) => (a - b).max(0.0),
            (Some(a), None) => a,
            _ => 0.0,
        }
    }

    /// `models` (by any proposer) trained in full: (loss, iterations as a fraction of the full
    /// grid's), as [`FullGrid::replay`] judges a draw.
    pub fn trained_in_full(&self, models: &[usize]) -> (f64, f64) {
        let base: Vec<Stop> = models.iter().map(|&m| self.base[m]).collect();
        self.judged(&base, &base)
    }

    /// (loss, iterations fraction) of the models stopped at `stops`, `base` being them in full.
    fn judged(&self, base: &[Stop], stops: &[Stop]) -> (f64, f64) {
        let spent: f64 = stops.iter().map(|s| s.iteration as f64).sum();
        (self.loss(judge(base, stops).best_found_full), if self.iterations > 0.0 { spent / self.iterations } else { 0.0 })
    }

    /// One draw: (loss, iterations fraction) of the sample trained in full, then with each halving.
    fn one(&self, models: &[usize], halvings: &[Halving]) -> Vec<(f64, f64)> {
        let base: Vec<Stop> = models.iter().map(|&m| self.base[m]).collect();
        let mut out = vec![self.judged(&base, &base)];
        if !halvings.is_empty() {
            let curves: Vec<Vec<MetricsRow>> = models.iter().map(|&m| self.curves[m].clone()).collect();
            let axes: Vec<Vec<usize>> = models.iter().map(|&m| self.axes.get(m).cloned().unwrap_or_default()).collect();
            for h in halvings {
                let stops = replay_halving(h, &curves, &axes).stops;
                out.push(self.judged(&base, &stops));
            }
        }
        out
    }

    /// A search with `sampler` and `k` models, drawn with seeds 0 to `draws` - 1, judged against
    /// this grid: found when its pick's full-length best is within `tolerance` of the grid's best.
    /// The TPE proposes from the models' full-length bests and is not replayed with halving.
    /// The draws are shared among `threads` threads; the result does not depend on how many.
    pub fn replay(&self, sampler: Sampler, k: u32, draws: u32, halvings: &[Halving], tolerance: f64, threads: usize) -> Result<SampleReplay, SampleError> {
        if k < 1 {
            return Err(SampleError::Empty { k });
        }
        if k as usize > self.curves.len() {
            return Err(SampleError::TooMany { k, n: self.curves.len() });
        }
        if !(1..=MAX_DRAWS).contains(&draws) {
            return Err(SampleError::Draws { draws });
        }
        let threads = threads.clamp(1, draws as usize);
        let chunk = (draws as usize).div_ceil(threads);
        let halvings = if matches!(sampler, Sampler::Tpe { .. }) { &[][..] } else { halvings };
        let parts: Vec<Result<Vec<Vec<(f64, f64)>>, SampleError>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    s.spawn(move || {
                        let seeds = (t * chunk) as u64..(((t + 1) * chunk).min(draws as usize)) as u64;
                        let score = |m: usize| self.model_best(m).unwrap_or(f64::NEG_INFINITY);
                        seeds
                            .map(|seed| {
                                let models = match sampler {
                                    Sampler::Draw(strategy) => sample(strategy, seed, self.lens, k)?,
                                    Sampler::Tpe { batch } => tpe::run(self.lens, &score, k as usize, batch as usize, seed)?,
                                };
                                Ok(self.one(&models, halvings))
                            })
                            .collect()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("a replay thread panicked")).collect()
        });
        let mut per_draw = Vec::with_capacity(draws as usize);
        for p in parts {
            per_draw.extend(p?);
        }
        let column = |i: usize| per_draw.iter().map(|d| d[i]).collect::<Vec<_>>();
        Ok(SampleReplay {
            sampler,
            k,
            alone: Tally::of(&column(0), tolerance),
            halving: (1..=halvings.len()).map(|i| Tally::of(&column(i), tolerance)).collect(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::curve::test_curve as curve;
    use crate::halving::settings::Promotion;
    use crate::search::{draw_n, Dist};

    /// `n` flat curves, model `best` far above the others, the others apart by 0.01.
    fn one_best(n: usize, best: usize) -> Vec<Vec<MetricsRow>> {
        (0..n).map(|m| curve(&[if m == best { 0.9 } else { 0.5 + 0.01 * (m % 10) as f64 }; 9])).collect()
    }

    fn axes_of(lens: &[usize], n: usize) -> Vec<Vec<usize>> {
        (0..n)
            .map(|mut m| {
                let mut out = vec![0; lens.len()];
                for (i, &l) in lens.iter().enumerate().rev() {
                    out[i] = m % l;
                    m /= l;
                }
                out
            })
            .collect()
    }

    #[test]
    fn specs() {
        assert_eq!("random:16,32".parse::<SampleSpec>().unwrap(), SampleSpec { sampler: Sampler::Draw(Strategy::Random), counts: vec![16, 32] });
        assert_eq!("sobol:8".parse::<SampleSpec>().unwrap(), SampleSpec { sampler: Sampler::Draw(Strategy::Sobol), counts: vec![8] });
        assert_eq!("tpe:8,16".parse::<SampleSpec>().unwrap(), SampleSpec { sampler: Sampler::Tpe { batch: 2 }, counts: vec![8, 16] });
        assert_eq!("tpe8:32".parse::<SampleSpec>().unwrap(), SampleSpec { sampler: Sampler::Tpe { batch: 8 }, counts: vec![32] });
        assert_eq!(
            (Sampler::Tpe { batch: 2 }.name(), Sampler::Tpe { batch: 8 }.name(), Sampler::Draw(Strategy::Sobol).name()),
            ("tpe".into(), "tpe8".into(), "sobol".into())
        );
        for bad in ["random", "halton:8", "random:", "random:0", "random:8,x", "sobol:-2", ":8", "tpe0:8", "tpex:8", "tpe:0", "tpe:8,", "tpe-1:8"] {
            let e = bad.parse::<SampleSpec>().unwrap_err();
            assert!(e.contains("random:16,32 or sobol:16"), "{bad}: {e}");
        }
        assert!("halton:8".parse::<SampleSpec>().unwrap_err().contains("unknown strategy \"halton\""));
    }

    #[test]
    fn a_sample_is_grid_models_by_mixed_radix_without_repeats() {
        let lens = [3, 2, 4];
        for strategy in [Strategy::Random, Strategy::Sobol] {
            let all = sample(strategy, 7, &lens, 24).unwrap();
            let mut sorted = all.clone();
            sorted.sort();
            assert_eq!(sorted, (0..24).collect::<Vec<_>>(), "{strategy:?}: the whole grid, each once");
            // Model k depends only on the axes, the seed and k: a smaller sample is a prefix.
            assert_eq!(sample(strategy, 7, &lens, 5).unwrap(), all[..5]);
            // And each index is the one whose axis positions were drawn.
            let dists: Vec<Dist> = lens.iter().map(|&n| Dist::Choice { n, weights: None }).collect();
            let drawn = draw_n(strategy, 7, &dists, 24).unwrap();
            for (m, d) in all.iter().zip(&drawn) {
                assert_eq!(axes_of(&lens, 24)[*m], d.positions, "{strategy:?}");
            }
        }
    }

    #[test]
    fn one_best_model_among_n_is_found_with_chance_k_over_n() {
        let (n, lens) = (12, [3, 4]);
        let axes = axes_of(&lens, n);
        for strategy in [Strategy::Random, Strategy::Sobol] {
            for k in [1, 3, 6] {
                let expect = k as f64 / n as f64;
                let mut found = 0;
                for best in 0..n {
                    let curves = one_best(n, best);
                    let g = FullGrid::new(&curves, &axes, &lens).unwrap();
                    assert_eq!(g.best(), Some(0.9));
                    let r = g.replay(Sampler::Draw(strategy), k, 2000, &[], 0.005, 2).unwrap();
                    // Random draws are exchangeable: every model is in a sample of k with chance k/N.
                    // Sobol's are not quite (its strata are halves, a list of 3 is cut in thirds: on
                    // this grid the first axis's middle value is drawn about 10% less at k = 6).
                    let within = if strategy == Strategy::Random { 0.04 } else { 0.1 };
                    assert!((r.alone.chance() - expect).abs() < within, "{strategy:?} k {k} best {best}: {} against {expect}", r.alone.chance());
                    // Not found: the pick is one of the others, 0.31 to 0.4 below.
                    assert!(r.alone.found == r.alone.draws || (r.alone.worst_loss >= 0.31 - 1e-12 && r.alone.worst_loss <= 0.4 + 1e-12), "{r:?}");
                    // Every model trains in full, all equally long.
                    assert!((r.alone.mean_iterations_fraction - expect).abs() < 1e-12 && (r.alone.max_iterations_fraction - expect).abs() < 1e-12, "{r:?}");
                    found += r.alone.found;
                }
                // Each draw holds exactly k of the N models: over every place of the best, the
                // draws found it k times each.
                assert_eq!(found, k * 2000, "{strategy:?} k {k}");
            }
        }
    }

    #[test]
    fn the_whole_grid_always_finds_the_best() {
        let lens = [3, 3];
        let curves = one_best(9, 8);
        let axes = axes_of(&lens, 9);
        let g = FullGrid::new(&curves, &axes, &lens).unwrap();
        let h = Halving::with(3, 2, Promotion::Rank).unwrap();
        for strategy in [Strategy::Random, Strategy::Sobol] {
            let r = g.replay(Sampler::Draw(strategy), 9, 50, &[h], 0.005, 3).unwrap();
            assert_eq!((r.alone.draws, r.alone.found, r.alone.mean_loss, r.alone.worst_loss), (50, 50, 0.0, 0.0));
            assert_eq!(r.alone.mean_iterations_fraction, 1.0);
            // Halving on all 9 keeps the flat best (rank rule): 9 models to 30, 3 to 90 of 90.
            assert_eq!((r.halving[0].found, r.halving[0].worst_loss), (50, 0.0));
            assert!((r.halving[0].mean_iterations_fraction - (9.0 * 30.0 + 3.0 * 60.0) / 810.0).abs() < 1e-12, "{r:?}");
        }
    }

    #[test]
    fn halving_on_a_sample_sees_only_the_sample() {
        // Model 0 blooms late (halving drops it when it meets others at rung 0); alone it is kept.
        let mut curves = vec![curve(&[0.1, 0.1, 0.1, 0.95, 0.95, 0.95, 0.95, 0.95, 0.95])];
        curves.extend((1..4).map(|m| curve(&[0.5 + 0.01 * m as f64; 9])));
        let (lens, axes) = ([4], axes_of(&[4], 4));
        let g = FullGrid::new(&curves, &axes, &lens).unwrap();
        let h = Halving::with(3, 2, Promotion::Rank).unwrap();
        let r = g.replay(Sampler::Draw(Strategy::Random), 1, 400, &[h], 0.005, 1).unwrap();
        // One model: halving keeps it, so sample and halving agree, draw by draw.
        assert_eq!(r.alone.found, r.halving[0].found);
        assert!((r.alone.chance() - 0.25).abs() < 0.07, "{r:?}");
        let all = g.replay(Sampler::Draw(Strategy::Random), 4, 10, &[h], 0.005, 1).unwrap();
        assert_eq!((all.alone.found, all.halving[0].found), (10, 0), "with every model, halving drops the late bloomer");
        assert!((all.halving[0].worst_loss - (0.95 - 0.53)).abs() < 1e-12);
    }

    #[test]
    fn threads_do_not_change_the_result() {
        let lens = [2, 3, 4];
        let curves: Vec<Vec<MetricsRow>> = (0..24).map(|m| curve(&[0.3 + 0.02 * ((m * 7) % 24) as f64; 9])).collect();
        let axes = axes_of(&lens, 24);
        let g = FullGrid::new(&curves, &axes, &lens).unwrap();
        let h = [Halving::with(3, 2, Promotion::Rank).unwrap(), Halving::with(2, 3, Promotion::noise_default()).unwrap()];
        let one = g.replay(Sampler::Draw(Strategy::Sobol), 8, 101, &h, 0.005, 1).unwrap();
        assert_eq!(g.replay(Sampler::Draw(Strategy::Sobol), 8, 101, &h, 0.005, 4).unwrap(), one);
    }

    /// The TPE's replay judges its models as a draw's, and agrees with [`tpe::run`] on the same
    /// seeds; it is never replayed with halving.
    #[test]
    fn the_tpe_replayed_is_tpe_run_judged_as_a_draw() {
        let lens = [3, 4];
        let curves: Vec<Vec<MetricsRow>> = (0..12).map(|m| curve(&[0.3 + 0.02 * ((m * 5) % 12) as f64, 0.4 + 0.01 * m as f64, 0.35])).collect();
        let axes = axes_of(&lens, 12);
        let g = FullGrid::new(&curves, &axes, &lens).unwrap();
        let h = Halving::with(3, 2, Promotion::Rank).unwrap();
        let score = |m: usize| g.model_best(m).unwrap();
        for (k, batch) in [(4u32, 2u32), (7, 1), (12, 8)] {
            let r = g.replay(Sampler::Tpe { batch }, k, 300, &[h], 0.005, 3).unwrap();
            let ours: Vec<(f64, f64)> = (0..300).map(|s| g.trained_in_full(&tpe::run(&lens, &score, k as usize, batch as usize, s).unwrap())).collect();
            assert_eq!(r.alone, Tally::of(&ours, 0.005), "k {k} batch {batch}");
            assert!(r.halving.is_empty());
            // Every model trains in full: k of the grid's iterations.
            assert!((r.alone.mean_iterations_fraction - k as f64 / 12.0).abs() < 1e-12);
        }
        assert_eq!(g.replay(Sampler::Tpe { batch: 2 }, 12, 20, &[], 0.005, 2).unwrap().alone.found, 20, "the whole grid always finds it");
        assert_eq!(g.replay(Sampler::Tpe { batch: 0 }, 3, 20, &[], 0.005, 1).unwrap_err().to_string(), "a batch of 0 models: give at least 1");
    }

    #[test]
    fn refusals() {
        let lens = [2, 2];
        let curves = one_best(4, 0);
        let axes = axes_of(&lens, 4);
        let g = FullGrid::new(&curves, &axes, &lens).unwrap();
        assert_eq!(
            g.replay(Sampler::Draw(Strategy::Random), 5, 10, &[], 0.005, 1).unwrap_err().to_string(),
            "a sample of 5 models of a grid of 4: give at most 4"
        );
        assert_eq!(g.replay(Sampler::Draw(Strategy::Random), 0, 10, &[], 0.005, 1).unwrap_err().to_string(), "a sample of 0 models: give at least 1");
        assert_eq!(g.replay(Sampler::Draw(Strategy::Random), 2, 0, &[], 0.005, 1).unwrap_err().to_string(), "0 draws: give 1 to 100000");
        assert!(matches!(FullGrid::new(&curves[..3], &axes, &lens), Err(SampleError::Shape { space: 4, curves: 3 })));
    }
}
