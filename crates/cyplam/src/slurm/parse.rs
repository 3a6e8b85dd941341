//! Parsers of what `sbatch`, `squeue`, `sacct` and `scontrol` print (pure functions, tested
//! against output captured from the dev cluster).

use super::task::{SlurmState, TaskState};
use anyhow::{bail, Context, Result};

/// `sbatch --parsable` prints `jobid` or `jobid;cluster`.
pub fn parse_sbatch_parsable(out: &str) -> Result<String> {
    let line = out.lines().map(str::trim).find(|l| !l.is_empty()).context("sbatch printed no job id")?;
    let id = line.split(';').next().unwrap_or(line);
    if id.is_empty() || !id.chars().all(|c| c.is_ascii_digit()) {
        bail!("sbatch printed {line:?}, not a job id");
    }
    Ok(id.to_string())
}

/// MaxArraySize from `scontrol show config`.
pub fn parse_max_array_size(out: &str) -> Result<usize> {
    for line in out.lines() {
        if let Some((k, v)) = line.split_once('=') {
            if k.trim() == "MaxArraySize" {
                return v.trim().parse().with_context(|| format!("MaxArraySize = {:?} is not a number", v.trim()));
            }
        }
    }
    bail!("`scontrol show config` does not say MaxArraySize")
}

/// `scontrol show config`'s `Key = Value` lines, as a map.
pub fn parse_config(out: &str) -> std::collections::BTreeMap<String, String> {
    out.lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty() && !k.contains(' '))
        .collect()
}

/// One node of one partition, as `sinfo -h -N -o "%N|%P|%a|%c|%m|%T"` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeRow {
    pub node: String,
    /// The partition's name, without sinfo's `*` for the default one.
    pub partition: String,
    pub default_partition: bool,
    /// The partition's availability (`up`, `down`, `drain`, `inact`).
    pub partition_up: bool,
    pub cpus: u32,
    /// RealMemory in megabytes.
    pub memory_mb: u64,
    /// The node's state (`idle`, `mixed`, `allocated`, `down*`, `drained`, ...).
    pub state: String,
}

/// The format [`parse_sinfo_nodes`] reads.
pub const SINFO_NODE_FORMAT: &str = "%N|%P|%a|%c|%m|%T";

/// `sinfo -h -N -o SINFO_NODE_FORMAT`: one row per node and partition; lines that do not parse
/// are skipped.
pub fn parse_sinfo_nodes(out: &str) -> Vec<NodeRow> {
    out.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.trim().split('|').collect();
            let [node, part, avail, cpus, mem, state] = f.as_slice() else { return None };
            let default_partition = part.ends_with('*');
            Some(NodeRow {
                node: node.to_string(),
                partition: part.trim_end_matches('*').to_string(),
                default_partition,
                partition_up: *avail == "up",
                cpus: cpus.trim().parse().ok()?,
                memory_mb: mem.trim().trim_end_matches('+').parse().ok()?,
                state: state.to_string(),
            })
        })
        .collect()
}

/// `scontrol ping`: whether a controller said it is UP (`Slurmctld(primary) at vm is UP`).
pub fn parse_ping(out: &str) -> bool {
    out.lines().any(|l| l.contains("Slurmctld") && l.trim_end().ends_with("is UP"))
}

/// The most tasks one array can have: Slurm's MaxArraySize may not exceed 4000001, so its task
/// ids are below it. A range beyond it (garbled output) is not expanded.
const MAX_ARRAY_TASKS: usize = 4_000_001;

/// Splits `123_4` into ("123", 4); array ranges such as `123_[5-9]` are expanded, up to
/// [`MAX_ARRAY_TASKS`] tasks in all; a job that is not an array (`123`) is task 0.
fn array_ids(id: &str) -> Vec<(String, usize)> {
    let Some((job, task)) = id.split_once('_') else {
        return if !id.is_empty() && id.chars().all(|c| c.is_ascii_digit()) { vec![(id.to_string(), 0)] } else { Vec::new() };
    };
    if let Ok(t) = task.parse::<usize>() {
        return vec![(job.to_string(), t)];
    }
    let inner = task.trim_start_matches('[').trim_end_matches(']');
    let inner = inner.split('%').next().unwrap_or("");
    let mut out = Vec::new();
    for part in inner.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
                    if a <= b && b < MAX_ARRAY_TASKS && out.len() + (b - a) < MAX_ARRAY_TASKS {
                        out.extend((a..=b).map(|t| (job.to_string(), t)));
                    }
                }
            }
            None => {
                if let Ok(t) = part.parse::<usize>() {
                    out.push((job.to_string(), t));
                }
            }
        }
    }
    out
}

/// Parses `squeue -h -r -o '%i|%A|%K|%T|%r|%N|%j'` (`SQUEUE_FORMAT`). The job name comes last
/// and takes the rest of the line, so a name holding `|` (Slurm allows it) stays whole; a line with
/// fewer fields is skipped.
pub fn parse_squeue(out: &str) -> Vec<TaskState> {
    let mut v = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(7, '|').collect();
        let [id, _, _, state, reason, node, name] = f.as_slice() else { continue };
        for (job, task) in array_ids(id) {
            v.push(TaskState {
                array_job: job,
                task,
                state: SlurmState::from(*state),
                reason: reason.to_string(),
                node: node.to_string(),
                exit_code: None,
                lost_nodes: Vec::new(),
                name: name.to_string(),
            });
        }
    }
    v
}

/// Parses `sacct -n -P -X -D -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End,JobName`
/// (`SACCT_FORMAT`; the name last, taking the rest of the line, as in [`parse_squeue`]): one state
/// per array task. With `-D` (`--duplicates`) a task has a record per run, oldest first; the last
/// is its state, and the nodes of earlier NODE_FAIL records of the same job are its `lost_nodes`.
/// A record under another name is another job that got the id after Slurm lost this one: it
/// replaces the records before it, lost nodes included.
pub fn parse_sacct(out: &str) -> Vec<TaskState> {
    let mut v: Vec<TaskState> = Vec::new();
    // Where each task's state is in `v`.
    let mut at: std::collections::HashMap<(String, usize), usize> = std::collections::HashMap::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.splitn(9, '|').collect();
        let [id, _, state_text, exit, node, _, _, _, name] = f.as_slice() else { continue };
        // "CANCELLED by 0" -> CANCELLED (the table reads sacct's forms).
        let state = SlurmState::from(*state_text);
        for (job, task) in array_ids(id) {
            let t = TaskState {
                array_job: job,
                task,
                state: state.clone(),
                reason: state_text.to_string(),
                node: node.to_string(),
                exit_code: Some(exit.to_string()),
                lost_nodes: Vec::new(),
                name: name.to_string(),
            };
            match at.get(&(t.array_job.clone(), t.task)).and_then(|&i| v.get_mut(i)) {
                Some(earlier) if earlier.name == t.name => {
                    let mut lost = std::mem::take(&mut earlier.lost_nodes);
                    if earlier.state == SlurmState::NodeFail && !earlier.node.is_empty() && !lost.contains(&earlier.node) {
                        lost.push(earlier.node.clone());
                    }
                    *earlier = TaskState { lost_nodes: lost, ..t };
                }
                Some(earlier) => *earlier = t,
                None => {
                    at.insert((t.array_job.clone(), t.task), v.len());
                    v.push(t);
                }
            }
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::slurm::SACCT_FORMAT;
    use crate::slurm::SQUEUE_FORMAT;

    /// The Slurm versions the fixtures were captured from (slurm/dev-cluster/capture-fixtures):
    /// 22.05's in tests/data/slurm-output, each other's in a folder of that name under it. Every
    /// test of real output reads each version's.
    const VERSIONS: [&str; 2] = ["22.05", "24.11"];

    fn fixture_of(version: &str, name: &str) -> String {
        let mut dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/slurm-output");
        if version != VERSIONS[0] {
            dir = dir.join(version);
        }
        std::fs::read_to_string(dir.join(name)).unwrap_or_else(|e| panic!("Slurm {version}'s {name}: {e}"))
    }

    /// The array job the one-node fixtures were captured from (sbatch's answer), the node its
    /// tasks were held to (`-w`), and the name it was submitted under.
    fn fixture_array(fixture: &dyn Fn(&str) -> String) -> (String, String, &'static str) {
        let job = parse_sbatch_parsable(&fixture("sbatch-parsable.txt")).unwrap();
        let cmd = fixture("sbatch-parsable.cmd");
        let node = cmd.split_whitespace().skip_while(|w| *w != "-w").nth(1).unwrap_or("vm").to_string();
        assert!(cmd.contains("'--job-name=cyplam-fixture|a|b'"), "{cmd}");
        (job, node, "cyplam-fixture|a|b")
    }

    #[test]
    fn real_squeue_output() {
        for v in VERSIONS {
            eprintln!("Slurm {v}'s output (shown if this test fails)");
            let fixture = |name: &str| fixture_of(v, name);
            let cmd = fixture("squeue-array.cmd");
            assert!(cmd.contains(SQUEUE_FORMAT), "the fixture was captured with our format: {cmd}");
            let (job, node, name) = fixture_array(&fixture);
            let t = parse_squeue(&fixture("squeue-array.txt"));
            assert_eq!(t.len(), 5);
            let running: Vec<usize> = t.iter().filter(|t| t.state == "RUNNING").map(|t| t.task).collect();
            assert_eq!(running, vec![1, 0]);
            assert!(t.iter().all(|t| t.array_job == job && t.is_active()));
            assert_eq!(t[0].reason, "Resources");
            assert_eq!(t[3].node, node);
            // The name, holding squeue's separator, read whole.
            assert!(t.iter().all(|t| t.name == name), "{t:?}");
        }
    }

    #[test]
    fn real_sacct_output() {
        for v in VERSIONS {
            eprintln!("Slurm {v}'s output (shown if this test fails)");
            let fixture = |name: &str| fixture_of(v, name);
            let cmd = fixture("sacct-array.cmd");
            assert!(cmd.contains(SACCT_FORMAT), "{cmd}");
            let (job, _, name) = fixture_array(&fixture);
            let t = parse_sacct(&fixture("sacct-array.txt"));
            let states: Vec<(usize, &str)> = t.iter().map(|t| (t.task, t.state.as_str())).collect();
            assert_eq!(states, vec![(0, "COMPLETED"), (1, "COMPLETED"), (2, "RUNNING"), (3, "FAILED"), (4, "CANCELLED")]);
            assert_eq!(t[3].exit_code.as_deref(), Some("3:0"));
            assert!(!t[3].is_active() && t[2].is_active());
            assert!(t.iter().all(|t| t.array_job == job && t.name == name), "{t:?}");
            let t = parse_sacct(&fixture("sacct-array-final.txt"));
            assert_eq!(t.iter().map(|t| t.state.as_str()).collect::<Vec<_>>(), vec!["COMPLETED", "COMPLETED", "COMPLETED", "FAILED", "CANCELLED"]);
            assert!(t.iter().all(|t| t.name == name), "{t:?}");
        }
    }

    /// Issue 30, captured on the dev cluster: slurmctld killed with SIGKILL right after an array
    /// `cyplam-fixture-lost` was submitted lost it, and gave its id to the next job, a plain job
    /// named `other|job`. squeue and sacct list that job under the id, with its own name.
    #[test]
    fn real_output_of_a_job_id_given_again_after_a_controller_crash() {
        // 22.05's only: 24.11 saved the array before the kill in each of capture-fixtures' 5
        // tries, so no id was given again to capture (docs/slurm.md, "Slurm versions tested").
        {
            let fixture = |name: &str| fixture_of(VERSIONS[0], name);
            let cmd = fixture("squeue-reused.cmd");
            assert!(cmd.contains(SQUEUE_FORMAT), "{cmd}");
            let t = parse_squeue(&fixture("squeue-reused.txt"));
            let job = cmd.split_whitespace().skip_while(|w| *w != "-j").nth(1).unwrap().to_string();
            let got: Vec<(&str, usize, &str)> = t.iter().map(|t| (t.array_job.as_str(), t.task, t.name.as_str())).collect();
            assert_eq!(got, vec![(job.as_str(), 0, "other|job")]);
            let cmd = fixture("sacct-reused.cmd");
            assert!(cmd.contains(SACCT_FORMAT) && cmd.contains(" -D "), "{cmd}");
            let t = parse_sacct(&fixture("sacct-reused.txt"));
            let got: Vec<(&str, usize, &str)> = t.iter().map(|t| (t.array_job.as_str(), t.task, t.name.as_str())).collect();
            assert_eq!(got, vec![(job.as_str(), 0, "other|job")], "the lost array never reached accounting");
            assert!(fixture("squeue-lock-reused.txt").is_empty(), "squeue -j J_0 lists no plain job J");
        }
    }

    #[test]
    fn real_output_of_a_node_lost_under_a_task() {
        for v in VERSIONS {
            eprintln!("Slurm {v}'s output (shown if this test fails)");
            let fixture = |name: &str| fixture_of(v, name);
            // The multi-node dev cluster: tasks 0 and 1 ran on n1 and n2; n2 lost power; Slurm
            // requeued task 1, which ran again on n1.
            let t = parse_squeue(&fixture("squeue-nodes.txt"));
            let nodes: Vec<(usize, &str, &str)> = t.iter().map(|t| (t.task, t.node.as_str(), t.name.as_str())).collect();
            assert_eq!(nodes, vec![(1, "n2", "cyplam-fixture-nodes"), (0, "n1", "cyplam-fixture-nodes")]);
            let cmd = fixture("sacct-node-fail.cmd");
            assert!(cmd.contains(SACCT_FORMAT) && cmd.contains(" -D "), "{cmd}");
            let t = parse_sacct(&fixture("sacct-node-fail.txt"));
            let got: Vec<(usize, &str, &str, Vec<String>)> = t.iter().map(|t| (t.task, t.state.as_str(), t.node.as_str(), t.lost_nodes.clone())).collect();
            assert_eq!(got, vec![(0, "COMPLETED", "n1", vec![]), (1, "RUNNING", "n1", vec!["n2".to_string()])]);
            assert!(t[1].is_active());
        }
    }

    #[test]
    fn real_scontrol_and_sbatch_output() {
        for v in VERSIONS {
            eprintln!("Slurm {v}'s output (shown if this test fails)");
            let fixture = |name: &str| fixture_of(v, name);
            assert_eq!(parse_max_array_size(&fixture("scontrol-show-config.txt")).unwrap(), 1001);
            assert!(parse_sbatch_parsable(&fixture("sbatch-parsable.txt")).unwrap().parse::<u64>().is_ok());
            assert_eq!(parse_sbatch_parsable("1234;cluster2\n").unwrap(), "1234");
            assert!(parse_sbatch_parsable("sbatch: error: Batch job submission failed").is_err());
            assert!(parse_max_array_size("Foo = 1").is_err());
        }
    }

    #[test]
    fn config_nodes_and_ping() {
        for v in VERSIONS {
            eprintln!("Slurm {v}'s output (shown if this test fails)");
            let fixture = |name: &str| fixture_of(v, name);
            let c = parse_config(&fixture("scontrol-show-config.txt"));
            assert_eq!(c.get("MaxArraySize").map(String::as_str), Some("1001"));
            assert!(c.get("AccountingStorageType").is_some_and(|v| v.starts_with("accounting_storage/")));
            let n = parse_sinfo_nodes(&fixture("sinfo-nodes.txt"));
            assert!(
                !n.is_empty() && n.iter().all(|r| r.cpus == 24 && r.memory_mb > 0 && r.partition == "debug" && r.default_partition && r.partition_up),
                "{n:?}"
            );
            let n = parse_sinfo_nodes("a1|cpu*|up|28|192000|idle\nb1|gpu|down|16|64000+|down*\ngarbage\n");
            assert_eq!(n.len(), 2);
            assert_eq!((n[1].partition.as_str(), n[1].default_partition, n[1].partition_up, n[1].memory_mb), ("gpu", false, false, 64000));
            assert!(parse_ping(&fixture("scontrol-ping.txt")));
            assert!(!parse_ping("Slurmctld(primary) at vm is DOWN\n"));
        }
    }

    #[test]
    fn sacct_states_with_who_cancelled_or_cut_short_and_states_the_table_knows_since() {
        // `CANCELLED by UID`, and a fixed-width column's `CANCELLED+`, are CANCELLED: ended.
        let t = parse_sacct(
            "9_0|9_0|CANCELLED by 1000|0:15|n1|00:00:03|x|y|j\n9_1|10|CANCELLED+|0:15|n2|00:00:03|x|y|j\n9_2|11|STOPPED|0:0|n1|00:01:00|x|Unknown|j\n",
        );
        let got: Vec<(usize, &str, bool, &str)> = t.iter().map(|t| (t.task, t.state.as_str(), t.is_active(), t.reason.as_str())).collect();
        assert_eq!(got, vec![(0, "CANCELLED", false, "CANCELLED by 1000"), (1, "CANCELLED", false, "CANCELLED+"), (2, "STOPPED", true, "STOPPED")]);
        // squeue's held and stopped tasks, and a state no table here knows: all left alone.
        let t = parse_squeue(
            "5_0|5|0|SPECIAL_EXIT|JobHeldUser||j\n5_1|6|1|RESV_DEL_HOLD|ReservationDeleted||j\n5_2|7|2|STOPPED|None|n1|j\n5_3|8|3|SOMETHING_NEW|None|n1|j\n",
        );
        assert!(t.len() == 4 && t.iter().all(|t| t.is_active()), "{t:?}");
        assert_eq!(t[3].state, SlurmState::Other("SOMETHING_NEW".into()));
    }

    #[test]
    fn unexpanded_pending_ranges() {
        let t = parse_squeue("77_[3-5,9%2]|77|N/A|PENDING|JobArrayTaskLimit||cyplam-s\n");
        assert_eq!(t.iter().map(|t| t.task).collect::<Vec<_>>(), vec![3, 4, 5, 9]);
        // A range no array can have is not expanded (it would take all memory).
        assert!(parse_squeue("77_[0-18446744073709551615]|77|N/A|PENDING|None||x\n77_[9-3]|77|N/A|PENDING|None||x\n").is_empty());
        assert_eq!(parse_sacct("77_[0-4000000]|77|PENDING|0:0|None|0|x|y|n\n").len(), 4_000_001);
        // A job that is not an array (the scaling study's).
        let t = parse_squeue("33|33|N/A|RUNNING|None|vm|cyplam-scale-s\n");
        assert_eq!((t[0].array_job.as_str(), t[0].task, t[0].is_active()), ("33", 0, true));
    }

    /// Issue 30: the job's name comes last and takes the rest of the line, so a name holding the
    /// separator stays whole; a line without it (the format before names) or cut short is skipped,
    /// never a panic.
    #[test]
    fn job_names_are_read_whole_and_short_lines_skipped() {
        let t = parse_squeue("8_1|9|1|RUNNING|None|n1|cyplam-a|b||c\n8_2|8|2|PENDING|Priority|\n|||\n\u{0}|x\n");
        assert_eq!(t.len(), 1, "{t:?}");
        assert_eq!((t[0].task, t[0].name.as_str()), (1, "cyplam-a|b||c"));
        let t = parse_sacct("8_1|9|COMPLETED|0:0|n1|00:00:01|x|y|cyplam-a|b\n8_2|8|FAILED|1:0|n1|00:00:01|x|y\n||||||||\n");
        assert_eq!(t.iter().map(|t| (t.task, t.name.as_str())).collect::<Vec<_>>(), vec![(1, "cyplam-a|b")]);
        assert!(parse_squeue("|||||||").is_empty() && parse_sacct("|||||||||").is_empty());
        // sacct -D: a run of another job under the same id (Slurm gave the id again after losing
        // the first) replaces the records before it; its lost nodes are not carried over.
        let t = parse_sacct(
            "8_0|9|NODE_FAIL|0:0|n2|00:00:05|x|y|cyplam-s\n8_0|9|RUNNING|0:0|n1|00:00:05|x|Unknown|cyplam-s\n8|8|PENDING|0:0|None assigned|00:00:00|x|Unknown|other\n",
        );
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].state.as_str(), t[0].name.as_str(), t[0].lost_nodes.len()), ("PENDING", "other", 0));
    }
}
