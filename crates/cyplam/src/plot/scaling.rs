//! The scalability study's figures (`cyplam scale`, SPEC.md section 5.4): mean training time
//! and speed-up against cores, and the packings measured.

use super::chart::*;
use super::figure::{Figure, Result};
use crate::scaling::{PackingRun, Scaling, ScalingModel, ScalingPoint};
use plotters::prelude::*;

/// The scalability figures there is data for: `scaling_time`, `scaling_speedup`, `packings`.
pub fn scaling(s: &Scaling) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    out.extend(scaling_time(s)?);
    out.extend(scaling_speedup(s)?);
    out.extend(packings(s)?);
    Ok(out)
}

/// The cores axis of both scaling figures: linear, from 0 unless the fewest cores measured are
/// far from it, ticks at the core counts measured (thinned where they would crowd).
pub(crate) fn cores_axis(cores: &[u32]) -> Axis {
    let max = cores.iter().copied().max().unwrap_or(1).max(1) as f64;
    let min = cores.iter().copied().min().unwrap_or(1) as f64;
    let lo = (min - (max - min).max(1.0) * 0.15).max(0.0);
    let lo = if lo < max * 0.2 { 0.0 } else { lo };
    let hi = max + ((max - lo) * 0.05).max(0.1);
    let mut ticks: Vec<f64> = Vec::new();
    let mut sorted: Vec<u32> = cores.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    // Keep the fewest and the most cores; drop one closer than 1/40 of the axis to the one kept
    // before it.
    let gap = (hi - lo) / 40.0;
    for c in sorted.iter().map(|c| *c as f64) {
        if ticks.last().is_none_or(|t| c - t >= gap) {
            ticks.push(c);
        }
    }
    if let Some(last) = sorted.last().map(|c| *c as f64) {
        if ticks.last() != Some(&last) {
            if ticks.len() > 1 {
                ticks.pop();
            }
            ticks.push(last);
        }
    }
    Axis { lo, hi, log: false, ticks, format: fmt_num }
}

pub(crate) fn scaling_legend(s: &Scaling, with: impl Fn(usize, &ScalingModel) -> String) -> Vec<(Mark, String)> {
    s.models.iter().enumerate().filter(|(_, m)| !m.points().is_empty()).map(|(i, m)| (Mark::Line(color(i).to_rgba(), 3), with(i, m))).collect()
}

/// Mean training time against cores, one curve per model, error bars of one standard deviation.
pub(crate) fn scaling_time(s: &Scaling) -> Result<Option<Figure>> {
    let series: Vec<(usize, &ScalingModel, Vec<ScalingPoint>)> =
        s.models.iter().enumerate().map(|(i, m)| (i, m, m.points())).filter(|(_, _, p)| !p.is_empty()).collect();
    if series.is_empty() {
        return Ok(None);
    }
    let cores: Vec<u32> = series.iter().flat_map(|(_, _, p)| p.iter().map(|q| q.cores)).collect();
    let x = cores_axis(&cores);
    let lows = series.iter().flat_map(|(_, _, p)| p.iter().map(|q| (q.mean - q.sd).max(q.mean * 0.5)));
    let highs = series.iter().flat_map(|(_, _, p)| p.iter().map(|q| q.mean + q.sd));
    let vmin = lows.fold(f64::INFINITY, f64::min);
    let vmax = highs.fold(f64::NEG_INFINITY, f64::max);
    let y = if vmin > 0.0 && vmax / vmin > 10.0 { Axis::log(vmin, vmax, fmt_num) } else { Axis::linear(0.0, vmax * 1.08, 6, fmt_num) };
    let repeats = series.iter().flat_map(|(_, _, p)| p.iter().map(|q| q.runs)).max().unwrap_or(1);
    let title = "Mean training time against cores".to_string();
    let caption = format!(
        "Mean wall time of one training against the cores (threads) it runs on, {} model{}, on {}{}{}; measured {}.",
        series.len(),
        if series.len() == 1 { "" } else { "s" },
        s.node_key.label(),
        if repeats > 1 { format!(", {repeats} runs per point; the error bars are one standard deviation") } else { String::new() },
        if y.log { "; the time axis is logarithmic" } else { "" },
        crate::output::utc(s.measured_unix.max(0) as u64),
    );
    let fig = render("scaling_time", title.clone(), caption, (1200, 560), |root| {
        let body = titled(root, &title)?;
        let (plot, side) = body.split_horizontally(1200 - 300);
        let ydesc = if y.log { "mean training time (s, log scale)" } else { "mean training time (s)" };
        let mut chart = panel(&plot, None, &x, "cores per training", &y, ydesc)?;
        // Half the width of an error bar's caps, in cores.
        let cap = (x.hi - x.lo) * 0.008;
        for (i, _, pts) in &series {
            let c = color(*i);
            let bars = pts.iter().filter(|q| q.runs > 1 && q.sd > 0.0).map(|q| {
                let lo = (q.mean - q.sd).max(if y.log { q.mean * 0.5 } else { 0.0 });
                let (xc, lo, hi) = (q.cores as f64, y.pos(lo), y.pos(q.mean + q.sd));
                [vec![(xc, lo), (xc, hi)], vec![(xc - cap, lo), (xc + cap, lo)], vec![(xc - cap, hi), (xc + cap, hi)]]
            });
            chart.draw_series(bars.flatten().map(|seg| PathElement::new(seg, c.mix(0.9).stroke_width(2))))?;
            let xy: Vec<(f64, f64)> = pts.iter().map(|q| (q.cores as f64, y.pos(q.mean))).collect();
            chart.draw_series(std::iter::once(PathElement::new(xy.clone(), c.mix(0.95).stroke_width(2))))?;
            chart.draw_series(xy.iter().map(|p| Circle::new(*p, 5, c.filled())))?;
        }
        let mut entries = vec![(Mark::MarkedHeading, "model\tarch\tparams".to_string())];
        entries.extend(scaling_legend(s, |_, m| format!("{}\t{}\t{}", m.name, m.arch, fmt_params(m.free_params))));
        entries.push((Mark::None, String::new()));
        entries.push((Mark::Heading, "mean time, s (cores)".to_string()));
        entries.push((Mark::MarkedHeading, "model\tfewest\tmost".to_string()));
        entries.extend(scaling_legend(s, |_, m| {
            let p = m.points();
            let (a, b) = (p[0], p[p.len() - 1]);
            format!("{}\t{} ({})\t{} ({})", m.name, fmt_secs(a.mean), a.cores, fmt_secs(b.mean), b.cores)
        }));
        legend(&side, "", &entries, 60, &[88, 176])
    })?;
    Ok(Some(fig))
}

/// Seconds for a legend: 3 significant digits.
pub(crate) fn fmt_secs(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0}")
    } else if s >= 10.0 {
        format!("{s:.1}")
    } else {
        format!("{s:.2}")
    }
}

/// Speed-up T(c0)/T(c) against cores, one curve per model, with the ideal linear speed-up.
pub(crate) fn scaling_speedup(s: &Scaling) -> Result<Option<Figure>> {
    type Series<'a> = (usize, &'a ScalingModel, Vec<(u32, f64)>);
    let series: Vec<Series> = s.models.iter().enumerate().map(|(i, m)| (i, m, m.speedups())).filter(|(_, _, p)| p.len() >= 2).collect();
    if series.is_empty() {
        return Ok(None);
    }
    let cores: Vec<u32> = series.iter().flat_map(|(_, _, p)| p.iter().map(|q| q.0)).collect();
    let c0 = series.iter().map(|(_, _, p)| p[0].0).min().unwrap_or(1).max(1);
    let cmax = cores.iter().copied().max().unwrap_or(1);
    let x = cores_axis(&cores);
    let ideal_max = cmax as f64 / c0 as f64;
    let top = series.iter().flat_map(|(_, _, p)| p.iter().map(|q| q.1)).fold(ideal_max, f64::max);
    let y = Axis::linear(0.0, top * 1.05, 6, fmt_num);
    let base = if c0 == 1 { "1 core".to_string() } else { format!("{c0} cores") };
    let title = "Speed-up against cores".to_string();
    let caption = format!(
        "Speed-up T({c0})/T(N): the mean training time on the fewest cores measured ({base}) divided by the mean time on N cores, \
         one curve per model, on {}. The dashed line is the ideal linear speed-up N/{c0}; the legend gives each model's \
         speed-up and parallel efficiency on {cmax} cores.",
        s.node_key.label()
    );
    let fig = render("scaling_speedup", title.clone(), caption, (1200, 560), |root| {
        let body = titled(root, &title)?;
        let (plot, side) = body.split_horizontally(1200 - 300);
        let mut chart = panel(&plot, None, &x, "cores per training", &y, &format!("speed-up over {base}"))?;
        let ideal = [(c0 as f64, 1.0), (x.hi, x.hi / c0 as f64)].map(|(a, b)| if b > y.hi { (y.hi * c0 as f64, y.hi) } else { (a, b) });
        chart.draw_series(DashedLineSeries::new(ideal.to_vec(), 8, 6, INK.mix(0.55).stroke_width(2)))?;
        for (i, _, pts) in &series {
            let c = color(*i);
            let xy: Vec<(f64, f64)> = pts.iter().map(|(c, v)| (*c as f64, *v)).collect();
            chart.draw_series(std::iter::once(PathElement::new(xy.clone(), c.mix(0.95).stroke_width(2))))?;
            chart.draw_series(xy.iter().map(|p| Circle::new(*p, 5, c.filled())))?;
        }
        let mut entries = vec![(Mark::MarkedHeading, format!("model\ton {cmax}\tefficiency"))];
        for (i, m, pts) in &series {
            let (cl, v) = pts[pts.len() - 1];
            let eff = v / (cl as f64 / c0 as f64);
            let on = if cl == cmax { format!("{v:.2}x") } else { format!("{v:.2}x ({cl})") };
            entries.push((Mark::Line(color(*i).to_rgba(), 3), format!("{}\t{on}\t{:.0}%", m.name, eff * 100.0)));
        }
        entries.push((Mark::Line(INK.mix(0.55), 2), "ideal (linear)".to_string()));
        legend(&side, "", &entries, 60, &[88, 166])
    })?;
    Ok(Some(fig))
}

/// Trainings per hour of each packing measured, the recommended one highlighted.
pub(crate) fn packings(s: &Scaling) -> Result<Option<Figure>> {
    let packs: Vec<&PackingRun> = s.packings.iter().filter(|p| p.trainings_per_hour.is_finite()).collect();
    if packs.is_empty() {
        return Ok(None);
    }
    let n = packs.len();
    let top = packs.iter().map(|p| p.trainings_per_hour).fold(0.0, f64::max);
    let x = Axis { lo: -0.6, hi: n as f64 - 0.4, log: false, ticks: Vec::new(), format: fmt_num };
    let y = Axis::linear(0.0, top * 1.12, 6, fmt_num);
    let best = packs.iter().position(|p| p.recommended);
    let node_cores = packs[0].node_cores;
    let title = "Packings: trainings per hour".to_string();
    let caption = format!(
        "Trainings per hour of a {node_cores}-core node ({}) for each packing k x c (k trainings of c cores each, run at once), \
         measured with {} ({} iterations){}.",
        s.node_key.label(),
        packs[0].model,
        packs[0].iterations,
        match best {
            Some(b) => format!("; the recommended packing, {}, is in red (cyplam submit --packing auto uses it)", packs[b].label()),
            None => String::new(),
        }
    );
    let width = (560 + 90 * n as u32).clamp(960, 1320);
    let fig = render("packings", title.clone(), caption, (width, 520), |root| {
        let body = titled(root, &title)?;
        let mut chart = panel(&body, None, &x, "packing (trainings x cores each)", &y, "trainings per hour")?;
        let half = 0.32;
        chart.draw_series(packs.iter().enumerate().map(|(i, p)| {
            let c = if Some(i) == best { HIGHLIGHT } else { BLUE_GREY };
            Rectangle::new([(i as f64 - half, 0.0), (i as f64 + half, p.trainings_per_hour)], c.mix(0.9).filled())
        }))?;
        let value = (FONT, 15).into_font().color(&INK).pos(Pos::new(HPos::Center, VPos::Bottom));
        let value_best = (FONT, 15).into_font().style(FontStyle::Bold).color(&HIGHLIGHT).pos(Pos::new(HPos::Center, VPos::Bottom));
        let tick = label_font().pos(Pos::new(HPos::Center, VPos::Top));
        let tick_best = (FONT, 15).into_font().style(FontStyle::Bold).color(&HIGHLIGHT).pos(Pos::new(HPos::Center, VPos::Top));
        for (i, p) in packs.iter().enumerate() {
            let is_best = Some(i) == best;
            let (px, py) = chart.backend_coord(&(i as f64, p.trainings_per_hour));
            let (_, base) = chart.backend_coord(&(i as f64, 0.0));
            let text = if is_best { format!("{:.1} (recommended)", p.trainings_per_hour) } else { format!("{:.1}", p.trainings_per_hour) };
            root.draw(&Text::new(text, (px, py - 5), if is_best { value_best.clone() } else { value.clone() }))?;
            root.draw(&Text::new(p.label(), (px, base + 8), if is_best { tick_best.clone() } else { tick.clone() }))?;
        }
        Ok(())
    })?;
    Ok(Some(fig))
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn cores_axis_ticks_the_cores_measured() {
        assert_eq!(cores_axis(&[1, 2, 4, 8, 16, 24]).ticks, vec![1.0, 2.0, 4.0, 8.0, 16.0, 24.0]);
        assert_eq!(cores_axis(&[1, 2, 4, 8, 16, 32, 64, 128]).ticks, vec![1.0, 8.0, 16.0, 32.0, 64.0, 128.0]);
        let a = cores_axis(&[2, 1]);
        assert_eq!(a.ticks, vec![1.0, 2.0]);
        assert!(a.lo > 0.5 && a.lo < 1.0 && a.hi > 2.0, "{a:?}");
    }
}
