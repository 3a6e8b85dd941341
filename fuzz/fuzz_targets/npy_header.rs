//! Any bytes as the start of a .npy file: the header reader never panics, and what it accepts is
//! consistent.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(h) = cyplam_core::data::parse_npy_header(data) {
        assert!(h.data_offset <= data.len());
        let _ = h.elements();
        let _ = h.dtype();
    }
});
