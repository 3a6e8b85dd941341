//! The sweep's figures (SPEC.md section 7): learning curves, maximum validation Accuracy20%
//! against free parameters, training times, and the activation and regularization comparisons.

use super::chart::*;
use super::figure::{Figure, Model, Result};
use cyplam_core::metrics_csv::MetricsRow;
use plotters::prelude::*;
use std::collections::BTreeMap;

// ------------------------------------------------------------------------------------------------
// The figures
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Metric {
    Loss,
    Accuracy,
}

/// Loss (or Accuracy20%) against iteration for every model: training set and validation set side
/// by side, the best MARKED models in colour, the others as a grey band.
pub(crate) fn learning_curves(models: &[Model], metric: Metric) -> Result<Option<Figure>> {
    let with_curve: Vec<(usize, &Model)> = models.iter().enumerate().filter(|(_, m)| !m.curve.is_empty()).collect();
    if with_curve.is_empty() {
        return Ok(None);
    }
    let get = |r: &MetricsRow, validation: bool| match (metric, validation) {
        (Metric::Loss, false) => r.train_loss,
        (Metric::Loss, true) => r.validation_loss,
        (Metric::Accuracy, false) => r.train_accuracy20,
        (Metric::Accuracy, true) => r.validation_accuracy20,
    };
    let max_iter = with_curve.iter().flat_map(|(_, m)| m.curve.iter().map(|r| r.iteration)).max().unwrap_or(1) as f64;
    let x = Axis::linear(0.0, max_iter, 6, fmt_si);
    let values: Vec<f64> = with_curve.iter().flat_map(|(_, m)| m.curve.iter().flat_map(|r| [get(r, false), get(r, true)])).filter(|v| v.is_finite()).collect();
    let (vmin, vmax) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| (a.min(*v), b.max(*v)));
    let y = match metric {
        Metric::Accuracy => Axis::fixed(0.0, 1.0, 0.2, fmt_num),
        Metric::Loss if vmin > 0.0 && vmax / vmin > 10.0 => Axis::log(vmin, vmax, fmt_num),
        Metric::Loss => Axis::linear(vmin.min(0.0), vmax.max(vmin + f64::EPSILON), 5, fmt_num),
    };
    let n_marked = marked(models);
    let crowd: Vec<&Model> = with_curve.iter().filter(|(i, _)| *i >= n_marked).map(|(_, m)| *m).collect();
    let alpha = crowd_alpha(crowd.len());
    let (name, what, ydesc) = match metric {
        Metric::Loss => ("loss", "Loss", if y.log { "loss (log scale)" } else { "loss" }),
        Metric::Accuracy => ("accuracy", "Accuracy20%", "Accuracy20%"),
    };
    let title = format!("{what} against iteration");
    let caption = format!(
        "{what} of {} model{} against training iteration, on the training set (left) and the validation set (right). \
         The {n_marked} best by maximum validation Accuracy20% are in colour{}{}.",
        with_curve.len(),
        if with_curve.len() == 1 { "" } else { "s" },
        if crowd.is_empty() { String::new() } else { format!(", the other {} in grey", crowd.len()) },
        if metric == Metric::Accuracy && n_marked > 0 { "; a dot marks each coloured model's best validation snapshot" } else { "" },
    );
    let fig = render(name, title.clone(), caption, (1320, 500), |root| {
        let body = titled(root, &title)?;
        let (plots, side) = body.split_horizontally(1320 - 230);
        let halves = plots.split_evenly((1, 2));
        for (area, validation) in halves.iter().zip([false, true]) {
            let mut chart = panel(area, Some(if validation { "validation set" } else { "training set" }), &x, "iteration", &y, ydesc)?;
            let points = |m: &Model| -> Vec<(f64, f64)> {
                m.curve.iter().map(|r| (r.iteration as f64, get(r, validation))).filter(|(_, v)| y.accepts(*v)).map(|(i, v)| (i, y.pos(v))).collect()
            };
            let crowd_style = CROWD.mix(alpha).stroke_width(1);
            chart.draw_series(crowd.iter().map(|m| PathElement::new(points(m), crowd_style)))?;
            // Best last, so that it lies on top.
            for (i, m) in models.iter().take(n_marked).enumerate().rev() {
                let c = color(i);
                chart.draw_series(std::iter::once(PathElement::new(points(m), c.mix(0.95).stroke_width(2))))?;
                if metric == Metric::Accuracy && validation {
                    if let Some(b) = cyplam_core::metrics_csv::best_row(&m.curve) {
                        chart.draw_series(std::iter::once(Circle::new((b.iteration as f64, b.validation_accuracy20), 4, c.filled())))?;
                    }
                }
            }
        }
        let mut entries: Vec<(Mark, String)> = models
            .iter()
            .take(n_marked)
            .enumerate()
            .map(|(i, m)| (Mark::Line(color(i).to_rgba(), 3), format!("{}.\t{}\t{:.3}", i + 1, m.row.name, m.row.best_accuracy20.unwrap_or(f64::NAN))))
            .collect();
        if !crowd.is_empty() {
            entries.push((Mark::Line(CROWD.mix(0.8), 2), format!("the other {}", crowd.len())));
        }
        legend(&side, "max val. Acc20%", &entries, 70, &[22, 110])
    })?;
    Ok(Some(fig))
}

/// The models on the Pareto front of maximum validation Accuracy20% against free parameters
/// (`pareto::pareto_front`), fewest free parameters first. Models without a finite best accuracy
/// are on none.
pub fn front(models: &[Model]) -> Vec<&Model> {
    let points: Vec<(i64, f64)> = models.iter().map(|m| (m.row.free_params, m.row.best_accuracy20.unwrap_or(f64::NAN))).collect();
    super::pareto::pareto_front(&points).into_iter().map(|i| &models[i]).collect()
}

/// Maximum validation Accuracy20% against free parameters (log scale), every model; the best
/// MARKED as numbered triangles, listed in the legend; the Pareto front as a step line through
/// its models, each ringed.
pub(crate) fn accuracy_vs_params(models: &[Model]) -> Result<Option<Figure>> {
    let pts: Vec<(usize, &Model, f64)> =
        models.iter().enumerate().filter_map(|(i, m)| m.row.best_accuracy20.filter(|a| a.is_finite()).map(|a| (i, m, a))).collect();
    if pts.is_empty() {
        return Ok(None);
    }
    let front = front(models);
    let (pmin, pmax) =
        pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, m, _)| (a.min(m.row.free_params as f64), b.max(m.row.free_params as f64)));
    let (amin, amax) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, _, v)| (a.min(*v), b.max(*v)));
    let x = Axis::log(pmin.max(1.0), pmax.max(1.0), fmt_si);
    let y = accuracy_axis(amin, amax);
    let n_marked = marked(models);
    let title = "Maximum validation Accuracy20% against free parameters".to_string();
    let caption = format!(
        "Each model's best validation Accuracy20% against its number of free parameters (log scale), {} models; \
         the {n_marked} best are the numbered red triangles, named in the legend. \
         The green step line and rings mark the Pareto front: the {} model{} that no other model beats on both \
         (at least as accurate with no more free parameters).",
        pts.len(),
        front.len(),
        if front.len() == 1 { "" } else { "s" }
    );
    let fig = render("accuracy_vs_params", title.clone(), caption, (1200, 600), |root| {
        let body = titled(root, &title)?;
        let (plot, side) = body.split_horizontally(1200 - 280);
        let mut chart = panel(&plot, None, &x, "free parameters", &y, "maximum validation Accuracy20%")?;
        // The front under the points: from each of its models level to the next one's size, then
        // up to its accuracy (the best accuracy reached with at most so many free parameters).
        let corners: Vec<(f64, f64)> = front.iter().map(|m| (x.pos(m.row.free_params as f64), m.row.best_accuracy20.unwrap_or_default())).collect();
        let mut steps: Vec<(f64, f64)> = Vec::new();
        // (Models tied on both share a corner.)
        for p in corners.iter().filter(|p| p.1.is_finite()) {
            if let Some(&(px, pa)) = steps.last() {
                if px == p.0 && pa == p.1 {
                    continue;
                }
                steps.push((p.0, pa));
            }
            steps.push(*p);
        }
        if steps.len() >= 2 {
            chart.draw_series(std::iter::once(PathElement::new(steps, FRONT.mix(0.9).stroke_width(2))))?;
        }
        let others = BLUE_GREY.mix(crowd_alpha(pts.len()).max(0.45));
        chart.draw_series(
            pts.iter().filter(|(i, _, _)| *i >= n_marked).map(|(_, m, a)| Circle::new((x.pos(m.row.free_params as f64), *a), 4, others.filled())),
        )?;
        let best: Vec<(usize, (f64, f64))> =
            pts.iter().filter(|(i, _, _)| *i < n_marked).map(|(i, m, a)| (*i, (x.pos(m.row.free_params as f64), *a))).collect();
        chart.draw_series(best.iter().rev().map(|(_, p)| TriangleMarker::new(*p, 7, HIGHLIGHT.filled())))?;
        chart.draw_series(corners.iter().map(|p| Circle::new(*p, 9, FRONT.stroke_width(2))))?;
        // Rank numbers beside the triangles, each where it overlaps no number already placed.
        let number = (FONT, 14).into_font().style(FontStyle::Bold).color(&HIGHLIGHT).pos(Pos::new(HPos::Left, VPos::Center));
        let mut placed: Vec<(i32, i32, i32, i32)> = Vec::new();
        for (i, p) in &best {
            let text = format!("{}", i + 1);
            let (px, py) = chart.backend_coord(p);
            let w = 8 * text.len() as i32 + 2;
            let spot = [(8, -9), (8, 7), (-8 - w, -9), (-8 - w, 7), (8, -23), (8, 21), (-8 - w, -23), (-8 - w, 21)]
                .into_iter()
                .map(|(dx, dy)| (px + dx, py + dy - 6, px + dx + w, py + dy + 6))
                .find(|b| placed.iter().all(|q| b.2 <= q.0 || q.2 <= b.0 || b.3 <= q.1 || q.3 <= b.1))
                .unwrap_or((px + 8, py - 15, px + 8 + w, py - 3));
            placed.push(spot);
            root.draw(&Text::new(text, (spot.0, spot.1 + 6), number.clone()))?;
        }
        let mut entries = vec![(Mark::Triangle(HIGHLIGHT.to_rgba()), format!("the {n_marked} best"))];
        if pts.len() > n_marked {
            entries.push((Mark::Circle(others), format!("the other {}", pts.len() - n_marked)));
        }
        entries.push((Mark::Line(FRONT.to_rgba(), 2), format!("Pareto front ({} model{})", front.len(), if front.len() == 1 { "" } else { "s" })));
        entries.push((Mark::None, String::new()));
        entries.push((Mark::Heading, "\tmodel\tacc20\tparams".to_string()));
        entries.extend(models.iter().take(n_marked).enumerate().map(|(i, m)| {
            (Mark::None, format!("{}.\t{}\t{:.3}\t{}", i + 1, m.row.name, m.row.best_accuracy20.unwrap_or(f64::NAN), fmt_params(m.row.free_params)))
        }));
        legend(&side, "", &entries, 40, &[0, 88, 140])
    })?;
    Ok(Some(fig))
}

/// Histogram of the training times of the completed models, with the median marked.
pub(crate) fn train_time_hist(models: &[Model]) -> Result<Option<Figure>> {
    let mut secs: Vec<f64> = models
        .iter()
        .filter(|m| m.row.status == crate::db::RecordedStatus::Completed)
        .filter_map(|m| m.row.train_seconds)
        .filter(|s| s.is_finite() && *s >= 0.0)
        .collect();
    if secs.is_empty() {
        return Ok(None);
    }
    secs.sort_by(f64::total_cmp);
    let max = secs[secs.len() - 1];
    let (unit, div) = if max < 120.0 {
        ("s", 1.0)
    } else if max < 2.0 * 3600.0 {
        ("min", 60.0)
    } else {
        ("h", 3600.0)
    };
    let vals: Vec<f64> = secs.iter().map(|s| s / div).collect();
    let (lo, hi) = (vals[0], vals[vals.len() - 1]);
    let bins = ((vals.len() as f64).sqrt().ceil() as usize).clamp(5, 30);
    let width = nice_step(((hi - lo) / bins as f64).max(hi.abs() * 1e-3).max(1e-9));
    let start = (lo / width).floor() * width;
    let n_bins = (((hi - start) / width).floor() as usize + 1).max(1);
    let mut counts = vec![0usize; n_bins];
    for v in &vals {
        let k = (((v - start) / width).floor() as usize).min(n_bins - 1);
        counts[k] += 1;
    }
    let median = if vals.len() % 2 == 1 { vals[vals.len() / 2] } else { (vals[vals.len() / 2 - 1] + vals[vals.len() / 2]) / 2.0 };
    let x = Axis::linear(start, start + width * n_bins as f64, 8, fmt_num);
    let top = *counts.iter().max().unwrap_or(&1) as f64;
    let ystep = nice_step(top / 5.0).max(1.0).round();
    let y = Axis::fixed(0.0, ((top * 1.12) / ystep).ceil() * ystep, ystep, fmt_num);
    let title = "Training times".to_string();
    let total: f64 = secs.iter().sum();
    let caption = format!(
        "Training time of the {} completed model{} (bins of {} {unit}); median {} {unit}, longest {} {unit}, {:.1} hours in all.",
        secs.len(),
        if secs.len() == 1 { "" } else { "s" },
        fmt_num(width),
        fmt_num((median * 10.0).round() / 10.0),
        fmt_num((hi * 10.0).round() / 10.0),
        total / 3600.0
    );
    let fig = render("train_time_hist", title.clone(), caption, (960, 480), |root| {
        let body = titled(root, &title)?;
        let mut chart = panel(&body, None, &x, &format!("training time ({unit})"), &y, "models")?;
        chart.draw_series(counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(k, c)| {
            let x0 = start + k as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, *c as f64)], BLUE_GREY.mix(0.85).filled())
        }))?;
        chart.draw_series(counts.iter().enumerate().filter(|(_, c)| **c > 0).map(|(k, c)| {
            let x0 = start + k as f64 * width;
            Rectangle::new([(x0, 0.0), (x0 + width, *c as f64)], WHITE.stroke_width(1))
        }))?;
        chart.draw_series(DashedLineSeries::new(vec![(median, 0.0), (median, y.hi)], 6, 4, HIGHLIGHT.stroke_width(2)))?;
        let note = (FONT, 15).into_font().color(&HIGHLIGHT).pos(Pos::new(HPos::Left, VPos::Top));
        chart.draw_series(std::iter::once(
            EmptyElement::at((median, y.hi)) + Text::new(format!("median {} {unit}", fmt_num((median * 10.0).round() / 10.0)), (6, 4), note),
        ))?;
        Ok(())
    })?;
    Ok(Some(fig))
}

#[derive(Clone, Copy, PartialEq)]
pub(crate) enum Grouping {
    Activation,
    Regularization,
}

/// `l1=0.001@conv2+fc1` as `L1 0.001 on conv2+fc1`; `none` as `none`.
pub fn regularization_label(label: &str) -> String {
    match label.split_once('@') {
        Some((terms, layers)) => {
            let terms: Vec<String> = terms
                .split(',')
                .map(|t| match t.split_once('=') {
                    Some((k, v)) => format!("{} {v}", k.to_uppercase()),
                    None => t.to_string(),
                })
                .collect();
            format!("{} on {layers}", terms.join(" + "))
        }
        None => label.to_string(),
    }
}

/// Maximum validation Accuracy20% against free parameters, one curve per activation function (or
/// regularization); where several models of a curve have the same number of free parameters, the
/// best of them.
pub(crate) fn by_group(models: &[Model], grouping: Grouping) -> Result<Option<Figure>> {
    // Groups in grid order (the order the grid file lists them), "none" first.
    let mut by_index: Vec<&Model> = models.iter().collect();
    by_index.sort_by_key(|m| m.row.index);
    let key = |m: &Model| match grouping {
        Grouping::Activation => m.row.activation.clone(),
        Grouping::Regularization => m.row.regularization.clone(),
    };
    let mut order: Vec<String> = Vec::new();
    for m in &by_index {
        let k = key(m);
        if !order.contains(&k) {
            order.push(k);
        }
    }
    if grouping == Grouping::Regularization {
        order.sort_by_key(|k| k != "none");
    }
    let mut curves: Vec<(String, Vec<(i64, f64)>)> = Vec::new();
    for k in &order {
        let mut best: BTreeMap<i64, f64> = BTreeMap::new();
        for m in by_index.iter().filter(|m| key(m) == *k) {
            if let Some(a) = m.row.best_accuracy20.filter(|a| a.is_finite()) {
                let e = best.entry(m.row.free_params).or_insert(a);
                *e = e.max(a);
            }
        }
        if !best.is_empty() {
            curves.push((k.clone(), best.into_iter().collect()));
        }
    }
    if curves.is_empty() {
        return Ok(None);
    }
    let all: Vec<(i64, f64)> = curves.iter().flat_map(|(_, c)| c.iter().copied()).collect();
    let (pmin, pmax) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (p, _)| (a.min(*p as f64), b.max(*p as f64)));
    let (amin, amax) = all.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, v)| (a.min(*v), b.max(*v)));
    let x = Axis::log(pmin.max(1.0), pmax.max(1.0), fmt_si);
    let y = accuracy_axis(amin, amax);
    let (name, what, heading) = match grouping {
        Grouping::Activation => ("by_activation", "activation function", "activation"),
        Grouping::Regularization => ("by_regularization", "regularization", "regularization"),
    };
    let label = |k: &str| match grouping {
        Grouping::Activation => k.to_string(),
        Grouping::Regularization => regularization_label(k),
    };
    let title = format!("Maximum validation Accuracy20% by {what}");
    let caption = format!(
        "Maximum validation Accuracy20% against free parameters (log scale), one curve per {what} ({} curves{}).",
        curves.len(),
        if grouping == Grouping::Regularization && order.first().map(String::as_str) == Some("none") { "; the unregularized one in black" } else { "" }
    );
    let fig = render(name, title.clone(), caption, (1200, 600), |root| {
        let body = titled(root, &title)?;
        let (plot, side) = body.split_horizontally(1200 - 280);
        let mut chart = panel(&plot, None, &x, "free parameters", &y, "maximum validation Accuracy20%")?;
        let mut entries = Vec::new();
        // Room for the longest label (about 0.55 em per character), then the best accuracy.
        let widest = curves.iter().map(|(k, _)| label(k).chars().count()).max().unwrap_or(4) as i32 * 7 + 14;
        let mut ci = 0;
        for (k, pts) in &curves {
            let c = if grouping == Grouping::Regularization && k == "none" {
                INK
            } else {
                ci += 1;
                color(ci - 1)
            };
            let xy: Vec<(f64, f64)> = pts.iter().map(|(p, a)| (x.pos(*p as f64), *a)).collect();
            chart.draw_series(std::iter::once(PathElement::new(xy.clone(), c.mix(0.9).stroke_width(2))))?;
            chart.draw_series(xy.iter().map(|p| Circle::new(*p, 4, c.filled())))?;
            let best = pts.iter().map(|(_, a)| *a).fold(f64::NEG_INFINITY, f64::max);
            entries.push((Mark::Line(c.to_rgba(), 3), format!("{}\t{best:.3}", label(k))));
        }
        entries.insert(0, (Mark::Heading, format!("{heading}\tbest")));
        legend(&side, "", &entries, 70, &[widest])
    })?;
    Ok(Some(fig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::db::RecordedStatus;
    use crate::plot::figure::test_model;

    /// Models of known size and best accuracy, in ranking order.
    fn sized(spec: &[(usize, i64, Option<f64>)]) -> Vec<Model> {
        let mut ms: Vec<Model> = spec
            .iter()
            .map(|&(k, params, acc)| {
                let mut m = test_model(k, acc, RecordedStatus::Completed, serde_json::json!({}));
                m.row.free_params = params;
                m
            })
            .collect();
        ms.sort_by(|a, b| b.row.best_accuracy20.unwrap_or(-1.0).total_cmp(&a.row.best_accuracy20.unwrap_or(-1.0)));
        ms
    }

    #[test]
    fn accuracy_vs_params_marks_the_front() {
        // 1 (small, fair), 3 (mid, good), 4 and 5 (large, best, tied) are on the front; 0, 2 are
        // beaten, 6 has no result.
        let ms = sized(&[
            (0, 20_000, Some(0.55)),
            (1, 10_000, Some(0.60)),
            (2, 40_000, Some(0.62)),
            (3, 30_000, Some(0.70)),
            (4, 80_000, Some(0.80)),
            (5, 80_000, Some(0.80)),
            (6, 5_000, None),
        ]);
        let names: Vec<&str> = front(&ms).iter().map(|m| m.row.name.as_str()).collect();
        assert_eq!(names, ["Model-001", "Model-003", "Model-004", "Model-005"]);
        let fig = accuracy_vs_params(&ms).unwrap().unwrap();
        let svg = &fig.svg;
        // One ring per model on the front, in the front's colour, and its legend entry.
        let ring = format!("fill=\"none\" stroke=\"#{:02X}{:02X}{:02X}\"", FRONT.0, FRONT.1, FRONT.2);
        assert_eq!(svg.lines().filter(|l| l.starts_with("<circle") && l.contains(&ring)).count(), 4, "{svg}");
        assert!(svg.contains("Pareto front (4 models)"), "{svg}");
        assert!(fig.caption.contains("the 4 models that no other model beats"), "{}", fig.caption);
        // The step line: 3 distinct corners (the tie shares one), so 5 points: level, then up.
        let front_line: Vec<&str> =
            svg.lines().filter(|l| l.starts_with("<polyline") && l.contains(&format!("stroke=\"#{:02X}{:02X}{:02X}\"", FRONT.0, FRONT.1, FRONT.2))).collect();
        assert_eq!(front_line.len(), 2, "the step line and the legend's mark: {front_line:?}");
        let points = |l: &str| l.split("points=\"").nth(1).unwrap_or("").split('"').next().unwrap_or("").split_whitespace().count();
        assert_eq!(front_line.iter().map(|l| points(l)).max(), Some(5), "{front_line:?}");
    }

    #[test]
    fn a_single_model_is_its_own_front() {
        let ms = sized(&[(0, 20_000, Some(0.55)), (1, 10_000, None)]);
        assert_eq!(front(&ms).len(), 1);
        let fig = accuracy_vs_params(&ms).unwrap().unwrap();
        assert!(fig.svg.contains("Pareto front (1 model)"));
    }
    #[test]
    fn regularization_labels() {
        assert_eq!(regularization_label("none"), "none");
        assert_eq!(regularization_label("l1=0.001@fc1"), "L1 0.001 on fc1");
        assert_eq!(regularization_label("l2=0.01@conv2+fc1"), "L2 0.01 on conv2+fc1");
    }
}
