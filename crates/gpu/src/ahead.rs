//! Pass 2's challenge-free work, done in pass 1.
//!
//! In pass 1 the GPU waits for the host's traces about half the time; in
//! pass 2 the host waits for the GPU. Some of a shard proof's pass-2 work
//! depends on no challenge, only on the tables' shapes: the hiding PCS's
//! draws for the permutation and quotient commitments (random rows and
//! columns, quotient masks, salts) and the whole commitment of the random
//! polynomial. [`AheadPlan::draw`] does that work right after the shard's
//! main commitment, from the same streams in the same order, and pass 2
//! takes the results ([`ZkDraws::Ahead`]) instead of drawing. The proof is
//! the same bytes either way: a draw's values depend only on the stream
//! and on the sizes drawn before it, which [`ZkDraws::Ahead`] checks.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use cloak_prover::config::{FriSettings, SaltRng, ZkRng};
use cloak_prover::stark::Commitment;
use cudarc::driver::CudaSlice;

use crate::context::{GpuContext, GpuError, Result};
use crate::ntt::{DeviceMatrix, Ntt};
use crate::rounds::{self, Round};
use crate::zkrng::{draw_split, salts_split};

/// Where a proof's zero-knowledge draws come from.
pub enum ZkDraws<'a> {
    /// Drawn when needed from the hiding PCS's mask and salt streams.
    Streams {
        masks: &'a mut ZkRng,
        salts: &'a mut SaltRng,
    },
    /// Drawn earlier from those streams, in the order they are asked for.
    Ahead(&'a mut DrawnAhead),
}

impl ZkDraws<'_> {
    /// `sizes.len()` runs of mask draws, one after another.
    pub fn masks(&mut self, gpu: &GpuContext, sizes: &[usize]) -> Result<Vec<CudaSlice<u32>>> {
        match self {
            ZkDraws::Streams { masks, .. } => draw_split(gpu, masks, sizes),
            ZkDraws::Ahead(drawn) => take_checked(&mut drawn.masks, sizes, "mask"),
        }
    }

    /// One salt matrix (`height × 4`) per height, one after another.
    pub fn salts(&mut self, gpu: &GpuContext, heights: &[usize]) -> Result<Vec<DeviceMatrix>> {
        match self {
            ZkDraws::Streams { salts, .. } => salts_split(gpu, salts, heights),
            ZkDraws::Ahead(drawn) => take_checked(&mut drawn.salts, heights, "salt"),
        }
    }
}

/// The next run drawn ahead, if it was drawn for exactly `sizes`: a run of
/// other sizes would stand at another place in the stream.
fn take_checked<T>(
    queue: &mut VecDeque<(Vec<usize>, Vec<T>)>,
    sizes: &[usize],
    what: &str,
) -> Result<Vec<T>> {
    match queue.pop_front() {
        Some((drawn, values)) if drawn == sizes => Ok(values),
        Some((drawn, _)) => Err(GpuError::Invalid(format!(
            "{what} draws made ahead for sizes {drawn:?}, asked for {sizes:?}"
        ))),
        None => Err(GpuError::Invalid(format!(
            "no {what} draws left of those made ahead (asked for {sizes:?})"
        ))),
    }
}

/// Draws made ahead, in stream order, each run with the sizes it was drawn
/// for.
#[derive(Default)]
pub struct DrawnAhead {
    masks: VecDeque<(Vec<usize>, Vec<CudaSlice<u32>>)>,
    salts: VecDeque<(Vec<usize>, Vec<DeviceMatrix>)>,
}

impl DrawnAhead {
    /// Whether every run has been taken.
    pub fn is_empty(&self) -> bool {
        self.masks.is_empty() && self.salts.is_empty()
    }
}

/// The sizes of what pass 2 of one shard draws, in order, from its
/// tables' shapes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AheadPlan {
    /// The permutation traces' `(height, width)`s (tables with lookups).
    pub permutation: Vec<(usize, usize)>,
    /// Each table's quotient: `(log2 of its domain, chunks)`.
    pub quotient: Vec<(usize, usize)>,
    /// Each table's doubled (randomized) height, of its random polynomial.
    pub random: Vec<usize>,
    pub fri: FriSettings,
}

impl AheadPlan {
    /// Device memory (bytes) the draws and the random commitment hold
    /// until pass 2 takes them.
    pub fn bytes(&self) -> Result<u64> {
        let words = |v: &[usize]| v.iter().sum::<usize>() as u64;
        let salt = cloak_prover::config::SALT_ELEMS;
        let perm_salts: Vec<usize> = rounds::trace_lde_heights(self.fri, &self.permutation);
        let q_salts = rounds::quotient_lde_heights(self.fri, &self.quotient);
        let r_salts = rounds::random_lde_heights(self.fri, &self.random);
        let random_ldes: u64 = r_salts
            .iter()
            .map(|&h| (h * rounds::random_width()) as u64)
            .sum();
        let tree = 2 * r_salts.iter().max().copied().unwrap_or(0) as u64 * 8;
        Ok(
            4 * (words(&rounds::trace_mask_sizes(self.fri, &self.permutation))
                + words(&rounds::quotient_mask_sizes(self.fri, &self.quotient)?)
                + salt as u64 * (words(&perm_salts) + words(&q_salts) + words(&r_salts))
                + random_ldes
                + tree),
        )
    }

    /// Draws what pass 2 would, in its order, and commits the random
    /// polynomials, leaving the streams where pass 2 would.
    pub fn draw(
        &self,
        gpu: &GpuContext,
        ntt: &Ntt,
        mask_rng: &mut ZkRng,
        salt_rng: &mut SaltRng,
    ) -> Result<Ahead> {
        let mut drawn = DrawnAhead::default();
        let mut run = |drawn: &mut DrawnAhead, masks: Vec<usize>, salts: Vec<usize>| {
            let m = draw_split(gpu, mask_rng, &masks)?;
            drawn.masks.push_back((masks, m));
            let s = salts_split(gpu, salt_rng, &salts)?;
            drawn.salts.push_back((salts, s));
            Ok::<_, GpuError>(())
        };
        if !self.permutation.is_empty() {
            run(
                &mut drawn,
                rounds::trace_mask_sizes(self.fri, &self.permutation),
                rounds::trace_lde_heights(self.fri, &self.permutation),
            )?;
        }
        run(
            &mut drawn,
            rounds::quotient_mask_sizes(self.fri, &self.quotient)?,
            rounds::quotient_lde_heights(self.fri, &self.quotient),
        )?;
        let random = rounds::commit_random(
            gpu,
            ntt,
            self.fri,
            &self.random,
            &mut ZkDraws::Streams {
                masks: mask_rng,
                salts: salt_rng,
            },
        )?;
        Ok(Ahead {
            drawn,
            random,
            _reserved: None,
        })
    }
}

/// One shard's pass-2 work done ahead: its draws and its random
/// polynomials' commitment.
pub struct Ahead {
    pub drawn: DrawnAhead,
    pub random: (Commitment, Round),
    _reserved: Option<Reserved>,
}

impl Ahead {
    /// Holds `reserved` until dropped.
    pub fn with_reservation(mut self, reserved: Reserved) -> Self {
        self._reserved = Some(reserved);
        self
    }

    /// The draws, the random commitment, and the reservation to hold until
    /// they are dropped.
    pub fn into_parts(self) -> (DrawnAhead, (Commitment, Round), Option<Reserved>) {
        (self.drawn, self.random, self._reserved)
    }
}

/// Device memory that work done ahead may hold at once, shared by a
/// device's provers: what is drawn ahead waits until pass 2, and a long
/// execution's shards must not crowd out the commitments pass 1 keeps.
#[derive(Debug)]
pub struct AheadBudget {
    cap: u64,
    used: AtomicU64,
}

impl AheadBudget {
    pub fn new(cap: u64) -> Arc<Self> {
        Arc::new(Self {
            cap,
            used: AtomicU64::new(0),
        })
    }

    /// `bytes` of the budget until the reservation drops, if that many are
    /// left.
    pub fn reserve(self: &Arc<Self>, bytes: u64) -> Option<Reserved> {
        let mut used = self.used.load(Ordering::Relaxed);
        loop {
            let next = used.checked_add(bytes).filter(|&n| n <= self.cap)?;
            match self
                .used
                .compare_exchange_weak(used, next, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => {
                    return Some(Reserved {
                        budget: self.clone(),
                        bytes,
                    })
                }
                Err(now) => used = now,
            }
        }
    }

    /// Bytes reserved now.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// Part of an [`AheadBudget`], given back when dropped.
#[derive(Debug)]
pub struct Reserved {
    budget: Arc<AheadBudget>,
    bytes: u64,
}

impl Drop for Reserved {
    fn drop(&mut self) {
        self.budget.used.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_refuses_what_it_cannot_hold_and_takes_back_what_drops() {
        let budget = AheadBudget::new(100);
        let a = budget.reserve(60).expect("60 of 100");
        assert!(budget.reserve(41).is_none());
        let b = budget.reserve(40).expect("40 more");
        assert_eq!(budget.used(), 100);
        drop(a);
        assert_eq!(budget.used(), 40);
        assert!(budget.reserve(u64::MAX).is_none());
        drop(b);
        assert_eq!(budget.used(), 0);
    }

    #[test]
    fn runs_are_taken_only_for_the_sizes_they_were_drawn_for() {
        let mut q: VecDeque<(Vec<usize>, Vec<u8>)> = VecDeque::new();
        q.push_back((vec![2, 3], vec![1, 2]));
        q.push_back((vec![4], vec![3]));
        assert!(take_checked(&mut q.clone(), &[2, 4], "mask").is_err());
        assert!(take_checked(&mut q.clone(), &[4], "mask").is_err());
        assert_eq!(take_checked(&mut q, &[2, 3], "mask").unwrap(), vec![1, 2]);
        assert_eq!(take_checked(&mut q, &[4], "mask").unwrap(), vec![3]);
        assert!(take_checked(&mut q, &[4], "mask").is_err());
    }
}
