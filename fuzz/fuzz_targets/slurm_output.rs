//! Any text as squeue's or sacct's answer, in cyplam's formats (`SQUEUE_FORMAT`, `SACCT_FORMAT`,
//! the job name last): the parsers never panic, every task they give has the name of a line of
//! the input, whole (a name may hold the separator `|`), and sacct's gives one state per task. The
//! parsers are built from the coordinator's own source files (the cyplam crate builds HDF5, which
//! a fuzz build does not need).
#![no_main]
use libfuzzer_sys::fuzz_target;

#[allow(dead_code, unused_imports)]
#[path = "../../crates/cyplam/src/slurm"]
mod slurm {
    pub mod parse;
    pub mod task;
}

fuzz_target!(|text: &str| {
    // One array range expands to at most 4000001 tasks (MaxArraySize's limit); more than one
    // range in an input could take more memory than a fuzz run is given.
    if text.matches('[').count() > 1 {
        return;
    }
    // The checks are linear in the tasks (one range can give millions): a name is looked up in
    // the input once, and the tasks seen so far are a set.
    let mut named = std::collections::HashMap::<String, bool>::new();
    let mut named_in_input = |name: &str| {
        *named.entry(name.to_string()).or_insert_with(|| {
            text.lines().any(|l| l.ends_with(name) && l.len() > name.len() && l[..l.len() - name.len()].ends_with('|'))
        })
    };
    for t in slurm::parse::parse_squeue(text) {
        assert!(named_in_input(&t.name), "{t:?}");
    }
    let mut seen = std::collections::HashSet::new();
    for t in slurm::parse::parse_sacct(text) {
        assert!(named_in_input(&t.name), "{t:?}");
        assert!(seen.insert((t.array_job.clone(), t.task)), "one state per task: {t:?}");
    }
});
