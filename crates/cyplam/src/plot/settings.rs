//! Maximum validation Accuracy20% against each setting the grid varies: one small scatter per
//! setting, its values read from each model's settings (`cyplam_core::grid::model_settings`, the
//! database's `settings_json`). Numbers go on a numeric axis, logarithmic when they are all
//! positive and span a factor of 20 or more (a learning rate sampled from 1e-5 to 1e-2); anything
//! else (activation, reg_layers, ...) goes on a category axis.

use super::chart::*;
use super::figure::{Figure, Model, Result};
use crate::db::RecordedStatus;
use plotters::prelude::*;
use serde_json::Value;

/// Where a setting's values go on the x axis.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Placed {
    /// Every value a finite number: each one's, on a log10 axis or a linear one.
    Numeric { log: bool, x: Vec<f64> },
    /// Categories in the order they first appear, and each value's category.
    Categories { labels: Vec<String>, of: Vec<usize> },
}

/// A value as a category's label: a string as it is, a list joined with `+` (empty: `none`),
/// absent or null `none`, anything else as JSON.
pub(crate) fn category_label(v: Option<&Value>) -> String {
    let s = match v {
        None | Some(Value::Null) => "none".to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Array(a)) if a.is_empty() => "none".to_string(),
        Some(Value::Array(a)) => a.iter().map(|e| category_label(Some(e))).collect::<Vec<_>>().join("+"),
        Some(other) => other.to_string(),
    };
    // Room for about 22 characters under a small panel's category.
    if s.chars().count() > 22 {
        format!("{}…", s.chars().take(21).collect::<String>())
    } else {
        s
    }
}

/// Places the values of one setting (one per model, absent where a model lacks it).
pub(crate) fn place(values: &[Option<&Value>]) -> Placed {
    let nums: Option<Vec<f64>> = values.iter().map(|v| v.and_then(Value::as_f64).filter(|x| x.is_finite())).collect();
    if let Some(x) = nums.filter(|x| !x.is_empty()) {
        let (lo, hi) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
        return Placed::Numeric { log: lo > 0.0 && hi / lo >= 20.0, x };
    }
    let mut labels: Vec<String> = Vec::new();
    let of = values
        .iter()
        .map(|v| {
            let l = category_label(*v);
            labels.iter().position(|e| *e == l).unwrap_or_else(|| {
                labels.push(l);
                labels.len() - 1
            })
        })
        .collect();
    Placed::Categories { labels, of }
}

/// Spreads the `n` points of one category across its slot, so that they do not hide each other.
fn spread(j: usize, n: usize) -> f64 {
    if n <= 1 {
        0.0
    } else {
        (j as f64 / (n - 1) as f64 - 0.5) * 0.6
    }
}

/// One small scatter per setting in `varying` (the grid's `varying_settings()`): each model's
/// maximum validation Accuracy20% against its value of the setting. Models with no finite best
/// accuracy and failed models are left out, and the caption says how many. The best MARKED of
/// those shown are red triangles. None when nothing varies or no model has a best accuracy.
pub(crate) fn accuracy_by_setting(models: &[Model], varying: &[&str]) -> Result<Option<Figure>> {
    if varying.is_empty() {
        return Ok(None);
    }
    // In ranking order: the first MARKED are the best shown.
    let shown: Vec<(&Model, f64)> = models
        .iter()
        .filter(|m| m.row.status != RecordedStatus::Failed)
        .filter_map(|m| m.row.best_accuracy20.filter(|a| a.is_finite()).map(|a| (m, a)))
        .collect();
    if shown.is_empty() {
        return Ok(None);
    }
    let failed = models.iter().filter(|m| m.row.status == RecordedStatus::Failed).count();
    let no_result = models.len() - shown.len() - failed;
    let n_marked = shown.len().min(super::MARKED);
    let (amin, amax) = shown.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, v)| (a.min(*v), b.max(*v)));
    let y = accuracy_axis(amin, amax);
    // Categories in grid order: place the values by model index.
    let mut by_index: Vec<usize> = (0..shown.len()).collect();
    by_index.sort_by_key(|&k| shown[k].0.row.index);
    let placed: Vec<(&str, Placed)> = varying
        .iter()
        .map(|s| {
            let vals: Vec<Option<&Value>> = by_index.iter().map(|&k| shown[k].0.row.settings.get(*s)).collect();
            // Back to ranking order.
            let p = match place(&vals) {
                Placed::Numeric { log, x } => Placed::Numeric { log, x: unsort(&by_index, x) },
                Placed::Categories { labels, of } => Placed::Categories { labels, of: unsort(&by_index, of) },
            };
            (*s, p)
        })
        .collect();
    let logs: Vec<&str> = placed.iter().filter(|(_, p)| matches!(p, Placed::Numeric { log: true, .. })).map(|(s, _)| *s).collect();
    let title = "Maximum validation Accuracy20% against each varied setting".to_string();
    let left_out = match (failed, no_result) {
        (0, 0) => String::new(),
        (f, 0) => format!("; {f} failed model{} left out", if f == 1 { "" } else { "s" }),
        (0, n) => format!("; {n} model{} without a validation snapshot left out", if n == 1 { "" } else { "s" }),
        (f, n) => format!("; {} models left out ({f} failed, {n} without a validation snapshot)", f + n),
    };
    let caption = format!(
        "Each model's best validation Accuracy20% against each of the {} setting{} the grid varies, one panel each, {} model{}{left_out}. \
         Numeric settings are on a numeric axis{}, the others one column per value; the {n_marked} best shown are the red triangles.",
        placed.len(),
        if placed.len() == 1 { "" } else { "s" },
        shown.len(),
        if shown.len() == 1 { "" } else { "s" },
        if logs.is_empty() { String::new() } else { format!(" ({} on a log scale)", logs.join(", ")) },
    );
    let cols = placed.len().min(3);
    let rows = placed.len().div_ceil(cols);
    let (width, panel_h) = (1200u32, 340u32);
    let fig = render("accuracy_by_setting", title.clone(), caption, (width, 44 + panel_h * rows as u32), |root| {
        let body = titled(root, &title)?;
        let areas = body.split_evenly((rows, cols));
        let others = BLUE_GREY.mix(crowd_alpha(shown.len()).max(0.45));
        for ((setting, p), area) in placed.iter().zip(&areas) {
            let (x, xs, xdesc, labels): (Axis, Vec<f64>, String, &[String]) = match p {
                Placed::Numeric { log: true, x } => {
                    let (lo, hi) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
                    let axis = Axis::log(lo, hi, fmt_num);
                    let xs = x.iter().map(|v| axis.pos(*v)).collect();
                    (axis, xs, format!("{setting} (log scale)"), &[])
                }
                Placed::Numeric { log: false, x } => {
                    let (lo, hi) = x.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
                    let pad = (hi - lo) * 0.06;
                    (Axis::linear(lo - pad, hi + pad, 4, fmt_num), x.clone(), setting.to_string(), &[])
                }
                Placed::Categories { labels, of } => {
                    // Spread across the column in grid order, not by accuracy (which would draw a
                    // slope that is not there).
                    let mut seen = vec![0usize; labels.len()];
                    let counts: Vec<usize> = (0..labels.len()).map(|c| of.iter().filter(|o| **o == c).count()).collect();
                    let mut xs = vec![0.0; of.len()];
                    for &k in &by_index {
                        let c = of[k];
                        xs[k] = c as f64 + spread(seen[c], counts[c]);
                        seen[c] += 1;
                    }
                    let axis = Axis { lo: -0.6, hi: labels.len() as f64 - 0.4, log: false, ticks: Vec::new(), format: fmt_num };
                    (axis, xs, setting.to_string(), labels.as_slice())
                }
            };
            let mut chart = panel(area, None, &x, &xdesc, &y, "max val. Acc20%")?;
            let pts: Vec<(f64, f64)> = xs.iter().zip(&shown).map(|(px, (_, a))| (*px, *a)).collect();
            chart.draw_series(pts.iter().skip(n_marked).map(|p| Circle::new(*p, 4, others.filled())))?;
            // Best last, so that it lies on top.
            chart.draw_series(pts.iter().take(n_marked).rev().map(|p| TriangleMarker::new(*p, 6, HIGHLIGHT.filled())))?;
            let tick = (FONT, 14).into_font().color(&AXIS).pos(Pos::new(HPos::Center, VPos::Top));
            // A category's label under its column (the axis itself has no ticks).
            for (c, l) in labels.iter().enumerate() {
                let (px, base) = chart.backend_coord(&(c as f64, y.lo));
                root.draw(&Text::new(l.clone(), (px, base + 8), tick.clone()))?;
            }
        }
        Ok(())
    })?;
    Ok(Some(fig))
}

/// `sorted[j]` belongs to item `order[j]`: back to the items' order.
fn unsort<T: Clone + Default>(order: &[usize], sorted: Vec<T>) -> Vec<T> {
    let mut out = vec![T::default(); sorted.len()];
    for (j, v) in sorted.into_iter().enumerate() {
        out[order[j]] = v;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plot::figure::test_model as model;
    use serde_json::json;

    #[test]
    fn numbers_are_numeric_and_wide_positive_ranges_log() {
        let lr = [json!(1e-5), json!(3e-4), json!(0.01), json!(2.2e-3)];
        let v: Vec<Option<&Value>> = lr.iter().map(Some).collect();
        assert_eq!(place(&v), Placed::Numeric { log: true, x: vec![1e-5, 3e-4, 0.01, 2.2e-3] });
        // A factor under 20: linear.
        let b = [json!(32), json!(64), json!(128), json!(256)];
        assert_eq!(place(&b.iter().map(Some).collect::<Vec<_>>()), Placed::Numeric { log: false, x: vec![32.0, 64.0, 128.0, 256.0] });
        // A zero: linear, however wide.
        let l2 = [json!(0.0), json!(0.01), json!(1.0)];
        assert!(matches!(place(&l2.iter().map(Some).collect::<Vec<_>>()), Placed::Numeric { log: false, .. }));
        // Exactly 20 times: log.
        let s = [json!(5), json!(100)];
        assert!(matches!(place(&s.iter().map(Some).collect::<Vec<_>>()), Placed::Numeric { log: true, .. }));
    }

    #[test]
    fn strings_lists_and_gaps_are_categories_in_order_of_appearance() {
        let a = [json!("relu"), json!("elu"), json!("relu"), json!("sigmoid")];
        assert_eq!(
            place(&a.iter().map(Some).collect::<Vec<_>>()),
            Placed::Categories { labels: vec!["relu".into(), "elu".into(), "sigmoid".into()], of: vec![0, 1, 0, 2] }
        );
        let r = [json!([]), json!(["fc1"]), json!(["conv2", "fc1"])];
        assert_eq!(
            place(&r.iter().map(Some).collect::<Vec<_>>()),
            Placed::Categories { labels: vec!["none".into(), "fc1".into(), "conv2+fc1".into()], of: vec![0, 1, 2] }
        );
        // A number some models lack (epochs against iterations): categories.
        let e = json!(100);
        assert_eq!(place(&[Some(&e), None]), Placed::Categories { labels: vec!["100".into(), "none".into()], of: vec![0, 1] });
    }

    /// A sampled learning rate, an activation and reg_layers vary; two models have no result.
    fn sampled() -> Vec<Model> {
        let mut ms: Vec<Model> = (0..12)
            .map(|k| {
                let lr = 1e-5 * 10f64.powf(3.0 * k as f64 / 11.0);
                let act = ["relu", "elu", "sigmoid"][k % 3];
                let layers = if k % 2 == 0 { json!([]) } else { json!(["conv2", "fc1"]) };
                model(
                    k,
                    Some(0.3 + 0.04 * k as f64),
                    RecordedStatus::Completed,
                    json!({"learning_rate": lr, "activation": act, "reg_layers": layers, "nfc1": 100}),
                )
            })
            .collect();
        ms.push(model(12, None, RecordedStatus::Failed, json!({"learning_rate": 0.01, "activation": "elu", "reg_layers": []})));
        ms.push(model(13, None, RecordedStatus::New, json!({"learning_rate": 0.005, "activation": "elu", "reg_layers": []})));
        // Ranking order: best first, the ones without an accuracy last.
        ms.sort_by(|a, b| b.row.best_accuracy20.unwrap_or(-1.0).total_cmp(&a.row.best_accuracy20.unwrap_or(-1.0)));
        ms
    }

    /// The texts of an SVG, trimmed.
    fn texts(svg: &str) -> Vec<&str> {
        svg.split("<text").skip(1).filter_map(|t| t.split_once('>').and_then(|(_, rest)| rest.split_once("</text>")).map(|(inner, _)| inner.trim())).collect()
    }

    #[test]
    fn one_scatter_per_varied_setting() {
        let ms = sampled();
        let fig = accuracy_by_setting(&ms, &["activation", "learning_rate", "reg_layers"]).unwrap().unwrap();
        assert_eq!(fig.name, "accuracy_by_setting");
        let svg = &fig.svg;
        // Each panel's x axis names its setting; the learning rate's is logarithmic, with decades.
        let t = texts(svg);
        for label in ["activation", "learning_rate (log scale)", "reg_layers"] {
            assert_eq!(t.iter().filter(|x| **x == label).count(), 1, "{label} in {t:?}");
        }
        for tick in ["1e-5", "1e-4", "0.001", "0.01", "relu", "elu", "sigmoid", "none", "conv2+fc1"] {
            assert!(t.contains(&tick), "no tick {tick} in {t:?}");
        }
        assert_eq!(t.iter().filter(|x| **x == "max val. Acc20%").count(), 3, "{t:?}");
        // The 12 models with a result in each of the 3 panels: 10 red triangles and 2 circles each.
        assert_eq!(svg.matches("<circle").count(), 3 * 2, "{svg}");
        assert_eq!(svg.matches("<polygon").count(), 3 * 10, "{svg}");
        assert!(fig.caption.contains("12 models; 2 models left out (1 failed, 1 without a validation snapshot)"), "{}", fig.caption);
        assert!(fig.caption.contains("(learning_rate on a log scale)"), "{}", fig.caption);
    }

    #[test]
    fn nothing_varies_nothing_drawn() {
        let ms = sampled();
        assert!(accuracy_by_setting(&ms, &[]).unwrap().is_none());
        let none: Vec<Model> = ms.into_iter().filter(|m| m.row.best_accuracy20.is_none()).collect();
        assert!(accuracy_by_setting(&none, &["activation"]).unwrap().is_none());
    }
}
