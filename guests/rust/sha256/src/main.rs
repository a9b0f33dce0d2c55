//! sha256: SHA-256 with the SHA_EXTEND / SHA_COMPRESS precompiles.
//!
//! Input: one buffer, a bincode `Vec<u8>` (8-byte LE length + bytes).
//! Public values: the 32-byte digest.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;

cloak_guest::entrypoint!(main);

fn main() {
    let data: Vec<u8> = cloak_guest::io::read();
    let digest = cloak_guest::sha256::sha256(&data);
    cloak_guest::io::commit_slice(&digest);
}
