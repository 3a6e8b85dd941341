//! Any bytes as a weights file: the safetensors layout check the worker runs before libtorch reads
//! a weights file never panics, and every tensor it accepts lies inside the file with as many
//! bytes as its dtype and shape need. The check is built from the worker's own source file (the
//! worker crate links libtorch, which a fuzz build does not need).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../crates/cyplam-worker/src/safetensors.rs"]
mod safetensors;

fuzz_target!(|data: &[u8]| {
    let len = data.len() as u64;
    if let Ok(entries) = safetensors::parse_header(data, len) {
        let n = safetensors::header_len(data, len).expect("an accepted header has a length");
        for e in entries {
            assert!(e.begin <= e.end && 8 + n + e.end <= len, "{e:?}");
        }
    }
});
