//! keccak256-soft: Keccak-256 in software with the `tiny-keccak` crate.
//!
//! Input: one buffer, a bincode `Vec<u8>` (8-byte LE length + bytes).
//! Public values: the 32-byte digest.
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use tiny_keccak::{Hasher, Keccak};

cloak_guest::entrypoint!(main);

fn main() {
    let data: Vec<u8> = cloak_guest::io::read();
    let mut k = Keccak::v256();
    k.update(&data);
    let mut digest = [0u8; 32];
    k.finalize(&mut digest);
    cloak_guest::io::commit_slice(&digest);
}
