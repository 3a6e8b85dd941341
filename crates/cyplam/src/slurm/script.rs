//! Renders the sbatch scripts (pure: tested with snapshots): the sweep's job array and the
//! scalability study's job share one renderer for the `#SBATCH` lines and the set-up lines, and
//! start workers through `WorkerInvocation`. Also plans the job arrays: which array task indices
//! to submit, split under the cluster's MaxArraySize.

use cyplam_core::files::EXIT_PREEMPTED;
use cyplam_core::grid::SlurmConfig;
use cyplam_core::invocation::{shell_quote_path, Target, WorkerInvocation};
use cyplam_core::packing::Packing;
use std::path::{Path, PathBuf};

pub use cyplam_core::invocation::shell_quote;

/// One job array to submit: array task ids `tasks` (already offset), worker index = id + offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArrayPlan {
    /// Array task ids as Slurm sees them (all below MaxArraySize).
    pub tasks: Vec<usize>,
    /// Added to SLURM_ARRAY_TASK_ID to get the worker's --index.
    pub offset: usize,
}

impl ArrayPlan {
    /// The `--array` value: ranges (`0-5,8`), with `%N` when throttled.
    pub fn spec(&self, throttle: Option<u32>) -> String {
        let mut parts = Vec::new();
        let mut i = 0;
        while i < self.tasks.len() {
            let start = self.tasks[i];
            let mut end = start;
            while i + 1 < self.tasks.len() && self.tasks[i + 1] == end + 1 {
                i += 1;
                end = self.tasks[i];
            }
            parts.push(if start == end { start.to_string() } else { format!("{start}-{end}") });
            i += 1;
        }
        let mut s = parts.join(",");
        if let Some(t) = throttle {
            s.push_str(&format!("%{t}"));
        }
        s
    }

    /// The worker indices this array covers.
    pub fn indices(&self) -> Vec<usize> {
        self.tasks.iter().map(|t| t + self.offset).collect()
    }
}

/// Array task indices holding `models` (sorted, unique), for `trainings_per_node` per task.
pub fn task_indices(models: &[usize], trainings_per_node: u32) -> Vec<usize> {
    Packing::new(trainings_per_node).tasks_of(models)
}

/// Splits task indices into arrays whose ids stay below `max_array_size`.
pub fn plan_arrays(tasks: &[usize], max_array_size: usize) -> Vec<ArrayPlan> {
    let max = max_array_size.max(1);
    let mut plans: Vec<ArrayPlan> = Vec::new();
    for &t in tasks {
        let offset = (t / max) * max;
        match plans.last_mut() {
            Some(p) if p.offset == offset => p.tasks.push(t - offset),
            _ => plans.push(ArrayPlan { tasks: vec![t - offset], offset }),
        }
    }
    plans
}

/// Everything the sweep's script needs.
pub struct ScriptInput<'a> {
    pub sweep_name: &'a str,
    pub sweep_dir: &'a Path,
    pub worker: &'a Path,
    pub slurm: &'a SlurmConfig,
    pub plan: &'a ArrayPlan,
    pub n_models: usize,
    /// The workers' device (`--device`), when not the default.
    pub device: Option<&'a str>,
    /// Successive halving: the rung this array trains in (its task slots pick among the models
    /// the decision of the rung before promoted).
    pub rung: Option<u32>,
    /// A TPE search's round this array trains (its task slots pick among the models the round
    /// proposes, proposed by its first worker).
    pub round: Option<u32>,
    /// Job ids this array waits for (`--dependency=afterany:...`): the arrays of the rung (or
    /// round) before.
    pub after: &'a [String],
}

/// The job-level `#SBATCH` lines a script asks for, before the grid's own `[slurm]` settings.
pub struct Job<'a> {
    pub comment: String,
    pub options: Vec<String>,
    pub slurm: &'a SlurmConfig,
    /// Take the grid's `mem`, `gres` and extra options too (the sweep's arrays do; the
    /// scalability study's exclusive job does not).
    pub per_task_resources: bool,
}

/// `#!/bin/bash`, the comment, the `#SBATCH` lines (the job's, then partition, account, qos,
/// time, and with per-task resources mem, constraint, gres and the grid's extra options),
/// `set -u` and the grid's set-up lines. Values were checked when the grid was read.
pub fn header(job: &Job) -> String {
    let s = job.slurm;
    let mut out = format!("#!/bin/bash\n{}\n", job.comment);
    let mut sb = |opt: &str| out.push_str(&format!("#SBATCH {opt}\n"));
    for o in &job.options {
        sb(o);
    }
    let mut named: Vec<(&str, &Option<String>)> = vec![("partition", &s.partition), ("account", &s.account), ("qos", &s.qos), ("time", &s.time)];
    if job.per_task_resources {
        named.extend([("mem", &s.mem), ("constraint", &s.constraint), ("gres", &s.gres)]);
    } else {
        named.push(("constraint", &s.constraint));
    }
    for (k, v) in named {
        if let Some(v) = v {
            sb(&format!("--{k}={v}"));
        }
    }
    if job.per_task_resources {
        for e in &s.extra {
            sb(e);
        }
    }
    out.push_str("\nset -u\n");
    if !s.setup.is_empty() {
        out.push_str("# Set-up lines from the grid file's [slurm] setup.\n");
        for l in &s.setup {
            out.push_str(l);
            out.push('\n');
        }
    }
    out
}

/// The name a sweep's job array is submitted under: `cyplam-<sweep>`, `cyplam-<sweep>-rung<k>` for
/// a halving rung's, `cyplam-<sweep>-round<r>` for a TPE round's. The coordinator checks the name
/// Slurm gives for each task against it, since a crashed controller gives a lost job's id to the
/// next job submitted.
pub fn job_name(sweep_name: &str, rung: Option<u32>, round: Option<u32>) -> String {
    match (rung, round) {
        (Some(k), _) => format!("cyplam-{sweep_name}-rung{k}"),
        (None, Some(r)) => format!("cyplam-{sweep_name}-round{r}"),
        (None, None) => format!("cyplam-{sweep_name}"),
    }
}

/// The sweep's sbatch script: one array task runs `trainings_per_node` workers through one
/// `srun`, and requeues itself when they were preempted. Everything that reaches the shell is
/// quoted.
pub fn render(i: &ScriptInput) -> String {
    let s = i.slurm;
    let job = Job {
        comment: format!(
            "# Rendered by cyplam {} for sweep {} ({} models, {} per array task). `cyplam submit` renders it again.",
            env!("CARGO_PKG_VERSION"),
            i.sweep_name,
            i.n_models,
            s.trainings_per_node
        ),
        options: [
            vec![
                format!("--job-name={}", job_name(i.sweep_name, i.rung, i.round)),
                format!("--array={}", i.plan.spec(s.throttle)),
                "--nodes=1".into(),
                format!("--ntasks={}", s.trainings_per_node),
                format!("--cpus-per-task={}", s.cpus_per_training),
                "--requeue".into(),
                format!("--signal=USR1@{}", s.signal_lead_seconds),
                "--open-mode=append".into(),
            ],
            // The rung starts once every task of the rung before has ended, however it ended (a
            // requeued task has not); its workers then take that rung's decision from the files.
            if i.after.is_empty() { Vec::new() } else { vec![format!("--dependency=afterany:{}", i.after.join(":"))] },
        ]
        .concat(),
        slurm: s,
        per_task_resources: true,
    };
    let mut out = header(&job);
    let worker = WorkerInvocation {
        worker: i.worker.to_path_buf(),
        sweep: i.sweep_dir.to_path_buf(),
        target: Target::ArrayTask { offset: i.plan.offset },
        threads: None,
        device: i.device.map(str::to_string),
        rung: i.rung,
        round: i.round,
    };
    match i.rung {
        Some(0) => out.push_str("\n# Successive halving, rung 0: every model trains to the end of the first rung.\n"),
        Some(k) => out.push_str(&format!(
            "\n# Successive halving, rung {k}: slot k of this array trains the k-th model (in model order) that\n\
             # rung {}'s decision promoted (halving/rung-{}.json, taken by the first worker to start).\n",
            k - 1,
            k - 1
        )),
        None => {}
    }
    if let Some(r) = i.round {
        out.push_str(&format!(
            "\n# TPE search, round {r}: slot k of this array trains the k-th model round {r} proposes (search/round-{r}.json,\n\
             # proposed by the first worker to start, from the scores of every model before it).\n"
        ));
    }
    out.push_str(&format!(
        "\n# {} training(s) of {} core(s) each; task k trains models k*{} ... k*{}+{}.\n",
        s.trainings_per_node,
        s.cpus_per_training,
        s.trainings_per_node,
        s.trainings_per_node,
        s.trainings_per_node - 1
    ));
    out.push_str(&format!("srun --kill-on-bad-exit=0 --ntasks={} --cpus-per-task={} {}\n", s.trainings_per_node, s.cpus_per_training, worker.render()));
    out.push_str("rc=$?\n");
    out.push_str(&format!(
        "# Exit {EXIT_PREEMPTED}: a worker was stopped by the USR1 warning and left a checkpoint; requeue this task.\n\
         if [ \"$rc\" -eq {EXIT_PREEMPTED} ]; then\n\
         \x20   if [ \"${{SLURM_RESTART_COUNT:-0}}\" -lt {max} ]; then\n\
         \x20       echo \"cyplam: preempted; requeueing ${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}} (restart ${{SLURM_RESTART_COUNT:-0}} of {max})\" >&2\n\
         \x20       scontrol requeue \"${{SLURM_ARRAY_JOB_ID}}_${{SLURM_ARRAY_TASK_ID}}\"\n\
         \x20   else\n\
         \x20       echo \"cyplam: preempted {max} times already; not requeueing (cyplam resubmit --failed resumes it)\" >&2\n\
         \x20   fi\n\
         fi\n\
         exit \"$rc\"\n",
        max = s.max_requeues
    ));
    out
}

/// One step of the scalability study's job: `srun` of one worker with `cores` cores.
pub struct ScaleStep {
    pub worker: WorkerInvocation,
    pub cores: u32,
}

/// A group of steps run at once (a packing), timed: its start and end go to `times`.
pub struct ScaleGroup {
    pub comment: String,
    pub steps: Vec<ScaleStep>,
    pub times: PathBuf,
}

/// The scalability study's job: one exclusive node, the timed trainings one after another, then
/// each packing's trainings at once with its wall time written down.
pub fn render_scale(sweep_name: &str, slurm: &SlurmConfig, node_cores: u32, runs: &[ScaleStep], groups: &[ScaleGroup]) -> String {
    let job = Job {
        comment: format!("# Rendered by cyplam {}: the scaling study of sweep {sweep_name}.", env!("CARGO_PKG_VERSION")),
        options: vec![
            format!("--job-name=cyplam-scale-{sweep_name}"),
            "--nodes=1".into(),
            "--exclusive".into(),
            "--ntasks=1".into(),
            format!("--cpus-per-task={node_cores}"),
        ],
        slurm,
        per_task_resources: false,
    };
    let mut out = header(&job);
    let step = |r: &ScaleStep| format!("srun --exact --ntasks=1 --cpus-per-task={} {}", r.cores, r.worker.render());
    out.push('\n');
    for r in runs {
        out.push_str(&step(r));
        out.push('\n');
    }
    for g in groups {
        out.push_str(&format!("\n# {}\nt0=$(date +%s.%N)\n", g.comment));
        for r in &g.steps {
            out.push_str(&format!("{} &\n", step(r)));
        }
        out.push_str(&format!("wait\nt1=$(date +%s.%N)\necho \"$t0 $t1\" > {}\n", shell_quote_path(&g.times)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn arrays_are_ranges_and_split_under_max_array_size() {
        assert_eq!(task_indices(&[0, 1, 2, 3, 4], 2), vec![0, 1, 2]);
        assert_eq!(task_indices(&[5, 3, 4], 2), vec![1, 2]);
        let p = ArrayPlan { tasks: vec![0, 1, 2, 5, 7, 8], offset: 0 };
        assert_eq!(p.spec(None), "0-2,5,7-8");
        assert_eq!(p.spec(Some(4)), "0-2,5,7-8%4");
        let plans = plan_arrays(&(0..2500).collect::<Vec<_>>(), 1001);
        assert_eq!(plans.len(), 3);
        assert_eq!((plans[0].offset, plans[0].tasks.len()), (0, 1001));
        assert_eq!((plans[1].offset, plans[1].tasks[0], *plans[1].tasks.last().unwrap()), (1001, 0, 1000));
        assert_eq!((plans[2].offset, plans[2].tasks.len()), (2002, 498));
        let all: Vec<usize> = plans.iter().flat_map(|p| p.indices()).collect();
        assert_eq!(all, (0..2500).collect::<Vec<_>>());
        assert!(plans.iter().all(|p| p.tasks.iter().all(|t| *t < 1001)));
    }

    fn script(slurm: &SlurmConfig, plan: &ArrayPlan, dir: &str) -> String {
        render(&ScriptInput {
            sweep_name: "quick",
            sweep_dir: &PathBuf::from(dir),
            worker: Path::new("/opt/cyplam/bin/cyplam-worker"),
            slurm,
            plan,
            n_models: 5,
            device: None,
            rung: None,
            round: None,
            after: &[],
        })
    }

    #[test]
    fn a_rung_waits_for_the_rung_before_and_names_its_rung() {
        let plan = ArrayPlan { tasks: vec![0, 1], offset: 0 };
        let after = vec!["41".to_string(), "42".to_string()];
        let s = render(&ScriptInput {
            sweep_name: "quick",
            sweep_dir: &PathBuf::from("/r/quick"),
            worker: Path::new("/opt/w"),
            slurm: &SlurmConfig::default(),
            plan: &plan,
            n_models: 5,
            device: None,
            rung: Some(2),
            round: None,
            after: &after,
        });
        assert!(s.contains("#SBATCH --job-name=cyplam-quick-rung2\n"), "{s}");
        assert!(s.contains("#SBATCH --dependency=afterany:41:42\n"), "{s}");
        assert!(s.contains("/opt/w --sweep /r/quick --index \"$SLURM_ARRAY_TASK_ID\" --rung 2\n"), "{s}");
        assert!(s.contains("rung 1's decision promoted (halving/rung-1.json"), "{s}");
        assert!(!script(&SlurmConfig::default(), &plan, "/r/quick").contains("--dependency"), "no dependency outside halving");
    }

    #[test]
    fn default_script() {
        let plan = ArrayPlan { tasks: vec![0, 1, 2], offset: 0 };
        insta::assert_snapshot!(script(&SlurmConfig::default(), &plan, "/home/u/runs/quick"));
    }

    #[test]
    fn full_script_with_offset_and_hostile_paths() {
        let slurm = SlurmConfig {
            partition: Some("cpu".into()),
            account: Some("lmd".into()),
            qos: Some("normal".into()),
            time: Some("3-00:00:00".into()),
            mem: Some("20G".into()),
            constraint: Some("skylake|icelake".into()),
            extra: vec!["--exclusive".into()],
            setup: vec!["module load libtorch/2.11".into()],
            throttle: Some(10),
            ..SlurmConfig::default()
        };
        let plan = ArrayPlan { tasks: vec![0, 1, 3], offset: 1001 };
        let s = script(&slurm, &plan, "/home/u/my runs/it's $(quick)");
        insta::assert_snapshot!(s);
        // The hostile path reaches the worker intact through a real shell.
        assert!(s.contains("--sweep '/home/u/my runs/it'\\''s $(quick)'"));
    }

    #[test]
    fn scale_script_times_runs_and_packings() {
        let slurm =
            SlurmConfig { partition: Some("cpu".into()), mem: Some("20G".into()), setup: vec!["module load libtorch/2.11".into()], ..SlurmConfig::default() };
        let inv = |tag: &str, model: usize, threads: u32| WorkerInvocation {
            worker: PathBuf::from("/opt/cyplam/bin/cyplam-worker"),
            sweep: PathBuf::from(format!("/home/u/my runs/scaling/scale/{tag}")),
            target: Target::Model(model),
            threads: Some(threads),
            device: None,
            rung: None,
            round: None,
        };
        let runs = vec![ScaleStep { worker: inv("m0-c1-r0", 0, 1), cores: 1 }, ScaleStep { worker: inv("m0-c2-r0", 0, 2), cores: 2 }];
        let groups = vec![ScaleGroup {
            comment: "2 trainings x 1 cores at once".into(),
            steps: vec![ScaleStep { worker: inv("pack-2x1/0", 0, 1), cores: 1 }, ScaleStep { worker: inv("pack-2x1/1", 0, 1), cores: 1 }],
            times: PathBuf::from("/home/u/my runs/scaling/scale/pack-2x1.time"),
        }];
        let s = render_scale("scaling", &slurm, 2, &runs, &groups);
        insta::assert_snapshot!(s);
        assert!(!s.contains("--mem"), "the exclusive job takes the whole node's memory");
    }
}
