//! `cyplam doctor` as a user runs it: on the dev cluster (every check ok, the compute-node job
//! included), with Slurm missing, with the controller down, and with a grid that cannot run on
//! the partition's nodes (each names the problem and exits non-zero).

use super::slurm::{cluster, slurm_conf, slurm_version};
use super::*;

fn doctor(env: &Env, args: &[&str], path: Option<&Path>) -> (bool, String) {
    let mut c = env.cmd();
    c.arg("doctor").args(args);
    if let Some(p) = path {
        c.env("PATH", p);
    }
    let o = c.output().unwrap();
    (o.status.success(), format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr)))
}

/// The line of check `what`, which must say `verdict`.
fn line<'a>(out: &'a str, verdict: &str, what: &str) -> &'a str {
    out.lines()
        .find(|l| {
            let w: Vec<&str> = l.split_whitespace().collect();
            w.first() == Some(&verdict) && w.get(1) == Some(&what)
        })
        .unwrap_or_else(|| panic!("no `{verdict} {what}` line in:\n{out}"))
}

#[test]
fn doctor_on_the_dev_cluster_finds_every_check_ok_and_a_compute_node_runs_the_worker() {
    let _c = cluster();
    let env = Env::new();
    let grid = env.grid("doc", FIVE);
    let (ok, out) = doctor(&env, &[grid.to_str().unwrap()], None);
    assert!(ok, "{out}");
    assert!(out.contains("doctor: 11 ok, 0 note(s), 0 problem(s)"), "{out}");
    let worker = worker_bin();
    assert!(line(&out, "ok", "worker").contains(&format!("{}: cyplam-worker {} with libtorch 2.11.0", worker.display(), env!("CARGO_PKG_VERSION"))), "{out}");
    assert!(line(&out, "ok", "slurm").contains(&format!("slurm-wlm {}.", slurm_version())), "{out}");
    assert!(line(&out, "ok", "controller").contains("is UP"), "{out}");
    assert!(line(&out, "ok", "arrays").contains("MaxArraySize 1001: the grid's 5 models in 3 array task(s), one array"), "{out}");
    assert!(line(&out, "ok", "accounting").contains("accounting_storage/slurmdbd"), "{out}");
    assert!(line(&out, "ok", "partition").contains("debug (the default): 3 node(s), 24 CPUs"), "{out}");
    assert!(line(&out, "ok", "packing").contains("the grid's 2 x 12 cores fit on the 24-core nodes of partition debug"), "{out}");
    assert!(line(&out, "ok", "memory").contains("the largest model (Model-004) needs about"), "{out}");
    // The job ran on one of the three nodes and wrote where this process could read it.
    let node = line(&out, "ok", "node");
    assert!(["n1", "n2", "n3"].iter().any(|n| node.contains(&format!("ran on {n}: cyplam-worker"))), "{node}");
    assert!(node.contains("and this machine read it"), "{node}");
    // It cleaned up after itself.
    let left: Vec<_> = std::fs::read_dir(env.runs().join(".doctor")).unwrap().flatten().collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn doctor_without_slurm_names_the_missing_commands_and_fails_but_local_checks_pass() {
    let env = Env::new();
    let empty = env.dir.path().join("empty-path");
    std::fs::create_dir_all(&empty).unwrap();
    let (ok, out) = doctor(&env, &[], Some(&empty));
    assert!(!ok, "{out}");
    assert!(
        line(&out, "problem", "slurm").contains("sbatch, squeue, sacct, scontrol, sinfo, scancel not found on PATH: this machine is not a Slurm login node"),
        "{out}"
    );
    assert!(out.contains("what to do: run `cyplam doctor` on the cluster's login node"), "{out}");
    line(&out, "ok", "worker");
    line(&out, "ok", "runs");
    assert!(!out.contains(" controller "), "no Slurm check after the missing commands:\n{out}");
    assert!(out.contains("1 problem(s) would make a study fail here"), "{out}");
    // What `cyplam run` needs is all there.
    let (ok, out) = doctor(&env, &["--local"], Some(&empty));
    assert!(ok, "{out}");
    assert!(out.contains("doctor: 2 ok, 0 note(s), 0 problem(s)"), "{out}");
}

#[test]
fn doctor_with_the_controller_down_says_so_and_fails() {
    let _c = cluster();
    let env = Env::new();
    // A client whose slurm.conf names a port no controller listens on: what a login node sees of a
    // dead slurmctld, without stopping the one the other tests share.
    let conf = std::fs::read_to_string(slurm_conf()).unwrap();
    assert!(conf.contains("SlurmctldPort=6817"), "the dev cluster's slurm.conf changed: {conf}");
    let down = env.dir.path().join("slurm.conf");
    std::fs::write(&down, conf.replace("SlurmctldPort=6817", "SlurmctldPort=6899")).unwrap();
    let o = env.cmd().args(["doctor"]).env("SLURM_CONF", &down).output().unwrap();
    let out = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(!o.status.success(), "{out}");
    line(&out, "ok", "slurm");
    assert!(line(&out, "problem", "controller").contains("Slurmctld(primary) at vm is DOWN"), "{out}");
    assert!(out.contains("what to do: slurmctld is down or cannot be reached from here"), "{out}");
    assert!(!out.contains(" partition "), "nothing asked of a dead controller:\n{out}");
}

#[test]
fn doctor_refuses_a_packing_or_memory_the_partition_cannot_give() {
    let _c = cluster();
    let env = Env::new();
    let grid = env.grid("wide", &FIVE.replace("cpus_per_training = 12", "cpus_per_training = 16"));
    let (ok, out) = doctor(&env, &[grid.to_str().unwrap()], None);
    assert!(!ok, "{out}");
    assert!(
        line(&out, "problem", "packing").contains("the grid's 2 x 16 = 32 cores per array task do not fit on the nodes of partition debug (at most 24 CPUs)"),
        "{out}"
    );
    assert!(out.contains("set [slurm] trainings_per_node = 1 (1 x 16 = 16), or cpus_per_training = 12 (2 x 12 = 24)"), "{out}");
    assert!(line(&out, "note", "node").contains("no job sent"), "{out}");

    let grid = env.grid("fat", &FIVE.replace("cpus_per_training = 12", "cpus_per_training = 12\nmem = \"500G\""));
    let (ok, out) = doctor(&env, &[grid.to_str().unwrap(), "--no-job"], None);
    assert!(!ok, "{out}");
    assert!(line(&out, "problem", "memory").contains("[slurm] mem = 500G asks more than any node has"), "{out}");
    // A partition that does not exist.
    let grid = env.grid("nowhere", &FIVE.replace("cpus_per_training = 12", "cpus_per_training = 12\npartition = \"gpu\""));
    let (ok, out) = doctor(&env, &[grid.to_str().unwrap(), "--no-job"], None);
    assert!(!ok, "{out}");
    assert!(line(&out, "problem", "partition").contains("partition \"gpu\" does not exist here (partitions: debug*"), "{out}");
}
