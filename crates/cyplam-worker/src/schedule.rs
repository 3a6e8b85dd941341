//! What a training run does when: how many iterations in batches of which frames (`Plan`), the
//! batch order of each epoch, the dropout seed of each iteration and the iterations at which
//! snapshots are taken, all decided from the seed and the iteration alone, so a resumed run repeats
//! an uninterrupted one without any saved generator state.

use crate::prepare::Prepared;
use anyhow::{bail, Result};
use cyplam_core::rng::splitmix64;
use cyplam_core::spec::ModelSpec;
use tch::{Device, Tensor};

/// The order in which epoch `epoch` visits the `n` training frames.
pub fn epoch_permutation(n: usize, seed: u64, epoch: u64) -> Vec<i64> {
    let mut perm: Vec<i64> = (0..n as i64).collect();
    let mut state = splitmix64(seed ^ splitmix64(epoch.wrapping_add(1)));
    for i in (1..n).rev() {
        state = splitmix64(state);
        let j = (state % (i as u64 + 1)) as usize;
        perm.swap(i, j);
    }
    perm
}

/// Seed of torch's generator (dropout) for one iteration.
pub fn iteration_seed(seed: u64, iteration: u64) -> i64 {
    (splitmix64(seed.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ iteration) >> 1) as i64
}

/// The snapshot iterations: one rule for the worker and for the rung plan of successive halving.
pub use cyplam_core::spec::snapshot_iterations;

/// How long the model trains and in which batches: the numbers fixed once the data is known.
pub struct Plan {
    /// Training frames.
    pub frames: u64,
    pub batch_size: u64,
    /// Iterations in all.
    pub total: u64,
    pub per_epoch: u64,
    /// Iterations after which a snapshot is taken, ascending.
    pub snapshots: Vec<u64>,
}

impl Plan {
    pub fn new(spec: &ModelSpec, frames: u64) -> Result<Plan> {
        let batch_size = spec.batch_size as u64;
        if batch_size > frames {
            bail!("batch_size {batch_size} is larger than the training set ({frames} frames)");
        }
        let total = spec.length.iterations(frames, batch_size);
        Ok(Plan { frames, batch_size, total, per_epoch: (frames / batch_size).max(1), snapshots: snapshot_iterations(total, spec.snapshots) })
    }

    /// Whether a snapshot is taken once `it` iterations are done.
    pub fn is_snapshot(&self, it: u64) -> bool {
        self.snapshots.binary_search(&it).is_ok()
    }
}

/// The training set in the order of the current epoch, on the device, made once per epoch.
#[derive(Default)]
pub struct EpochBatches {
    current: Option<(u64, Tensor, Tensor)>,
}

impl EpochBatches {
    /// Frames and labels of the batch of iteration `it` (0-based).
    pub fn batch(&mut self, prep: &Prepared, plan: &Plan, seed: u64, device: Device, it: u64) -> (Tensor, Tensor) {
        let epoch = it / plan.per_epoch;
        if self.current.as_ref().is_some_and(|(e, _, _)| *e != epoch) {
            self.current = None;
        }
        let (_, x, y) = self.current.get_or_insert_with(|| {
            let perm = Tensor::from_slice(&epoch_permutation(plan.frames as usize, seed, epoch)).to_device(device);
            (epoch, prep.train_x.index_select(0, &perm), prep.train_y.index_select(0, &perm))
        });
        let start = ((it % plan.per_epoch) * plan.batch_size) as i64;
        (x.narrow(0, start, plan.batch_size as i64), y.narrow(0, start, plan.batch_size as i64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permutations_are_deterministic_and_complete() {
        let a = epoch_permutation(100, 7, 3);
        assert_eq!(a, epoch_permutation(100, 7, 3));
        assert_ne!(a, epoch_permutation(100, 7, 4));
        assert_ne!(a, epoch_permutation(100, 8, 3));
        let mut s = a.clone();
        s.sort();
        assert_eq!(s, (0..100).collect::<Vec<i64>>());
    }

    #[test]
    fn the_batch_order_and_dropout_seeds_are_those_of_earlier_runs() {
        // Values of the worker's own SplitMix64 before it used cyplam_core::rng: a checkpoint
        // taken by an older build resumes with the same batches.
        assert_eq!(epoch_permutation(10, 7, 3), vec![3, 0, 5, 1, 2, 4, 6, 9, 8, 7]);
        assert_eq!(iteration_seed(11, 1500), 4_672_208_157_556_088_897);
    }

    #[test]
    fn snapshots_are_evenly_spaced_and_end_at_the_last_iteration() {
        assert_eq!(snapshot_iterations(1000, 4), vec![250, 500, 750, 1000]);
        assert_eq!(snapshot_iterations(416_400, 200).len(), 200);
        assert_eq!(snapshot_iterations(416_400, 200)[0], 2082);
        assert_eq!(snapshot_iterations(3, 10), vec![1, 2, 3]);
        assert_eq!(*snapshot_iterations(7, 3).last().unwrap(), 7);
    }
}
