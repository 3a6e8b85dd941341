//! Every Slurm job state, and what each means to cyplam: the one table the worker's lock and the
//! coordinator's status and `resubmit --failed` read.
//!
//! Slurm keeps a base state and flags; `squeue -o %T`, `sacct -o State` and `scontrol show job`
//! print one name, a flag when one is set (`job_state_string` in Slurm's
//! `src/common/slurm_protocol_defs.c`). Slurm 22.05 and 24.11 print the same 24 names: the 12 base
//! states and the flags COMPLETING, STAGE_OUT, CONFIGURING, RESIZING, REQUEUED, REQUEUE_FED,
//! REQUEUE_HOLD, SPECIAL_EXIT, STOPPED, REVOKED, RESV_DEL_HOLD, SIGNALING. 24.11 added no printed
//! state (it removed the UPDATE_DB flag); 25.11 adds EXPEDITING. LAUNCH_FAILED, POWER_UP_NODE,
//! RECONFIG_FAIL and UPDATE_DB are flags Slurm documents (job_state_codes.html) but never prints as
//! a state; they have a row so that a Slurm that printed them would meet a considered meaning.
//! sacct prints a cancelled job as `CANCELLED by UID`, and its fixed-width columns (without `-P`)
//! cut a long name to `CANCELLED+`: [`SlurmState::from`] reads both.
//!
//! Each state answers three questions:
//! - [`Lock`]: may the job's workers still run, or the job come back, and write this model? A
//!   model's lock whose owner's job is alive is kept (unless Slurm runs the job on other nodes than
//!   the owner's: the worker's node check); a gone job's lock is broken.
//! - [`Phase`]: where the coordinator's `status` puts the task (pending, held, running, completed,
//!   failed, or not to be told from here).
//! - [`Resubmit`]: must `resubmit --failed` (and `submit`) leave the model alone, because Slurm
//!   will still run or requeue its task?
//!
//! A state this table does not know (a later Slurm's) is alive for the lock (never take over a
//! model that may still be written; the worker refuses and names the state rather than trust the
//! job's node list), of an unknown phase, and left alone by resubmit; `status` says so and how to
//! end it by hand.

/// What a job state says of the lock of a model its workers train.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lock {
    /// The job's workers may still run, or the job will run again (or cannot be told not to): the
    /// lock is kept, unless Slurm says the job now holds other nodes than the lock's owner's.
    Alive,
    /// The job has ended and Slurm will not run it again: its workers are gone, the lock is broken.
    Gone,
}

/// Where the coordinator puts a task in this state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Queued: waits for resources or nodes, or to run again after a requeue.
    Pending,
    /// Queued but held: runs again only once someone releases it (`scontrol release`).
    Held,
    /// Started and holding its allocation: its workers run, are stopped or suspended, or are
    /// being finished.
    Running,
    /// Ended with exit code 0 everywhere.
    Completed,
    /// Ended otherwise, and Slurm will not run it again.
    Failed,
    /// Cannot be told from here (another cluster's job, a state this table does not know).
    Unknown,
}

impl Phase {
    /// Pending, held, running or unknown: Slurm may still run the task.
    pub fn is_active(self) -> bool {
        !matches!(self, Phase::Completed | Phase::Failed)
    }
}

/// What `resubmit --failed` (and `submit`) may do with a model whose task is in this state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resubmit {
    /// Slurm will still run, resume or requeue the task (or it cannot be told it will not):
    /// leave the model alone, or two workers would be started for it.
    LeaveAlone,
    /// Slurm is done with the task: a model without a result may be submitted again.
    Allowed,
}

/// A job's state as Slurm names it (`squeue %T`, `sacct State`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlurmState {
    /// Queued, waiting for resources, priority or a dependency; it will run. Lock alive (no nodes
    /// yet: a lock whose owner recorded its node is broken, the owner's run is over); pending; left
    /// alone.
    Pending,
    /// Its workers run. Lock alive (on the nodes squeue names); running; left alone.
    Running,
    /// Preempted or `scontrol suspend`ed: its processes are suspended in memory on their nodes,
    /// its CPUs lent to others; resumed, they go on where they were. Lock alive; running (it holds
    /// its nodes); left alone.
    Suspended,
    /// Ended (or cancelled) and cleaning up (epilog): "some processes on some nodes may still be
    /// active", still writing, and a task being requeued shows COMPLETING first. Lock alive;
    /// running; left alone.
    Completing,
    /// Ended with exit code 0. Lock gone; completed; resubmit allowed (a model without a result
    /// is lost and is resumed from its snapshot).
    Completed,
    /// Allocated nodes that are booting or being reconfigured: the workers start next. Lock alive;
    /// pending (no worker started yet); left alone.
    Configuring,
    /// Cancelled by its user, an administrator or Slurm (a dependency that can never be met);
    /// Slurm will not run it again and killed its workers. Lock gone; failed; allowed.
    Cancelled,
    /// Ended with a non-zero exit code or another failure. Lock gone; failed; allowed.
    Failed,
    /// Killed at its time limit (the workers had the USR1 warning and a checkpoint). Lock gone;
    /// failed; allowed: the model resumes from its newest snapshot.
    Timeout,
    /// Ended by preemption and not requeued (a requeued one shows COMPLETING, REQUEUED, then
    /// PENDING, and squeue's word wins over sacct's record of the ended run). Lock gone; failed;
    /// allowed.
    Preempted,
    /// Ended by the failure of one of its nodes and not requeued (a requeued one is PENDING or
    /// RUNNING again; sacct keeps the NODE_FAIL run as an earlier record). Lock gone; failed;
    /// allowed.
    NodeFail,
    /// Its nodes could not be booted, and it could not be requeued. Lock gone; failed; allowed.
    BootFail,
    /// Not started before its `--deadline`; cancelled by Slurm. Lock gone; failed; allowed.
    Deadline,
    /// Killed for exceeding its memory. Lock gone; failed; allowed (with the same memory it fails
    /// again: status says why).
    OutOfMemory,
    /// Being requeued (`scontrol requeue`, the worker's exit 75 after USR1, a preemption): it
    /// will be PENDING again. Lock alive (no nodes: a lock of the ended run on a recorded node is
    /// broken); pending; left alone.
    Requeued,
    /// Requeued and held (`scontrol requeuehold`): not scheduled until released. Lock alive;
    /// held; left alone: it runs again once released; to train the model elsewhere, cancel it
    /// first.
    RequeueHold,
    /// Requeued by a federation because of its sibling job. Lock alive; pending; left alone.
    RequeueFed,
    /// Its size is changing; it runs. Lock alive; running; left alone.
    Resizing,
    /// Federation: this cluster's copy was revoked because another cluster started the job; it
    /// may still run there, or have ended, which cannot be told from here. Lock alive (never taken
    /// over from a job that may still run elsewhere); unknown; left alone.
    Revoked,
    /// A signal to the job is pending (as `--signal=USR1@...` before the time limit); it runs.
    /// Lock alive; running; left alone.
    Signaling,
    /// Requeued and held in a special state, typically by an EpilogSlurmctld for a particular exit
    /// code (REQUEUE_HOLD for a site's special situation): runs again once released. Lock alive
    /// (the job will come back); held; left alone, as REQUEUE_HOLD.
    SpecialExit,
    /// Its burst buffer stages data out: files may still be written back after the workers ended.
    /// Lock alive; running; left alone.
    StageOut,
    /// Its processes were stopped with SIGSTOP but keep their allocation (CPUs retained) and go on
    /// when continued. Lock alive (the stopped worker holds its lock and resumes writing);
    /// running; left alone.
    Stopped,
    /// Held because the reservation it asked for was deleted: runs once the job is changed or
    /// released. Lock alive; held; left alone.
    ResvDelHold,
    /// Slurm 25.11: requeued and immediately eligible at the highest priority (an expedited
    /// requeue); it runs next. Lock alive; pending; left alone.
    Expediting,
    /// A flag, never printed as a state by Slurm 22.05 to 25.11: the launch failed (a prolog
    /// failure) and Slurm requeues (or holds) the job. Lock alive; pending; left alone.
    LaunchFailed,
    /// A flag, never printed (squeue says CONFIGURING): its nodes are powering up. Lock alive;
    /// pending; left alone.
    PowerUpNode,
    /// A flag, never printed: the node configuration for the job failed and it is requeued. Lock
    /// alive; pending; left alone.
    ReconfigFail,
    /// A flag, never printed, removed in 24.11: an update is being sent to the database; it says
    /// nothing of whether the job runs. As an unknown state: lock alive; unknown; left alone.
    UpdateDb,
    /// Any other state, as Slurm wrote it: a later Slurm's. Lock alive (the worker refuses and
    /// names it, whatever the node list says); unknown; left alone.
    Other(String),
}

use Lock::{Alive, Gone};
use Phase::{Completed as Done, Failed as Fail, Held, Pending as Queued, Running as Runs, Unknown};
use Resubmit::{Allowed, LeaveAlone};

/// Every state Slurm names, with its meaning: the one table (the reasons are the variants' docs).
pub const STATES: [(&str, SlurmState, Lock, Phase, Resubmit); 29] = [
    ("PENDING", SlurmState::Pending, Alive, Queued, LeaveAlone),
    ("RUNNING", SlurmState::Running, Alive, Runs, LeaveAlone),
    ("SUSPENDED", SlurmState::Suspended, Alive, Runs, LeaveAlone),
    ("COMPLETING", SlurmState::Completing, Alive, Runs, LeaveAlone),
    ("COMPLETED", SlurmState::Completed, Gone, Done, Allowed),
    ("CONFIGURING", SlurmState::Configuring, Alive, Queued, LeaveAlone),
    ("CANCELLED", SlurmState::Cancelled, Gone, Fail, Allowed),
    ("FAILED", SlurmState::Failed, Gone, Fail, Allowed),
    ("TIMEOUT", SlurmState::Timeout, Gone, Fail, Allowed),
    ("PREEMPTED", SlurmState::Preempted, Gone, Fail, Allowed),
    ("NODE_FAIL", SlurmState::NodeFail, Gone, Fail, Allowed),
    ("BOOT_FAIL", SlurmState::BootFail, Gone, Fail, Allowed),
    ("DEADLINE", SlurmState::Deadline, Gone, Fail, Allowed),
    ("OUT_OF_MEMORY", SlurmState::OutOfMemory, Gone, Fail, Allowed),
    ("REQUEUED", SlurmState::Requeued, Alive, Queued, LeaveAlone),
    ("REQUEUE_HOLD", SlurmState::RequeueHold, Alive, Held, LeaveAlone),
    ("REQUEUE_FED", SlurmState::RequeueFed, Alive, Queued, LeaveAlone),
    ("RESIZING", SlurmState::Resizing, Alive, Runs, LeaveAlone),
    ("REVOKED", SlurmState::Revoked, Alive, Unknown, LeaveAlone),
    ("SIGNALING", SlurmState::Signaling, Alive, Runs, LeaveAlone),
    ("SPECIAL_EXIT", SlurmState::SpecialExit, Alive, Held, LeaveAlone),
    ("STAGE_OUT", SlurmState::StageOut, Alive, Runs, LeaveAlone),
    ("STOPPED", SlurmState::Stopped, Alive, Runs, LeaveAlone),
    ("RESV_DEL_HOLD", SlurmState::ResvDelHold, Alive, Held, LeaveAlone),
    ("EXPEDITING", SlurmState::Expediting, Alive, Queued, LeaveAlone),
    ("LAUNCH_FAILED", SlurmState::LaunchFailed, Alive, Queued, LeaveAlone),
    ("POWER_UP_NODE", SlurmState::PowerUpNode, Alive, Queued, LeaveAlone),
    ("RECONFIG_FAIL", SlurmState::ReconfigFail, Alive, Queued, LeaveAlone),
    ("UPDATE_DB", SlurmState::UpdateDb, Alive, Unknown, LeaveAlone),
];

/// The meaning of a state this table does not know.
const OTHER: (Lock, Phase, Resubmit) = (Alive, Unknown, LeaveAlone);

impl SlurmState {
    fn row(&self) -> Option<&'static (&'static str, SlurmState, Lock, Phase, Resubmit)> {
        STATES.iter().find(|(_, s, ..)| s == self)
    }
    fn meaning(&self) -> (Lock, Phase, Resubmit) {
        self.row().map(|&(_, _, l, p, r)| (l, p, r)).unwrap_or(OTHER)
    }

    /// The name Slurm prints.
    pub fn as_str(&self) -> &str {
        match self {
            SlurmState::Other(s) => s,
            known => known.row().map(|r| r.0).unwrap_or(""),
        }
    }

    /// Whether this table knows the state.
    pub fn is_known(&self) -> bool {
        !matches!(self, SlurmState::Other(_))
    }

    /// What it says of a model's lock.
    pub fn lock(&self) -> Lock {
        self.meaning().0
    }

    /// Where the coordinator puts the task.
    pub fn phase(&self) -> Phase {
        self.meaning().1
    }

    /// Whether resubmit must leave its model alone.
    pub fn resubmit(&self) -> Resubmit {
        self.meaning().2
    }

    /// Waiting, held, running, about to run again, or not to be told: Slurm may still run it, so
    /// its model is taken care of (resubmit leaves it alone).
    pub fn is_active(&self) -> bool {
        self.resubmit() == LeaveAlone
    }
}

impl From<&str> for SlurmState {
    /// Reads a state as squeue or sacct print it: `RUNNING`, `CANCELLED by 1000` (sacct names who
    /// cancelled), `CANCELLED+` (a name cut to a fixed-width column); anything else is
    /// [`SlurmState::Other`], as written.
    fn from(s: &str) -> SlurmState {
        let word = s.split_whitespace().next().unwrap_or("");
        let known = |w: &str| STATES.iter().find(|(n, ..)| *n == w).map(|(_, k, ..)| k.clone());
        known(word).or_else(|| word.strip_suffix('+').and_then(known)).unwrap_or_else(|| SlurmState::Other(s.trim().to_string()))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_state_has_one_row_and_its_name_round_trips() {
        for (i, (name, state, ..)) in STATES.iter().enumerate() {
            assert!(STATES[..i].iter().all(|(n, s, ..)| n != name && s != state), "{name} twice");
            assert_eq!(SlurmState::from(*name), *state);
            assert_eq!(state.as_str(), *name);
            assert!(state.is_known());
        }
        // The 24 names Slurm 22.05 and 24.11 print (job_state_string), and 25.11's EXPEDITING.
        for name in [
            "PENDING",
            "RUNNING",
            "SUSPENDED",
            "COMPLETED",
            "CANCELLED",
            "FAILED",
            "TIMEOUT",
            "NODE_FAIL",
            "PREEMPTED",
            "BOOT_FAIL",
            "DEADLINE",
            "OUT_OF_MEMORY",
            "COMPLETING",
            "STAGE_OUT",
            "CONFIGURING",
            "RESIZING",
            "REQUEUED",
            "REQUEUE_FED",
            "REQUEUE_HOLD",
            "SPECIAL_EXIT",
            "STOPPED",
            "REVOKED",
            "RESV_DEL_HOLD",
            "SIGNALING",
            "EXPEDITING",
        ] {
            assert!(SlurmState::from(name).is_known(), "{name}");
        }
    }

    #[test]
    fn the_columns_agree_with_each_other() {
        for (name, state, lock, phase, resubmit) in STATES.iter() {
            // A job whose workers may still write (or that comes back) is one Slurm still runs or
            // requeues, and only those: resubmit leaves it alone, status counts it active.
            assert_eq!(*lock == Alive, *resubmit == LeaveAlone, "{name}");
            assert_eq!(phase.is_active(), *resubmit == LeaveAlone, "{name}");
            assert_eq!(state.is_active(), phase.is_active(), "{name}");
            assert_eq!((state.lock(), state.phase(), state.resubmit()), (*lock, *phase, *resubmit), "{name}");
        }
    }

    #[test]
    fn the_states_the_lock_and_the_coordinator_read_differently_before_are_alive_and_left_alone() {
        let m = |s: &str| (SlurmState::from(s).lock(), SlurmState::from(s).phase(), SlurmState::from(s).resubmit());
        assert_eq!(m("STOPPED"), (Alive, Runs, LeaveAlone));
        assert_eq!(m("SPECIAL_EXIT"), (Alive, Held, LeaveAlone));
        assert_eq!(m("RESV_DEL_HOLD"), (Alive, Held, LeaveAlone));
        assert_eq!(m("REVOKED"), (Alive, Unknown, LeaveAlone));
    }

    #[test]
    fn an_unknown_state_is_alive_unknown_and_left_alone() {
        let s = SlurmState::from("WHATEVER_26_05");
        assert_eq!(s, SlurmState::Other("WHATEVER_26_05".into()));
        assert_eq!((s.lock(), s.phase(), s.resubmit(), s.is_active(), s.is_known()), (Alive, Unknown, LeaveAlone, true, false));
        assert_eq!(s.as_str(), "WHATEVER_26_05");
        assert_eq!(SlurmState::from("").phase(), Unknown);
    }

    #[test]
    fn sacct_forms_are_read() {
        assert_eq!(SlurmState::from("CANCELLED by 1000"), SlurmState::Cancelled);
        assert_eq!(SlurmState::from("CANCELLED by 0"), SlurmState::Cancelled);
        assert_eq!(SlurmState::from("CANCELLED+"), SlurmState::Cancelled);
        assert_eq!(SlurmState::from(" RUNNING \n"), SlurmState::Running);
        // A name cut short is not guessed at.
        assert_eq!(SlurmState::from("OUT_OF_ME+"), SlurmState::Other("OUT_OF_ME+".into()));
        assert_eq!(SlurmState::from("CANCELLED by 1000").to_string(), "CANCELLED");
        assert!(SlurmState::Completing == "COMPLETING");
    }
}
