//! Whole-program proofs: bundled guests prove and verify; the verifier turns
//! every malformed proof into an error.

use cloak_machine::air::table;
use cloak_machine::{MachineKeys, Proof, ProveOptions, TableSet, ZkvmError};
use cloak_prover::stark::ProvableAir;
use cloak_prover::FriSettings;
use cloak_prover::{
    Challenge, Commitment, CpuBackend, CpuCommitted, ExternalBus, ProveError, ProverBackend,
    ProvingKey, StarkProof, Val, ZkRandomness,
};
use cloak_vm::Program;
use p3_matrix::dense::RowMajorMatrix;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

fn guest(name: &str) -> Program {
    let path = format!("{}/../../guests/bin/{name}.elf", env!("CARGO_MANIFEST_DIR"));
    Program::from_elf(&std::fs::read(path).unwrap()).unwrap()
}

/// The CPU backend, keeping the traces with their commitment as a GPU
/// backend does, and counting the shards it proves from them.
#[derive(Default)]
struct KeepingBackend {
    proven_kept: AtomicUsize,
    staged: AtomicUsize,
    proven_from_traces: AtomicUsize,
    /// The table counts of the keys `prepare` was called for, and how many
    /// shard proofs had been made by then.
    prepared: std::sync::Mutex<Vec<(usize, usize)>>,
}

impl ProverBackend for KeepingBackend {
    type Committed = (CpuCommitted, Vec<RowMajorMatrix<Val>>);
    type Staged = Vec<RowMajorMatrix<Val>>;

    fn name(&self) -> &'static str {
        "keeping"
    }

    fn stage(&self, traces: Vec<RowMajorMatrix<Val>>) -> Result<Self::Staged, ProveError> {
        self.staged.fetch_add(1, Ordering::Relaxed);
        Ok(traces)
    }

    fn commit_staged(
        &self,
        zk: &ZkRandomness,
        traces: Vec<RowMajorMatrix<Val>>,
    ) -> Result<(Commitment, Self::Committed), ProveError> {
        let (commitment, data) = CpuBackend.commit_main(zk, traces.clone())?;
        Ok((commitment, (data, traces)))
    }

    fn prove<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        traces: &[RowMajorMatrix<Val>],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        committed: Option<(Commitment, Self::Committed)>,
    ) -> Result<StarkProof, ProveError> {
        self.proven_from_traces.fetch_add(1, Ordering::Relaxed);
        let committed = committed.map(|(c, (data, _))| (c, data));
        CpuBackend.prove(zk, pk, airs, traces, public_values, external, committed)
    }

    fn prepare<A: ProvableAir>(&self, _pk: &ProvingKey, airs: &[A]) -> Result<(), ProveError> {
        let proven = self.proven_kept.load(Ordering::Relaxed);
        self.prepared.lock().unwrap().push((airs.len(), proven));
        Ok(())
    }

    fn keeps_traces(&self) -> bool {
        true
    }

    fn prove_kept<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        (commitment, (data, traces)): (Commitment, Self::Committed),
    ) -> Result<StarkProof, ProveError> {
        self.proven_kept.fetch_add(1, Ordering::Relaxed);
        let committed = Some((commitment, data));
        CpuBackend.prove(zk, pk, airs, &traces, public_values, external, committed)
    }
}

/// [`KeepingBackend`] as one GPU of several: what it stages and commits
/// is tagged with its device, and it refuses another device's data (a GPU
/// cannot read another GPU's memory; stop 30 found the memory proof
/// committed on the first GPU and proven on another).
struct DeviceBackend {
    device: usize,
    keeping: KeepingBackend,
}

impl ProverBackend for DeviceBackend {
    type Committed = (usize, <KeepingBackend as ProverBackend>::Committed);
    type Staged = (usize, <KeepingBackend as ProverBackend>::Staged);

    fn name(&self) -> &'static str {
        "device"
    }

    fn stage(&self, traces: Vec<RowMajorMatrix<Val>>) -> Result<Self::Staged, ProveError> {
        Ok((self.device, self.keeping.stage(traces)?))
    }

    fn commit_staged(
        &self,
        zk: &ZkRandomness,
        (device, staged): Self::Staged,
    ) -> Result<(Commitment, Self::Committed), ProveError> {
        self.check(device, "staged")?;
        let (commitment, data) = self.keeping.commit_staged(zk, staged)?;
        Ok((commitment, (self.device, data)))
    }

    fn prove<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        traces: &[RowMajorMatrix<Val>],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        committed: Option<(Commitment, Self::Committed)>,
    ) -> Result<StarkProof, ProveError> {
        let committed = match committed {
            Some((c, (device, data))) => {
                self.check(device, "committed")?;
                Some((c, data))
            }
            None => None,
        };
        self.keeping
            .prove(zk, pk, airs, traces, public_values, external, committed)
    }

    fn keeps_traces(&self) -> bool {
        true
    }

    fn prove_kept<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        (commitment, (device, data)): (Commitment, Self::Committed),
    ) -> Result<StarkProof, ProveError> {
        self.check(device, "kept")?;
        self.keeping
            .prove_kept(zk, pk, airs, public_values, external, (commitment, data))
    }
}

impl DeviceBackend {
    fn check(&self, device: usize, what: &str) -> Result<(), ProveError> {
        if device == self.device {
            Ok(())
        } else {
            Err(ProveError::Prover(format!(
                "data {what} on device {device} used on device {}",
                self.device
            )))
        }
    }
}

/// The CPU backend failing its `n`-th staging (on a generating thread) or
/// its `n`-th commitment (on the prover's side).
struct FailingBackend {
    stage_fails_at: usize,
    commit_fails_at: usize,
    staged: AtomicUsize,
    committed: AtomicUsize,
}

impl ProverBackend for FailingBackend {
    type Committed = CpuCommitted;
    type Staged = Vec<RowMajorMatrix<Val>>;

    fn name(&self) -> &'static str {
        "failing"
    }

    fn stage(&self, traces: Vec<RowMajorMatrix<Val>>) -> Result<Self::Staged, ProveError> {
        if self.staged.fetch_add(1, Ordering::Relaxed) == self.stage_fails_at {
            return Err(ProveError::Prover("staging failed here".into()));
        }
        Ok(traces)
    }

    fn commit_staged(
        &self,
        zk: &ZkRandomness,
        traces: Vec<RowMajorMatrix<Val>>,
    ) -> Result<(Commitment, Self::Committed), ProveError> {
        if self.committed.fetch_add(1, Ordering::Relaxed) == self.commit_fails_at {
            return Err(ProveError::Prover("committing failed here".into()));
        }
        CpuBackend.commit_main(zk, traces)
    }

    fn prove<A: ProvableAir>(
        &self,
        zk: &ZkRandomness,
        pk: &ProvingKey,
        airs: &[A],
        traces: &[RowMajorMatrix<Val>],
        public_values: &[Vec<Val>],
        external: ExternalBus<Challenge>,
        committed: Option<(Commitment, Self::Committed)>,
    ) -> Result<StarkProof, ProveError> {
        CpuBackend.prove(zk, pk, airs, traces, public_values, external, committed)
    }
}

/// A failure on either side of the shard pipeline (a generating thread's
/// staging, the prover's commitment) ends the proof with that error, the
/// other threads stopped (the call returns), whatever the thread count.
#[test]
fn a_failure_in_the_shard_pipeline_stops_it_with_its_error() {
    let program = guest("fibonacci");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    for threads in [1, 3] {
        for (stage_at, commit_at, message) in [
            (1, usize::MAX, "staging failed here"),
            (usize::MAX, 1, "committing failed here"),
        ] {
            let backend = FailingBackend {
                stage_fails_at: stage_at,
                commit_fails_at: commit_at,
                staged: AtomicUsize::new(0),
                committed: AtomicUsize::new(0),
            };
            let opts = ProveOptions {
                shard_cycles: 1 << 12,
                seed: Some([2; 32]),
                trace_threads: threads,
                exec_threads: threads,
                ..ProveOptions::default()
            };
            let input = vec![1000u32.to_le_bytes().to_vec()];
            let err = keys
                .prove_on(&backend, &program, input, &opts)
                .err()
                .expect("the proof fails");
            assert!(
                err.to_string().contains(message),
                "{threads} threads: {err}"
            );
        }
    }
}

/// The fast run that fixes the claim runs beside pass 1's first shards; a
/// run that fails (here at the cycle limit, after several shards) ends the
/// proof with the run's own error, not with pass 1's want of a claim,
/// whether pass 1 is pipelined (the generating threads wait for the claim)
/// or not.
#[test]
fn a_failing_run_is_reported_as_the_execution_error() {
    let program = guest("fibonacci");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    for (pipeline, threads) in [(true, 1), (true, 3), (false, 1), (false, 3)] {
        let opts = ProveOptions {
            shard_cycles: 1 << 12,
            seed: Some([2; 32]),
            pipeline,
            trace_threads: threads,
            exec_threads: threads,
            exec: cloak_vm::ExecConfig {
                max_cycles: Some(20_000),
                ..cloak_vm::ExecConfig::default()
            },
            ..ProveOptions::default()
        };
        let input = vec![100_000u32.to_le_bytes().to_vec()];
        let err = keys
            .prove(&program, input, &opts)
            .err()
            .expect("the run passes its cycle limit");
        assert!(
            matches!(
                err,
                cloak_machine::ZkvmError::Exec(cloak_vm::ExecError::CycleLimit { .. })
            ),
            "pipeline {pipeline}, {threads} threads: {err}"
        );
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// fibonacci(10): its keys and one encoded proof, shared by the tests.
fn fibonacci() -> &'static (MachineKeys, Vec<u8>) {
    static FIB: OnceLock<(MachineKeys, Vec<u8>)> = OnceLock::new();
    FIB.get_or_init(|| {
        let program = guest("fibonacci");
        let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
        let opts = ProveOptions {
            seed: Some([1; 32]),
            ..ProveOptions::default()
        };
        let input = vec![10u32.to_le_bytes().to_vec()];
        let (proof, _) = keys.prove(&program, input, &opts).unwrap();
        (keys, proof.to_bytes())
    })
}

#[test]
fn fibonacci_proves_and_verifies() {
    let (keys, bytes) = fibonacci();
    let statement = keys.verify(&Proof::from_bytes(bytes).unwrap()).unwrap();
    assert_eq!(statement.exit_code, 0);
    assert_eq!(hex(&statement.public_values), "0a00000037000000");
    assert_eq!(statement.vk_digest, keys.vk_digest());
}

/// fibonacci calls no precompile and reads its input with HINT_READ: its
/// proof holds the required tables and HintRead only. Any other table set
/// in the proof is rejected (a missing required table, an extra precompile
/// table, a bit beyond the last table, HintRead left out).
#[test]
fn shard_proofs_hold_the_tables_they_use_and_the_set_is_checked() {
    let (keys, bytes) = fibonacci();
    let proof = Proof::from_bytes(bytes).unwrap();
    let used = TableSet::REQUIRED.with(table::HINT, true);
    assert_eq!(proof.shards[0].tables, used);
    for set in [
        TableSet::ALL,
        TableSet::REQUIRED,
        used.with(table::SHA_EXTEND, true),
        TableSet(used.0 & !(1 << table::CPU)),
        TableSet(used.0 | 1 << table::COUNT),
    ] {
        let mut tampered = Proof::from_bytes(bytes).unwrap();
        tampered.shards[0].tables = set;
        let err = keys.verify(&tampered).unwrap_err();
        assert!(matches!(err, ZkvmError::BadShards(_)), "{set:?}: {err}");
    }
}

#[test]
fn loop_proves_and_a_guest_panic_proves_its_exit_code() {
    let program = guest("loop");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    let opts = ProveOptions::default();
    let input = vec![1000u32.to_le_bytes().to_vec()];
    let (proof, report) = keys.prove(&program, input, &opts).unwrap();
    assert!(report.cycles > 6000);
    let statement = keys.verify(&proof).unwrap();
    assert_eq!(hex(&statement.public_values), "e803000040ba9686");

    // fibonacci given a 2-byte input panics: exit code 1, proven as such.
    let program = guest("fibonacci");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    let (proof, _) = keys.prove(&program, vec![vec![1, 2]], &opts).unwrap();
    assert_eq!(proof.exit_code, 1);
    assert_eq!(keys.verify(&proof).unwrap().exit_code, 1);
    let mut claim_success = proof;
    claim_success.exit_code = 0;
    assert!(keys.verify(&claim_success).is_err());
}

/// keccak256 (KECCAK_PERMUTE) of "abc", as `cloak bench` runs it: one shard
/// (tests/keccak.rs proves it across shards and tampers with its table).
#[test]
fn keccak256_proves_and_verifies() {
    let program = guest("keccak256");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    let mut input = 3u64.to_le_bytes().to_vec();
    input.extend_from_slice(b"abc");
    let (proof, report) = keys
        .prove(&program, vec![input], &ProveOptions::default())
        .unwrap();
    assert_eq!(report.shards, 1);
    let statement = keys.verify(&proof).unwrap();
    assert_eq!(statement.exit_code, 0);
    assert_eq!(
        hex(&statement.public_values),
        "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"
    );
}

/// Truncations and bit flips anywhere in a proof file give errors, never
/// panics or acceptance (a bounded fuzz run: positions from a fixed LCG).
#[test]
fn malformed_proofs_are_errors() {
    let (keys, bytes) = fibonacci();
    let check = |mutated: &[u8], what: &str| {
        let outcome = std::panic::catch_unwind(|| match Proof::from_bytes(mutated) {
            Ok(proof) => keys.verify(&proof).map(|_| ()),
            Err(e) => Err(e),
        });
        match outcome {
            Ok(Err(_)) => {}
            Ok(Ok(())) => panic!("{what}: accepted"),
            Err(_) => panic!("{what}: the verifier panicked"),
        }
    };
    for len in [0, 4, 11, 12, 13, 100, bytes.len() / 2, bytes.len() - 1] {
        check(&bytes[..len], &format!("truncated to {len}"));
    }
    let mut extended = bytes.clone();
    extended.push(0);
    check(&extended, "a trailing byte");
    let mut state: u64 = 0x00c1_0a4c;
    for _ in 0..150 {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let pos = (state >> 33) as usize % bytes.len();
        let bit = (state >> 29) as u8 & 7;
        let mut flipped = bytes.clone();
        flipped[pos] ^= 1 << bit;
        check(&flipped, &format!("bit {bit} of byte {pos} flipped"));
    }
    // A wrong format version is named.
    let mut old = bytes.clone();
    old[8] = 1;
    let err = Proof::from_bytes(&old).err().unwrap();
    assert!(matches!(err, ZkvmError::Format(_)), "{err}");
    assert!(err.to_string().contains("version 1"), "{err}");
}

/// fibonacci(1000) (12 K cycles) in shards of 2^12 cycles: three shards tied
/// by the cross-shard memory argument; the same statement as one shard.
#[test]
fn multi_shard_proofs_verify_and_chain() {
    let program = guest("fibonacci");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    let input = vec![1000u32.to_le_bytes().to_vec()];
    let opts = ProveOptions {
        shard_cycles: 1 << 12,
        seed: Some([2; 32]),
        ..ProveOptions::default()
    };
    let (proof, report) = keys.prove(&program, input, &opts).unwrap();
    assert_eq!(report.shards, 3, "{report:?}");
    let statement = keys.verify(&proof).unwrap();
    assert_eq!(hex(&statement.public_values), "e80300004b60c05c");

    // `prove` keeps the last shard's pass-1 commitment and proves it without
    // committing again; `prove_witness` commits it again: the same bytes.
    let input = vec![1000u32.to_le_bytes().to_vec()];
    let witness = keys.witness(&program, input, &opts).unwrap();
    let again = keys.prove_witness(&witness, [2; 32]).unwrap();
    assert_eq!(again.to_bytes(), proof.to_bytes());
    // Keeping every shard's commitment (the default budget holds all three)
    // or only the last one's: the same bytes again.
    let last_only = ProveOptions {
        keep_commitments_bytes: 0,
        ..opts.clone()
    };
    let input = vec![1000u32.to_le_bytes().to_vec()];
    let (recommitted, _) = keys.prove(&program, input, &last_only).unwrap();
    assert_eq!(recommitted.to_bytes(), proof.to_bytes());
    // Executing each shard after the previous one is proven instead of one
    // shard ahead on another thread: the same bytes.
    let serial = ProveOptions {
        pipeline: false,
        ..opts.clone()
    };
    let input = vec![1000u32.to_le_bytes().to_vec()];
    let (serial_proof, _) = keys.prove(&program, input, &serial).unwrap();
    assert_eq!(serial_proof.to_bytes(), proof.to_bytes());
    // The shards spread over two backends (one worker thread each, as for
    // two GPUs): the same bytes.
    let input = vec![1000u32.to_le_bytes().to_vec()];
    let backends = [cloak_prover::CpuBackend, cloak_prover::CpuBackend];
    let (spread, _) = keys
        .prove_on_many(&backends, &program, input, &opts)
        .unwrap();
    assert_eq!(spread.to_bytes(), proof.to_bytes());
    // Over backends on different devices (each refusing another's data),
    // for every count of them up to more than the shards: every commitment,
    // the memory proof's included, is proven where it was made, and the
    // bytes are the same.
    for n in 1..=4 {
        let devices: Vec<DeviceBackend> = (0..n)
            .map(|device| DeviceBackend {
                device,
                keeping: KeepingBackend::default(),
            })
            .collect();
        let input = vec![1000u32.to_le_bytes().to_vec()];
        let (on_devices, _) = keys
            .prove_on_many(&devices, &program, input, &opts)
            .unwrap_or_else(|e| panic!("{n} devices: {e}"));
        assert_eq!(on_devices.to_bytes(), proof.to_bytes(), "{n} devices");
    }
    // Three shards' traces generated at once (three threads): the same bytes.
    let parallel = ProveOptions {
        trace_threads: 3,
        ..opts.clone()
    };
    let input = vec![1000u32.to_le_bytes().to_vec()];
    let (parallel_proof, _) = keys.prove(&program, input, &parallel).unwrap();
    assert_eq!(parallel_proof.to_bytes(), proof.to_bytes());
    // Shards traced on one thread and on three (from checkpoints): the
    // same bytes.
    for exec_threads in [1, 3] {
        let traced = ProveOptions {
            exec_threads,
            ..opts.clone()
        };
        let input = vec![1000u32.to_le_bytes().to_vec()];
        let (traced_proof, _) = keys.prove(&program, input, &traced).unwrap();
        assert_eq!(
            traced_proof.to_bytes(),
            proof.to_bytes(),
            "{exec_threads} tracing threads"
        );
    }
    // A backend that keeps the committed traces (as the GPU's does) proves
    // the kept shards in pass 2 without their traces being generated again:
    // all three with the default budget, the last alone with none. Shards
    // past the budget are generated and staged again on the generating
    // threads, committed again, and proven from that commitment: every
    // shard goes through `prove_kept`; only the memory proof through `prove`.
    for (budget, reused) in [(opts.keep_commitments_bytes, 3), (0, 1)] {
        let keeping = KeepingBackend::default();
        let input = vec![1000u32.to_le_bytes().to_vec()];
        let o = ProveOptions {
            keep_commitments_bytes: budget,
            ..opts.clone()
        };
        let (kept_proof, _) = keys.prove_on(&keeping, &program, input, &o).unwrap();
        assert_eq!(kept_proof.to_bytes(), proof.to_bytes());
        let shards = proof.shards.len();
        assert_eq!(shards, 3);
        assert_eq!(keeping.proven_kept.load(Ordering::Relaxed), shards);
        assert_eq!(keeping.proven_from_traces.load(Ordering::Relaxed), 1);
        // Staged: every shard in pass 1, those not kept again in pass 2,
        // and the memory proof's tables.
        assert_eq!(
            keeping.staged.load(Ordering::Relaxed),
            shards + (shards - reused) + 1
        );
        // Each shard table set's key was prepared once, during pass 1
        // (before any shard proof): one set per distinct table list.
        let prepared = keeping.prepared.lock().unwrap().clone();
        let mut sets: Vec<_> = proof.shards.iter().map(|s| s.tables).collect();
        sets.sort_by_key(|t| t.0);
        sets.dedup();
        assert_eq!(prepared.len(), sets.len(), "{prepared:?}");
        assert!(
            prepared.iter().all(|&(_, proven)| proven == 0),
            "{prepared:?}"
        );
        let mut widths: Vec<usize> = prepared.iter().map(|&(n, _)| n).collect();
        let mut expected: Vec<usize> = sets.iter().map(|t| t.0.count_ones() as usize).collect();
        widths.sort_unstable();
        expected.sort_unstable();
        assert_eq!(widths, expected);
    }

    // The public shares of the cross-shard bus are blinded: other randomness,
    // other shares (they would otherwise be a function of private state).
    let reseeded = ProveOptions {
        seed: Some([3; 32]),
        ..opts.clone()
    };
    let input = vec![1000u32.to_le_bytes().to_vec()];
    let (other, _) = keys.prove(&program, input, &reseeded).unwrap();
    for (a, b) in proof.shards.iter().zip(&other.shards) {
        assert_ne!(a.share, b.share);
    }
    assert_ne!(proof.memory.share, other.memory.share);
    keys.verify(&other).unwrap();

    // Dropping, reordering or re-sharing shards breaks the statement.
    let bytes = proof.to_bytes();
    let fresh = || Proof::from_bytes(&bytes).unwrap();
    let mut dropped = fresh();
    dropped.shards.remove(1);
    assert!(keys.verify(&dropped).is_err());
    let mut swapped = fresh();
    swapped.shards.swap(0, 1);
    assert!(keys.verify(&swapped).is_err());
    let mut shares = fresh();
    let moved = shares.shards[0].share;
    shares.shards[0].share = shares.shards[1].share;
    shares.shards[1].share = moved;
    assert!(keys.verify(&shares).is_err());
    let mut truncated = fresh();
    truncated.shards.truncate(2);
    truncated.shards[1].cpu.is_last = true;
    assert!(keys.verify(&truncated).is_err());
}

/// One HINT_READ of 17 MB writes 4.25 M words, one HintRead row and one
/// Memory row (a word touched) each: past the 2^22 rows whose quotient
/// domain (a tall table's two chunks, 2^24 points) fits in KoalaBear's
/// two-adic subgroups. Proving stops with an error that names the shard and
/// the first such table (Memory) instead of failing inside the STARK
/// library.
#[test]
fn a_table_past_the_two_adic_limit_is_a_clear_error() {
    let program = guest("sha256");
    let keys = MachineKeys::new(&program, FriSettings::DEFAULT).unwrap();
    let len = 17usize << 20;
    let mut input = (len as u64).to_le_bytes().to_vec();
    input.resize(8 + len, 0x5a);
    let Err(err) = keys.prove(&program, vec![input], &ProveOptions::default()) else {
        panic!("2^23-row Memory and HintRead tables were proven");
    };
    assert!(
        matches!(
            err,
            ZkvmError::Trace(cloak_machine::TraceError::TableTooTall {
                shard: 0,
                table: "memory",
                height: 8388608,
                max_log: 22,
            })
        ),
        "{err}"
    );
    eprintln!("{err}");
}
