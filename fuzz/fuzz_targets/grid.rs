//! Any text given as a grid file: parse, validate and expand it without panicking; an error must
//! name the file.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        // Bound the expansion: a fuzzer easily writes a grid of a million models.
        if text.len() > 4096 {
            return;
        }
        match cyplam_core::grid::parse(std::path::Path::new("fuzz.toml"), text) {
            Ok(g) => assert!(g.models.iter().all(|m| m.free_params > 0)),
            Err(e) => assert!(e.to_string().starts_with("fuzz.toml")),
        }
    }
});
