//! Where an array task stands, as Slurm says: its state by name (`squeue %T`, `sacct State`).

/// A job's state as Slurm names it (`squeue %T`, `sacct State`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlurmState {
    Pending,
    Running,
    Configuring,
    Completing,
    Completed,
    Failed,
    Cancelled,
    Timeout,
    NodeFail,
    Preempted,
    OutOfMemory,
    Requeued,
    RequeueHold,
    RequeueFed,
    Resizing,
    Suspended,
    StageOut,
    Signaling,
    /// Any other state, as Slurm wrote it.
    Other(String),
}

impl SlurmState {
    const NAMES: [(&'static str, SlurmState); 18] = [
        ("PENDING", SlurmState::Pending),
        ("RUNNING", SlurmState::Running),
        ("CONFIGURING", SlurmState::Configuring),
        ("COMPLETING", SlurmState::Completing),
        ("COMPLETED", SlurmState::Completed),
        ("FAILED", SlurmState::Failed),
        ("CANCELLED", SlurmState::Cancelled),
        ("TIMEOUT", SlurmState::Timeout),
        ("NODE_FAIL", SlurmState::NodeFail),
        ("PREEMPTED", SlurmState::Preempted),
        ("OUT_OF_MEMORY", SlurmState::OutOfMemory),
        ("REQUEUED", SlurmState::Requeued),
        ("REQUEUE_HOLD", SlurmState::RequeueHold),
        ("REQUEUE_FED", SlurmState::RequeueFed),
        ("RESIZING", SlurmState::Resizing),
        ("SUSPENDED", SlurmState::Suspended),
        ("STAGE_OUT", SlurmState::StageOut),
        ("SIGNALING", SlurmState::Signaling),
    ];

    /// The name Slurm prints.
    pub fn as_str(&self) -> &str {
        match self {
            SlurmState::Other(s) => s,
            known => Self::NAMES.iter().find(|(_, k)| k == known).map(|(n, _)| *n).unwrap_or(""),
        }
    }

    /// Waiting, running or about to run again: its model is taken care of.
    pub fn is_active(&self) -> bool {
        use SlurmState::*;
        matches!(self, Pending | Running | Configuring | Completing | Requeued | RequeueHold | RequeueFed | Resizing | Suspended | StageOut | Signaling)
    }
}

impl From<&str> for SlurmState {
    fn from(s: &str) -> SlurmState {
        Self::NAMES.iter().find(|(n, _)| *n == s).map(|(_, k)| k.clone()).unwrap_or_else(|| SlurmState::Other(s.to_string()))
    }
}

impl PartialEq<&str> for SlurmState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl std::fmt::Display for SlurmState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one array task stands, as Slurm says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskState {
    /// The array's job id (what sbatch printed).
    pub array_job: String,
    pub task: usize,
    pub state: SlurmState,
    pub reason: String,
    pub node: String,
    pub exit_code: Option<String>,
    /// The nodes that failed under earlier runs of this task (sacct's NODE_FAIL records of it,
    /// `sacct --duplicates`): Slurm requeued it after each.
    pub lost_nodes: Vec<String>,
}

impl TaskState {
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_their_names() {
        for (name, state) in SlurmState::NAMES.iter() {
            assert_eq!(SlurmState::from(*name), *state);
            assert_eq!(state.as_str(), *name);
        }
        assert_eq!(SlurmState::from("BOOT_FAIL"), SlurmState::Other("BOOT_FAIL".into()));
        assert_eq!(SlurmState::from("BOOT_FAIL").as_str(), "BOOT_FAIL");
        assert!(SlurmState::Pending.is_active() && !SlurmState::Completed.is_active() && !SlurmState::Other("X".into()).is_active());
    }
}
