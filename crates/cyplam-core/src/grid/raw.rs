//! A grid file as TOML gives it: serde structs that refuse unknown keys, every value kept with its
//! span so that an error can name the line. Nothing here is validated yet (`config`, `expand`).

use super::{Ctx, GridError};
use indexmap::IndexMap;
use serde::Deserialize;
use toml::Spanned;

/// `[settings]`: setting name -> value, in file order.
pub(super) type RawSettings = IndexMap<String, Spanned<toml::Value>>;

/// `[grid]`: axis name -> its list of values (plain values or inline tables) or its distribution,
/// in file order.
pub(super) type RawAxes = IndexMap<String, Spanned<RawAxis>>;

/// One axis as written: a list of values (`nfc1 = [128, 256]`), or a table that names a
/// distribution (`learning_rate = { log_uniform = [1e-5, 1e-2] }`, for `[search]`).
pub(super) enum RawAxis {
    List(Vec<Spanned<toml::Value>>),
    Sampled(IndexMap<String, Spanned<toml::Value>>),
}

/// By hand rather than `#[serde(untagged)]`, which would buffer the values and lose their spans.
impl<'de> Deserialize<'de> for RawAxis {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = RawAxis;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a list of values (`nfc1 = [128, 256]`) or, under [search], a distribution (`learning_rate = { log_uniform = [1e-5, 1e-2] }`)")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawAxis, A::Error> {
                let mut out = Vec::new();
                while let Some(v) = seq.next_element()? {
                    out.push(v);
                }
                Ok(RawAxis::List(out))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawAxis, A::Error> {
                let mut out = IndexMap::new();
                while let Some((k, v)) = map.next_entry::<String, Spanned<toml::Value>>()? {
                    out.insert(k, v);
                }
                Ok(RawAxis::Sampled(out))
            }
        }
        d.deserialize_any(V)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawFile {
    pub name: Option<Spanned<String>>,
    pub data: Option<RawData>,
    pub slurm: Option<RawSlurm>,
    pub output: Option<RawOutput>,
    pub halving: Option<Spanned<RawHalving>>,
    pub search: Option<Spanned<RawSearch>>,
    pub settings: Option<RawSettings>,
    pub grid: Option<RawAxes>,
}

impl RawFile {
    /// The TOML text of `cx` as the raw structure; a syntax error or unknown key names its line.
    pub fn parse(cx: &Ctx) -> Result<RawFile, GridError> {
        toml::from_str(cx.text).map_err(|e| {
            let message = e.message().trim_end();
            match TABLES.iter().find(|(raw, _)| message.ends_with(&format!("expected struct {raw}"))) {
                // serde names its own struct ("expected struct RawHalving"): said as the file's table.
                Some((_, key)) => cx.err(
                    e.span(),
                    Some(key),
                    format!("must be a table, not a value: write `[{key}]` on a line of its own and its keys on the lines below it (docs/grid.md)"),
                ),
                None => cx.err(e.span(), None, message),
            }
        })
    }
}

/// The grid file's tables, by the name of the struct that reads each.
const TABLES: [(&str, &str); 5] = [("RawHalving", "halving"), ("RawData", "data"), ("RawSlurm", "slurm"), ("RawOutput", "output"), ("RawSearch", "search")];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawOutput {
    pub tensorboard: Option<bool>,
}

/// `[halving]`: successive halving across the sweep's models.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawHalving {
    pub eta: Option<Spanned<i64>>,
    pub rungs: Option<Spanned<i64>>,
    pub promote: Option<Spanned<String>>,
    pub noise: Option<Spanned<toml::Value>>,
    pub cap: Option<Spanned<toml::Value>>,
    pub axes: Option<Spanned<toml::Value>>,
    pub curve: Option<Spanned<toml::Value>>,
    pub forecast: Option<Spanned<toml::Value>>,
}

/// `[search]`: a sampled search over the `[grid]` axes.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSearch {
    pub strategy: Option<Spanned<String>>,
    pub models: Option<Spanned<toml::Value>>,
    pub seed: Option<Spanned<toml::Value>>,
    pub batch: Option<Spanned<toml::Value>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawData {
    pub train: Spanned<String>,
    pub validation: Spanned<String>,
    pub input_scale: Option<Spanned<toml::Value>>,
    pub validation_is_train: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSlurm {
    pub trainings_per_node: Option<Spanned<i64>>,
    pub cpus_per_training: Option<Spanned<i64>>,
    pub partition: Option<Spanned<String>>,
    pub account: Option<Spanned<String>>,
    pub qos: Option<Spanned<String>>,
    pub time: Option<Spanned<String>>,
    pub mem: Option<Spanned<String>>,
    pub constraint: Option<Spanned<String>>,
    pub gres: Option<Spanned<String>>,
    pub extra: Option<Vec<Spanned<String>>>,
    pub setup: Option<Vec<Spanned<String>>>,
    pub throttle: Option<Spanned<i64>>,
    pub signal_lead_seconds: Option<Spanned<i64>>,
    pub max_requeues: Option<Spanned<i64>>,
}
