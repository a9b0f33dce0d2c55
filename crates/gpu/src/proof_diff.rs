//! Which parts of two proofs differ: what the GPU prover's check reports
//! when its proof is not the CPU's byte for byte, so a divergence points
//! at the stage that made it (commitments in transcript order, opened
//! values, FRI's commitments, final polynomial, query answers).

use cloak_prover::proof::encode;
use cloak_prover::StarkProof;
use serde::Serialize;

/// The names of the parts of `a` and `b` whose encodings differ, in the
/// order the prover makes them (empty when the proofs are equal).
pub fn proof_diff(a: &StarkProof, b: &StarkProof) -> Vec<String> {
    let mut out = Vec::new();
    let mut part = |name: String, x: &dyn Fn(&StarkProof) -> Vec<u8>| {
        if x(a) != x(b) {
            out.push(name);
        }
    };
    fn e<T: Serialize>(v: &T) -> Vec<u8> {
        encode(v)
    }
    part("degree_bits".into(), &|p| e(&p.degree_bits));
    part("commitments.main".into(), &|p| e(&p.commitments.main));
    part("lookup_pow_witness".into(), &|p| e(&p.lookup_pow_witness));
    part("lookup_terminals".into(), &|p| e(&p.lookup_terminals));
    part("commitments.permutation".into(), &|p| {
        e(&p.commitments.permutation)
    });
    part("commitments.quotient_chunks".into(), &|p| {
        e(&p.commitments.quotient_chunks)
    });
    part("commitments.random".into(), &|p| e(&p.commitments.random));
    part("ood_pow_witness".into(), &|p| e(&p.ood_pow_witness));
    let n = a
        .opened_values
        .instances
        .len()
        .max(b.opened_values.instances.len());
    for i in 0..n {
        fn get(
            p: &StarkProof,
            i: usize,
        ) -> Option<&p3_uni_stark::OpenedValues<cloak_prover::Challenge>> {
            p.opened_values
                .instances
                .get(i)
                .map(|v| &v.base_opened_values)
        }
        part(format!("instance {i}: trace_local"), &|p| {
            e(&get(p, i).map(|v| &v.trace_local))
        });
        part(format!("instance {i}: trace_next"), &|p| {
            e(&get(p, i).map(|v| &v.trace_next))
        });
        part(format!("instance {i}: preprocessed"), &|p| {
            e(&get(p, i)
                .and_then(|v| v.preprocessed.as_ref())
                .map(|v| (&v.local, &v.next)))
        });
        part(format!("instance {i}: quotient_chunks"), &|p| {
            e(&get(p, i).map(|v| &v.quotient_chunks))
        });
        part(format!("instance {i}: random"), &|p| {
            e(&get(p, i).map(|v| &v.random))
        });
        part(format!("instance {i}: permutation"), &|p| {
            e(&p.opened_values
                .instances
                .get(i)
                .map(|v| (&v.permutation_local, &v.permutation_next)))
        });
    }
    part("opening: hidden random-codeword values".into(), &|p| {
        e(&p.opening_proof.0)
    });
    fn fri(p: &StarkProof) -> &crate::prove::GpuFriProof {
        &p.opening_proof.1
    }
    part("fri: batch_pow_witness".into(), &|p| {
        e(&fri(p).batch_pow_witness)
    });
    part("fri: commit_phase_commits".into(), &|p| {
        e(&fri(p).commit_phase_commits)
    });
    part("fri: commit_pow_witnesses".into(), &|p| {
        e(&fri(p).commit_pow_witnesses)
    });
    part("fri: final_poly".into(), &|p| e(&fri(p).final_poly));
    part("fri: query_pow_witness".into(), &|p| {
        e(&fri(p).query_pow_witness)
    });
    let rounds = fri(a).input_openings.len().max(fri(b).input_openings.len());
    for r in 0..rounds {
        part(format!("fri: input round {r} opened rows"), &|p| {
            e(&fri(p).input_openings.get(r).map(|o| &o.opened_values))
        });
        part(format!("fri: input round {r} salts"), &|p| {
            e(&fri(p).input_openings.get(r).map(|o| &o.opening_proof.0))
        });
        part(format!("fri: input round {r} Merkle paths"), &|p| {
            e(&fri(p).input_openings.get(r).map(|o| &o.opening_proof.1))
        });
    }
    let layers = fri(a)
        .commit_phase_openings
        .len()
        .max(fri(b).commit_phase_openings.len());
    for l in 0..layers {
        part(format!("fri: layer {l} sibling values"), &|p| {
            e(&fri(p)
                .commit_phase_openings
                .get(l)
                .map(|o| &o.sibling_values))
        });
        part(format!("fri: layer {l} opening proof"), &|p| {
            e(&fri(p)
                .commit_phase_openings
                .get(l)
                .map(|o| &o.opening_proof))
        });
    }
    if out.is_empty() && encode(a) != encode(b) {
        out.push("the encodings (every listed part agrees)".into());
    }
    out
}
