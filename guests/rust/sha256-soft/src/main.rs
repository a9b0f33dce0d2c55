//! sha256-soft: SHA-256 in software with the RustCrypto `sha2` crate.
//!
//! Input: one buffer, a bincode `Vec<u8>` (8-byte LE length + bytes).
//! Public values: the 32-byte digest.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use sha2::{Digest, Sha256};

cloak_guest::entrypoint!(main);

fn main() {
    let data: Vec<u8> = cloak_guest::io::read();
    let digest = Sha256::digest(&data);
    cloak_guest::io::commit_slice(&digest);
}
