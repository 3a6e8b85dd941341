//! Where an array task stands, as Slurm says: its state by name (`squeue %T`, `sacct State`), read
//! through the one table of states in `cyplam_core::slurm_state`.

/// A job's state as Slurm names it, and what it means: the one table of states, shared with the
/// worker's lock (`cyplam_core::slurm_state`).
pub use cyplam_core::slurm_state::{Phase, SlurmState};

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
    /// The job's name (squeue `%j`, sacct `JobName`). A controller that crashed before saving its
    /// state gives a lost job's id to the next job: a name other than the one cyplam submitted
    /// under (`script::job_name`) is another job's task, not this sweep's.
    pub name: String,
}

impl TaskState {
    /// Slurm may still run it (the table's [`SlurmState::is_active`]): its model is left alone.
    pub fn is_active(&self) -> bool {
        self.state.is_active()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cyplam_core::slurm_state::{Resubmit, STATES};

    fn task(state: &str) -> TaskState {
        TaskState {
            array_job: "7".into(),
            task: 0,
            state: state.into(),
            reason: String::new(),
            node: String::new(),
            exit_code: None,
            lost_nodes: Vec::new(),
            name: "cyplam-s".into(),
        }
    }

    #[test]
    fn states_round_trip_their_names() {
        for (name, state, ..) in STATES.iter() {
            assert_eq!(SlurmState::from(*name), *state);
            assert_eq!(state.as_str(), *name);
        }
        assert_eq!(SlurmState::from("BOOT_FAIL"), SlurmState::BootFail);
        assert_eq!(SlurmState::from("WHATEVER"), SlurmState::Other("WHATEVER".into()));
        assert_eq!(SlurmState::from("WHATEVER").as_str(), "WHATEVER");
        assert!(SlurmState::Pending.is_active() && !SlurmState::Completed.is_active());
    }

    /// The coordinator's verdict on every state of the table is the table's: a task is active
    /// (resubmit leaves its model alone) exactly when the table says so.
    #[test]
    fn every_states_verdict_is_the_tables() {
        for (name, _, _, phase, resubmit) in STATES.iter() {
            let t = task(name);
            assert_eq!(t.is_active(), *resubmit == Resubmit::LeaveAlone, "{name}");
            assert_eq!(t.state.phase(), *phase, "{name}");
        }
        // The three states the worker's lock and the coordinator read differently before: active.
        for name in ["STOPPED", "SPECIAL_EXIT", "RESV_DEL_HOLD"] {
            assert!(task(name).is_active(), "{name}");
        }
        assert_eq!(task("STOPPED").state.phase(), Phase::Running);
        assert_eq!(task("SPECIAL_EXIT").state.phase(), Phase::Held);
        assert_eq!(task("RESV_DEL_HOLD").state.phase(), Phase::Held);
        // A state this cyplam does not know: left alone, never resubmitted over.
        assert!(task("SOMETHING_NEW").is_active());
        assert_eq!(task("SOMETHING_NEW").state.phase(), Phase::Unknown);
    }
}
