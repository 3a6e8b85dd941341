//! Any text as a successive-halving decision file (halving/rung-K.json): parsing never panics,
//! and a decision the check accepts against a sweep of 5 models only promotes its own candidates,
//! in order, at most the rule's cap, and explains every pruned one without panicking; rung 1's models are the promoted ones.
#![no_main]
use cyplam_core::files::{SweepFile, FORMAT_VERSION};
use cyplam_core::halving::decision::{models_in, RungDecision};
use cyplam_core::layout::SweepDir;
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn sweep() -> &'static SweepFile {
    static S: OnceLock<SweepFile> = OnceLock::new();
    S.get_or_init(|| {
        let text = "name = \"h\"\n[halving]\neta = 3\nrungs = 3\n[settings]\nwc1 = 5\nncv1 = 2\nwc2 = 5\nncv2 = 2\niterations = 90\nsnapshots = 9\n[grid]\nnfc1 = [1, 2, 3, 4, 5]\n";
        let grid = cyplam_core::grid::parse(std::path::Path::new("h.toml"), text).expect("the fuzz grid parses");
        SweepFile { format: FORMAT_VERSION, name: "h".into(), source: "h.toml".into(), grid_sha256: String::new(), created_unix: 0, grid }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(d) = serde_json::from_str::<RungDecision>(text) else { return };
    let s = sweep();
    let path = std::path::Path::new("rung-0.json");
    let dir = SweepDir::new("/nonexistent/h");
    let candidates: Vec<usize> = (0..5).collect();
    for rung in [0, 1, d.rung] {
        let h = s.grid.halving.expect("the fuzz grid has [halving]");
        if d.check(path, &dir, s, h, rung, &candidates).is_ok() {
            assert!(d.promoted.iter().all(|m| candidates.contains(m)), "promoted a model that did not train: {:?}", d.promoted);
            assert!(d.promoted.windows(2).all(|w| w[0] < w[1]) && d.promoted.len() <= h.max_kept(candidates.len(), rung));
            let _ = d.verdict().summary();
            let _ = d.beyond_rank();
            for c in d.pruned() {
                let _ = d.why_pruned(c);
            }
            assert_eq!(models_in(1, 5, std::slice::from_ref(&d)).as_deref(), Some(&d.promoted[..]));
        }
    }
});
