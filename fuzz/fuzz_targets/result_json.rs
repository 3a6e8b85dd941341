//! Any text as a model's result.json: parsing never panics, what parses writes back as JSON that
//! parses to the same result, and collect's check of it (`ModelResult::check`, against its own
//! name and against a few metrics rows) never panics and refuses a best that is out of range.
#![no_main]
use cyplam_core::files::ModelResult;
use cyplam_core::metrics_csv::MetricsRow;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(r) = serde_json::from_str::<ModelResult>(text) {
        let _ = r.status.as_str();
        let written = serde_json::to_string_pretty(&r).expect("a result serializes");
        let back: ModelResult = serde_json::from_str(&written).expect("a written result parses");
        // Floats may differ in the last place through a decimal round trip; the rest must not.
        assert_eq!((&back.model, back.index, back.status, &back.reason, back.best_iteration, back.iterations_done), (&r.model, r.index, r.status, &r.reason, r.best_iteration, r.iterations_done));
        let path = std::path::Path::new("result.json");
        let rows: Vec<MetricsRow> = (1..=3u64)
            .map(|k| MetricsRow { iteration: k * 10, train_loss: 1.0, train_accuracy20: 0.5, validation_loss: 1.0, validation_accuracy20: 0.25 * k as f64, elapsed_seconds: k as f64 })
            .collect();
        for rows in [None, Some(&rows[..]), Some(&[][..])] {
            let ok = r.check(path, &r.model, r.index, rows).is_ok();
            if ok {
                assert!(r.best_accuracy20.is_none_or(|b| (0.0..=1.0).contains(&b)), "an out-of-range best passed: {:?}", r.best_accuracy20);
            }
            let _ = r.check(path, "Model-000", 0, rows);
        }
    }
});
