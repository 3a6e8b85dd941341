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

/// Splits `123_4` into ("123", 4); array ranges such as `123_[5-9]` are expanded; a job that is
/// not an array (`123`) is task 0.
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
                    out.extend((a..=b).map(|t| (job.to_string(), t)));
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

/// Parses `squeue -h -r -o '%i|%A|%K|%T|%r|%N'`.
pub fn parse_squeue(out: &str) -> Vec<TaskState> {
    let mut v = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 6 {
            continue;
        }
        for (job, task) in array_ids(f[0]) {
            v.push(TaskState {
                array_job: job,
                task,
                state: SlurmState::from(f[3]),
                reason: f[4].to_string(),
                node: f[5].to_string(),
                exit_code: None,
                lost_nodes: Vec::new(),
            });
        }
    }
    v
}

/// Parses `sacct -n -P -X -D -o JobID,JobIDRaw,State,ExitCode,NodeList,Elapsed,Start,End`: one
/// state per array task. With `-D` (`--duplicates`) a requeued task has a record per run, oldest
/// first; the last is its state, and the nodes of earlier NODE_FAIL records are its `lost_nodes`.
pub fn parse_sacct(out: &str) -> Vec<TaskState> {
    let mut v: Vec<TaskState> = Vec::new();
    for line in out.lines().filter(|l| !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('|').collect();
        if f.len() < 5 {
            continue;
        }
        // "CANCELLED by 0" -> CANCELLED (the table reads sacct's forms).
        let state = SlurmState::from(f[2]);
        for (job, task) in array_ids(f[0]) {
            let t = TaskState {
                array_job: job,
                task,
                state: state.clone(),
                reason: f[2].to_string(),
                node: f[4].to_string(),
                exit_code: Some(f[3].to_string()),
                lost_nodes: Vec::new(),
            };
            match v.iter_mut().find(|e| e.array_job == t.array_job && e.task == t.task) {
                Some(earlier) => {
                    let mut lost = std::mem::take(&mut earlier.lost_nodes);
                    if earlier.state == SlurmState::NodeFail && !earlier.node.is_empty() && !lost.contains(&earlier.node) {
                        lost.push(earlier.node.clone());
                    }
                    *earlier = TaskState { lost_nodes: lost, ..t };
                }
                None => v.push(t),
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

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/slurm-output").join(name)).unwrap()
    }

    #[test]
    fn real_squeue_output() {
        let cmd = fixture("squeue-array.cmd");
        assert!(cmd.contains(SQUEUE_FORMAT), "the fixture was captured with our format: {cmd}");
        let t = parse_squeue(&fixture("squeue-array.txt"));
        assert_eq!(t.len(), 5);
        let running: Vec<usize> = t.iter().filter(|t| t.state == "RUNNING").map(|t| t.task).collect();
        assert_eq!(running, vec![1, 0]);
        assert!(t.iter().all(|t| t.array_job == "8" && t.is_active()));
        assert_eq!(t[0].reason, "Resources");
        assert_eq!(t[3].node, "vm");
    }

    #[test]
    fn real_sacct_output() {
        let cmd = fixture("sacct-array.cmd");
        assert!(cmd.contains(SACCT_FORMAT), "{cmd}");
        let t = parse_sacct(&fixture("sacct-array.txt"));
        let states: Vec<(usize, &str)> = t.iter().map(|t| (t.task, t.state.as_str())).collect();
        assert_eq!(states, vec![(0, "COMPLETED"), (1, "COMPLETED"), (2, "RUNNING"), (3, "FAILED"), (4, "CANCELLED")]);
        assert_eq!(t[3].exit_code.as_deref(), Some("3:0"));
        assert!(!t[3].is_active() && t[2].is_active());
    }

    #[test]
    fn real_output_of_a_node_lost_under_a_task() {
        // The multi-node dev cluster: tasks 0 and 1 ran on n1 and n2; n2 lost power; Slurm
        // requeued task 1, which ran again on n1.
        let t = parse_squeue(&fixture("squeue-nodes.txt"));
        let nodes: Vec<(usize, &str)> = t.iter().map(|t| (t.task, t.node.as_str())).collect();
        assert_eq!(nodes, vec![(1, "n2"), (0, "n1")]);
        let cmd = fixture("sacct-node-fail.cmd");
        assert!(cmd.contains(SACCT_FORMAT) && cmd.contains(" -D "), "{cmd}");
        let t = parse_sacct(&fixture("sacct-node-fail.txt"));
        let got: Vec<(usize, &str, &str, Vec<String>)> = t.iter().map(|t| (t.task, t.state.as_str(), t.node.as_str(), t.lost_nodes.clone())).collect();
        assert_eq!(got, vec![(0, "COMPLETED", "n1", vec![]), (1, "RUNNING", "n1", vec!["n2".to_string()])]);
        assert!(t[1].is_active());
    }

    #[test]
    fn real_scontrol_and_sbatch_output() {
        assert_eq!(parse_max_array_size(&fixture("scontrol-show-config.txt")).unwrap(), 1001);
        assert_eq!(parse_sbatch_parsable(&fixture("sbatch-parsable.txt")).unwrap(), "8");
        assert_eq!(parse_sbatch_parsable("1234;cluster2\n").unwrap(), "1234");
        assert!(parse_sbatch_parsable("sbatch: error: Batch job submission failed").is_err());
        assert!(parse_max_array_size("Foo = 1").is_err());
    }

    #[test]
    fn config_nodes_and_ping() {
        let c = parse_config(&fixture("scontrol-show-config.txt"));
        assert_eq!(c.get("MaxArraySize").map(String::as_str), Some("1001"));
        assert!(c.get("AccountingStorageType").is_some_and(|v| v.starts_with("accounting_storage/")));
        let n = parse_sinfo_nodes(&fixture("sinfo-nodes.txt"));
        assert!(!n.is_empty() && n.iter().all(|r| r.cpus == 24 && r.memory_mb > 0 && r.partition == "debug" && r.default_partition && r.partition_up), "{n:?}");
        let n = parse_sinfo_nodes("a1|cpu*|up|28|192000|idle\nb1|gpu|down|16|64000+|down*\ngarbage\n");
        assert_eq!(n.len(), 2);
        assert_eq!((n[1].partition.as_str(), n[1].default_partition, n[1].partition_up, n[1].memory_mb), ("gpu", false, false, 64000));
        assert!(parse_ping(&fixture("scontrol-ping.txt")));
        assert!(!parse_ping("Slurmctld(primary) at vm is DOWN\n"));
    }

    #[test]
    fn sacct_states_with_who_cancelled_or_cut_short_and_states_the_table_knows_since() {
        // `CANCELLED by UID`, and a fixed-width column's `CANCELLED+`, are CANCELLED: ended.
        let t =
            parse_sacct("9_0|9_0|CANCELLED by 1000|0:15|n1|00:00:03|x|y\n9_1|10|CANCELLED+|0:15|n2|00:00:03|x|y\n9_2|11|STOPPED|0:0|n1|00:01:00|x|Unknown\n");
        let got: Vec<(usize, &str, bool, &str)> = t.iter().map(|t| (t.task, t.state.as_str(), t.is_active(), t.reason.as_str())).collect();
        assert_eq!(got, vec![(0, "CANCELLED", false, "CANCELLED by 1000"), (1, "CANCELLED", false, "CANCELLED+"), (2, "STOPPED", true, "STOPPED")]);
        // squeue's held and stopped tasks, and a state no table here knows: all left alone.
        let t = parse_squeue(
            "5_0|5|0|SPECIAL_EXIT|JobHeldUser|\n5_1|6|1|RESV_DEL_HOLD|ReservationDeleted|\n5_2|7|2|STOPPED|None|n1\n5_3|8|3|SOMETHING_NEW|None|n1\n",
        );
        assert!(t.len() == 4 && t.iter().all(|t| t.is_active()), "{t:?}");
        assert_eq!(t[3].state, SlurmState::Other("SOMETHING_NEW".into()));
    }

    #[test]
    fn unexpanded_pending_ranges() {
        let t = parse_squeue("77_[3-5,9%2]|77|N/A|PENDING|JobArrayTaskLimit|\n");
        assert_eq!(t.iter().map(|t| t.task).collect::<Vec<_>>(), vec![3, 4, 5, 9]);
        // A job that is not an array (the scaling study's).
        let t = parse_squeue("33|33|N/A|RUNNING|None|vm\n");
        assert_eq!((t[0].array_job.as_str(), t[0].task, t[0].is_active()), ("33", 0, true));
    }
}
