//! json: parse a JSON document with `serde_json` and commit a summary.
//!
//! Input: one buffer, a bincode `Vec<u8>` (8-byte LE length + bytes) holding
//! the JSON text.  The document is parsed into a `serde_json::Value`, walked,
//! and re-serialized in compact form (object keys sorted, as serde_json's
//! default `Map` is a `BTreeMap`).
//!
//! Public values (92 bytes, all little endian):
//!   u32 nulls, u32 bools, u32 trues, u32 integers, u32 floats, u32 strings,
//!   u32 arrays, u32 objects, u32 max_depth (the top-level value has depth 1),
//!   u64 string_bytes (UTF-8 bytes of all strings and object keys),
//!   u64 integer_sum (wrapping sum of all integers, as two's complement),
//!   u64 canonical_len, [u8; 32] SHA-256 (software) of the compact
//!   re-serialization.
//! Invalid JSON panics (exit code 1).
#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec::Vec;
use cloak_guest::io;
use serde_json::Value;

cloak_guest::entrypoint!(main);

#[derive(Default)]
struct Stats {
    nulls: u32,
    bools: u32,
    trues: u32,
    integers: u32,
    floats: u32,
    strings: u32,
    arrays: u32,
    objects: u32,
    max_depth: u32,
    string_bytes: u64,
    integer_sum: u64,
}

fn walk(v: &Value, depth: u32, s: &mut Stats) {
    if depth > s.max_depth {
        s.max_depth = depth;
    }
    match v {
        Value::Null => s.nulls += 1,
        Value::Bool(b) => {
            s.bools += 1;
            s.trues += *b as u32;
        }
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                s.integers += 1;
                s.integer_sum = s.integer_sum.wrapping_add(i as u64);
            } else if let Some(u) = n.as_u64() {
                s.integers += 1;
                s.integer_sum = s.integer_sum.wrapping_add(u);
            } else {
                s.floats += 1;
            }
        }
        Value::String(t) => {
            s.strings += 1;
            s.string_bytes += t.len() as u64;
        }
        Value::Array(a) => {
            s.arrays += 1;
            for x in a {
                walk(x, depth + 1, s);
            }
        }
        Value::Object(m) => {
            s.objects += 1;
            for (k, x) in m {
                s.string_bytes += k.len() as u64;
                walk(x, depth + 1, s);
            }
        }
    }
}

fn main() {
    let text: Vec<u8> = io::read();
    let value: Value = match serde_json::from_slice(&text) {
        Ok(v) => v,
        Err(e) => panic!("invalid JSON: {}", e),
    };
    let mut s = Stats::default();
    walk(&value, 1, &mut s);
    let canonical = serde_json::to_vec(&value).expect("serialize");
    let digest = cloak_guest::sha256::sha256_soft(&canonical);

    for x in [
        s.nulls,
        s.bools,
        s.trues,
        s.integers,
        s.floats,
        s.strings,
        s.arrays,
        s.objects,
        s.max_depth,
    ] {
        io::commit(&x);
    }
    io::commit(&s.string_bytes);
    io::commit(&s.integer_sum);
    io::commit(&(canonical.len() as u64));
    io::commit_slice(&digest);
}
