//! The arithmetic between models and array tasks: an array task trains `trainings_per_node`
//! models side by side (one `srun` step each, told apart by `SLURM_PROCID`), so model `m` is
//! trained by task `m / k` in slot `m % k`. Every part of cyplam that maps one to the other (the
//! sbatch script, submit, status, `cyplam run`, the worker) asks this type; nothing wraps around.

/// How models are packed into array tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packing {
    per_task: u32,
}

impl Packing {
    /// `trainings_per_node` models per array task (at least 1; the grid checks it, and 0 is taken
    /// as 1 rather than dividing by it).
    pub fn new(trainings_per_node: u32) -> Packing {
        Packing { per_task: trainings_per_node.max(1) }
    }
    /// Models per array task.
    pub fn per_task(self) -> u32 {
        self.per_task
    }
    /// The array task index that trains model `model`.
    pub fn task_of(self, model: usize) -> usize {
        model / self.per_task as usize
    }
    /// The slot (`SLURM_PROCID`) of model `model` inside its task.
    pub fn slot_of(self, model: usize) -> usize {
        model % self.per_task as usize
    }
    /// The model trained by slot `slot` of task `task`, if the slot exists and the number fits
    /// (an index near 2^64 from a command line is `None`, not a wrap-around).
    pub fn model_at(self, task: usize, slot: usize) -> Option<usize> {
        if slot >= self.per_task as usize {
            return None;
        }
        task.checked_mul(self.per_task as usize)?.checked_add(slot)
    }
    /// The models of task `task` among `n_models`.
    pub fn models_of(self, task: usize, n_models: usize) -> impl Iterator<Item = usize> {
        (0..self.per_task as usize).filter_map(move |slot| self.model_at(task, slot)).filter(move |&m| m < n_models)
    }
    /// The array task indices that hold `models`, sorted, each once.
    pub fn tasks_of(self, models: &[usize]) -> Vec<usize> {
        let mut t: Vec<usize> = models.iter().map(|&m| self.task_of(m)).collect();
        t.sort_unstable();
        t.dedup();
        t
    }
    /// Of the models that `tasks` train, those in `wanted` (a task trains every model of its
    /// slots, but only the wanted ones were asked for).
    pub fn covered(self, tasks: &[usize], wanted: &[usize]) -> Vec<usize> {
        tasks.iter().flat_map(|&t| (0..self.per_task as usize).filter_map(move |s| self.model_at(t, s))).filter(|m| wanted.contains(m)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_and_tasks_map_both_ways() {
        let p = Packing::new(2);
        assert_eq!((p.task_of(5), p.slot_of(5)), (2, 1));
        assert_eq!(p.model_at(2, 1), Some(5));
        assert_eq!(p.model_at(2, 2), None, "slot past the packing");
        assert_eq!(p.models_of(2, 5).collect::<Vec<_>>(), vec![4]);
        assert_eq!(p.tasks_of(&[0, 1, 2, 3, 4]), vec![0, 1, 2]);
        assert_eq!(p.tasks_of(&[5, 3, 4]), vec![1, 2]);
        assert_eq!(p.covered(&[1, 2], &[3, 4]), vec![3, 4]);
        for m in 0..50 {
            assert_eq!(p.model_at(p.task_of(m), p.slot_of(m)), Some(m));
        }
    }

    #[test]
    fn no_wrap_around() {
        let p = Packing::new(2);
        assert_eq!(p.model_at(usize::MAX, 0), None);
        assert_eq!(p.model_at(usize::MAX / 2, 1), Some(usize::MAX));
        assert_eq!(Packing::new(0).per_task(), 1);
    }
}
