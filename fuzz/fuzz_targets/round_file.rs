//! Any text as a TPE search's round file (search/round-R.json): parsing never panics, and a file
//! the check accepts as round 1 of a search of 8 models in batches of 3 (a start of 2) proposes
//! Model-002 to Model-004, each on the axes and none trained before or proposed twice.
#![no_main]
use cyplam_core::files::{SweepFile, FORMAT_VERSION};
use cyplam_core::search::rounds::{RoundFile, Rounds};
use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;

fn sweep() -> &'static SweepFile {
    static S: OnceLock<SweepFile> = OnceLock::new();
    S.get_or_init(|| {
        let text = "name = \"t\"\n[search]\nstrategy = \"tpe\"\nmodels = 8\nbatch = 3\n[settings]\nwc1 = 5\nncv1 = 2\nwc2 = 5\nncv2 = 2\niterations = 90\nsnapshots = 9\n[grid]\nnfc1 = [1, 2, 3, 4]\nlearning_rate = { choice = [0.001, 0.01, 0.1] }\n";
        let grid = cyplam_core::grid::parse(std::path::Path::new("t.toml"), text).expect("the fuzz grid parses");
        SweepFile { format: FORMAT_VERSION, name: "t".into(), source: "t.toml".into(), grid_sha256: String::new(), created_unix: 0, grid }
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(f) = serde_json::from_str::<RoundFile>(text) else { return };
    let s = sweep();
    let path = std::path::Path::new("round-1.json");
    for round in [0, 1, 2, f.round] {
        let ok = f.check(path, s, round, &[]).is_ok();
        if ok {
            assert_eq!(round, 1, "only round 1 follows no earlier round");
            let r = Rounds::of(&s.grid).expect("a TPE grid");
            let names: Vec<&str> = f.proposed.iter().map(|p| p.model.as_str()).collect();
            assert_eq!(names, ["Model-002", "Model-003", "Model-004"]);
            let mut seen: Vec<&Vec<usize>> = s.grid.positions.iter().collect();
            for p in &f.proposed {
                assert!(p.values.len() == r.lens.len() && p.values.iter().zip(&r.lens).all(|(v, n)| v < n), "{:?}", p.values);
                assert!(!seen.contains(&&p.values), "{:?} proposed twice", p.values);
                seen.push(&p.values);
            }
            // Checked as round 2 after itself, it is refused, never a panic.
            let _ = f.check(path, s, 2, std::slice::from_ref(&f));
        }
    }
});
