//! Where a learning curve is heading: from the first points of a model's validation curve
//! (Accuracy20% at snapshot iterations), the accuracy level it is expected to reach at a later
//! iteration, so that a halving rung can promote a model that is behind now but still rising fast
//! (a slow starter) and stop one that is behind and flat.
//!
//! The families are saturating curves of the kind Domhan et al. (IJCAI 2015) combine, and that
//! NNI's curve-fitting assessor and LC-PFN's prior use (pow3, exp3, ilog2, Janoschek, MMF), each
//! written `y = a + b·g(x)` with `g` positive, monotone decreasing and tending to 0: `a` is the
//! asymptote, `b < 0` a rising curve, `b > 0` a falling one, and no family goes on rising for ever.
//! `x` is the iteration divided by the last usable point's iteration (the last point is at
//! `x = 1`), so the grids below mean the same whatever the snapshot interval.
//!
//! | family    | g(x)              | grid (in `FAMILIES`)                             | parameters |
//! |-----------|-------------------|--------------------------------------------------|------------|
//! | pow3      | x^-α              | α: 13 values, 0.1 to 3                           | 3          |
//! | exp3      | exp(-r·x)         | r: 14 values, 0.05 to 12                         | 3          |
//! | ilog2     | 1 / ln(1 + s·x)   | s: 8 values, 0.25 to 32                          | 3          |
//! | janoschek | exp(-k·x^d)       | k: 8 values, 0.1 to 16 × d: 0.3 to 3 (6, not 1)  | 4          |
//! | mmf       | 1 / (1 + (k·x)^d) | k: 8 values, 0.1 to 16 × d: 0.5 to 3 (6)         | 4          |
//!
//! Fitting is deterministic least squares without an optimiser: for each grid value, `a` and `b`
//! are the closed-form linear least squares solution; a grid value counts only when its asymptote
//! `a` lies in [0, 1] (an accuracy saturates there: this is what keeps a rising curve from being
//! extrapolated past 1); each family keeps its admissible grid value of least residual sum of
//! squares, the first in grid order on a tie. That is 131 closed-form fits per call, each a few passes
//! over the points with one or two `libm` calls per point: about 3,200 `libm` calls for 14 points.
//!
//! The same bits on every machine: `exp`, `ln` and `pow` come from the `libm` crate (a pure-Rust
//! port of musl's), not from the platform's C library, the other operations are IEEE-754 basic
//! operations, sums run in point order, and nothing runs in parallel. A golden test pins the bits.

/// Fewest usable points for a forecast: one more than the 3 parameters of the simplest families,
/// so that they leave a residual to measure the noise with.
pub const MIN_POINTS: usize = 4;

/// Residual noise (accuracy units) under which fits are not told apart: an accuracy measured on a
/// finite validation set is not more precise than this. Its square is added to every family's
/// residual variance before the families are weighed (see [`forecast`]), so that fits are compared
/// down to that precision only, and an exact fit does not get an infinite weight.
pub const NOISE_FLOOR: f64 = 0.005;

/// A learning curve's forecast at one iteration.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Forecast {
    /// The accuracy level expected at the iteration asked for, in [0, 1].
    pub predicted: f64,
    /// An optimistic bound: `predicted + sqrt(noise² + spread²)`, at most 1.
    pub upper: f64,
    /// The weighted root mean square distance of the families' predictions from their weighted
    /// median: how much the families that fit disagree.
    pub spread: f64,
    /// The residual standard error of the chosen family's fit (the snapshot-to-snapshot noise).
    pub noise: f64,
    /// The family whose prediction was chosen (`pow3`, `exp3`, `ilog2`, `janoschek`, `mmf`), or
    /// `falling` when the curve's last half falls and its level there was taken instead.
    pub family: &'static str,
    /// How many points were used (the finite ones at rising positive iterations).
    pub points: usize,
}

/// A family of curves `y = a + b·g(x)`: `g`'s parameters run over `p` × `q` (`q` is `[0.0]` when
/// `g` has one), `p` outermost; that is the order ties are broken in.
struct Family {
    name: &'static str,
    /// Parameters, counting the grid-searched ones: `a`, `b` and one or two in `g`.
    params: usize,
    p: &'static [f64],
    q: &'static [f64],
    g: fn(f64, f64, f64) -> f64,
}

/// The families, in the order of the table above.
const FAMILIES: [Family; 5] = [
    Family {
        name: "pow3",
        params: 3,
        p: &[0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 1.0, 1.25, 1.5, 2.0, 3.0],
        q: &[0.0],
        g: |alpha, _, x| libm::pow(x, -alpha),
    },
    Family {
        name: "exp3",
        params: 3,
        p: &[0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0],
        q: &[0.0],
        g: |r, _, x| libm::exp(-r * x),
    },
    Family { name: "ilog2", params: 3, p: &[0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0], q: &[0.0], g: |s, _, x| 1.0 / libm::log1p(s * x) },
    Family {
        name: "janoschek",
        params: 4,
        p: &[0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0],
        q: &[0.3, 0.5, 0.7, 1.5, 2.0, 3.0],
        g: |k, d, x| libm::exp(-k * libm::pow(x, d)),
    },
    Family {
        name: "mmf",
        params: 4,
        p: &[0.1, 0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0],
        q: &[0.5, 0.7, 1.0, 1.5, 2.0, 3.0],
        g: |k, d, x| 1.0 / (1.0 + libm::pow(k * x, d)),
    },
];

/// One family's best admissible fit.
struct Fit {
    family: &'static Family,
    /// `g`'s parameters, `a`, `b`, the residual sum of squares.
    p: f64,
    q: f64,
    a: f64,
    b: f64,
    rss: f64,
}

impl Fit {
    fn at(&self, x: f64) -> f64 {
        (self.a + self.b * (self.family.g)(self.p, self.q, x)).clamp(0.0, 1.0)
    }

    /// The residual sum of squares over (points − parameters).
    fn variance(&self, points: usize) -> f64 {
        self.rss / (points - self.family.params) as f64
    }
}

/// The accuracy level the curve `points` ((iteration, accuracy), in rising iteration order) is
/// heading for at iteration `at` (normally at or past the last point; earlier, it is the fitted
/// curve's value there).
///
/// Points with a non-finite value, an iteration that is not positive, or an iteration not past
/// the previous used point's are skipped. `None` when fewer than [`MIN_POINTS`] remain, when `at`
/// is not a positive finite number, or when no family has an admissible fit.
///
/// Combining the families: each family with more points than parameters is fitted, and weighed
/// by its likelihood relative to the best one under Gaussian noise,
/// `w = ((v_best + NOISE_FLOOR²) / (v + NOISE_FLOOR²))^(n/2)` with `v` the residual variance
/// (residual sum of squares over points − parameters, which charges the 4-parameter families for
/// their flexibility) and `n` the points; the prediction is the weighted lower median of the
/// families' predictions at `at`. A weighted median, not a weighted mean: with few noisy points
/// the weights are nearly equal and the families' extrapolations differ a lot, one of them often
/// running away (ilog2 keeps rising for long, exp3 stops early), and the median ignores a runaway;
/// as points come the weights sharpen and the median goes to the family that fits clearly best.
/// The lower of two middle values, because a rung should not be promised more than the families
/// agree on: `upper` is the optimistic side.
///
/// A curve whose last half (at least 3 points) falls by its least squares line (overfitting) is
/// not predicted above that line's value at the last point (`family` is then `falling`): the
/// saturating families can only rise or fall monotonically, and fitted to a rise then a fall they
/// would put the level back up.
///
/// `upper = min(1, predicted + sqrt(noise² + spread²))`: `noise` is the residual standard error of
/// the chosen family (what a single snapshot may show above the level), `spread` the weighted root
/// mean square distance of the families' predictions from the median (how far the extrapolation
/// is from settled: it grows with the distance from the last point and when well-fitting families
/// disagree on the shape).
pub fn forecast(points: &[(f64, f64)], at: f64) -> Option<Forecast> {
    let (xs, ys) = usable(points);
    let n = xs.len();
    if n < MIN_POINTS || !at.is_finite() || at <= 0.0 {
        return None;
    }
    let last = xs[n - 1];
    let xs: Vec<f64> = xs.iter().map(|x| x / last).collect();
    let x_at = at / last;
    let fits: Vec<Fit> = FAMILIES.iter().filter(|f| n > f.params).filter_map(|f| best_fit(f, &xs, &ys)).collect();
    let floor = NOISE_FLOOR * NOISE_FLOOR;
    let best = fits.iter().map(|f| f.variance(n)).fold(f64::INFINITY, f64::min);
    let weight = |f: &Fit| libm::pow((best + floor) / (f.variance(n) + floor), n as f64 / 2.0);
    // (prediction, weight, fit), sorted by prediction; stable, so equal ones stay in family order.
    let mut votes: Vec<(f64, f64, &Fit)> = fits.iter().map(|f| (f.at(x_at), weight(f), f)).collect();
    votes.sort_by(|p, q| p.0.total_cmp(&q.0));
    let total = sum(votes.iter().map(|v| v.1));
    let mut below = 0.0;
    let &(median, _, chosen) = votes.iter().find(|v| {
        below += v.1;
        below >= total / 2.0
    })?;
    let spread = libm::sqrt(sum(votes.iter().map(|v| v.1 * (v.0 - median) * (v.0 - median))) / total);
    let noise = libm::sqrt(chosen.variance(n));
    let (predicted, family) = match falling_tail_level(&xs, &ys) {
        Some(level) if level.clamp(0.0, 1.0) < median => (level.clamp(0.0, 1.0), "falling"),
        _ => (median, chosen.family.name),
    };
    let upper = (predicted + libm::sqrt(noise * noise + spread * spread)).min(1.0);
    Some(Forecast { predicted, upper, spread, noise, family, points: n })
}

/// The points used: finite, at positive iterations, each past the previous one.
fn usable(points: &[(f64, f64)]) -> (Vec<f64>, Vec<f64>) {
    let (mut xs, mut ys) = (Vec::new(), Vec::new());
    for &(x, y) in points {
        if x.is_finite() && y.is_finite() && x > 0.0 && xs.last().is_none_or(|&prev| x > prev) {
            xs.push(x);
            ys.push(y);
        }
    }
    (xs, ys)
}

/// `family`'s admissible grid value of least residual sum of squares (the first on a tie).
fn best_fit(family: &'static Family, xs: &[f64], ys: &[f64]) -> Option<Fit> {
    let mut best: Option<Fit> = None;
    let mut gs = vec![0.0; xs.len()];
    for &p in family.p {
        for &q in family.q {
            for (g, &x) in gs.iter_mut().zip(xs) {
                *g = (family.g)(p, q, x);
            }
            let Some((a, b, rss)) = linear_fit(&gs, ys) else {
                continue;
            };
            if (0.0..=1.0).contains(&a) && best.as_ref().is_none_or(|least| rss < least.rss) {
                best = Some(Fit { family, p, q, a, b, rss });
            }
        }
    }
    best
}

/// Least squares `y = a + b·g`: `(a, b, residual sum of squares)`, `None` when `g` is not finite
/// or too nearly constant over the points to tell `a` from `b`.
fn linear_fit(gs: &[f64], ys: &[f64]) -> Option<(f64, f64, f64)> {
    let n = gs.len() as f64;
    let (mean_g, mean_y) = (sum(gs.iter().copied()) / n, sum(ys.iter().copied()) / n);
    let sgg = sum(gs.iter().map(|g| (g - mean_g) * (g - mean_g)));
    let sgy = sum(gs.iter().zip(ys).map(|(g, y)| (g - mean_g) * (y - mean_y)));
    if !sgg.is_finite() || !sgy.is_finite() || sgg <= 1e-12 * (sgg + n * mean_g * mean_g) {
        return None;
    }
    let b = sgy / sgg;
    let a = mean_y - b * mean_g;
    let rss = sum(gs.iter().zip(ys).map(|(g, y)| (y - a - b * g) * (y - a - b * g)));
    Some((a, b, rss))
}

/// A sum in the iterator's order, from 0.
fn sum(values: impl Iterator<Item = f64>) -> f64 {
    values.fold(0.0, |s, v| s + v)
}

/// When the last half of the curve (at least 3 points) falls by its least squares line, that
/// line's value at the last point.
fn falling_tail_level(xs: &[f64], ys: &[f64]) -> Option<f64> {
    let n = xs.len();
    let from = n - n.div_ceil(2).max(3).min(n);
    let (a, b, _) = linear_fit(&xs[from..], &ys[from..])?;
    (b < 0.0).then(|| a + b * xs[n - 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fixed jitter of about ±0.015 (root mean square 0.0107), cycled over the points.
    const JITTER: [f64; 8] = [0.012, -0.015, 0.006, -0.004, 0.015, -0.011, 0.002, -0.008];

    /// `ys` at iterations 30, 60, 90...
    fn every_30(ys: impl IntoIterator<Item = f64>) -> Vec<(f64, f64)> {
        ys.into_iter().zip(1..).map(|(y, i)| (30.0 * i as f64, y)).collect()
    }

    /// `curve` at iterations 30 to `30·count`, plus `JITTER` times `noise`.
    fn sample(count: usize, noise: f64, curve: impl Fn(f64) -> f64) -> Vec<(f64, f64)> {
        every_30((1..=count).map(|i| curve(30.0 * i as f64) + noise * JITTER[i % JITTER.len()]))
    }

    fn slow_riser(t: f64) -> f64 {
        0.8 - 0.7 * libm::pow(t / 30.0, -0.3)
    }

    fn fast_plateau(t: f64) -> f64 {
        0.6 - 0.5 * libm::exp(-t / 60.0)
    }

    fn at(points: &[(f64, f64)], at: f64) -> Forecast {
        forecast(points, at).expect("a forecast")
    }

    #[test]
    fn a_slow_riser_is_predicted_well_above_its_last_level() {
        let f = at(&sample(14, 1.0, slow_riser), 1620.0);
        assert!(f.predicted > slow_riser(420.0) + 0.05 && f.upper > f.predicted, "{f:?}");
    }

    #[test]
    fn a_flat_curve_is_predicted_near_its_level() {
        // Four points jittered -0.015, 0.006, -0.004, 0.015 do look rising: within twice the noise.
        for (count, within) in [(4, 0.03), (6, 0.01), (14, 0.01)] {
            let f = at(&sample(count, 1.0, |_| 0.5), 1620.0);
            assert!((f.predicted - 0.5).abs() < within, "{count} points: {f:?}");
        }
        let f = at(&sample(6, 0.0, |_| 0.5), 1620.0);
        assert_eq!((f.predicted, f.upper, f.spread, f.noise), (0.5, 0.5, 0.0, 0.0), "{f:?}");
    }

    #[test]
    fn a_noisy_plateau_has_an_upper_bound_about_the_noise_above() {
        let f = at(&sample(14, 1.0, fast_plateau), 1620.0);
        assert!((f.predicted - 0.6).abs() < 0.02 && (0.005..0.04).contains(&(f.upper - f.predicted)), "{f:?}");
    }

    #[test]
    fn a_falling_curve_is_not_predicted_to_rise() {
        // Rises to 0.8 by iteration 120, then falls linearly (overfitting); decays to 0.5.
        let overfit = sample(12, 1.0, |t| if t <= 120.0 { 0.2 + t / 200.0 } else { 0.8 - (t - 120.0) / 2400.0 });
        let decay = sample(10, 1.0, |t| 0.5 + 0.3 * libm::exp(-t / 150.0));
        for points in [overfit, decay] {
            let (last_t, last) = points[points.len() - 1];
            for t in [last_t, 1620.0] {
                let f = at(&points, t);
                assert!(f.predicted <= last + 0.01, "{f:?} at {t}, last point {last}");
            }
        }
    }

    #[test]
    fn too_few_points_or_a_bad_target_give_none() {
        let points = sample(14, 1.0, slow_riser);
        assert_eq!(forecast(&points[..MIN_POINTS - 1], 1620.0), None);
        assert_eq!(forecast(&[], 1620.0), None);
        assert!(forecast(&points[..MIN_POINTS], 1620.0).is_some());
        assert_eq!(forecast(&points, f64::NAN), None);
        assert_eq!(forecast(&points, 0.0), None);
    }

    #[test]
    fn non_finite_and_out_of_order_points_are_skipped() {
        let points = sample(8, 1.0, slow_riser);
        let mut spoiled = points.clone();
        spoiled.insert(3, (f64::NAN, 0.4));
        spoiled.insert(5, (200.0, f64::NAN));
        spoiled.insert(7, (f64::INFINITY, 0.4));
        spoiled.insert(0, (0.0, 0.05));
        spoiled.push((60.0, 0.9));
        let f = at(&points, 960.0);
        assert_eq!((f.points, forecast(&spoiled, 960.0)), (8, Some(f)));
        let mut short = points[..4].to_vec();
        short[1].1 = f64::NAN;
        assert_eq!(forecast(&short, 960.0), None);
    }

    #[test]
    fn predicting_later_never_predicts_lower_for_a_rising_curve() {
        for points in [sample(14, 1.0, slow_riser), sample(5, 1.0, slow_riser), sample(14, 0.0, fast_plateau)] {
            let last = points[points.len() - 1].0;
            let predictions: Vec<f64> = [1.0, 1.5, 2.0, 4.0, 8.0, 16.0, 64.0, 1e6].map(|k| at(&points, k * last).predicted).to_vec();
            assert!(predictions.windows(2).all(|w| w[0] <= w[1]), "{predictions:?}");
        }
    }

    #[test]
    fn a_curve_of_one_family_is_recovered() {
        let curve = |x: f64| 0.9 - 0.5 * libm::pow(x, -0.7);
        let f = at(&(1..=8).map(|i| (i as f64, curve(i as f64))).collect::<Vec<_>>(), 32.0);
        assert!((f.predicted - curve(32.0)).abs() < 0.01, "{f:?}, true {}", curve(32.0));
    }

    /// The exact bits, so that a platform or a `libm` version that changes the numbers fails here.
    #[test]
    fn golden_bits() {
        let riser = every_30([0.112, 0.221, 0.262, 0.309, 0.358, 0.371]);
        let plateau = every_30([0.31, 0.47, 0.55, 0.58, 0.6, 0.59, 0.61, 0.6]);
        let got = [at(&riser, 1620.0), at(&plateau, 1620.0)].map(|f| (f.predicted.to_bits(), f.upper.to_bits()));
        let values = got.map(|(p, u)| (f64::from_bits(p), f64::from_bits(u)));
        // 0.5820417454329572, 0.6834079359708125; 0.6087656811793918, 0.6240100086942427
        let want = [(0x3fe2_a016_02b1_5266, 0x3fe5_de7a_51da_49be), (0x3fe3_7b02_2a72_f6fe, 0x3fe3_f7e3_d676_fd87)];
        assert_eq!(got, want, "{values:?}");
    }
}
