//! ELF32 loading into a [`Program`].
//!
//! The parser is written out by hand rather than with a general ELF crate because
//! its job is mostly validation: every field the VM depends on is checked, and a
//! rejection names the field and its file offset so a user can find the problem
//! with `readelf`.

use crate::instruction::Instruction;
use crate::program::{Program, Segment};
use thiserror::Error;

/// Lowest address a segment may occupy: 0..0x20 is reserved for registers.
pub const MIN_ADDRESS: u32 = 0x20;
/// Largest executable span decoded into the program table (256 MiB of code).
pub const MAX_TEXT_SPAN: u32 = 1 << 28;

const EHDR_SIZE: usize = 52;
const PHDR_SIZE: usize = 32;
const PT_LOAD: u32 = 1;
const PF_X: u32 = 1;
const EM_RISCV: u16 = 243;
const ET_EXEC: u16 = 2;
const EF_RISCV_RVC: u32 = 0x1;
const EF_RISCV_FLOAT_ABI: u32 = 0x6;
const EF_RISCV_RVE: u32 = 0x8;

/// Why an ELF file was rejected. `offset` is a byte offset into the file.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ElfError {
    #[error("ELF file is {len} bytes, too short for the {what} at offset {offset:#x}")]
    Truncated {
        what: &'static str,
        offset: u64,
        len: usize,
    },
    #[error("ELF field {field} at offset {offset:#x} is {found:#x}: {expected}")]
    BadField {
        field: &'static str,
        offset: u64,
        found: u64,
        expected: &'static str,
    },
    #[error("ELF segment {index} (program header at offset {offset:#x}): {reason}")]
    BadSegment {
        index: usize,
        offset: u64,
        reason: String,
    },
    #[error("ELF segments {first} and {second} overlap at address {address:#x}")]
    Overlap {
        first: usize,
        second: usize,
        address: u32,
    },
    #[error("ELF entry point {entry:#x} (field e_entry at offset 0x18) {reason}")]
    BadEntry { entry: u32, reason: &'static str },
    #[error("ELF has no loadable executable segment (program headers at offset {offset:#x})")]
    NoText { offset: u64 },
}

fn read_u16(bytes: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([bytes[off], bytes[off + 1]])
}

fn read_u32(bytes: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(bytes[off..off + 4].try_into().expect("4 bytes"))
}

fn field_check(
    ok: bool,
    field: &'static str,
    offset: u64,
    found: u64,
    expected: &'static str,
) -> Result<(), ElfError> {
    if ok {
        Ok(())
    } else {
        Err(ElfError::BadField {
            field,
            offset,
            found,
            expected,
        })
    }
}

struct ProgramHeader {
    index: usize,
    header_offset: u64,
    file_offset: u32,
    vaddr: u32,
    file_size: u32,
    mem_size: u32,
    flags: u32,
}

impl Program {
    /// Parses and validates an RV32IM ELF executable.
    pub fn from_elf(bytes: &[u8]) -> Result<Program, ElfError> {
        if bytes.len() < EHDR_SIZE {
            return Err(ElfError::Truncated {
                what: "ELF header",
                offset: 0,
                len: bytes.len(),
            });
        }
        field_check(
            bytes[0..4] == *b"\x7fELF",
            "e_ident[EI_MAG]",
            0,
            read_u32(bytes, 0) as u64,
            "expected the magic 7f 45 4c 46 (\\x7fELF)",
        )?;
        field_check(
            bytes[4] == 1,
            "e_ident[EI_CLASS]",
            4,
            bytes[4] as u64,
            "expected 1 (ELFCLASS32)",
        )?;
        field_check(
            bytes[5] == 1,
            "e_ident[EI_DATA]",
            5,
            bytes[5] as u64,
            "expected 1 (little-endian)",
        )?;
        field_check(
            bytes[6] == 1,
            "e_ident[EI_VERSION]",
            6,
            bytes[6] as u64,
            "expected 1 (EV_CURRENT)",
        )?;
        let e_type = read_u16(bytes, 16);
        field_check(
            e_type == ET_EXEC,
            "e_type",
            16,
            e_type as u64,
            "expected 2 (ET_EXEC, a statically linked executable)",
        )?;
        let machine = read_u16(bytes, 18);
        field_check(
            machine == EM_RISCV,
            "e_machine",
            18,
            machine as u64,
            "expected 243 (EM_RISCV)",
        )?;
        let version = read_u32(bytes, 20);
        field_check(
            version == 1,
            "e_version",
            20,
            version as u64,
            "expected 1 (EV_CURRENT)",
        )?;
        let entry = read_u32(bytes, 24);
        let phoff = read_u32(bytes, 28);
        let flags = read_u32(bytes, 36);
        field_check(
            flags & EF_RISCV_RVC == 0,
            "e_flags",
            36,
            flags as u64,
            "compressed instructions (RVC) are not supported: build for rv32im",
        )?;
        field_check(
            flags & EF_RISCV_FLOAT_ABI == 0,
            "e_flags",
            36,
            flags as u64,
            "hardware floating-point ABI is not supported: build with -mabi=ilp32",
        )?;
        field_check(
            flags & EF_RISCV_RVE == 0,
            "e_flags",
            36,
            flags as u64,
            "the RV32E ABI is not supported",
        )?;
        let phentsize = read_u16(bytes, 42);
        let phnum = read_u16(bytes, 44) as usize;
        field_check(
            phnum > 0,
            "e_phnum",
            44,
            0,
            "expected at least one program header",
        )?;
        field_check(
            phentsize as usize == PHDR_SIZE,
            "e_phentsize",
            42,
            phentsize as u64,
            "expected 32 (the ELF32 program header size)",
        )?;
        let table_end = phoff as u64 + (phnum * PHDR_SIZE) as u64;
        if table_end > bytes.len() as u64 {
            return Err(ElfError::Truncated {
                what: "program header table",
                offset: phoff as u64,
                len: bytes.len(),
            });
        }

        let mut headers = Vec::new();
        for index in 0..phnum {
            let off = phoff as usize + index * PHDR_SIZE;
            if read_u32(bytes, off) != PT_LOAD {
                continue;
            }
            let ph = ProgramHeader {
                index,
                header_offset: off as u64,
                file_offset: read_u32(bytes, off + 4),
                vaddr: read_u32(bytes, off + 8),
                file_size: read_u32(bytes, off + 16),
                mem_size: read_u32(bytes, off + 20),
                flags: read_u32(bytes, off + 24),
            };
            validate_segment(&ph, bytes.len())?;
            if ph.mem_size > 0 {
                headers.push(ph);
            }
        }

        headers.sort_by_key(|h| h.vaddr);
        for pair in headers.windows(2) {
            let end = pair[0].vaddr as u64 + pair[0].mem_size as u64;
            if end > pair[1].vaddr as u64 {
                return Err(ElfError::Overlap {
                    first: pair[0].index,
                    second: pair[1].index,
                    address: pair[1].vaddr,
                });
            }
        }

        let mut segments = Vec::with_capacity(headers.len());
        let (mut text_start, mut text_end) = (u64::MAX, 0u64);
        for ph in &headers {
            let start = ph.file_offset as usize;
            let data = bytes[start..start + ph.file_size as usize].to_vec();
            if ph.flags & PF_X != 0 {
                text_start = text_start.min(ph.vaddr as u64);
                // Only initialised bytes hold instructions; the zero-filled tail decodes to
                // invalid words anyway, so it is left out of the program table.
                text_end = text_end.max(ph.vaddr as u64 + (ph.file_size & !3) as u64);
            }
            segments.push(Segment {
                vaddr: ph.vaddr,
                mem_size: ph.mem_size,
                data,
                executable: ph.flags & PF_X != 0,
            });
        }
        if text_start == u64::MAX || text_end <= text_start {
            return Err(ElfError::NoText {
                offset: phoff as u64,
            });
        }
        if text_end - text_start > MAX_TEXT_SPAN as u64 {
            return Err(ElfError::BadSegment {
                index: 0,
                offset: phoff as u64,
                reason: format!(
                    "executable segments span {:#x}..{:#x}, more than {} MiB",
                    text_start,
                    text_end,
                    MAX_TEXT_SPAN >> 20
                ),
            });
        }
        if !entry.is_multiple_of(4) {
            return Err(ElfError::BadEntry {
                entry,
                reason: "is not 4-byte aligned",
            });
        }

        let mut words = vec![0u32; ((text_end - text_start) / 4) as usize];
        let mut decoded = vec![false; words.len()];
        for seg in segments.iter().filter(|s| s.executable) {
            let base = ((seg.vaddr as u64 - text_start) / 4) as usize;
            for (i, chunk) in seg.data.chunks_exact(4).enumerate() {
                words[base + i] = u32::from_le_bytes(chunk.try_into().expect("4 bytes"));
                decoded[base + i] = true;
            }
        }
        let entry64 = entry as u64;
        if entry64 < text_start
            || entry64 >= text_end
            || !decoded[((entry64 - text_start) / 4) as usize]
        {
            return Err(ElfError::BadEntry {
                entry,
                reason: "is not inside an executable segment",
            });
        }
        let instructions = words
            .iter()
            .zip(&decoded)
            .map(|(&w, &d)| {
                if d {
                    Instruction::decode(w)
                } else {
                    Instruction::decode(0) // gap between executable segments: invalid
                }
            })
            .collect();
        Ok(Program::new(
            entry,
            text_start as u32,
            instructions,
            segments,
        ))
    }
}

fn validate_segment(ph: &ProgramHeader, file_len: usize) -> Result<(), ElfError> {
    let fail = |reason: String| ElfError::BadSegment {
        index: ph.index,
        offset: ph.header_offset,
        reason,
    };
    if ph.file_size > ph.mem_size {
        return Err(fail(format!(
            "p_filesz {:#x} is larger than p_memsz {:#x}",
            ph.file_size, ph.mem_size
        )));
    }
    if ph.file_offset as u64 + ph.file_size as u64 > file_len as u64 {
        return Err(fail(format!(
            "file bytes {:#x}..{:#x} run past the end of the {}-byte file",
            ph.file_offset,
            ph.file_offset as u64 + ph.file_size as u64,
            file_len
        )));
    }
    if ph.mem_size == 0 {
        return Ok(());
    }
    if ph.vaddr < MIN_ADDRESS {
        return Err(fail(format!(
            "p_vaddr {:#x} is below {MIN_ADDRESS:#x} (addresses 0..0x20 are reserved)",
            ph.vaddr
        )));
    }
    if !ph.vaddr.is_multiple_of(4) {
        return Err(fail(format!(
            "p_vaddr {:#x} is not 4-byte aligned",
            ph.vaddr
        )));
    }
    if ph.vaddr as u64 + ph.mem_size as u64 > 1 << 32 {
        return Err(fail(format!(
            "p_vaddr {:#x} + p_memsz {:#x} runs past the 32-bit address space",
            ph.vaddr, ph.mem_size
        )));
    }
    Ok(())
}

/// A segment for [`write_elf`]: load address, initialised bytes, zero-filled
/// size beyond them, and whether it holds code.
pub struct SegmentSpec<'a> {
    pub vaddr: u32,
    pub data: &'a [u8],
    pub zero_fill: u32,
    pub executable: bool,
}

/// Writes a minimal ELF32 RISC-V executable (for tests, fuzz seeds and tools
/// that generate programs): header, program headers, then each segment's bytes
/// at a file offset congruent to its address modulo 4 KiB, as loaders that map
/// pages (qemu-user, Linux) require.
pub fn write_elf(entry: u32, segments: &[SegmentSpec<'_>]) -> Vec<u8> {
    const PAGE: usize = 0x1000;
    let mut out = vec![0u8; EHDR_SIZE + PHDR_SIZE * segments.len()];
    out[0..4].copy_from_slice(b"\x7fELF");
    out[4] = 1; // ELFCLASS32
    out[5] = 1; // little-endian
    out[6] = 1; // EV_CURRENT
    out[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
    out[18..20].copy_from_slice(&EM_RISCV.to_le_bytes());
    out[20..24].copy_from_slice(&1u32.to_le_bytes());
    out[24..28].copy_from_slice(&entry.to_le_bytes());
    out[28..32].copy_from_slice(&(EHDR_SIZE as u32).to_le_bytes());
    out[40..42].copy_from_slice(&(EHDR_SIZE as u16).to_le_bytes());
    out[42..44].copy_from_slice(&(PHDR_SIZE as u16).to_le_bytes());
    out[44..46].copy_from_slice(&(segments.len() as u16).to_le_bytes());
    for (i, seg) in segments.iter().enumerate() {
        let misalign = (seg.vaddr as usize).wrapping_sub(out.len()) % PAGE;
        out.resize(out.len() + misalign, 0);
        let file_offset = out.len() as u32;
        out.extend_from_slice(seg.data);
        let ph = EHDR_SIZE + i * PHDR_SIZE;
        let flags = if seg.executable { PF_X | 4 } else { 4 | 2 }; // R+X or R+W
        for (j, v) in [
            PT_LOAD,
            file_offset,
            seg.vaddr,
            seg.vaddr,
            seg.data.len() as u32,
            seg.data.len() as u32 + seg.zero_fill,
            flags,
            PAGE as u32,
        ]
        .into_iter()
        .enumerate()
        {
            out[ph + 4 * j..ph + 4 * j + 4].copy_from_slice(&v.to_le_bytes());
        }
    }
    out
}
