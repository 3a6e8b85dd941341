//! Chart primitives the figures are drawn with (plotters, SVG backend): the look (fonts,
//! palette), axes whose ticks and labels are chosen here, panels, legends, and the tagged SVG
//! element every figure ends as.

use super::figure::{Figure, Model, Result, MARKED};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint};
use plotters::coord::types::RangedCoordf64;
use plotters::coord::Shift;
use plotters::prelude::*;
pub(crate) use plotters::style::text_anchor::{HPos, Pos, VPos};

// ------------------------------------------------------------------------------------------------
// Look
// ------------------------------------------------------------------------------------------------

pub(crate) const FONT: &str = "sans-serif";
/// Tableau 10: distinct, and still distinct for most colour-blind readers.
pub(crate) const PALETTE: [RGBColor; 10] = [
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
pub(crate) const CROWD: RGBColor = RGBColor(0x8A, 0x94, 0xA3);
pub(crate) const INK: RGBColor = RGBColor(0x22, 0x22, 0x22);
pub(crate) const GRID: RGBColor = RGBColor(0xE4, 0xE6, 0xEA);
pub(crate) const AXIS: RGBColor = RGBColor(0x55, 0x55, 0x55);
pub(crate) const BLUE_GREY: RGBColor = RGBColor(0x4E, 0x79, 0xA7);
pub(crate) const HIGHLIGHT: RGBColor = RGBColor(0xD6, 0x27, 0x28);
/// The Pareto front of accuracy against size.
pub(crate) const FRONT: RGBColor = RGBColor(0x2E, 0x8B, 0x3E);

pub(crate) fn title_font() -> TextStyle<'static> {
    (FONT, 22).into_font().style(FontStyle::Bold).color(&INK)
}
pub(crate) fn caption_font() -> TextStyle<'static> {
    (FONT, 18).into_font().color(&INK)
}
pub(crate) fn label_font() -> TextStyle<'static> {
    (FONT, 15).into_font().color(&AXIS)
}
pub(crate) fn desc_font() -> TextStyle<'static> {
    (FONT, 17).into_font().color(&INK)
}
pub(crate) fn legend_font() -> TextStyle<'static> {
    (FONT, 15).into_font().color(&INK)
}
pub(crate) fn legend_bold() -> TextStyle<'static> {
    (FONT, 15).into_font().style(FontStyle::Bold).color(&INK)
}

/// Colour of the `i`-th highlighted series.
pub(crate) fn color(i: usize) -> RGBColor {
    PALETTE[i % PALETTE.len()]
}

/// Opacity of the grey crowd of `n` curves: enough to see one, little enough that 200 make a
/// band rather than a blot.
pub(crate) fn crowd_alpha(n: usize) -> f64 {
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
    pub(crate) format: fn(f64) -> String,
}

impl Axis {
    /// A linear axis over the data `lo..hi`, widened to round numbers, about `n` ticks.
    pub fn linear(lo: f64, hi: f64, n: usize, format: fn(f64) -> String) -> Axis {
        let (lo, hi) = if hi > lo {
            (lo, hi)
        } else if lo == 0.0 {
            (0.0, 1.0)
        } else {
            (lo - lo.abs() * 0.1, hi + hi.abs() * 0.1)
        };
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

/// The axis of maximum validation Accuracy20% for data from `amin` to `amax`: padded a little,
/// within 0..1.
pub(crate) fn accuracy_axis(amin: f64, amax: f64) -> Axis {
    let pad = ((amax - amin) * 0.08).max(0.02);
    let y = Axis::linear((amin - pad).max(0.0), (amax + pad).min(1.0), 6, fmt_num);
    if y.hi > 1.0 && amax <= 1.0 {
        Axis { hi: 1.0, ticks: y.ticks.iter().copied().filter(|t| *t <= 1.0 + 1e-9).collect(), ..y }
    } else {
        y
    }
}

/// A plotters coordinate with the ticks chosen here (and no minor grid lines).
#[derive(Clone)]
pub(crate) struct Ticked {
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
pub(crate) fn nice_step(raw: f64) -> f64 {
    if !(raw.is_finite() && raw > 0.0) {
        return 1.0;
    }
    let e = 10f64.powf(raw.log10().floor());
    let f = raw / e;
    let m = [1.0, 2.0, 2.5, 5.0, 10.0].into_iter().find(|m| f <= m * (1.0 + 1e-9)).unwrap_or(10.0);
    m * e
}

pub(crate) fn ticks_between(lo: f64, hi: f64, step: f64) -> Vec<f64> {
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
pub(crate) fn fmt_params(n: i64) -> String {
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
pub(crate) fn panel<'a, DB: DrawingBackend>(
    area: &'a DrawingArea<DB, Shift>,
    caption: Option<&str>,
    x: &Axis,
    xdesc: &str,
    y: &Axis,
    ydesc: &str,
) -> Result<Chart<'a, DB>>
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
pub(crate) fn titled<DB: DrawingBackend>(root: &DrawingArea<DB, Shift>, title: &str) -> Result<DrawingArea<DB, Shift>> {
    let (top, rest) = root.split_vertically(44);
    let w = top.dim_in_pixel().0 as i32;
    top.draw(&Text::new(title.to_string(), (w / 2, 26), title_font().pos(Pos::new(HPos::Center, VPos::Center))))?;
    Ok(rest)
}

/// A legend entry's mark.
pub(crate) enum Mark {
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
pub(crate) fn legend<DB: DrawingBackend>(area: &DrawingArea<DB, Shift>, heading: &str, entries: &[(Mark, String)], top: i32, cols: &[i32]) -> Result<()> {
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
pub(crate) fn render(
    name: &'static str,
    title: String,
    caption: String,
    size: (u32, u32),
    draw: impl FnOnce(&DrawingArea<SVGBackend, Shift>) -> Result<()>,
) -> Result<Figure> {
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
pub(crate) fn tag_svg(svg: &str, name: &str, title: &str) -> String {
    let esc = crate::output::escape(title);
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
pub(crate) fn marked(models: &[Model]) -> usize {
    models.iter().take(MARKED).take_while(|m| m.row.best_accuracy20.is_some()).count()
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
    fn svg_is_tagged() {
        let s = tag_svg("<svg width=\"3\" height=\"4\">\n<rect/></svg>", "loss", "Loss & co");
        assert!(
            s.starts_with(
                "<svg id=\"fig-loss\" data-figure=\"loss\" role=\"img\" aria-label=\"Loss &amp; co\" width=\"3\" height=\"4\">\n<title>Loss &amp; co</title>"
            ),
            "{s}"
        );
    }
}
