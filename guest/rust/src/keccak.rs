//! Keccak-256 (the Ethereum variant: padding byte 0x01) on the
//! `KECCAK_PERMUTE` precompile.

use crate::syscalls;

const RATE: usize = 136;

/// Incremental Keccak-256 using the `KECCAK_PERMUTE` precompile.
#[derive(Clone)]
pub struct Keccak256 {
    state: [u64; 25],
    buf: [u8; RATE],
    buf_len: usize,
}

impl Default for Keccak256 {
    fn default() -> Self {
        Self::new()
    }
}

impl Keccak256 {
    pub const fn new() -> Self {
        Keccak256 {
            state: [0; 25],
            buf: [0; RATE],
            buf_len: 0,
        }
    }

    fn absorb_block(state: &mut [u64; 25], block: &[u8]) {
        for (lane, c) in state.iter_mut().zip(block.chunks_exact(8)) {
            *lane ^= u64::from_le_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]);
        }
        syscalls::keccak_permute(state);
    }

    pub fn update(&mut self, mut data: &[u8]) {
        if self.buf_len > 0 {
            let n = core::cmp::min(RATE - self.buf_len, data.len());
            self.buf[self.buf_len..self.buf_len + n].copy_from_slice(&data[..n]);
            self.buf_len += n;
            data = &data[n..];
            if self.buf_len < RATE {
                return;
            }
            Self::absorb_block(&mut self.state, &self.buf);
            self.buf_len = 0;
        }
        let mut chunks = data.chunks_exact(RATE);
        for c in &mut chunks {
            Self::absorb_block(&mut self.state, c);
        }
        let rest = chunks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.buf_len = rest.len();
    }

    pub fn finalize(mut self) -> [u8; 32] {
        for b in &mut self.buf[self.buf_len..] {
            *b = 0;
        }
        self.buf[self.buf_len] ^= 0x01;
        self.buf[RATE - 1] ^= 0x80;
        Self::absorb_block(&mut self.state, &self.buf);
        let mut out = [0u8; 32];
        for (o, lane) in out.chunks_exact_mut(8).zip(self.state.iter()) {
            o.copy_from_slice(&lane.to_le_bytes());
        }
        out
    }
}

/// Keccak-256 of `data` with the precompile.
pub fn keccak256(data: &[u8]) -> [u8; 32] {
    let mut k = Keccak256::new();
    k.update(data);
    k.finalize()
}
