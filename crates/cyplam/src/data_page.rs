//! The self-contained HTML page of `cyplam data show --html`: the sets' facts, what training and
//! validation share, label histograms (inline SVG) and sample frames of every track (PNG data
//! URIs, each set on its own grey scale).

use crate::output::{escape, PAGE_STYLE};
use anyhow::{Context, Result};
use base64::Engine;
use cyplam_core::datashow::{DataView, Histogram, SetView};
use std::fmt::Write;

/// This page's own rules, after `output::PAGE_STYLE`.
const STYLE: &str = r#"
table { border-collapse: collapse; background: #fff; border: 1px solid #e1e4e8; font-size: 0.92rem; }
th, td { padding: 5px 10px; border-bottom: 1px solid #eceef1; text-align: right; white-space: nowrap; vertical-align: middle; }
th { background: #eef1f5; }
td.text, th.text { text-align: left; }
.warn { background: #fff4e5; border: 1px solid #f0c36d; border-radius: 6px; padding: 8px 14px; }
.ok { color: #2d6a2d; }
figure { background: #fff; border: 1px solid #e1e4e8; border-radius: 6px; margin: 0 0 24px; padding: 12px; display: inline-block; }
figcaption { color: #444; margin: 8px 6px 2px; font-size: 0.95rem; }
td.frames img { width: 56px; height: 56px; image-rendering: pixelated; margin-right: 3px; border: 1px solid #ccc; }
"#;

const COLORS: [&str; 2] = ["#2b6cb0", "#dd6b20"];

/// A frame as a 28 x 28 grey PNG, `lo` black and `hi` white.
fn png_uri(frame: &[f32], lo: f32, hi: f32) -> Result<String> {
    let span = if hi > lo { hi - lo } else { 1.0 };
    let grey: Vec<u8> = frame.iter().map(|&v| (((v - lo) / span).clamp(0.0, 1.0) * 255.0).round() as u8).collect();
    let mut bytes = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut bytes, 28, 28);
        enc.set_color(png::ColorType::Grayscale);
        enc.set_depth(png::BitDepth::Eight);
        let mut w = enc.write_header().context("encoding a sample frame")?;
        w.write_image_data(&grey).context("encoding a sample frame")?;
    }
    Ok(format!("data:image/png;base64,{}", base64::engine::general_purpose::STANDARD.encode(&bytes)))
}

fn num(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e9 {
        format!("{v:.0}")
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// A factor: `1/255` where it is the inverse of a whole number, else the number.
fn factor(f: f64) -> String {
    let inv = 1.0 / f;
    if f < 1.0 && (inv - inv.round()).abs() < 1e-6 {
        format!("1/{}", inv.round())
    } else {
        num(f)
    }
}

fn pair((lo, hi): (f32, f32)) -> String {
    if lo == hi {
        num(lo as f64)
    } else {
        format!("{}&ndash;{}", num(lo as f64), num(hi as f64))
    }
}

/// One histogram figure: each set's counts as bars side by side in every bin.
fn histogram(h: &mut String, id: &str, title: &str, sets: &[(&str, &Histogram)]) {
    let (w, ht, left, bottom) = (640.0, 240.0, 56.0, 36.0);
    let bins = sets.first().map(|(_, x)| x.counts.len()).unwrap_or(0).max(1);
    let top = sets.iter().flat_map(|(_, x)| x.counts.iter().copied()).max().unwrap_or(0).max(1) as f64;
    let plot_w = w - left - 12.0;
    let plot_h = ht - bottom - 12.0;
    let _ = writeln!(
        h,
        "<figure><svg id=\"fig-{id}\" data-figure=\"{id}\" xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{ht}\" viewBox=\"0 0 {w} {ht}\">"
    );
    let _ = writeln!(h, "<line x1=\"{left}\" y1=\"{0}\" x2=\"{1}\" y2=\"{0}\" stroke=\"#444\"/>", 12.0 + plot_h, left + plot_w);
    let bw = plot_w / bins as f64 / sets.len().max(1) as f64;
    for (s, (name, x)) in sets.iter().enumerate() {
        for (k, &c) in x.counts.iter().enumerate() {
            if c == 0 {
                continue;
            }
            let bh = c as f64 / top * plot_h;
            let xs = left + (k as f64 * sets.len() as f64 + s as f64) * bw;
            let _ = writeln!(
                h,
                "<rect x=\"{xs:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{bh:.1}\" fill=\"{}\"><title>{}: {c} frames</title></rect>",
                12.0 + plot_h - bh,
                (bw - 1.0).max(0.5),
                COLORS[s % 2],
                escape(name)
            );
        }
    }
    if let Some((_, x)) = sets.first() {
        let _ = writeln!(h, "<text x=\"{left}\" y=\"{}\" font-size=\"12\">{}</text>", ht - 16.0, num(x.lo));
        let _ = writeln!(h, "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>", left + plot_w, ht - 16.0, num(x.hi));
    }
    let _ = writeln!(h, "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">{}</text>", left - 6.0, 22.0, top as usize);
    let _ = writeln!(h, "<text x=\"{}\" y=\"{}\" font-size=\"12\" text-anchor=\"end\">0</text>", left - 6.0, 12.0 + plot_h);
    for (s, (name, _)) in sets.iter().enumerate() {
        let y = ht - 4.0;
        let x = left + 160.0 * s as f64 + 60.0;
        let _ = writeln!(
            h,
            "<rect x=\"{x}\" y=\"{}\" width=\"10\" height=\"10\" fill=\"{}\"/><text x=\"{}\" y=\"{y}\" font-size=\"12\">{}</text>",
            y - 9.0,
            COLORS[s % 2],
            x + 14.0,
            escape(name)
        );
    }
    let _ = writeln!(h, "</svg><figcaption>{}</figcaption></figure>", escape(title));
}

fn set_section(h: &mut String, s: &SetView) -> Result<()> {
    let name = escape(&s.name);
    let _ = writeln!(h, "<h2 id=\"set-{name}\">{name}: sample frames per track</h2>");
    let _ = writeln!(h, "<p class=\"meta\">{} frames of each track, evenly spread from its first to its last; grey scale {} (black) to {} (white), the set's range as stored.</p>",
        s.tracks.first().map(|t| t.sample_rows.len()).unwrap_or(0), num(s.min_value as f64), num(s.max_value as f64));
    let _ = writeln!(h, "<table class=\"tracks\" data-set=\"{name}\">\n<thead><tr><th>track</th><th>frames</th><th>LP</th><th>PS</th><th class=\"text\">frames (rows)</th></tr></thead>\n<tbody>");
    for t in &s.tracks {
        let id = t.id.map(|i| i.to_string()).unwrap_or_else(|| "all".into());
        let _ = write!(h, "<tr data-track=\"{id}\"><td>{id}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"text frames\">", t.frames, pair(t.lp), pair(t.ps));
        for (row, frame) in t.sample_rows.iter().zip(&t.samples) {
            let _ = write!(h, "<img alt=\"row {row}\" title=\"row {row}\" src=\"{}\">", png_uri(frame, s.min_value, s.max_value)?);
        }
        h.push_str("</td></tr>\n");
    }
    h.push_str("</tbody>\n</table>\n");
    Ok(())
}

/// The page.
pub fn page(v: &DataView) -> Result<String> {
    let dir = escape(&v.dir.display().to_string());
    let mut h = String::new();
    let _ = write!(
        h,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>cyplam data: {dir}</title>\n<style>{PAGE_STYLE}{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>Data set {dir}</h1>\n"
    );
    h.push_str("<table id=\"sets\">\n<thead><tr><th class=\"text\">set</th><th>frames</th><th>stored as</th><th>values</th><th class=\"text\">input scale</th><th>LP</th><th>PS</th><th>tracks</th><th>(LP, PS) pairs</th></tr></thead>\n<tbody>\n");
    for s in &v.sets {
        let scale = match (s.input_scale, &s.source) {
            (Some(f), Some(src)) => format!("&times;{} (recorded: {})", factor(f), escape(src)),
            (Some(f), None) => format!("&times;{} (recorded)", factor(f)),
            (None, _) => "none recorded (the grid's input_scale, default: divide by the training maximum)".into(),
        };
        let _ = writeln!(h, "<tr><td class=\"text\">{}</td><td>{}</td><td>{}</td><td>{}&ndash;{}</td><td class=\"text\">{scale}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(&s.name), s.frames, s.frames_dtype, num(s.min_value as f64), num(s.max_value as f64), pair(s.lp_range), pair(s.ps_range), s.tracks.len(), s.label_counts.len());
    }
    h.push_str("</tbody>\n</table>\n");
    if v.sets.len() == 2 {
        h.push_str("<h2>Training and validation</h2>\n");
        if v.shared_tracks.is_empty() {
            h.push_str("<p class=\"ok\" id=\"overlap\">No recording is in both sets.</p>\n");
        } else {
            let ids: Vec<String> = v.shared_tracks.iter().map(|i| i.to_string()).collect();
            let _ = writeln!(h, "<p class=\"warn\" id=\"overlap\">{} recording(s) in both sets: {}. The study's sets share no experiment; validation accuracy will flatter the models.</p>", ids.len(), ids.join(", "));
        }
        let _ =
            writeln!(h, "<p class=\"meta\">(LP, PS) pairs in both sets: {} of {} validation pairs.</p>", v.shared_labels.len(), v.sets[1].label_counts.len());
    }
    h.push_str("<h2>Label histograms</h2>\n");
    let lp: Vec<(&str, &Histogram)> = v.sets.iter().map(|s| (s.name.as_str(), &s.lp_histogram)).collect();
    let ps: Vec<(&str, &Histogram)> = v.sets.iter().map(|s| (s.name.as_str(), &s.ps_histogram)).collect();
    histogram(&mut h, "lp-histogram", "Frames per laser power (LP) bin", &lp);
    histogram(&mut h, "ps-histogram", "Frames per process speed (PS) bin", &ps);
    for s in &v.sets {
        let _ = writeln!(
            h,
            "<h2>{}: label counts</h2>\n<table class=\"labels\">\n<thead><tr><th>LP</th><th>PS</th><th>frames</th><th>tracks</th></tr></thead>\n<tbody>",
            escape(&s.name)
        );
        for c in &s.label_counts {
            let _ = writeln!(h, "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>", num(c.lp as f64), num(c.ps as f64), c.frames, c.tracks);
        }
        h.push_str("</tbody>\n</table>\n");
    }
    for s in &v.sets {
        set_section(&mut h, s)?;
    }
    h.push_str("</main>\n</body>\n</html>\n");
    Ok(h)
}
