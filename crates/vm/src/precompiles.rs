//! The pure functions behind the precompile syscalls.

/// SHA-256 message schedule: fills `w[16..64]` from `w[0..16]`.
pub fn sha256_extend(w: &mut [u32; 64]) {
    for i in 16..64 {
        let s0 = w[i - 15].rotate_right(7) ^ w[i - 15].rotate_right(18) ^ (w[i - 15] >> 3);
        let s1 = w[i - 2].rotate_right(17) ^ w[i - 2].rotate_right(19) ^ (w[i - 2] >> 10);
        w[i] = w[i - 16]
            .wrapping_add(s0)
            .wrapping_add(w[i - 7])
            .wrapping_add(s1);
    }
}

const K: [u32; 64] = [
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
];

/// One SHA-256 compression of the 64 schedule words `w` into `h`. The words
/// are used as given (the guest computed them, usually with SHA_EXTEND).
pub fn sha256_compress(w: &[u32; 64], h: &mut [u32; 8]) {
    let [mut a, mut b, mut c, mut d, mut e, mut f, mut g, mut hh] = *h;
    for i in 0..64 {
        let s1 = e.rotate_right(6) ^ e.rotate_right(11) ^ e.rotate_right(25);
        let ch = (e & f) ^ (!e & g);
        let t1 = hh
            .wrapping_add(s1)
            .wrapping_add(ch)
            .wrapping_add(K[i])
            .wrapping_add(w[i]);
        let s0 = a.rotate_right(2) ^ a.rotate_right(13) ^ a.rotate_right(22);
        let maj = (a & b) ^ (a & c) ^ (b & c);
        let t2 = s0.wrapping_add(maj);
        hh = g;
        g = f;
        f = e;
        e = d.wrapping_add(t1);
        d = c;
        c = b;
        b = a;
        a = t1.wrapping_add(t2);
    }
    for (x, v) in h.iter_mut().zip([a, b, c, d, e, f, g, hh]) {
        *x = x.wrapping_add(v);
    }
}

/// `Keccak-f[1600]` on 25 little-endian lanes stored as 50 u32 words.
pub fn keccak_permute(words: &mut [u32; 50]) {
    let mut lanes = [0u64; 25];
    for (lane, pair) in lanes.iter_mut().zip(words.chunks_exact(2)) {
        *lane = pair[0] as u64 | (pair[1] as u64) << 32;
    }
    keccak::f1600(&mut lanes);
    for (pair, lane) in words.chunks_exact_mut(2).zip(lanes) {
        pair[0] = lane as u32;
        pair[1] = (lane >> 32) as u32;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sha2::{Digest, Sha256};

    /// SHA-256 of one padded block through extend + compress equals the sha2 crate.
    #[test]
    fn sha256_block_matches_reference() {
        let msg = b"abc";
        let mut block = [0u8; 64];
        block[..3].copy_from_slice(msg);
        block[3] = 0x80;
        block[63] = 24;
        let mut w = [0u32; 64];
        for (i, c) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes(c.try_into().unwrap());
        }
        sha256_extend(&mut w);
        let mut h = [
            0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
            0x5be0cd19,
        ];
        sha256_compress(&w, &mut h);
        let out: Vec<u8> = h.iter().flat_map(|x| x.to_be_bytes()).collect();
        assert_eq!(out, Sha256::digest(msg).to_vec());
    }

    #[test]
    fn keccak_zero_state_matches_known_vector() {
        let mut s = [0u32; 50];
        keccak_permute(&mut s);
        // First lane of Keccak-f[1600] applied to the zero state.
        assert_eq!(s[0] as u64 | (s[1] as u64) << 32, 0xF1258F7940E1DDE7);
    }
}
