//! BLAKE3 on the device: the Merkle commitments' leaf hashes and node
//! compressions (cuda/blake3.cu), bit-exact with the config's `MerkleHash`
//! (`SerializingHasher<Blake3>`) and `MerkleCompress`
//! (`CompressionFunctionFromHasher<Blake3, 2, 32>`). [`crate::merkle`] drives
//! them; [`crate::check`] compares them with the host's.

/// The kernel source (no constants to generate: BLAKE3's are in the file).
pub fn blake3_source() -> String {
    include_str!("../cuda/blake3.cu").to_string()
}

/// A digest as the device holds it (8 words) turned into the host's bytes:
/// each word little-endian, as BLAKE3 writes its output.
pub fn digest_bytes(words: &[u32]) -> cloak_prover::config::Digest {
    let mut out = [0u8; 32];
    for (o, w) in out.chunks_exact_mut(4).zip(words) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}
