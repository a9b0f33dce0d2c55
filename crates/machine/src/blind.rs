//! Blinding the cross-shard bus's public shares.
//!
//! Every proof of an execution publishes its share of the `global-memory`
//! bus (`crate::zkvm`): a sum of `1 / (alpha - fingerprint(state))` over the
//! memory and register states at the shard's edges. With `alpha` and `beta`
//! public, a bare share is a function of private data that a verifier could
//! test guesses against (say, a secret value left in a register at a shard
//! boundary). So each shard also provides one *blinding message*
//! `(BLIND_KEY, r0, r1, r2)` with three random field elements drawn from the
//! proof's zero-knowledge randomness (in the Commit table), and the memory
//! proof consumes them all (the BlindSink table). The shares still sum to
//! zero, but each is offset by the unpredictable `1 / (alpha - fp(r))`.
//!
//! Soundness is untouched: `BLIND_KEY` lies above every key a memory access
//! can use (CPU keys are below 2^29 + 32, HintRead keys below 0x3000_0020) and
//! below the Memory tables' key bound, so blinding messages never meet a real
//! key's chain of states; a prover who omits or alters them only unbalances
//! the bus.

use crate::bus::GLOBAL_MEMORY_BUS;
use crate::memory::KEY_BOUND_HI;
use cloak_prover::{Challenge, Val};
use p3_air::{Air, AirBuilder, BaseAir, WindowAccess};
use p3_field::{Field, PrimeCharacteristicRing};
use p3_lookup::{Count, InteractionBuilder};
use p3_matrix::dense::RowMajorMatrix;
use sha2::{Digest, Sha256};

/// The key of blinding messages: the largest key the Memory tables accept,
/// which no memory access produces.
pub const BLIND_KEY: u32 = KEY_BOUND_HI * (1 << 16) - 1;

/// The blinding message `(BLIND_KEY, r0, r1, r2)` over columns `r`.
pub fn message<AB: AirBuilder>(r: &[AB::Var]) -> [AB::Expr; 4] {
    [
        AB::Expr::from_u32(BLIND_KEY),
        r[0].into(),
        r[1].into(),
        r[2].into(),
    ]
}

/// A proof's blinding values, derived from its zero-knowledge seed (so pass 2
/// of proving recreates pass 1's trace).
pub fn values_from_seed(seed: &[u8; 32]) -> [Val; 3] {
    let digest: [u8; 32] = Sha256::new()
        .chain_update(b"cloak/blind/v1")
        .chain_update(seed)
        .finalize()
        .into();
    std::array::from_fn(|i| {
        let word = u64::from_le_bytes(digest[8 * i..8 * i + 8].try_into().expect("8 bytes"));
        Val::from_u64(word)
    })
}

/// The blinding message's term in a share: `1 / (alpha - fp)`, as the LogUp
/// argument computes it (`fp = key beta^3 + r0 beta^2 + r1 beta + r2`).
pub fn term(blind: [Val; 3], alpha: Challenge, beta: Challenge) -> Challenge {
    let mut fp = Challenge::ZERO;
    for e in [Val::from_u32(BLIND_KEY), blind[0], blind[1], blind[2]] {
        fp = fp * beta + e;
    }
    (alpha - fp).inverse()
}

/// BlindSink columns: the three values and `is_real`.
pub const WIDTH: usize = 4;

/// The memory proof's table consuming every shard's blinding message.
#[derive(Clone, Copy, Debug, Default)]
pub struct BlindSinkAir;

impl<F> BaseAir<F> for BlindSinkAir {
    fn width(&self) -> usize {
        WIDTH
    }
    fn main_next_row_columns(&self) -> Vec<usize> {
        vec![]
    }
}

impl<AB: InteractionBuilder> Air<AB> for BlindSinkAir {
    fn eval(&self, builder: &mut AB) {
        let r: Vec<AB::Var> = builder.main().current_slice().to_vec();
        builder.assert_bool(r[3]);
        builder.push_interaction(
            GLOBAL_MEMORY_BUS,
            message::<AB>(&r[..3]),
            Count::bounded(-r[3].into(), 1),
        );
    }
}

/// The BlindSink trace for the shards' blinding values.
pub fn sink_trace(blinds: &[[Val; 3]], height: usize) -> RowMajorMatrix<Val> {
    let mut values = Val::zero_vec(height * WIDTH);
    for (b, row) in blinds.iter().zip(values.chunks_exact_mut(WIDTH)) {
        row[..3].copy_from_slice(b);
        row[3] = Val::ONE;
    }
    RowMajorMatrix::new(values, WIDTH)
}
