//! Any text as a model's result.json: parsing never panics, and what parses writes back as JSON
//! that parses to the same result.
#![no_main]
use cyplam_core::files::ModelResult;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(r) = serde_json::from_str::<ModelResult>(text) {
        let _ = r.status.as_str();
        let written = serde_json::to_string_pretty(&r).expect("a result serializes");
        let back: ModelResult = serde_json::from_str(&written).expect("a written result parses");
        // Floats may differ in the last place through a decimal round trip; the rest must not.
        assert_eq!((&back.model, back.index, back.status, &back.reason, back.best_iteration, back.iterations_done), (&r.model, r.index, r.status, &r.reason, r.best_iteration, r.iterations_done));
    }
});
