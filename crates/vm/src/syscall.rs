//! The guest ABI's system calls (see `shared/spec/guest-abi.md`).

use crate::error::ExecError;
use crate::executor::{mode, Executor};
use crate::precompiles;
use crate::record::SyscallEvent;
use sha2::{Digest, Sha256};

pub const HALT: u32 = 0x0000_0000;
pub const WRITE: u32 = 0x0000_0002;
pub const ENTER_UNCONSTRAINED: u32 = 0x0000_0003;
pub const EXIT_UNCONSTRAINED: u32 = 0x0000_0004;
pub const COMMIT: u32 = 0x0000_0010;
pub const COMMIT_DEFERRED_PROOFS: u32 = 0x0000_001A;
pub const HINT_LEN: u32 = 0x0000_00F0;
pub const HINT_READ: u32 = 0x0000_00F1;
pub const SHA_EXTEND: u32 = 0x0030_0105;
pub const SHA_COMPRESS: u32 = 0x0001_0106;
pub const KECCAK_PERMUTE: u32 = 0x0001_0109;

/// File descriptors WRITE accepts.
pub const FD_STDOUT: u32 = 1;
pub const FD_STDERR: u32 = 2;
pub const FD_PUBLIC_VALUES: u32 = 3;
pub const FD_HINT: u32 = 4;

/// Largest single WRITE, so a corrupt length cannot exhaust host memory.
pub const MAX_WRITE_BYTES: u32 = 1 << 26;

/// The ABI name of a syscall code, including SP1 v4 codes reserved for later.
pub fn syscall_name(code: u32) -> Option<&'static str> {
    Some(match code {
        HALT => "HALT",
        WRITE => "WRITE",
        ENTER_UNCONSTRAINED => "ENTER_UNCONSTRAINED",
        EXIT_UNCONSTRAINED => "EXIT_UNCONSTRAINED",
        COMMIT => "COMMIT",
        COMMIT_DEFERRED_PROOFS => "COMMIT_DEFERRED_PROOFS",
        HINT_LEN => "HINT_LEN",
        HINT_READ => "HINT_READ",
        SHA_EXTEND => "SHA_EXTEND",
        SHA_COMPRESS => "SHA_COMPRESS",
        KECCAK_PERMUTE => "KECCAK_PERMUTE",
        _ => return reserved_name(code),
    })
}

/// SP1 v4 precompiles reserved by the ABI but not implemented yet.
fn reserved_name(code: u32) -> Option<&'static str> {
    Some(match code {
        0x0001_0107 => "ED_ADD",
        0x0000_0108 => "ED_DECOMPRESS",
        0x0001_010A => "SECP256K1_ADD",
        0x0000_010B => "SECP256K1_DOUBLE",
        0x0000_010C => "SECP256K1_DECOMPRESS",
        0x0001_010E => "BN254_ADD",
        0x0000_010F => "BN254_DOUBLE",
        0x0001_011D => "UINT256_MUL",
        0x0001_012F => "U256XU2048_MUL",
        _ if matches!(code & 0xff, 0x1C..=0x2E) && code >> 24 == 0 && code & 0xff00 == 0x0100 => {
            "SP1 v4 precompile (BLS12-381 / BN254 field / secp256r1)"
        }
        _ => return None,
    })
}

impl Executor<'_> {
    /// Runs the syscall whose code is in t0 with a0 = `arg1`, a1 = `arg2`;
    /// returns the value t0 holds afterwards.
    pub(crate) fn ecall<const M: u8>(&mut self, arg1: u32, arg2: u32) -> Result<u32, ExecError> {
        let code = self.regs[5];
        let clk = self.clk;
        let first_access = self.shard_accesses;
        let result = self.dispatch::<M>(code, arg1, arg2)?;
        if mode::stamps(M) {
            let event = SyscallEvent {
                clk,
                code,
                arg1,
                arg2,
                result,
                first_access,
                access_count: self.shard_accesses.wrapping_sub(first_access),
            };
            if mode::events(M) {
                self.tracer
                    .as_mut()
                    .expect("tracing")
                    .shard
                    .syscalls
                    .push(event);
            }
            self.last_syscall = Some(event);
        }
        Ok(result)
    }

    fn fail(&self, code: u32, reason: impl Into<String>) -> ExecError {
        ExecError::SyscallFailed {
            pc: self.pc,
            code,
            name: syscall_name(code).unwrap_or("?"),
            reason: reason.into(),
        }
    }

    fn dispatch<const M: u8>(&mut self, code: u32, arg1: u32, arg2: u32) -> Result<u32, ExecError> {
        match code {
            HALT => self.halt(arg1).map(|()| code),
            WRITE => self.write(arg1, arg2, self.regs[12]).map(|()| code),
            COMMIT => {
                let index = self.commit_index(code, arg1)?;
                self.committed[index] = Some(arg2);
                Ok(code)
            }
            COMMIT_DEFERRED_PROOFS => {
                self.commit_index(code, arg1)?;
                if arg2 != 0 {
                    return Err(ExecError::UnsupportedSyscall {
                        pc: self.pc,
                        code,
                        name: "COMMIT_DEFERRED_PROOFS",
                        reason: "a non-zero deferred-proofs digest word asks for proof composition, which Cloak does not support",
                    });
                }
                Ok(code)
            }
            HINT_LEN => match self.inputs.front() {
                Some(buf) => u32::try_from(buf.len())
                    .map_err(|_| self.fail(code, "input buffer longer than 4 GiB")),
                None => Err(self.fail(
                    code,
                    "no input buffer left to read (the host gave too few --input buffers)",
                )),
            },
            HINT_READ => self.hint_read::<M>(arg1, arg2).map(|()| code),
            SHA_EXTEND => {
                self.check_region(code, arg1, 64, "w")?;
                let mut w = self.read_words::<64>(arg1);
                precompiles::sha256_extend(&mut w);
                self.write_words::<M>(arg1, &w)?;
                Ok(code)
            }
            SHA_COMPRESS => {
                self.check_region(code, arg1, 64, "w")?;
                self.check_region(code, arg2, 8, "h")?;
                if regions_overlap(arg1, 64, arg2, 8) {
                    return Err(self.fail(
                        code,
                        format!("w at {arg1:#010x} and h at {arg2:#010x} overlap"),
                    ));
                }
                let w = self.read_words::<64>(arg1);
                let mut h = self.read_words::<8>(arg2);
                precompiles::sha256_compress(&w, &mut h);
                self.write_words::<M>(arg1, &w)?;
                self.write_words::<M>(arg2, &h)?;
                Ok(code)
            }
            KECCAK_PERMUTE => {
                self.check_region(code, arg1, 50, "state")?;
                let mut state = self.read_words::<50>(arg1);
                precompiles::keccak_permute(&mut state);
                self.write_words::<M>(arg1, &state)?;
                Ok(code)
            }
            ENTER_UNCONSTRAINED | EXIT_UNCONSTRAINED => Err(ExecError::UnsupportedSyscall {
                pc: self.pc,
                code,
                name: syscall_name(code).unwrap_or("?"),
                reason: "unconstrained execution blocks are not implemented yet",
            }),
            _ => match reserved_name(code) {
                Some(name) => Err(ExecError::UnsupportedSyscall {
                    pc: self.pc,
                    code,
                    name,
                    reason: "this SP1 v4 precompile is reserved but not implemented yet",
                }),
                None => Err(ExecError::UnknownSyscall { pc: self.pc, code }),
            },
        }
    }

    fn halt(&mut self, exit_code: u32) -> Result<(), ExecError> {
        // A clean exit must have committed the digest of its public values; a
        // non-zero exit (a panic) may stop anywhere, and its code is the result.
        if exit_code == 0 {
            let digest = Sha256::digest(&self.output.public_values);
            for (index, chunk) in digest.chunks_exact(4).enumerate() {
                let expected = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
                if self.committed[index] != Some(expected) {
                    return Err(ExecError::DigestMismatch {
                        pc: self.pc,
                        index,
                        committed: self.committed[index]
                            .map_or("never set".into(), |w| format!("{w:#010x}")),
                        expected,
                    });
                }
            }
        }
        self.output.exit_code = exit_code;
        self.halted = true;
        Ok(())
    }

    fn commit_index(&self, code: u32, index: u32) -> Result<usize, ExecError> {
        if index < 8 {
            Ok(index as usize)
        } else {
            Err(self.fail(code, format!("word index a0 = {index} is not in 0..8")))
        }
    }

    fn write(&mut self, fd: u32, ptr: u32, len: u32) -> Result<(), ExecError> {
        if len > MAX_WRITE_BYTES {
            return Err(self.fail(
                WRITE,
                format!("length {len} is over the {MAX_WRITE_BYTES}-byte limit"),
            ));
        }
        if len > 0 && (ptr < crate::elf::MIN_ADDRESS || ptr.checked_add(len - 1).is_none()) {
            return Err(self.fail(
                WRITE,
                format!("buffer {ptr:#010x}+{len} is outside guest memory"),
            ));
        }
        let bytes: Vec<u8> = (0..len)
            .map(|i| {
                let addr = ptr + i;
                (self.memory.load(addr & !3) >> ((addr & 3) * 8)) as u8
            })
            .collect();
        match fd {
            FD_STDOUT => self.output.stdout.extend_from_slice(&bytes),
            FD_STDERR => self.output.stderr.extend_from_slice(&bytes),
            FD_PUBLIC_VALUES => self.output.public_values.extend_from_slice(&bytes),
            FD_HINT => self.output.hint_output.push(bytes),
            _ => return Err(self.fail(WRITE, format!("file descriptor {fd} is not one of 1 (stdout), 2 (stderr), 3 (public values), 4 (hints)"))),
        }
        Ok(())
    }

    fn hint_read<const M: u8>(&mut self, ptr: u32, len: u32) -> Result<(), ExecError> {
        let Some(available) = self.inputs.front().map(Vec::len) else {
            return Err(self.fail(HINT_READ, "no input buffer left to read"));
        };
        if available != len as usize {
            return Err(self.fail(
                HINT_READ,
                format!("a1 = {len} but the next input buffer is {available} bytes"),
            ));
        }
        let words = len.div_ceil(4);
        self.check_region(HINT_READ, ptr, words, "buffer")?;
        let buf = self.inputs.pop_front().expect("checked above");
        for (i, chunk) in buf.chunks(4).enumerate() {
            let mut word = [0u8; 4];
            word[..chunk.len()].copy_from_slice(chunk);
            self.syscall_access::<M>(ptr + 4 * i as u32, u32::from_le_bytes(word))?;
        }
        Ok(())
    }

    fn check_region(&self, code: u32, ptr: u32, words: u32, what: &str) -> Result<(), ExecError> {
        if !ptr.is_multiple_of(4) {
            return Err(self.fail(
                code,
                format!("{what} pointer {ptr:#010x} is not 4-byte aligned"),
            ));
        }
        if words > 0 && (ptr < crate::elf::MIN_ADDRESS || ptr.checked_add(4 * words - 1).is_none())
        {
            return Err(self.fail(
                code,
                format!("{what} at {ptr:#010x} ({words} words) is outside guest memory"),
            ));
        }
        Ok(())
    }

    fn read_words<const N: usize>(&self, ptr: u32) -> [u32; N] {
        std::array::from_fn(|i| self.memory.load(ptr + 4 * i as u32))
    }

    /// Writes `words` back, recording one access per word (reads included).
    fn write_words<const M: u8>(&mut self, ptr: u32, words: &[u32]) -> Result<(), ExecError> {
        for (i, &w) in words.iter().enumerate() {
            self.syscall_access::<M>(ptr + 4 * i as u32, w)?;
        }
        Ok(())
    }
}

fn regions_overlap(a: u32, a_words: u32, b: u32, b_words: u32) -> bool {
    let (a, b) = (a as u64, b as u64);
    a < b + 4 * b_words as u64 && b < a + 4 * a_words as u64
}
