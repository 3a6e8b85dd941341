//! `cyplam doctor`'s last check: a tiny job on a compute node of the partition (the worker
//! starts there and writes into the runs directory, and this machine reads what it wrote).

use super::{last_lines, Check};
use crate::ctx::Global;
use crate::slurm::script::{header, Job};
use crate::slurm::{Scheduler, SlurmError};
use cyplam_core::grid::SlurmConfig;
use cyplam_core::invocation::shell_quote_path;
use cyplam_core::probe::WorkerProbe;
use std::time::{Duration, Instant};
/// A tiny job on a compute node of the partition: the worker starts there (its libraries, its
/// CPU) and writes into the runs directory, and this machine reads what it wrote. The job's
/// files stay in RUNS/.doctor/ when something went wrong.
pub async fn compute_node<S: Scheduler>(s: &S, global: &Global, slurm_cfg: &SlurmConfig, login: Option<&WorkerProbe>, wait: Duration) -> Check {
    const W: &str = "node";
    let worker = match crate::worker::worker_path() {
        Ok(p) => p,
        Err(e) => return Check::problem(W, format!("no job was sent: {e:#}"), "see the worker check above"),
    };
    let runs = std::fs::canonicalize(&global.runs_dir).unwrap_or_else(|_| global.runs_dir.clone());
    let dir = runs.join(".doctor").join(format!(
        "{}-{}",
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0),
        std::process::id()
    ));
    if let Err(e) = std::fs::create_dir_all(&dir) {
        return Check::problem(W, format!("cannot create {}: {e}", dir.display()), "see the runs check above");
    }
    // The grid's partition, account, qos and constraint, so the job goes where the study will;
    // not its time (a probe asks for minutes) or memory.
    let cfg = SlurmConfig { time: None, ..slurm_cfg.clone() };
    let job = Job {
        comment: "# cyplam doctor: does a compute node run this worker and see this runs directory?".into(),
        options: vec!["--job-name=cyplam-doctor".into(), "--ntasks=1".into(), "--cpus-per-task=1".into(), "--time=5".into()],
        slurm: &cfg,
        per_task_resources: false,
    };
    let (out, partial) = (dir.join("probe.json"), dir.join("probe.json.partial"));
    let script = format!(
        "{}\n{} probe --json > {} && mv {} {}\n",
        header(&job),
        shell_quote_path(&worker),
        shell_quote_path(&partial),
        shell_quote_path(&partial),
        shell_quote_path(&out)
    );
    let script_path = dir.join("probe.sbatch");
    if let Err(e) = std::fs::write(&script_path, script) {
        return Check::problem(W, format!("cannot write {}: {e}", script_path.display()), "see the runs check above");
    }
    let log = dir.join("slurm-%j.out");
    let id = match s.submit(&script_path, &[format!("--output={}", log.display())]).await {
        Ok(id) => id,
        Err(e) => {
            return Check::problem(
                W,
                format!("sbatch refused the probe job: {e:#}"),
                "check [slurm] partition, account, qos and constraint in the grid: the study's arrays would be refused the same way",
            )
        }
    };
    let t0 = Instant::now();
    let (mut state, mut node, mut reason) = (String::from("PENDING"), String::new(), String::new());
    loop {
        match s.states(std::slice::from_ref(&id)).await {
            Ok(v) => match v.into_iter().next() {
                Some(t) => {
                    state = t.state.to_string();
                    reason = t.reason.clone();
                    if !t.node.is_empty() && t.node != "None assigned" {
                        node = t.node.clone();
                    }
                    if !t.is_active() {
                        break;
                    }
                }
                // Neither squeue nor sacct knows it: it ended and the controller forgot it.
                None if t0.elapsed() > Duration::from_secs(5) => break,
                None => {}
            },
            Err(e) if e.downcast_ref::<SlurmError>().is_some() && t0.elapsed() > Duration::from_secs(5) => break,
            Err(_) => {}
        }
        if out.exists() {
            // Written and renamed: the job is over but for its epilogue.
            break;
        }
        if t0.elapsed() > wait {
            let _ = s.cancel(std::slice::from_ref(&id)).await;
            let why = if state == "PENDING" {
                format!("waited {} s in the queue ({reason})", wait.as_secs())
            } else {
                format!("was still {state} after {} s", wait.as_secs())
            };
            return Check::note(
                W,
                format!("the probe job {id} {why} and was cancelled: no compute node was checked"),
                Some("run `cyplam doctor` again when the partition has room, or with a longer --wait".into()),
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let where_ = if node.is_empty() { String::new() } else { format!(" on {node}") };
    match std::fs::read(&out).ok().map(|b| serde_json::from_slice::<WorkerProbe>(&b)) {
        Some(Ok(p)) => {
            let _ = std::fs::remove_dir_all(&dir);
            let wrong = if p.compute_ok { "" } else { "libtorch gave wrong sums there; " };
            let mut detail = format!("job {id} ran{where_}: {wrong}{}; it wrote into {} and this machine read it", p.summary(), runs.display());
            if let Some(l) = login {
                let only = |a: &[String], b: &[String]| a.iter().filter(|f| !b.contains(f)).cloned().collect::<Vec<_>>().join(" ");
                let (has, lacks) = (only(&p.cpu_features, &l.cpu_features), only(&l.cpu_features, &p.cpu_features));
                let said: Vec<String> =
                    [("it has", has), ("lacks", lacks)].into_iter().filter(|(_, f)| !f.is_empty()).map(|(w, f)| format!("{w} {f}")).collect();
                if !said.is_empty() {
                    detail.push_str(&format!(" (its CPU differs from this machine's: {})", said.join(", ")));
                }
            }
            if !p.compute_ok {
                return Check::problem(W, detail, "report it with the probe's output; do not train on those nodes");
            }
            Check::ok(W, detail)
        }
        Some(Err(e)) => Check::problem(
            W,
            format!("job {id} ran{where_} but its probe file {} does not parse: {e}", out.display()),
            "run `cyplam-worker probe` on a compute node by hand (srun)",
        ),
        None => {
            let logfile = dir.join(format!("slurm-{id}.out"));
            let text = std::fs::read_to_string(&logfile).unwrap_or_default();
            if text.is_empty() {
                Check::problem(W, format!("job {id} ended {state}{where_}, but nothing it was to write in {} is visible here", dir.display()),
                    "the runs directory must be on a file system the compute nodes share with this machine (a home or scratch file system): --runs-dir DIR or CYPLAM_RUNS")
            } else if text.contains("error while loading shared libraries") || text.contains("No such file or directory") {
                Check::problem(
                    W,
                    format!("job {id} ended {state}{where_}: {}", last_lines(text.trim(), 2)),
                    format!(
                        "the compute nodes cannot run {}: put the bundle (bin/ and lib/ together) on a file system they see, at the same path",
                        worker.display()
                    ),
                )
            } else {
                Check::problem(W, format!("job {id} ended {state}{where_}: {}", last_lines(text.trim(), 3)), format!("see {}", logfile.display()))
            }
        }
    }
}
