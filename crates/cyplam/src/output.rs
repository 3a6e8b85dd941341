//! How cyplam prints: every line of a command's standard output (`out!`, `outln!`, returning the
//! write's error), the `--format` every table-printing command takes, the one table printer
//! (terminal table, CSV, Markdown), HTML/XML escaping, UTC dates and log tails.

use anyhow::Result;
use clap::ValueEnum;
use comfy_table::{presets, ContentArrangement, Table};
use std::io::Write;
use std::path::Path;

/// Writes to standard output as `print!` does, but returns the write's error instead of panicking
/// on it: a closed pipe (`cyplam report | head -1`) comes back as `BrokenPipe`, which `cli.rs`
/// takes as success once it has stopped the command. Every line a command prints to standard
/// output goes through it (or `outln!`, or [`print_rows`]); messages to standard error stay
/// `eprintln!`.
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!($($arg)*))
    };
}

/// `println!` through [`out!`]: returns the write's error.
macro_rules! outln {
    () => {
        $crate::output::write_out(format_args!("\n"))
    };
    ($($arg:tt)*) => {
        $crate::output::write_out(format_args!("{}\n", format_args!($($arg)*)))
    };
}

pub(crate) use {out, outln};

/// What `out!` and `outln!` do: one formatted write to the locked standard output.
pub fn write_out(args: std::fmt::Arguments<'_>) -> std::io::Result<()> {
    std::io::stdout().lock().write_fmt(args)
}

/// Bytes as they are to standard output (a shell's completion script), the error returned.
pub fn write_out_bytes(bytes: &[u8]) -> std::io::Result<()> {
    std::io::stdout().lock().write_all(bytes)
}

/// The lines a command prints while it changes something (submits, cancels, withdraws): a
/// closed standard output must not stop that work half done, so each line's error is kept (the
/// first) and returned once the work is over, where `?` hands it to `cli.rs`.
pub struct Said(std::io::Result<()>);

impl Default for Said {
    fn default() -> Said {
        Said(Ok(()))
    }
}

impl Said {
    /// Keeps `r`'s error unless an earlier line failed already.
    pub fn keep(&mut self, r: std::io::Result<()>) {
        if self.0.is_ok() {
            self.0 = r;
        }
    }

    /// The first line's error, if any.
    pub fn done(self) -> std::io::Result<()> {
        self.0
    }
}

/// Output format of a command that prints a table.
#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    Csv,
    Markdown,
}

/// Prints rows as a table, CSV or Markdown (JSON is each caller's own).
pub fn print_rows(header: &[&str], rows: &[Vec<String>], format: Format) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match format {
        Format::Csv | Format::Json => {
            let esc = |s: &str| if s.contains([',', '"', '\n']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() };
            writeln!(out, "{}", header.iter().map(|h| esc(h)).collect::<Vec<_>>().join(","))?;
            for r in rows {
                writeln!(out, "{}", r.iter().map(|c| esc(c)).collect::<Vec<_>>().join(","))?;
            }
        }
        Format::Markdown => {
            writeln!(out, "| {} |", header.join(" | "))?;
            writeln!(out, "|{}", header.iter().map(|_| "---|").collect::<String>())?;
            for r in rows {
                writeln!(out, "| {} |", r.iter().map(|c| c.replace('|', "\\|")).collect::<Vec<_>>().join(" | "))?;
            }
        }
        Format::Table => {
            let mut t = Table::new();
            t.load_preset(presets::UTF8_FULL_CONDENSED).set_content_arrangement(ContentArrangement::Disabled).set_header(header.to_vec());
            for r in rows {
                t.add_row(r.clone());
            }
            writeln!(out, "{t}")?;
        }
    }
    Ok(())
}

/// A setting's value for a table cell: a float to four significant figures, a string bare.
pub fn short(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Number(n) if n.is_f64() => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            let g = format!("{x:.4e}");
            // 4 significant figures, as plain a form as reads well: 0.0006733, 0.9817, 1.2e-7.
            match g.parse::<f64>() {
                Ok(r) if r != 0.0 && (r.abs() < 1e-4 || r.abs() >= 1e6) => format!("{r:e}"),
                Ok(r) => r.to_string(),
                Err(_) => g,
            }
        }
        other => other.to_string(),
    }
}

/// An optional value as a table cell (empty when absent).
pub fn opt<T: ToString>(v: Option<T>) -> String {
    v.map(|x| x.to_string()).unwrap_or_default()
}

/// The look every page cyplam writes shares (the report, `data show --html`); each adds its own.
pub const PAGE_STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; color: #222;
       background: #f6f7f9; margin: 0; line-height: 1.45; }
main { max-width: 1360px; margin: 0 auto; padding: 24px 28px 48px; }
h1 { font-size: 1.7rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; margin: 32px 0 10px; }
.meta { color: #555; margin: 0 0 16px; }
"#;

/// Text made safe for HTML and XML, in element content and in quoted attributes.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A Unix time as `2026-05-21 14:03 UTC`.
pub fn utc(t: u64) -> String {
    let days = (t / 86_400) as i64;
    let secs = t % 86_400;
    // Howard Hinnant's days-to-civil.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

/// Creates a directory cyplam writes into (`--runs-dir`, `--html`, `--figures`, a sweep's own):
/// `cyplam_core::files::create_dir`.
pub fn create_dir(path: &Path) -> Result<()> {
    Ok(cyplam_core::files::create_dir(path)?)
}

/// The last `n` lines of a file.
pub fn tail(path: &Path, n: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(escape("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &#39;d&#39;&gt;");
    }

    #[test]
    fn dates() {
        assert_eq!(utc(0), "1970-01-01 00:00 UTC");
        assert_eq!(utc(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(utc(1_795_797_513), "2026-11-27 16:38 UTC");
    }
}
