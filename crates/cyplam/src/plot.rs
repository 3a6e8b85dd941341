//! The figures of a sweep (SPEC.md section 7) drawn as SVG with plotters: learning curves,
//! maximum validation Accuracy20% against free parameters, training times, and the activation and
//! regularization comparisons. Only the SVG backend is used: text is laid out by whatever shows
//! the SVG, so no font files are needed.

use crate::db::ModelRow;
use cyplam_core::files::MetricsRow;
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use std::collections::BTreeMap;

/// How many of the best models the figures single out (SPEC.md section 5: "top 10 marked").
pub const MARKED: usize = 10;

/// A figure could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing a figure: {0}")]
pub struct PlotError(String);

impl<E: std::error::Error + Send + Sync> From<DrawingAreaErrorKind<E>> for PlotError {
    fn from(e: DrawingAreaErrorKind<E>) -> Self {
        PlotError(e.to_string())
    }
}

type Result<T> = std::result::Result<T, PlotError>;

/// One model of the sweep with its learning curve.
#[derive(Debug, Clone)]
pub struct Model {
    pub row: ModelRow,
    pub curve: Vec<MetricsRow>,
}

/// One drawn figure.
#[derive(Debug, Clone)]
pub struct Figure {
    /// File stem and `data-figure` attribute: `loss`, `accuracy`, `accuracy_vs_params`,
    /// `train_time_hist`, `by_activation`, `by_regularization`.
    pub name: &'static str,
    pub title: String,
    /// A sentence or two saying what is shown, for the HTML page.
    pub caption: String,
    /// A complete `<svg>` element carrying `id="fig-NAME"` and `data-figure="NAME"`.
    pub svg: String,
}

/// Every figure the sweep has data for, in the order of SPEC.md section 7. `models` is in ranking
/// order (best first); `varying` is the grid's `varying_settings()`.
pub fn all(models: &[Model], varying: &[&str]) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    out.extend(learning_curves(models, Metric::Loss)?);
    out.extend(learning_curves(models, Metric::Accuracy)?);
    out.extend(accuracy_vs_params(models)?);
    out.extend(train_time_hist(models)?);
    if varying.contains(&"activation") {
        out.extend(by_group(models, Grouping::Activation)?);
    }
    if varying.iter().any(|v| ["l1", "l2", "reg_layers"].contains(v)) {
        out.extend(by_group(models, Grouping::Regularization)?);
    }
    Ok(out)
}

// ------------------------------------------------------------------------------------------------
// Look
// ------------------------------------------------------------------------------------------------

const FONT: &str = "sans-serif";
/// Tableau 10: distinct, and still distinct for most colour-blind readers.
const PALETTE: [RGBColor; 10] = [
    RGBColor(0x4E, 0x79, 0xA7),
    RGBColor(0xF2, 0x8E, 0x2B),
    RGBColor(0xE1, 0x57, 0x59),
    RGBColor(0x76, 0xB7, 0xB2),
    RGBColor(0x59, 0xA1, 0x4F),
    RGBColor(0xED, 0xC9, 0x48),
    RGBColor(0xB0, 0x7A, 0xA1),
    RGBColor(0xFF, 0x9D, 0xA7),
    RGBColor(0x9C, 0x75, 0x5F),
    RGBColor(0x79, 0x70, 0x6E),
];
const CROWD: RGBColor = RGBColor(0x8A, 0x94, 0xA3);
const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
const GRID: RGBColor = RGBColor(0xE4, 0xE6, 0xEA);
const AXIS: RGBColor = RGBColor(0x55, 0x55, 0x55);
const HIGHLIGHT: RGBColor = RGBColor(0xD6, 0x27, 0x28);

fn title_font() -> TextStyle<'static> {
    (FONT, 22).into_font().style(FontStyle::Bold).color(&INK)
}
fn caption_font() -> TextStyle<'static> {
    (FONT, 18).into_font().color(&INK)
}
fn label_font() -> TextStyle<'static> {
    (FONT, 15).into_font().color(&AXIS)
}
fn desc_font() -> TextStyle<'static> {
    (FONT, 17).into_font().color(&INK)
}
fn legend_font() -> TextStyle<'static> {
    (FONT, 15).into_font().color(&INK)
}
fn legend_bold() -> TextStyle<'static> {
    (FONT, 15).into_font().style(FontStyle::Bold).color(&INK)
}

/// Colour of the `i`-th highlighted series.
fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Opacity of the grey crowd of `n` curves: enough to see one, little enough that 200 make a
/// band rather than a blot.
fn crowd_alpha(n: usize) -> f64 {
    (3.5 / (n.max(1) as f64).sqrt()).clamp(0.15, 0.6)
}

// ------------------------------------------------------------------------------------------------
// Axes: plotters draws them, the ticks and their labels are chosen here
// ------------------------------------------------------------------------------------------------

/// An axis: plotted coordinates run from `lo` to `hi` (log10 of the value on a log axis) with
/// ticks at `ticks` (plotted coordinates too).
#[derive(Debug, Clone)]
pub struct Axis {
    pub lo: f64,
    pub hi: f64,
    pub log: bool,
    pub ticks: Vec<f64>,
    /// Formats a tick's value (not its plotted coordinate).
    format: fn(f64) -> String,
}

impl Axis {
    /// A linear axis over the data `lo..hi`, widened to round numbers, about `n` ticks.
    pub fn linear(lo: f64, hi: f64, n: usize, format: fn(f64) -> String) -> Axis {
        let (lo, hi) = if hi > lo { (lo, hi) } else if lo == 0.0 { (0.0, 1.0) } else { (lo - lo.abs() * 0.1, hi + hi.abs() * 0.1) };
        let step = nice_step((hi - lo) / n.max(2) as f64);
        let lo = (lo / step).floor() * step;
        let hi = (hi / step).ceil() * step;
        let ticks = ticks_between(lo, hi, step);
        Axis { lo, hi, log: false, ticks, format }
    }

    /// A linear axis with fixed ends and step.
    pub fn fixed(lo: f64, hi: f64, step: f64, format: fn(f64) -> String) -> Axis {
        Axis { lo, hi, log: false, ticks: ticks_between(lo, hi, step), format }
    }

    /// A log10 axis over the positive data `lo..hi`, padded a little, ticks at 1-2-5 values (or
    /// denser or sparser as the range needs).
    pub fn log(lo: f64, hi: f64, format: fn(f64) -> String) -> Axis {
        let (a, b) = (lo.max(f64::MIN_POSITIVE).log10(), hi.max(lo).max(f64::MIN_POSITIVE).log10());
        let pad = ((b - a) * 0.06).max(0.03);
        let (a, b) = (a - pad, b + pad);
        let ticks = log_ticks(10f64.powf(a), 10f64.powf(b)).into_iter().map(f64::log10).collect();
        Axis { lo: a, hi: b, log: true, ticks, format }
    }

    /// Where a value is plotted.
    pub fn pos(&self, v: f64) -> f64 {
        if self.log {
            v.log10()
        } else {
            v
        }
    }

    /// Whether a value can be plotted on this axis.
    pub fn accepts(&self, v: f64) -> bool {
        v.is_finite() && (!self.log || v > 0.0)
    }

    /// The label of the tick at plotted coordinate `t`.
    pub fn label(&self, t: f64) -> String {
        (self.format)(if self.log { 10f64.powf(t) } else { t })
    }

    fn range(&self) -> Ticked {
        Ticked { inner: (self.lo..self.hi).into(), ticks: self.ticks.clone() }
    }
}

/// A plotters coordinate with the ticks chosen here (and no minor grid lines).
#[derive(Clone)]
struct Ticked {
    inner: RangedCoordf64,
    ticks: Vec<f64>,
}

impl Ranged for Ticked {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;
    fn map(&self, v: &f64, limit: (i32, i32)) -> i32 {
        self.inner.map(v, limit)
    }
    fn key_points<H: KeyPointHint>(&self, hint: H) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }
    fn range(&self) -> std::ops::Range<f64> {
        self.inner.range()
    }
}

/// 1, 2, 2.5 or 5 times a power of ten, at least `raw`.
fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let e = 10f64.powf(raw.log10().floor());
    let f = raw / e;
    let m = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().find(|m| f <= m * (1.0 + 1e-9)).unwrap_or(10.0);
    m * e
}

fn ticks_between(lo: f64, hi: f64, step: f64) -> Vec<f64> {
    let first = (lo / step - 1e-9).ceil() as i64;
    let last = (hi / step + 1e-9).floor() as i64;
    (first..=last).map(|k| k as f64 * step).collect()
}

/// Tick values for a log axis from `lo` to `hi` (both > 0): powers of ten if there are three or
/// more (every other one when there are many), else 1-2-5, else 1..9 of each decade, else round
/// linear steps.
pub fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let in_range = |mults: &[f64]| -> Vec<f64> {
        let mut out = Vec::new();
        let (d0, d1) = (lo.log10().floor() as i32, hi.log10().ceil() as i32);
        for d in d0..=d1 {
            for m in mults {
                let v = m * 10f64.powi(d);
                // Round away the binary noise of powi so that labels read 0.02, not 0.0200000004.
                let v = format!("{v:.6e}").parse::<f64>().unwrap_or(v);
                if v >= lo * (1.0 - 1e-9) && v <= hi * (1.0 + 1e-9) {
                    out.push(v);
                }
            }
        }
        out
    };
    let decades = in_range(&[1.0]);
    if decades.len() >= 3 {
        let every = decades.len().div_ceil(7);
        return decades.into_iter().step_by(every).collect();
    }
    for mults in [&[1.0, 2.0, 5.0][..], &[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]] {
        let t = in_range(mults);
        if t.len() >= 3 {
            return t;
        }
    }
    let step = nice_step((hi - lo) / 4.0);
    ticks_between(lo, hi, step).into_iter().filter(|v| *v > 0.0).collect()
}

/// A number as it reads on an axis: up to four decimals, trailing zeros dropped; scientific
/// below 0.001.
pub fn fmt_num(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    if v.abs() < 1e-3 {
        return format!("{v:e}");
    }
    let s = format!("{v:.4}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    if s == "-0" {
        "0".into()
    } else {
        s.to_string()
    }
}

/// A count with k / M suffixes: 20000 -> 20k, 1500000 -> 1.5M.
pub fn fmt_si(v: f64) -> String {
    if v.abs() >= 1e6 {
        format!("{}M", fmt_num(v / 1e6))
    } else if v.abs() >= 1e3 {
        format!("{}k", fmt_num(v / 1e3))
    } else {
        fmt_num(v)
    }
}

/// A count of free parameters for a legend: 27098 -> 27.1k.
fn fmt_params(n: i64) -> String {
    let v = n as f64;
    if v >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if v >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else {
        n.to_string()
    }
}

// ------------------------------------------------------------------------------------------------
// Drawing helpers
// ------------------------------------------------------------------------------------------------

type Chart<'a, DB> = ChartContext<'a, DB, Cartesian2d<Ticked, Ticked>>;

/// A chart with its axes, labels and grid lines drawn.
fn panel<'a, DB: DrawingBackend>(area: &'a DrawingArea<DB, Shift>, caption: Option<&str>, x: &Axis, xdesc: &str, y: &Axis, ydesc: &str) -> Result<Chart<'a, DB>>
where
    DB::ErrorType: 'static,
{
    let mut b = ChartBuilder::on(area);
    if let Some(c) = caption {
        b.caption(c, caption_font());
    }
    let mut chart = b.margin(10).margin_right(24).x_label_area_size(52).y_label_area_size(70).build_cartesian_2d(x.range(), y.range())?;
    let (fx, fy) = (|v: &f64| x.label(*v), |v: &f64| y.label(*v));
    chart
        .configure_mesh()
        .x_desc(xdesc)
        .y_desc(ydesc)
        .x_label_formatter(&fx)
        .y_label_formatter(&fy)
        .label_style(label_font())
        .axis_desc_style(desc_font())
        .bold_line_style(GRID.stroke_width(1))
        .axis_style(AXIS.stroke_width(1))
        .draw()?;
    Ok(chart)
}

/// A title across the top of the figure; returns the rest.
fn titled<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str) -> Result<DrawingArea<DB, Shift>> {
    let (top, rest) = root.split_vertically(44);
    let w = top.dim_in_pixel().0 as i32;
    top.draw(&Text::new(title.to_string(), (w / 2, 26), title_font().pos(Pos::new(HPos::Center, VPos::Center))))?;
    Ok(rest)
}

/// A legend entry's mark.
enum Mark {
    Line(RGBAColor, u32),
    Circle(RGBAColor),
    Triangle(RGBAColor),
    /// No mark: the first cell starts at the left edge.
    None,
    /// No mark, bold text.
    Heading,
    /// No mark, bold text, its first cell where a marked entry's text starts (column headings
    /// over marked entries).
    MarkedHeading,
}

/// A legend as a column of entries, drawn in its own area beside the plots. An entry's text may
/// have tab-separated cells, which start at the offsets `cols` (pixels after the mark).
fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, heading: &str, entries: &[(Mark, String)], top: i32, cols: &[i32]) -> Result<()> {
    let left = Pos::new(HPos::Left, VPos::Center);
    let mut y = top;
    if !heading.is_empty() {
        area.draw(&Text::new(heading.to_string(), (8, y), legend_bold().pos(left)))?;
        y += 24;
    }
    for (mark, text) in entries {
        match mark {
            Mark::Line(c, w) => area.draw(&PathElement::new(vec![(8, y), (34, y)], c.stroke_width(*w)))?,
            Mark::Circle(c) => area.draw(&Circle::new((21, y), 4, c.filled()))?,
            Mark::Triangle(c) => area.draw(&TriangleMarker::new((21, y), 6, c.filled()))?,
            Mark::None | Mark::Heading | Mark::MarkedHeading => {}
        }
        let font = if matches!(mark, Mark::Heading | Mark::MarkedHeading) { legend_bold() } else { legend_font() };
        for (i, cell) in text.split('\t').enumerate() {
            let x = match (i, mark) {
                (0, Mark::None | Mark::Heading) => 8,
                (0, _) => 42,
                _ => 42 + cols.get(i - 1).copied().unwrap_or(0),
            };
            area.draw(&Text::new(cell.to_string(), (x, y), font.clone().pos(left)))?;
        }
        y += 21;
    }
    Ok(())
}

/// Draws into a fresh SVG of `size` and returns it as a figure.
fn render(name: &'static str, title: String, caption: String, size: (u32, u32), draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>) -> Result<Figure> {
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, size).into_drawing_area();
        root.fill(&WHITE)?;
        draw(&root)?;
        root.present()?;
    }
    Ok(Figure { name, svg: tag_svg(&svg, name, &title), title, caption })
}

/// Adds the figure's id, `data-figure`, role and `<title>` to plotters' `<svg>` element.
fn tag_svg(svg: &str, name: &str, title: &str) -> String {
    let esc = crate::html::escape(title);
    match svg.find("<svg") {
        Some(i) => {
            let rest = &svg[i + 4..];
            let close = rest.find('>').map(|j| j + 1).unwrap_or(0);
            format!(
                "{}<svg id=\"fig-{name}\" data-figure=\"{name}\" role=\"img\" aria-label=\"{esc}\"{}\n<title>{esc}</title>{}",
                &svg[..i],
                &rest[..close],
                &rest[close..]
            )
        }
        None => svg.to_string(),
    }
}

/// The best models (ranked, with an accuracy), at most MARKED.
fn marked(models: &[Model]) -> usize {
    models.iter().take(MARKED).take_while(|m| m.row.best_accuracy20.is_some()).count()
}

// ------------------------------------------------------------------------------------------------
// The figures
// ------------------------------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq)]
enum Metric {
    Loss,
    Accuracy,
}

/// Loss (or Accuracy20%) against iteration for every model: training set and validation set side
/// by side, the best MARKED models in colour, the others as a grey band.
fn learning_curves(models: &[Model], metric: Metric) -> Result<Option<Figure>> {
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
                    if let Some(b) = cyplam_core::files::best_row(&m.curve) {
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

/// Maximum validation Accuracy20% against free parameters (log scale), every model; the best
/// MARKED as numbered triangles, listed in the legend.
fn accuracy_vs_params(models: &[Model]) -> Result<Option<Figure>> {
    let pts: Vec<(usize, &Model, f64)> = models.iter().enumerate().filter_map(|(i, m)| m.row.best_accuracy20.filter(|a| a.is_finite()).map(|a| (i, m, a))).collect();
    if pts.is_empty() {
        return Ok(None);
    }
    let (pmin, pmax) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, m, _)| (a.min(m.row.free_params as f64), b.max(m.row.free_params as f64)));
    let (amin, amax) = pts.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), (_, _, v)| (a.min(*v), b.max(*v)));
    let x = Axis::log(pmin.max(1.0), pmax.max(1.0), fmt_si);
    let pad = ((amax - amin) * 0.08).max(0.02);
    let mut y = Axis::linear((amin - pad).max(0.0), (amax + pad).min(1.0), 6, fmt_num);
    if y.hi > 1.0 && amax <= 1.0 {
        y = Axis { hi: 1.0, ticks: y.ticks.iter().copied().filter(|t| *t <= 1.0 + 1e-9).collect(), ..y };
    }
    let n_marked = marked(models);
    let title = "Maximum validation Accuracy20% against free parameters".to_string();
    let caption = format!(
        "Each model's best validation Accuracy20% against its number of free parameters (log scale), {} models; \
         the {n_marked} best are the numbered red triangles, named in the legend.",
        pts.len()
    );
    let fig = render("accuracy_vs_params", title.clone(), caption, (1200, 600), |root| {
        let body = titled(root, &title)?;
        let (plot, side) = body.split_horizontally(1200 - 280);
        let mut chart = panel(&plot, None, &x, "free parameters", &y, "maximum validation Accuracy20%")?;
        let others = BLUE_GREY.mix(crowd_alpha(pts.len()).max(0.45));
        chart.draw_series(pts.iter().filter(|(i, _, _)| *i >= n_marked).map(|(_, m, a)| Circle::new((x.pos(m.row.free_params as f64), *a), 4, others.filled())))?;
        let best: Vec<(usize, (f64, f64))> = pts.iter().filter(|(i, _, _)| *i < n_marked).map(|(i, m, a)| (*i, (x.pos(m.row.free_params as f64), *a))).collect();
        chart.draw_series(best.iter().rev().map(|(_, p)| TriangleMarker::new(*p, 7, HIGHLIGHT.filled())))?;
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
        entries.push((Mark::None, String::new()));
        entries.push((Mark::Heading, "\tmodel\tacc20\tparams".to_string()));
        entries.extend(models.iter().take(n_marked).enumerate().map(|(i, m)| {
            (Mark::None, format!("{}.\t{}\t{:.3}\t{}", i + 1, m.row.name, m.row.best_accuracy20.unwrap_or(f64::NAN), fmt_params(m.row.free_params)))
        }));
        legend(&side, "", &entries, 40, &[0, 88, 140])
    })?;
    Ok(Some(fig))
}

const BLUE_GREY: RGBColor = RGBColor(0x4E, 0x79, 0xA7);

/// Histogram of the training times of the completed models, with the median marked.
fn train_time_hist(models: &[Model]) -> Result<Option<Figure>> {
    let mut secs: Vec<f64> = models.iter().filter(|m| m.row.status == "completed").filter_map(|m| m.row.train_seconds).filter(|s| s.is_finite() && *s >= 0.0).collect();
    if secs.is_empty() {
        return Ok(None);
    }
    secs.sort_by(f64::total_cmp);
    let max = secs[secs.len() - 1];
    let (unit, div) = if max < 120.0 { ("s", 1.0) } else if max < 2.0 * 3600.0 { ("min", 60.0) } else { ("h", 3600.0) };
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
        chart.draw_series(std::iter::once(EmptyElement::at((median, y.hi)) + Text::new(format!("median {} {unit}", fmt_num((median * 10.0).round() / 10.0)), (6, 4), note)))?;
        Ok(())
    })?;
    Ok(Some(fig))
}

#[derive(Clone, Copy, PartialEq)]
enum Grouping {
    Activation,
    Regularization,
}

/// `l1=0.001@conv2+fc1` as `L1 0.001 on conv2+fc1`; `none` as `none`.
pub fn regularization_label(label: &str) -> String {
    match label.split_once('@') {
        Some((terms, layers)) => {
            let terms: Vec<String> = terms.split(',').map(|t| match t.split_once('=') {
                Some((k, v)) => format!("{} {v}", k.to_uppercase()),
                None => t.to_string(),
            }).collect();
            format!("{} on {layers}", terms.join(" + "))
        }
        None => label.to_string(),
    }
}

/// Maximum validation Accuracy20% against free parameters, one curve per activation function (or
/// regularization); where several models of a curve have the same number of free parameters, the
/// best of them.
fn by_group(models: &[Model], grouping: Grouping) -> Result<Option<Figure>> {
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
    let pad = ((amax - amin) * 0.08).max(0.02);
    let mut y = Axis::linear((amin - pad).max(0.0), (amax + pad).min(1.0), 6, fmt_num);
    if y.hi > 1.0 && amax <= 1.0 {
        y = Axis { hi: 1.0, ticks: y.ticks.iter().copied().filter(|t| *t <= 1.0 + 1e-9).collect(), ..y };
    }
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

// ------------------------------------------------------------------------------------------------
// The scalability study (`cyplam scale`, SPEC.md section 5.4)
// ------------------------------------------------------------------------------------------------

/// One measurement of the scalability study: the timed single trainings and the packings, of
/// one node (machine or partition), as `cyplam scale` stored them.
#[derive(Debug, Clone, Default)]
pub struct Scaling {
    /// `local:HOST` or `partition:NAME`.
    pub node_key: String,
    /// When the single trainings (or, without them, the packings) were measured.
    pub measured_unix: i64,
    /// One series per model, in model order.
    pub models: Vec<ScalingModel>,
    pub packings: Vec<Packing>,
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
    pub fn relative(&self, p: &Packing) -> f64 {
        let best = self.packings.iter().map(|p| p.trainings_per_hour).fold(0.0, f64::max);
        if best > 0.0 { p.trainings_per_hour / best } else { 0.0 }
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
                let (mean, sd) = crate::scale::mean_sd(&v);
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
pub struct Packing {
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

impl Packing {
    /// `4 x 6`: trainings x cores each.
    pub fn label(&self) -> String {
        format!("{} x {}", self.trainings, self.cores_each)
    }
}

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
fn cores_axis(cores: &[u32]) -> Axis {
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

/// How the node is named in a caption: `local:host` as `this machine (host)`.
fn node_label(key: &str) -> String {
    match key.split_once(':') {
        Some(("local", h)) => format!("machine {h}"),
        Some(("partition", p)) => format!("Slurm partition {p}"),
        _ => key.to_string(),
    }
}

fn scaling_legend(s: &Scaling, with: impl Fn(usize, &ScalingModel) -> String) -> Vec<(Mark, String)> {
    s.models.iter().enumerate().filter(|(_, m)| !m.points().is_empty()).map(|(i, m)| (Mark::Line(color(i).to_rgba(), 3), with(i, m))).collect()
}

/// Mean training time against cores, one curve per model, error bars of one standard deviation.
fn scaling_time(s: &Scaling) -> Result<Option<Figure>> {
    let series: Vec<(usize, &ScalingModel, Vec<ScalingPoint>)> = s.models.iter().enumerate().map(|(i, m)| (i, m, m.points())).filter(|(_, _, p)| !p.is_empty()).collect();
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
        node_label(&s.node_key),
        if repeats > 1 { format!(", {repeats} runs per point; the error bars are one standard deviation") } else { String::new() },
        if y.log { "; the time axis is logarithmic" } else { "" },
        crate::html::utc(s.measured_unix.max(0) as u64),
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
fn fmt_secs(s: f64) -> String {
    if s >= 100.0 {
        format!("{s:.0}")
    } else if s >= 10.0 {
        format!("{s:.1}")
    } else {
        format!("{s:.2}")
    }
}

/// Speed-up T(c0)/T(c) against cores, one curve per model, with the ideal linear speed-up.
fn scaling_speedup(s: &Scaling) -> Result<Option<Figure>> {
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
        node_label(&s.node_key)
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
fn packings(s: &Scaling) -> Result<Option<Figure>> {
    let packs: Vec<&Packing> = s.packings.iter().filter(|p| p.trainings_per_hour.is_finite()).collect();
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
        node_label(&s.node_key),
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
    fn nice_steps_are_round() {
        assert_eq!(nice_step(0.13), 0.2);
        assert_eq!(nice_step(0.2), 0.2);
        assert_eq!(nice_step(2.4), 2.5);
        assert_eq!(nice_step(37.0), 50.0);
        assert_eq!(nice_step(120.0), 200.0);
    }

    #[test]
    fn linear_axis_widens_to_round_ends() {
        let a = Axis::linear(0.0, 600.0, 6, fmt_num);
        assert_eq!((a.lo, a.hi), (0.0, 600.0));
        assert_eq!(a.ticks, vec![0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0]);
        let a = Axis::linear(0.58, 0.89, 6, fmt_num);
        assert_eq!(a.ticks.iter().map(|t| a.label(*t)).collect::<Vec<_>>(), ["0.5", "0.6", "0.7", "0.8", "0.9"]);
    }

    #[test]
    fn log_ticks_fit_the_range() {
        // The study's grid: 203,506 to 3,266,434 free parameters.
        assert_eq!(log_ticks(180_000.0, 3_700_000.0), vec![200_000.0, 500_000.0, 1_000_000.0, 2_000_000.0]);
        // A small grid inside one decade.
        assert_eq!(log_ticks(12_000.0, 60_000.0), vec![20_000.0, 30_000.0, 40_000.0, 50_000.0, 60_000.0]);
        // Losses over many decades: powers of ten.
        assert_eq!(log_ticks(0.0004, 2.0), vec![0.001, 0.01, 0.1, 1.0]);
        // A very narrow range still gets ticks.
        assert!(log_ticks(13_000.0, 13_600.0).len() >= 2);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(fmt_num(0.30000000000000004), "0.3");
        assert_eq!(fmt_num(0.0002), "2e-4");
        assert_eq!(fmt_si(20_000.0), "20k");
        assert_eq!(fmt_si(1_500_000.0), "1.5M");
        assert_eq!(fmt_params(27_098), "27.1k");
        assert_eq!(fmt_params(3_266_434), "3.27M");
    }

    #[test]
    fn regularization_labels() {
        assert_eq!(regularization_label("none"), "none");
        assert_eq!(regularization_label("l1=0.001@fc1"), "L1 0.001 on fc1");
        assert_eq!(regularization_label("l2=0.01@conv2+fc1"), "L2 0.01 on conv2+fc1");
    }

    #[test]
    fn cores_axis_ticks_the_cores_measured() {
        assert_eq!(cores_axis(&[1, 2, 4, 8, 16, 24]).ticks, vec![1.0, 2.0, 4.0, 8.0, 16.0, 24.0]);
        assert_eq!(cores_axis(&[1, 2, 4, 8, 16, 32, 64, 128]).ticks, vec![1.0, 8.0, 16.0, 32.0, 64.0, 128.0]);
        let a = cores_axis(&[2, 1]);
        assert_eq!(a.ticks, vec![1.0, 2.0]);
        assert!(a.lo > 0.5 && a.lo < 1.0 && a.hi > 2.0, "{a:?}");
    }

    #[test]
    fn speedups_are_against_the_fewest_cores() {
        let m = ScalingModel { name: "m".into(), arch: String::new(), free_params: 0, iterations: 1, runs: vec![(4, 10.0), (2, 18.0), (2, 22.0), (8, 5.0)] };
        let p = m.points();
        assert_eq!((p[0].cores, p[0].runs, p[0].mean), (2, 2, 20.0));
        assert!((p[0].sd - 8f64.sqrt()).abs() < 1e-12);
        assert_eq!(m.speedups(), vec![(2, 1.0), (4, 2.0), (8, 4.0)]);
    }

    #[test]
    fn svg_is_tagged() {
        let s = tag_svg("<svg width=\"3\" height=\"4\">\n<rect/></svg>", "loss", "Loss & co");
        assert!(s.starts_with("<svg id=\"fig-loss\" data-figure=\"loss\" role=\"img\" aria-label=\"Loss &amp; co\" width=\"3\" height=\"4\">\n<title>Loss &amp; co</title>"), "{s}");
    }
}
