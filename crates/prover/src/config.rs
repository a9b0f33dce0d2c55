//! The STARK configuration: KoalaBear with its degree-4 extension, BLAKE3
//! Merkle commitments (salted, so hiding), hiding FRI, so proofs are
//! zero-knowledge, and a Poseidon2 duplex challenger. See
//! docs/prover-design.md.

use crate::challenger::DetChallenger;
use p3_blake3::Blake3;
use p3_commit::ExtensionMmcs;
use p3_dft::Radix2DitParallel;
use p3_field::extension::BinomialExtensionField;
use p3_field::BasedVectorSpace;
use p3_fri::{FriParameters, HidingFriPcs};
use p3_koala_bear::{default_koalabear_poseidon2_16, KoalaBear, Poseidon2KoalaBear};
use p3_merkle_tree::MerkleTreeHidingMmcs;
use p3_symmetric::{CompressionFunctionFromHasher, SerializingHasher};
use p3_uni_stark::StarkConfig;
use rand::rngs::{ChaCha20Rng, SysRng};
use rand::{Rng, SeedableRng};

/// Base field: KoalaBear, p = 2^31 - 2^24 + 1.
pub type Val = KoalaBear;
/// Challenge field: the degree-4 binomial extension (~124 bits).
pub type Challenge = BinomialExtensionField<Val, 4>;
/// The challenger's permutation (and its proof-of-work's).
pub type Perm16 = Poseidon2KoalaBear<16>;
/// Leaf hash: BLAKE3 of a row's elements, each its 4 little-endian bytes (the
/// Montgomery form, as `to_unique_u32`). BLAKE3, not Poseidon2: Cloak does not
/// verify its proofs inside a circuit, and a BLAKE3 compression costs a GPU
/// about a tenth of what a Poseidon2 permutation does per byte (the leaf
/// hashes were a third of the GPU's work; see docs/prover-design.md).
pub type MerkleHash = SerializingHasher<Blake3>;
/// Node compression: BLAKE3 of the two 32-byte children.
pub type MerkleCompress = CompressionFunctionFromHasher<Blake3, 2, DIGEST_BYTES>;
/// Bytes of a Merkle digest.
pub const DIGEST_BYTES: usize = 32;
/// A Merkle digest (and a commitment's root).
pub type Digest = [u8; DIGEST_BYTES];
/// The zero-knowledge randomness stream. ChaCha20 is named explicitly (not
/// `StdRng`, whose algorithm may change) so another backend can reproduce it.
pub type ZkRng = ChaCha20Rng;
/// Field elements of salt per Merkle leaf.
pub const SALT_ELEMS: usize = 4;
pub use crate::salt_rng::SaltRng;
pub type ValMmcs =
    MerkleTreeHidingMmcs<Val, u8, MerkleHash, MerkleCompress, SaltRng, 2, DIGEST_BYTES, SALT_ELEMS>;
pub type ChallengeMmcs = ExtensionMmcs<Val, Challenge, ValMmcs>;
pub type Dft = Radix2DitParallel<Val>;
/// Random codewords the hiding PCS mixes into each batch (at least the extension degree).
pub const NUM_RANDOM_CODEWORDS: usize = 4;
pub type Pcs = HidingFriPcs<Val, Dft, ValMmcs, ChallengeMmcs, ZkRng>;
pub type Config = StarkConfig<Pcs, Challenge, DetChallenger>;

/// FRI and grinding parameters; prover and verifier must use the same.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FriSettings {
    pub log_blowup: usize,
    pub log_final_poly_len: usize,
    pub max_log_arity: usize,
    pub num_queries: usize,
    pub batch_pow_bits: usize,
    pub commit_pow_bits: usize,
    pub query_pow_bits: usize,
    /// Grinding before the out-of-domain point.
    pub ood_pow_bits: usize,
    /// Grinding before the LogUp challenges.
    pub lookup_pow_bits: usize,
}

impl FriSettings {
    /// Rate 1/2 with 87 queries and 16 bits of query grinding:
    /// 1 * 87 + 16 = 103 conjectured bits (ethSTARK conjecture); Plonky3's stricter
    /// per-instance estimate gives 100 bits for traces up to 2^24 rows.
    pub const DEFAULT: FriSettings = FriSettings {
        log_blowup: 1,
        log_final_poly_len: 0,
        max_log_arity: 1,
        num_queries: 87,
        batch_pow_bits: 12,
        commit_pow_bits: 3,
        query_pow_bits: 16,
        ood_pow_bits: 6,
        lookup_pow_bits: 8,
    };

    /// Conjectured security in bits: `log_blowup * num_queries + query_pow_bits`
    /// (the same formula as `FriParameters::conjectured_soundness_bits`).
    pub const fn conjectured_security_bits(&self) -> usize {
        self.log_blowup * self.num_queries + self.query_pow_bits
    }

    /// The smallest trace height the hiding PCS accepts: its masking needs
    /// `2 * (num_queries + 4 * opening points)` rows; tables are padded to this.
    pub const fn min_trace_height(&self) -> usize {
        (2 * (self.num_queries + 4 * 2)).next_power_of_two()
    }

    /// Random coefficients masking each committed trace column
    /// (`p3_fri::trace_mask_len`, vendored: `f = t + (X^h - 1) r`, `deg r`
    /// below this, sized for the proof's disclosures; see
    /// docs/prover-design.md, "Masking traces with few random coefficients").
    pub const fn trace_mask_len(&self) -> usize {
        p3_fri::trace_mask_len(
            self.num_queries,
            <Challenge as BasedVectorSpace<Val>>::DIMENSION,
        )
    }

    /// The masking values the hiding PCS draws to commit an `h × w` trace
    /// (`p3_fri::trace_mask_draws`).
    pub const fn trace_mask_draws(&self, h: usize, w: usize) -> usize {
        p3_fri::trace_mask_draws(h, w, NUM_RANDOM_CODEWORDS, self.trace_mask_len())
    }

    /// Plonky3's parameters with `mmcs` (a backend that drives FRI's
    /// transcript itself passes `()`: the shape needs no MMCS).
    pub fn fri_parameters<M>(&self, mmcs: M) -> FriParameters<M> {
        FriParameters {
            log_blowup: self.log_blowup,
            log_final_poly_len: self.log_final_poly_len,
            max_log_arity: self.max_log_arity,
            num_queries: self.num_queries,
            batch_proof_of_work_bits: self.batch_pow_bits,
            commit_proof_of_work_bits: self.commit_pow_bits,
            query_proof_of_work_bits: self.query_pow_bits,
            mmcs,
        }
    }
}

/// The config's Merkle commitment scheme, its salts drawn from `salt_rng`.
pub fn merkle_mmcs(salt_rng: SaltRng) -> ValMmcs {
    let compress = MerkleCompress::new(Blake3);
    ValMmcs::new(MerkleHash::new(Blake3), compress, 0, salt_rng)
}

/// A config whose zero-knowledge randomness is derived from `seed`: the same
/// seed and inputs give byte-identical proofs. The randomness lives in the config
/// and advances with every commitment, so build one config per proof.
pub fn seeded_config(fri: FriSettings, seed: [u8; 32]) -> Config {
    let (salt_rng, mask_rng) = ZkRandomness { fri, seed }.streams();
    let perm16 = default_koalabear_poseidon2_16();
    let val_mmcs = merkle_mmcs(salt_rng);
    let challenge_mmcs = ChallengeMmcs::new(val_mmcs.clone());
    let pcs = Pcs::new(
        Dft::default(),
        val_mmcs,
        fri.fri_parameters(challenge_mmcs),
        NUM_RANDOM_CODEWORDS,
        mask_rng,
    );
    Config::new(pcs, DetChallenger::new(perm16))
        .with_ood_proof_of_work_bits(fri.ood_pow_bits)
        .with_lookup_proof_of_work_bits(fri.lookup_pow_bits)
}

/// The zero-knowledge randomness of one proof, as a handle a backend can
/// re-derive from: the FRI settings and the 32-byte seed that
/// [`seeded_config`] expands. A [`Config`] keeps its rngs private and advances
/// them with every commitment, so a backend that commits on another device
/// takes this instead and draws exactly the streams the config would
/// ([`ZkRandomness::streams`]), in the same order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ZkRandomness {
    pub fri: FriSettings,
    pub seed: [u8; 32],
}

impl ZkRandomness {
    pub fn new(fri: FriSettings, seed: [u8; 32]) -> Self {
        Self { fri, seed }
    }

    /// A fresh config with this randomness (nothing drawn yet).
    pub fn config(&self) -> Config {
        seeded_config(self.fri, self.seed)
    }

    /// The two streams [`seeded_config`] builds the config from:
    /// `(salt_rng, mask_rng)`, both forked from a master ChaCha20 seeded
    /// with `seed`, salts first (the salts' words reduced: [`SaltRng`]).
    pub fn streams(&self) -> (SaltRng, ZkRng) {
        let mut master = ZkRng::from_seed(self.seed);
        let salt_rng = SaltRng::from_rng(&mut master);
        let mask_rng = ZkRng::from_rng(&mut master);
        (salt_rng, mask_rng)
    }

    /// The streams a fresh [`Self::config`]'s PCS commits with:
    /// `(input_salts, masks)`, where `input_salts` is the salt stream of the
    /// PCS's input MMCS and `masks` its random-codeword stream. Building the
    /// config clones the input MMCS into the FRI MMCS first, and cloning a
    /// `MerkleTreeHidingMmcs` forks its rng (`R::from_rng(&mut rng)`, one
    /// ChaCha20 seed drawn), so the input MMCS's salts start past that draw.
    pub fn pcs_streams(&self) -> (SaltRng, ZkRng) {
        let (mut salts, masks) = self.streams();
        let _fri_salts = SaltRng::from_rng(&mut salts);
        (salts, masks)
    }
}

/// A config with fresh randomness from the operating system: what production
/// proofs use, so two proofs of one statement differ.
pub fn fresh_config(fri: FriSettings) -> Result<Config, rand::rngs::SysError> {
    Ok(seeded_config(fri, fresh_seed()?))
}

/// 32 bytes from the operating system's random source.
pub fn fresh_seed() -> Result<[u8; 32], rand::rngs::SysError> {
    let mut seed = [0u8; 32];
    ZkRng::try_from_rng(&mut SysRng)?.fill_bytes(&mut seed);
    Ok(seed)
}

/// The public seed for committing preprocessed tables (the verifying key).
/// Preprocessed data is public, so its salts may be too; prover and verifier
/// derive the same commitment from it independently.
pub const KEYGEN_SEED: [u8; 32] = *b"cloak-keygen-preprocessed-v1\0\0\0\0";
