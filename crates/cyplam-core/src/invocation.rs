//! How a worker is started: one type that gives the `cyplam-worker` arguments for every launcher
//! (the sweep's sbatch script, the scalability study's script, `cyplam run` and `cyplam scale
//! --local`), as a list of words until it is rendered, quoted for the shell when it is.

use std::path::{Path, PathBuf};

/// Which model(s) a worker trains.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Inside a job array: `--index` is the array task id plus `offset`, read from
    /// `SLURM_ARRAY_TASK_ID` when the script runs; the slot comes from `SLURM_PROCID`.
    ArrayTask { offset: usize },
    /// One array task's slot, run outside Slurm (`cyplam run`): `--index task` with the
    /// environment the array task would give it (`SLURM_ARRAY_TASK_ID`, `SLURM_PROCID=slot`,
    /// `SLURM_CPUS_PER_TASK=cpus`).
    Task { task: usize, slot: usize, cpus: u32 },
    /// One model by its index (`--model`).
    Model(usize),
}

/// A worker's command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerInvocation {
    pub worker: PathBuf,
    pub sweep: PathBuf,
    pub target: Target,
    /// `--threads`; `None` leaves it to `SLURM_CPUS_PER_TASK` or the model's setting.
    pub threads: Option<u32>,
    /// `--device` (cpu, cuda, cuda:N); `None` is the worker's default (cpu).
    pub device: Option<String>,
    /// `--rung K`: successive halving's rung the worker trains in (`None` outside halving).
    pub rung: Option<u32>,
    /// `--round R`: a TPE search's round the worker trains a model of (`None` outside one, and for
    /// the models already known).
    pub round: Option<u32>,
}

/// A word of a rendered command line: taken as it is, or quoted.
enum Word {
    Literal(String),
    /// Shell syntax the script means to expand (the array task id).
    Shell(String),
}

impl WorkerInvocation {
    fn words(&self) -> Vec<Word> {
        let mut w = vec![Word::Literal(self.worker.display().to_string()), Word::Literal("--sweep".into()), Word::Literal(self.sweep.display().to_string())];
        if let Some(d) = &self.device {
            w.extend([Word::Literal("--device".into()), Word::Literal(d.clone())]);
        }
        match &self.target {
            Target::ArrayTask { offset } => {
                w.push(Word::Literal("--index".into()));
                w.push(Word::Shell(if *offset == 0 { "\"$SLURM_ARRAY_TASK_ID\"".to_string() } else { format!("\"$((SLURM_ARRAY_TASK_ID + {offset}))\"") }));
            }
            Target::Task { task, .. } => w.extend([Word::Literal("--index".into()), Word::Literal(task.to_string())]),
            Target::Model(m) => w.extend([Word::Literal("--model".into()), Word::Literal(m.to_string())]),
        }
        if let Some(k) = self.rung {
            w.extend([Word::Literal("--rung".into()), Word::Literal(k.to_string())]);
        }
        if let Some(r) = self.round {
            w.extend([Word::Literal("--round".into()), Word::Literal(r.to_string())]);
        }
        if let Some(t) = self.threads {
            w.extend([Word::Literal("--threads".into()), Word::Literal(t.to_string())]);
        }
        w
    }

    /// The command line for a shell script: every word quoted, the array task id expanded.
    pub fn render(&self) -> String {
        self.words()
            .into_iter()
            .map(|w| match w {
                Word::Literal(s) => shell_quote(&s),
                Word::Shell(s) => s,
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// The process to start on this machine, with the environment of its target: a `Task` gets
    /// its array task's variables (and keeps a `CYPLAM_WORKER_THREADS` the user set, as in an
    /// array task); no other Slurm job variable leaks in from the caller (the worker's lock would
    /// take this process for a Slurm job's). An `ArrayTask` only runs inside a job array, and is
    /// started by its script.
    pub fn command(&self) -> std::process::Command {
        let words = self.words();
        let mut c = std::process::Command::new(&self.worker);
        for w in words.iter().skip(1) {
            match w {
                Word::Literal(s) | Word::Shell(s) => {
                    c.arg(s);
                }
            }
        }
        for v in ["SLURM_JOB_ID", "SLURM_ARRAY_TASK_ID", "SLURM_PROCID", "SLURM_CPUS_PER_TASK"] {
            c.env_remove(v);
        }
        match self.target {
            Target::Task { task, slot, cpus } => {
                c.env("SLURM_ARRAY_TASK_ID", task.to_string()).env("SLURM_PROCID", slot.to_string()).env("SLURM_CPUS_PER_TASK", cpus.to_string());
            }
            _ => {
                c.env_remove("CYPLAM_WORKER_THREADS");
            }
        }
        c
    }
}

/// Quotes a string for a POSIX shell: safe for any content.
pub fn shell_quote(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:,+@%".contains(c)) {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

/// A path quoted for a POSIX shell.
pub fn shell_quote_path(p: &Path) -> String {
    shell_quote(&p.display().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn inv(target: Target) -> WorkerInvocation {
        WorkerInvocation { worker: "/opt/w".into(), sweep: "/r/it's".into(), target, threads: None, device: None, rung: None, round: None }
    }

    #[test]
    fn rendered_for_a_script() {
        assert_eq!(inv(Target::ArrayTask { offset: 0 }).render(), "/opt/w --sweep '/r/it'\\''s' --index \"$SLURM_ARRAY_TASK_ID\"");
        let mut i = inv(Target::ArrayTask { offset: 1001 });
        i.device = Some("cuda".into());
        assert_eq!(i.render(), "/opt/w --sweep '/r/it'\\''s' --device cuda --index \"$((SLURM_ARRAY_TASK_ID + 1001))\"");
        let mut i = inv(Target::Model(3));
        i.threads = Some(4);
        assert_eq!(i.render(), "/opt/w --sweep '/r/it'\\''s' --model 3 --threads 4");
        let mut i = inv(Target::ArrayTask { offset: 0 });
        i.rung = Some(2);
        assert_eq!(i.render(), "/opt/w --sweep '/r/it'\\''s' --index \"$SLURM_ARRAY_TASK_ID\" --rung 2");
        i.rung = None;
        i.round = Some(3);
        assert_eq!(i.render(), "/opt/w --sweep '/r/it'\\''s' --index \"$SLURM_ARRAY_TASK_ID\" --round 3");
    }

    #[test]
    fn a_local_task_gets_its_slot() {
        let c = inv(Target::Task { task: 2, slot: 1, cpus: 3 }).command();
        let args: Vec<_> = c.get_args().map(|a| a.to_string_lossy().into_owned()).collect();
        assert_eq!(args, vec!["--sweep", "/r/it's", "--index", "2"]);
        let env: Vec<_> = c.get_envs().filter_map(|(k, v)| v.map(|v| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))).collect();
        for v in ["SLURM_PROCID=1", "SLURM_ARRAY_TASK_ID=2", "SLURM_CPUS_PER_TASK=3"] {
            assert!(env.contains(&v.to_string()), "{v}: {env:?}");
        }
        assert!(c.get_envs().any(|(k, v)| k == "SLURM_JOB_ID" && v.is_none()), "SLURM_JOB_ID is removed");
    }

    #[test]
    fn quoting_is_safe_for_anything() {
        assert_eq!(shell_quote("/a/b-c_d.e"), "/a/b-c_d.e");
        assert_eq!(shell_quote("my dir"), "'my dir'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(rm -rf /)"), "'$(rm -rf /)'");
        assert_eq!(shell_quote(""), "''");
        for s in ["a b", "it's", "$(echo hi)", "`x`", "a\"b", "new\nline", "semi;colon", "back\\slash"] {
            let out = std::process::Command::new("sh").arg("-c").arg(format!("printf %s {}", shell_quote(s))).output().unwrap();
            assert_eq!(String::from_utf8(out.stdout).unwrap(), s);
        }
    }
}
