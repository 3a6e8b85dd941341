//! What checking a data set's values costs (issue 23): for each set DIR given, times reading its
//! headers (what a dry run read before the values were checked), streaming and checking every
//! value (`data::check_values`), and a plain read of the same files' bytes (the floor any check
//! pays), `--rounds` times alternately, and prints the medians and the ratios.
//! Run by bench/values/run.
#![allow(clippy::unwrap_used)] // a bench tool: a bad input file ends it
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Instant;

fn plain_read(dir: &Path) -> u64 {
    let mut buf = vec![0u8; 1 << 20];
    let mut total = 0;
    for f in ["frames.npy", "labels.npy"] {
        let mut file = std::fs::File::open(dir.join(f)).expect("open");
        loop {
            let n = file.read(&mut buf).expect("read");
            if n == 0 {
                break;
            }
            total += n as u64;
        }
    }
    total
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut rounds = 5;
    let mut dirs: Vec<PathBuf> = Vec::new();
    while let Some(a) = args.next() {
        if a == "--rounds" {
            rounds = args.next().and_then(|r| r.parse().ok()).filter(|&r| r > 0).expect("--rounds N (N >= 1)");
        } else {
            dirs.push(a.into());
        }
    }
    assert!(!dirs.is_empty(), "usage: values_check [--rounds N] DIR...");
    let (mut headers, mut checks, mut reads) = (Vec::new(), Vec::new(), Vec::new());
    let mut bytes = 0;
    let mut frames = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        for d in &dirs {
            frames = cyplam_core::data::check_dataset(d).expect("headers").frames;
        }
        headers.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        for d in &dirs {
            cyplam_core::data::check_values(d).expect("values");
        }
        checks.push(t.elapsed().as_secs_f64());
        let t = Instant::now();
        bytes = dirs.iter().map(|d| plain_read(d)).sum::<u64>();
        reads.push(t.elapsed().as_secs_f64());
    }
    let (h, c, r) = (median(headers), median(checks), median(reads));
    println!("sets: {} ({} frames in the last), {:.1} MB, {rounds} round(s), medians:", dirs.len(), frames, bytes as f64 / 1e6);
    println!("  headers only        {:>9.4} s", h);
    println!("  check_values        {:>9.4} s   {:>6.1} x the headers, {:.2} x a plain read", c, c / h, c / r);
    println!("  plain read of bytes {:>9.4} s   {:.0} MB/s", r, bytes as f64 / 1e6 / r);
}
