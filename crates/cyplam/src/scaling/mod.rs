//! The scalability study (SPEC.md section 5.4) as data: the node measured, each model's timed
//! trainings per core count with their statistics, the packings measured and the candidates to
//! measure. Its storage is store.rs, its tables print.rs, its figures `plot::scaling`, its job
//! script `slurm::script::render_scale`, and the command that runs it `commands::scale`.

pub mod print;
pub mod store;

use std::collections::BTreeMap;

/// The node a measurement is of: this machine (`cyplam scale --local`) or a Slurm partition.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodeKey {
    Local { host: String },
    Partition { name: String },
}

impl NodeKey {
    /// This machine.
    pub fn this_machine() -> NodeKey {
        NodeKey::Local { host: cyplam_core::files::hostname() }
    }
    /// A partition (`default` when the grid names none).
    pub fn partition(name: Option<&str>) -> NodeKey {
        NodeKey::Partition { name: name.unwrap_or("default").to_string() }
    }
    /// Reads the stored form, `local:HOST` or `partition:NAME`.
    pub fn parse(s: &str) -> Option<NodeKey> {
        match s.split_once(':')? {
            ("local", h) => Some(NodeKey::Local { host: h.to_string() }),
            ("partition", p) => Some(NodeKey::Partition { name: p.to_string() }),
            _ => None,
        }
    }
    /// How a caption names it.
    pub fn label(&self) -> String {
        match self {
            NodeKey::Local { host } => format!("machine {host}"),
            NodeKey::Partition { name } => format!("Slurm partition {name}"),
        }
    }
}

impl std::fmt::Display for NodeKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            NodeKey::Local { host } => write!(f, "local:{host}"),
            NodeKey::Partition { name } => write!(f, "partition:{name}"),
        }
    }
}

/// One measurement of the scalability study: the timed single trainings and the packings, of
/// one node (machine or partition), as `cyplam scale` stored them.
#[derive(Debug, Clone)]
pub struct Scaling {
    pub node_key: NodeKey,
    /// When the single trainings (or, without them, the packings) were measured.
    pub measured_unix: i64,
    /// One series per model, in model order.
    pub models: Vec<ScalingModel>,
    pub packings: Vec<PackingRun>,
}

/// A model's times against cores.
#[derive(Debug, Clone)]
pub struct ScalingModel {
    pub name: String,
    /// `wc1-ncv1-wc2-ncv2-nfc1`.
    pub arch: String,
    pub free_params: i64,
    pub iterations: i64,
    /// Every timed run: (cores, seconds).
    pub runs: Vec<(u32, f64)>,
}

/// The mean and standard deviation of a model's time at one core count.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScalingPoint {
    pub cores: u32,
    pub runs: usize,
    pub mean: f64,
    /// Sample standard deviation over the repeats (0 for a single run).
    pub sd: f64,
}

impl Scaling {
    /// A packing's trainings per hour relative to the best packing measured (1 for the best).
    pub fn relative(&self, p: &PackingRun) -> f64 {
        let best = self.packings.iter().map(|p| p.trainings_per_hour).fold(0.0, f64::max);
        if best > 0.0 {
            p.trainings_per_hour / best
        } else {
            0.0
        }
    }
}

impl ScalingModel {
    /// Mean and standard deviation per core count, fewest cores first.
    pub fn points(&self) -> Vec<ScalingPoint> {
        let mut by: BTreeMap<u32, Vec<f64>> = BTreeMap::new();
        for (c, s) in &self.runs {
            if s.is_finite() && *s > 0.0 {
                by.entry(*c).or_default().push(*s);
            }
        }
        by.into_iter()
            .map(|(cores, v)| {
                let (mean, sd) = mean_sd(&v);
                ScalingPoint { cores, runs: v.len(), mean, sd }
            })
            .collect()
    }

    /// Speed-up T(c0)/T(c) against the fewest cores c0 measured: (cores, speed-up).
    pub fn speedups(&self) -> Vec<(u32, f64)> {
        let pts = self.points();
        match pts.first() {
            Some(base) => pts.iter().map(|p| (p.cores, base.mean / p.mean)).collect(),
            None => Vec::new(),
        }
    }
}

/// A measured packing: `trainings` concurrent trainings of `cores_each` cores on one node.
#[derive(Debug, Clone)]
pub struct PackingRun {
    pub node_cores: i64,
    pub trainings: i64,
    pub cores_each: i64,
    /// The model trained, by name.
    pub model: String,
    pub iterations: i64,
    pub wall_seconds: f64,
    pub trainings_per_hour: f64,
    pub recommended: bool,
}

impl PackingRun {
    /// `4 x 6`: trainings x cores each.
    pub fn label(&self) -> String {
        format!("{} x {}", self.trainings, self.cores_each)
    }
}

/// Mean and sample standard deviation (0 for a single value).
pub fn mean_sd(v: &[f64]) -> (f64, f64) {
    let n = v.len() as f64;
    let m = v.iter().sum::<f64>() / n;
    let sd = if v.len() > 1 { (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (n - 1.0)).sqrt() } else { 0.0 };
    (m, sd)
}

/// Core counts measured by default: 1, 2, 4, ... below the node's cores, and the node's cores.
pub fn default_cores(node: u32) -> Vec<u32> {
    let mut v = Vec::new();
    let mut c = 1u32;
    while c < node {
        v.push(c);
        c = c.saturating_mul(2);
    }
    v.push(node.max(1));
    v
}

/// Packings that fill a node of `node` cores: k trainings of c cores, k * c = node.
pub fn candidate_packings(node: u32) -> Vec<(u32, u32)> {
    (1..=node).filter(|k| node % k == 0).map(|k| (k, node / k)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packings_fill_the_node() {
        assert_eq!(candidate_packings(24), vec![(1, 24), (2, 12), (3, 8), (4, 6), (6, 4), (8, 3), (12, 2), (24, 1)]);
        assert_eq!(candidate_packings(2), vec![(1, 2), (2, 1)]);
        assert_eq!(default_cores(24), vec![1, 2, 4, 8, 16, 24]);
        assert_eq!(default_cores(2), vec![1, 2]);
        assert_eq!(default_cores(1), vec![1]);
    }

    #[test]
    fn node_keys_round_trip() {
        for k in [NodeKey::Local { host: "vm".into() }, NodeKey::partition(Some("cpu")), NodeKey::partition(None)] {
            assert_eq!(NodeKey::parse(&k.to_string()), Some(k.clone()));
        }
        assert_eq!(NodeKey::partition(None).to_string(), "partition:default");
        assert_eq!(NodeKey::parse("elsewhere"), None);
    }

    #[test]
    fn speedups_are_against_the_fewest_cores() {
        let m = ScalingModel { name: "m".into(), arch: String::new(), free_params: 0, iterations: 1, runs: vec![(4, 10.0), (2, 18.0), (2, 22.0), (8, 5.0)] };
        let p = m.points();
        assert_eq!((p[0].cores, p[0].runs, p[0].mean), (2, 2, 20.0));
        assert!((p[0].sd - 8f64.sqrt()).abs() < 1e-12);
        assert_eq!(m.speedups(), vec![(2, 1.0), (4, 2.0), (8, 4.0)]);
    }
}
