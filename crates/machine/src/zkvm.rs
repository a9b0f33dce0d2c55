//! Proving and verifying whole executions of one program: keys derived from
//! the ELF, the proof (statement plus STARK proof), and the verifier that
//! returns the statement a proof establishes.

use crate::air::table;
use crate::event::TraceError;
use crate::memory::ImageAir;
use crate::program::ProgramAir;
use crate::witness::{self, image_words, MachineWitness, MAX_CYCLES};
use crate::MachineAir;
use cloak_prover::{
    Config, FriSettings, ProveError, ProvingKey, StarkProof, VerifyError, VerifyingKey,
};
use cloak_vm::{ExecConfig, ExecError, ExecOutput, Executor, Program};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::{Duration, Instant};
use thiserror::Error;

#[derive(Debug, Error)]
pub enum ZkvmError {
    #[error("execution failed: {0}")]
    Exec(#[from] ExecError),
    #[error("trace generation failed: {0}")]
    Trace(#[from] TraceError),
    #[error(transparent)]
    Prove(#[from] ProveError),
    #[error(transparent)]
    Verify(#[from] VerifyError),
    #[error(transparent)]
    Format(#[from] cloak_prover::ProofFormatError),
    #[error("the proof's public values hash to {actual}, but the guest committed {committed}")]
    DigestMismatch { actual: String, committed: String },
}

/// What a valid proof establishes: the program (by its verifying-key digest)
/// ran from its entry point to HALT with this exit code, and, for exit code 0,
/// committed the SHA-256 digest of these public values.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Statement {
    pub vk_digest: [u8; 32],
    pub exit_code: u32,
    /// The public values (bytes written to fd 3). Bound by the proof only for
    /// exit code 0, where the guest must COMMIT their digest; a guest that
    /// exits non-zero may stop before committing.
    pub public_values: Vec<u8>,
    /// SHA-256 of `public_values`.
    pub public_values_digest: [u8; 32],
}

/// A proof of one execution.
#[derive(Serialize, Deserialize)]
pub struct Proof {
    pub exit_code: u32,
    pub public_values: Vec<u8>,
    /// The digest words the guest COMMITted, as the proof's public values hold them.
    pub committed_digest: [u32; 8],
    pub stark: StarkProof,
}

impl Proof {
    /// The versioned file encoding (see `cloak_prover::proof`).
    pub fn to_bytes(&self) -> Vec<u8> {
        cloak_prover::encode(self)
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Proof, ZkvmError> {
        Ok(cloak_prover::decode(bytes)?)
    }
}

/// Timings and sizes of one proof, for benchmarks.
#[derive(Clone, Debug, Default)]
pub struct ProveReport {
    pub cycles: u64,
    pub execution: Duration,
    pub prove: Duration,
    /// Main trace cells (rows times columns, over every table).
    pub trace_cells: u64,
    /// `(table name, height)` per table.
    pub heights: Vec<(&'static str, usize)>,
}

/// The proving and verifying keys of one program.
pub struct MachineKeys {
    pub airs: Vec<MachineAir>,
    pub pk: ProvingKey,
    pub vk: VerifyingKey,
    pub entry: u32,
    program: ProgramAir,
    image: ImageAir,
    vk_digest: [u8; 32],
}

impl MachineKeys {
    /// Derives the keys from a loaded program: commits its instruction table
    /// and initial image (and the fixed lookup tables).
    pub fn new(program: &Program, fri: FriSettings) -> Result<MachineKeys, ZkvmError> {
        let min = fri.min_trace_height();
        let program_air = ProgramAir::new(program, min)?;
        let image = ImageAir::new(image_words(program), min);
        let airs = MachineAir::for_program(program_air.clone(), image.clone());
        let min_log = min.trailing_zeros() as usize;
        let mut log_heights = vec![min_log; table::COUNT];
        log_heights[table::RANGE16] = 16;
        log_heights[table::BYTE] = crate::byte::LOG_HEIGHT;
        log_heights[table::PROGRAM] = program_air.log_height();
        log_heights[table::IMAGE] = image.log_height();
        let (pk, vk) = cloak_prover::setup(fri, &airs, &log_heights)?;
        let mut h = Sha256::new();
        h.update(b"cloak-vk-v1");
        h.update(program.entry.to_le_bytes());
        h.update(format!("{fri:?}").as_bytes());
        for log in [log_heights[table::PROGRAM], log_heights[table::IMAGE]] {
            h.update((log as u64).to_le_bytes());
        }
        h.update(vk.commitment_bytes());
        Ok(MachineKeys {
            airs,
            pk,
            vk,
            entry: program.entry,
            program: program_air,
            image,
            vk_digest: h.finalize().into(),
        })
    }

    /// SHA-256 over the entry point, the FRI settings and the preprocessed
    /// commitment: what names the program in statements and attestations.
    pub fn vk_digest(&self) -> [u8; 32] {
        self.vk_digest
    }

    /// Executes `program` (which must be the one these keys were made for) on
    /// `inputs` in tracing mode and builds every table's trace.
    pub fn witness(
        &self,
        program: &Program,
        inputs: Vec<Vec<u8>>,
        exec: ExecConfig,
    ) -> Result<(MachineWitness, ExecOutput), ZkvmError> {
        let min = self.pk.fri.min_trace_height();
        let mut executor = Executor::new(program, inputs, exec);
        let mut witness = None;
        let output = executor.run_traced(MAX_CYCLES, |shard| {
            if !shard.halted {
                return Err(ZkvmError::Trace(TraceError::TooManyCycles {
                    cycles: shard.end.clk + 1,
                    max: MAX_CYCLES,
                }));
            }
            let exit_code = shard.cpu.last().map_or(0, |e| e.rs1);
            witness = Some(witness::generate(
                &self.program,
                &self.image,
                shard,
                exit_code,
                min,
            )?);
            Ok(())
        })?;
        let witness = witness.ok_or(TraceError::NotHalted)?;
        Ok((witness, output))
    }

    /// Proves a witness (normally [`Self::witness`]'s).
    pub fn prove_witness(
        &self,
        witness: &MachineWitness,
        config: &Config,
    ) -> Result<StarkProof, ZkvmError> {
        Ok(cloak_prover::prove(
            config,
            &self.pk,
            &self.airs,
            &witness.traces,
            &witness.public_values,
        )?)
    }

    /// Executes `program` (which must be the one these keys were made for) on
    /// `inputs` and proves the execution. `config` carries the proof's
    /// zero-knowledge randomness.
    pub fn prove(
        &self,
        program: &Program,
        inputs: Vec<Vec<u8>>,
        exec: ExecConfig,
        config: &Config,
    ) -> Result<(Proof, ProveReport), ZkvmError> {
        let start = Instant::now();
        let (witness, output) = self.witness(program, inputs, exec)?;
        let execution = start.elapsed();
        let start = Instant::now();
        let stark = self.prove_witness(&witness, config)?;
        let report = ProveReport {
            cycles: output.cycles,
            execution,
            prove: start.elapsed(),
            trace_cells: witness.traces.iter().map(|t| t.values.len() as u64).sum(),
            heights: table::NAMES
                .iter()
                .zip(&witness.traces)
                .map(|(&n, t)| (n, t.values.len() / t.width.max(1)))
                .collect(),
        };
        Ok((
            Proof {
                exit_code: output.exit_code,
                public_values: output.public_values,
                committed_digest: witness.digest,
                stark,
            },
            report,
        ))
    }

    /// Checks `proof` and returns the statement it establishes.
    pub fn verify(&self, proof: &Proof) -> Result<Statement, ZkvmError> {
        let digest: [u8; 32] = Sha256::digest(&proof.public_values).into();
        let words: [u32; 8] = std::array::from_fn(|i| {
            u32::from_le_bytes(digest[4 * i..4 * i + 4].try_into().unwrap())
        });
        if proof.exit_code == 0 && words != proof.committed_digest {
            return Err(ZkvmError::DigestMismatch {
                actual: hex(&digest),
                committed: proof
                    .committed_digest
                    .iter()
                    .map(|w| format!("{w:08x}"))
                    .collect(),
            });
        }
        let publics = witness::public_values(self.entry, proof.exit_code, proof.committed_digest);
        cloak_prover::verify(&self.vk, &self.airs, &proof.stark, &publics)?;
        Ok(Statement {
            vk_digest: self.vk_digest,
            exit_code: proof.exit_code,
            public_values: proof.public_values.clone(),
            public_values_digest: digest,
        })
    }
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
