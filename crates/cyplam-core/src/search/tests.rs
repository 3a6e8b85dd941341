use super::*;
use proptest::prelude::{prop_assert, prop_assert_eq, proptest};

fn dists() -> Vec<Dist> {
    vec![
        Dist::LogUniform { lo: 1e-5, hi: 1e-2 },
        Dist::Uniform { lo: 0.5, hi: 1.0 },
        Dist::Int { lo: 128, hi: 1024, step: 128 },
        Dist::Choice { n: 3, weights: None },
        Dist::LogInt { lo: 1, hi: 64 },
    ]
}

fn show(d: &[Drawn]) -> Vec<String> {
    d.iter()
        .map(|m| {
            m.values
                .iter()
                .map(|v| match v {
                    Value::Pick(i) => format!("#{i}"),
                    Value::Float(f) => format!("{f:e}"),
                    Value::Int(i) => i.to_string(),
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .collect()
}

fn search(strategy: Strategy, models: u32, seed: u64) -> Search {
    Search { strategy, models, seed, batch: None }
}

/// The first models for a fixed seed: a change of platform, of `libm` or of `sobol_burley` that
/// changes a draw (and so the models of a sweep grown on another machine) fails here.
#[test]
fn golden_first_models() {
    let random = draw(&search(Strategy::Random, 4, 7), &dists()).unwrap();
    let sobol = draw(&search(Strategy::Sobol, 4, 7), &dists()).unwrap();
    assert_eq!(
        show(&random),
        vec![
            "6.732611796588181e-4 9.816758612961234e-1 384 #0 61",
            "2.0571597302240888e-4 8.950533871804364e-1 128 #2 11",
            "3.317456196930276e-4 7.075435363565925e-1 640 #2 12",
            "6.750920483007698e-4 5.318070446461648e-1 128 #1 7",
        ],
        "random"
    );
    assert_eq!(
        show(&sobol),
        vec![
            "1.1031461576439343e-3 7.96298086643219e-1 1024 #1 1",
            "1.2217245741979044e-5 5.973092317581177e-1 128 #0 23",
            "2.780555023231483e-3 6.825001835823059e-1 384 #0 5",
            "2.7844655247106126e-4 9.894759058952332e-1 640 #2 22",
        ],
        "sobol"
    );
}

/// Each value lies in its range and on its step, and positions say where.
fn check_in_range(d: &[Dist], m: &Drawn) -> Result<(), String> {
    for ((dist, v), pos) in d.iter().zip(&m.values).zip(&m.positions) {
        let ok = match (dist, v) {
            (Dist::Choice { n, .. }, Value::Pick(i)) => i < n && pos == i,
            (Dist::Uniform { lo, hi }, Value::Float(x)) | (Dist::LogUniform { lo, hi }, Value::Float(x)) => x >= lo && x <= hi && *pos < 4,
            (Dist::Int { lo, hi, step }, Value::Int(x)) => x >= lo && x <= hi && (x - lo) % step == 0 && *pos < 4.max(dist.count().unwrap_or(0) as usize),
            (Dist::LogInt { lo, hi }, Value::Int(x)) => x >= lo && x <= hi,
            _ => false,
        };
        if !ok {
            return Err(format!("{dist:?} gave {v:?} at position {pos}"));
        }
    }
    Ok(())
}

proptest! {
    #[test]
    fn draws_are_in_range_distinct_and_a_prefix_of_more(seed in 0u64..u64::MAX, n in 1u32..60, more in 0u32..40, sobol in proptest::bool::ANY,
                                                       lo in -1000i64..1000, span in 1i64..50, step in 1i64..5) {
        let strategy = if sobol { Strategy::Sobol } else { Strategy::Random };
        let hi = lo + span * step;
        let d = vec![
            Dist::Int { lo, hi, step },
            Dist::LogUniform { lo: 1e-6, hi: 3e-1 },
            Dist::Choice { n: 4, weights: Some(vec![1.0, 0.5, 2.0, 0.25]) },
        ];
        let first = draw_n(strategy, seed, &d, n).unwrap();
        let grown = draw_n(strategy, seed, &d, n + more).unwrap();
        prop_assert_eq!(&grown[..n as usize], &first[..]);
        for m in &grown {
            prop_assert!(check_in_range(&d, m).is_ok(), "{:?}", check_in_range(&d, m));
        }
        let keys: std::collections::HashSet<Vec<(u8, u64)>> = grown.iter().map(|m| m.values.iter().map(Value::key).collect()).collect();
        prop_assert_eq!(keys.len(), grown.len());
    }

    /// A finite space is drawn without replacement: asking for all of it gives each point once.
    #[test]
    fn a_finite_space_is_drawn_whole_without_replacement(seed in 0u64..1000, a in 1usize..6, b in 1i64..6, c in 1i64..5, sobol in proptest::bool::ANY) {
        let strategy = if sobol { Strategy::Sobol } else { Strategy::Random };
        let d = vec![Dist::Choice { n: a, weights: None }, Dist::Int { lo: 0, hi: 2 * b, step: 2 }, Dist::LogInt { lo: 1, hi: c + 1 }];
        let total = space(&d).unwrap();
        prop_assert_eq!(total, a as u64 * (b as u64 + 1) * (c as u64 + 1));
        let all = draw_n(strategy, seed, &d, total as u32).unwrap();
        let keys: std::collections::HashSet<Vec<(u8, u64)>> = all.iter().map(|m| m.values.iter().map(Value::key).collect()).collect();
        prop_assert_eq!(keys.len() as u64, total);
        prop_assert_eq!(draw_n(strategy, seed, &d, total as u32 + 1).unwrap_err(), SearchError::SpaceTooSmall { models: total as u32 + 1, space: total });
    }
}

/// The distributions' shapes: a log-uniform range puts as many draws in each decade, weights
/// are followed, a log_int range favours small values as ln((v+1)/v).
#[test]
fn distributions_have_their_shapes() {
    let n = 20_000;
    let d = vec![Dist::LogUniform { lo: 1e-5, hi: 1e-2 }, Dist::Choice { n: 2, weights: Some(vec![3.0, 1.0]) }, Dist::LogInt { lo: 1, hi: 3 }];
    let all = draw_n(Strategy::Random, 3, &d, n).unwrap();
    let frac = |f: &dyn Fn(&Drawn) -> bool| all.iter().filter(|m| f(m)).count() as f64 / n as f64;
    for decade in [1e-5, 1e-4, 1e-3] {
        let got = frac(&|m| matches!(m.values[0], Value::Float(x) if x >= decade && x < decade * 10.0));
        assert!((got - 1.0 / 3.0).abs() < 0.02, "decade {decade}: {got}");
    }
    let got = frac(&|m| m.values[1] == Value::Pick(0));
    assert!((got - 0.75).abs() < 0.02, "weight 3 of 4: {got}");
    // log_int [1, 3]: P(1) = ln 2 / ln 4 = 0.5, P(3) = ln(4/3) / ln 4 = 0.2075.
    let got = frac(&|m| m.values[2] == Value::Int(1));
    assert!((got - 0.5).abs() < 0.02, "log_int 1: {got}");
    let got = frac(&|m| m.values[2] == Value::Int(3));
    assert!((got - 0.2075).abs() < 0.02, "log_int 3: {got}");
}

/// Sobol covers a range evener than random draws: with 16 points in one axis, each sixteenth of
/// it holds exactly one.
#[test]
fn sobol_puts_one_point_in_each_stratum() {
    let d = vec![Dist::Uniform { lo: 0.0, hi: 1.0 }, Dist::Uniform { lo: 0.0, hi: 1.0 }];
    let all = draw_n(Strategy::Sobol, 11, &d, 16).unwrap();
    for axis in 0..2 {
        let mut cells: Vec<usize> = all
            .iter()
            .map(|m| match m.values[axis] {
                Value::Float(x) => (x * 16.0) as usize,
                _ => 99,
            })
            .collect();
        cells.sort_unstable();
        assert_eq!(cells, (0..16).collect::<Vec<_>>(), "axis {axis}");
    }
}

#[test]
fn sobol_refuses_what_it_cannot_draw() {
    let d: Vec<Dist> = (0..300).map(|_| Dist::Uniform { lo: 0.0, hi: 1.0 }).collect();
    assert_eq!(draw_n(Strategy::Sobol, 0, &d, 2).unwrap_err(), SearchError::SobolAxes(300));
    assert!(draw_n(Strategy::Random, 0, &d, 2).is_ok());
}
