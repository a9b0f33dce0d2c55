//! The prover's guarantees on a small three-table machine: proofs verify, are
//! zero-knowledge-randomised (two proofs differ) yet reproducible from a seed,
//! and tampered traces, public values or proof bytes are rejected without panics.

mod common;

use cloak_prover::config::{seeded_config, FriSettings, Val};
use cloak_prover::proof::{decode, encode, ProofFormatError, FORMAT_VERSION, MAGIC};
use cloak_prover::StarkProof;
use cloak_prover::{fresh_config, prove, setup, verify, ProvingKey, VerifyingKey};
use common::{generate_traces, AddAir, ByteAir, CloakAir, CpuAir, Traces};
use p3_matrix::dense::RowMajorMatrix;
use p3_matrix::Matrix;
use std::panic::{catch_unwind, AssertUnwindSafe};

const FRI: FriSettings = FriSettings::DEFAULT;

fn airs() -> Vec<CloakAir> {
    vec![
        CloakAir::Cpu(CpuAir),
        CloakAir::Add(AddAir),
        CloakAir::Byte(ByteAir),
    ]
}

struct Fixture {
    pk: ProvingKey,
    vk: VerifyingKey,
    traces: Vec<RowMajorMatrix<Val>>,
    publics: Vec<Vec<Val>>,
}

fn fixture() -> Fixture {
    let Traces {
        cpu,
        add,
        byte,
        cpu_pv,
    } = generate_traces::<Val>(300, 1000, FRI.min_trace_height());
    let log = |m: &RowMajorMatrix<Val>| m.height().trailing_zeros() as usize;
    let heights = [log(&cpu), log(&add), log(&byte)];
    let (pk, vk) = setup(FRI, &airs(), &heights).unwrap();
    Fixture {
        pk,
        vk,
        traces: vec![cpu, add, byte],
        publics: vec![cpu_pv, vec![], vec![]],
    }
}

fn seeded_proof(f: &Fixture, seed: u8) -> Vec<u8> {
    let proof = prove(
        &seeded_config(FRI, [seed; 32]),
        &f.pk,
        &airs(),
        &f.traces,
        &f.publics,
    )
    .unwrap();
    encode(&proof)
}

fn verify_bytes(f: &Fixture, bytes: &[u8], publics: &[Vec<Val>]) -> Result<(), String> {
    let proof: StarkProof = decode(bytes).map_err(|e| e.to_string())?;
    verify(&f.vk, &airs(), &proof, publics).map_err(|e| e.to_string())
}

#[test]
fn configuration_meets_100_bits() {
    assert!(FRI.conjectured_security_bits() >= 100);
    assert_eq!(FRI.conjectured_security_bits(), 103);
}

#[test]
fn proofs_verify_and_fresh_randomness_makes_them_differ() {
    let f = fixture();
    let a = prove(
        &fresh_config(FRI).unwrap(),
        &f.pk,
        &airs(),
        &f.traces,
        &f.publics,
    )
    .unwrap();
    let b = prove(
        &fresh_config(FRI).unwrap(),
        &f.pk,
        &airs(),
        &f.traces,
        &f.publics,
    )
    .unwrap();
    let (a, b) = (encode(&a), encode(&b));
    assert_ne!(a, b, "hiding commitments must randomise every proof");
    verify_bytes(&f, &a, &f.publics).unwrap();
    verify_bytes(&f, &b, &f.publics).unwrap();
}

#[test]
fn a_seed_reproduces_a_proof_byte_for_byte() {
    let f = fixture();
    let first = seeded_proof(&f, 1);
    assert_eq!(first, seeded_proof(&f, 1));
    assert_ne!(first, seeded_proof(&f, 2));
    assert_eq!(&first[..8], &MAGIC);
    verify_bytes(&f, &first, &f.publics).unwrap();
}

#[test]
fn wrong_public_values_are_rejected() {
    let f = fixture();
    let bytes = seeded_proof(&f, 3);
    verify_bytes(&f, &bytes, &f.publics).unwrap();
    let mut publics = f.publics.clone();
    publics[0][1] += Val::new(1);
    assert!(verify_bytes(&f, &bytes, &publics).is_err());
    assert!(verify_bytes(&f, &bytes, &f.publics[..2]).is_err());
}

/// A tampered trace yields no accepted proof: either the prover refuses (its
/// debug constraint checks, in builds with debug assertions) or the verifier rejects.
fn assert_tamper_rejected(f: &Fixture, tamper: impl FnOnce(&mut Vec<RowMajorMatrix<Val>>)) {
    let mut traces = f.traces.clone();
    tamper(&mut traces);
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        prove(
            &seeded_config(FRI, [4; 32]),
            &f.pk,
            &airs(),
            &traces,
            &f.publics,
        )
    }));
    if let Ok(Ok(proof)) = outcome {
        assert!(
            verify(&f.vk, &airs(), &proof, &f.publics).is_err(),
            "tampered proof verified"
        );
    }
}

#[test]
fn tampered_traces_are_rejected() {
    let f = fixture();
    // A wrong sum in the ADD table.
    assert_tamper_rejected(&f, |t| {
        let v = t[1].values[common::cols::ADD_C0];
        t[1].values[common::cols::ADD_C0] = v + Val::new(1);
    });
    // The CPU sends a tuple the ADD table does not have.
    assert_tamper_rejected(&f, |t| {
        let v = t[0].values[common::cols::CPU_C];
        t[0].values[common::cols::CPU_C] = v + Val::new(1);
    });
    // A wrong multiplicity in the byte table.
    assert_tamper_rejected(&f, |t| {
        t[2].values[7] += Val::new(1);
    });
}

fn decode_err(bytes: &[u8]) -> ProofFormatError {
    match decode::<StarkProof>(bytes) {
        Ok(_) => panic!("{} bytes decoded as a proof", bytes.len()),
        Err(e) => e,
    }
}

#[test]
fn proof_header_errors_are_clear() {
    let f = fixture();
    let bytes = seeded_proof(&f, 5);
    assert_eq!(decode_err(b"CLOAK"), ProofFormatError::Truncated { len: 5 });
    assert_eq!(decode_err(b"NOTAPROOF..."), ProofFormatError::BadMagic);
    let mut other = bytes.clone();
    other[8..12].copy_from_slice(&(FORMAT_VERSION + 1).to_le_bytes());
    assert_eq!(
        decode_err(&other),
        ProofFormatError::UnsupportedVersion {
            found: FORMAT_VERSION + 1
        }
    );
    let mut trailing = bytes.clone();
    trailing.push(0);
    assert_eq!(
        decode_err(&trailing),
        ProofFormatError::TrailingBytes { extra: 1 }
    );
    for cut in [12, 100, bytes.len() / 2, bytes.len() - 1] {
        assert!(
            matches!(
                decode_err(&bytes[..cut]),
                ProofFormatError::Malformed { .. }
            ),
            "cut at {cut}"
        );
    }
}

/// Bounded fuzzing of the proof bytes: every bit flip is rejected, none panics.
#[test]
fn bit_flipped_proofs_are_rejected_without_panics() {
    let f = fixture();
    let bytes = seeded_proof(&f, 6);
    verify_bytes(&f, &bytes, &f.publics).unwrap();
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    for _ in 0..150 {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut flipped = bytes.clone();
        let pos = (x % bytes.len() as u64) as usize;
        flipped[pos] ^= 1 << ((x >> 32) % 8);
        let outcome = catch_unwind(AssertUnwindSafe(|| verify_bytes(&f, &flipped, &f.publics)));
        match outcome {
            Ok(result) => assert!(result.is_err(), "a flip at byte {pos} was accepted"),
            Err(_) => panic!("the verifier panicked on a flip at byte {pos}"),
        }
    }
}

/// Every byte of every commitment root is bound: changing any one of the
/// main, permutation, quotient or random commitments' 32 BLAKE3 bytes is
/// rejected (random flips above rarely land in these few bytes).
#[test]
fn a_changed_commitment_root_is_rejected() {
    let f = fixture();
    let bytes = seeded_proof(&f, 8);
    verify_bytes(&f, &bytes, &f.publics).unwrap();
    type Cap = p3_symmetric::MerkleCap<Val, [u8; 32]>;
    let roots: [fn(&mut StarkProof) -> Option<&mut Cap>; 4] = [
        |p| Some(&mut p.commitments.main),
        |p| p.commitments.permutation.as_mut(),
        |p| Some(&mut p.commitments.quotient_chunks),
        |p| p.commitments.random.as_mut(),
    ];
    for (which, root) in roots.iter().enumerate() {
        for byte in [0usize, 13, 31] {
            let mut proof: StarkProof = decode(&bytes).unwrap();
            let cap = root(&mut proof).expect("the fixture has every commitment");
            let mut digest = cap.roots()[0];
            digest[byte] ^= 0x80;
            *cap = Cap::new(vec![digest]);
            let tampered = encode(&proof);
            let outcome =
                catch_unwind(AssertUnwindSafe(|| verify_bytes(&f, &tampered, &f.publics)));
            match outcome {
                Ok(result) => assert!(
                    result.is_err(),
                    "commitment {which}, byte {byte} changed, still accepted"
                ),
                Err(_) => panic!("the verifier panicked on commitment {which}, byte {byte}"),
            }
        }
    }
}

/// A commitment with a second root (a cap of height 1 in a proof made at
/// height 0) is refused by name, main and FRI layers alike.
#[test]
fn a_commitment_with_two_roots_is_refused() {
    let f = fixture();
    let bytes = seeded_proof(&f, 9);
    type Cap = p3_symmetric::MerkleCap<Val, [u8; 32]>;
    let twice = |cap: &mut Cap| {
        let root = cap.roots()[0];
        *cap = Cap::new(vec![root, root]);
    };
    let mut proof: StarkProof = decode(&bytes).unwrap();
    twice(&mut proof.commitments.main);
    let err = verify_bytes(&f, &encode(&proof), &f.publics).unwrap_err();
    assert!(err.contains("commitment main has 2 Merkle roots"), "{err}");
    let mut proof: StarkProof = decode(&bytes).unwrap();
    twice(&mut proof.opening_proof.1.commit_phase_commits[0]);
    let err = verify_bytes(&f, &encode(&proof), &f.publics).unwrap_err();
    assert!(
        err.contains("commitment FRI layer 0 has 2 Merkle roots"),
        "{err}"
    );
}
