//! Host-side encodings of a guest's input buffers.

/// `bytes` as one input buffer that the guest reads back as a `Vec<u8>`
/// (`sp1_zkvm::io::read::<Vec<u8>>()`): bincode's encoding, an 8-byte
/// little-endian length followed by the bytes (the guest ABI's "Inputs").
pub fn vec_u8(bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + bytes.len());
    out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
    out.extend_from_slice(bytes);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vec_is_its_length_then_its_bytes() {
        assert_eq!(vec_u8(b"abc"), [3, 0, 0, 0, 0, 0, 0, 0, b'a', b'b', b'c']);
        assert_eq!(vec_u8(&[]), [0u8; 8]);
    }
}
