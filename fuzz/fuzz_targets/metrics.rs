//! Any text as a model's metrics.csv: the reader never panics; the rows it accepts rise in
//! iteration, hold Accuracy20% in [0, 1] (or NaN), and their best row, if any, is finite.
#![no_main]
use cyplam_core::metrics_csv::{best_row, parse_metrics, METRICS_HEADER};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match parse_metrics(text) {
        Ok(rows) => {
            assert!(rows.windows(2).all(|w| w[0].iteration < w[1].iteration));
            for r in &rows {
                assert!(r.validation_accuracy20.is_nan() || (0.0..=1.0).contains(&r.validation_accuracy20));
                assert!(r.elapsed_seconds.is_finite() && r.elapsed_seconds >= 0.0);
            }
            if let Some(b) = best_row(&rows) {
                assert!(b.is_finite());
            }
            // What the worker writes of these rows reads back as the same rows (iterations).
            let mut again = format!("{METRICS_HEADER}\n");
            for r in &rows {
                again.push_str(&r.to_csv_line());
            }
            let back = parse_metrics(&again).expect("written rows read back");
            assert_eq!(back.iter().map(|r| r.iteration).collect::<Vec<_>>(), rows.iter().map(|r| r.iteration).collect::<Vec<_>>());
        }
        Err(e) => assert!(e.line >= 1),
    }
});
