//! Renders the sbatch script of a sweep (pure: tested with snapshots) and plans the job arrays:
//! which array task indices to submit, split under the cluster's MaxArraySize.

use cyplam_core::files::EXIT_PREEMPTED;
use cyplam_core::grid::SlurmConfig;
use std::path::Path;

/// Quotes a string for a POSIX shell: safe for any content.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

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
    let mut t: Vec<usize> = models.iter().map(|m| m / trainings_per_node as usize).collect();
    t.sort_unstable();
    t.dedup();
    t
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

/// Everything the script needs.
pub struct ScriptInput<'a> {
    pub sweep_name: &'a str,
    pub sweep_dir: &'a Path,
    pub worker: &'a Path,
    pub slurm: &'a SlurmConfig,
    pub plan: &'a ArrayPlan,
    pub n_models: usize,
    /// Extra arguments for every worker (e.g. ["--device", "cuda"]).
    pub worker_args: &'a [String],
}

/// The sbatch script. `#SBATCH` values were checked when the grid was read; everything that
/// reaches the shell is quoted.
pub fn render(i: &ScriptInput) -> String {
    let s = i.slurm;
    let mut out = String::new();
    out.push_str("#!/bin/bash\n");
    out.push_str(&format!(
        "# Rendered by cyplam {} for sweep {} ({} models, {} per array task). `cyplam submit` renders it again.\n",
        env!("CARGO_PKG_VERSION"),
        i.sweep_name,
        i.n_models,
        s.trainings_per_node
    ));
    let mut sb = |opt: String| out.push_str(&format!("#SBATCH {opt}\n"));
    sb(format!("--job-name=cyplam-{}", i.sweep_name));
    sb(format!("--array={}", i.plan.spec(s.throttle)));
    sb("--nodes=1".into());
    sb(format!("--ntasks={}", s.trainings_per_node));
    sb(format!("--cpus-per-task={}", s.cpus_per_training));
    sb("--requeue".into());
    sb(format!("--signal=USR1@{}", s.signal_lead_seconds));
    sb("--open-mode=append".into());
    if let Some(v) = &s.partition {
        sb(format!("--partition={v}"));
    }
    if let Some(v) = &s.account {
        sb(format!("--account={v}"));
    }
    if let Some(v) = &s.qos {
        sb(format!("--qos={v}"));
    }
    if let Some(v) = &s.time {
        sb(format!("--time={v}"));
    }
    if let Some(v) = &s.mem {
        sb(format!("--mem={v}"));
    }
    if let Some(v) = &s.constraint {
        sb(format!("--constraint={v}"));
    }
    if let Some(v) = &s.gres {
        sb(format!("--gres={v}"));
    }
    for e in &s.extra {
        sb(e.clone());
    }
    out.push_str("\nset -u\n");
    if !s.setup.is_empty() {
        out.push_str("# Set-up lines from the grid file's [slurm] setup.\n");
        for l in &s.setup {
            out.push_str(l);
            out.push('\n');
        }
    }
    let index = if i.plan.offset == 0 {
        "\"$SLURM_ARRAY_TASK_ID\"".to_string()
    } else {
        format!("\"$((SLURM_ARRAY_TASK_ID + {}))\"", i.plan.offset)
    };
    let mut worker_cmd = vec![shell_quote(&i.worker.display().to_string()), "--sweep".into(), shell_quote(&i.sweep_dir.display().to_string())];
    worker_cmd.extend(i.worker_args.iter().map(|a| shell_quote(a)));
    out.push_str(&format!(
        "\n# {} training(s) of {} core(s) each; task k trains models k*{} ... k*{}+{}.\n",
        s.trainings_per_node, s.cpus_per_training, s.trainings_per_node, s.trainings_per_node, s.trainings_per_node - 1
    ));
    out.push_str(&format!(
        "srun --kill-on-bad-exit=0 --ntasks={} --cpus-per-task={} {} --index {index}\n",
        s.trainings_per_node, s.cpus_per_training, worker_cmd.join(" ")
    ));
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    #[test]
    fn quoting_is_safe_for_anything() {
        assert_eq!(shell_quote("/a/b-c_d.e"), "/a/b-c_d.e");
        assert_eq!(shell_quote("my dir"), "'my dir'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
        // The shell gives back exactly what was quoted.
        for s in ["a b", "it's", "$(echo hi)", "`x`", "a\"b", "new\nline", "semi;colon", "back\\slash"] {
            let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", shell_quote(s))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }

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
            worker_args: &[],
        })
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
}
