//! A loaded program: the decoded instruction table and the initial memory image.

use crate::instruction::Instruction;
use sha2::{Digest, Sha256};

/// One loadable segment as the ELF describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u32,
    pub mem_size: u32,
    /// Initialised bytes; the rest of `mem_size` is zero.
    pub data: Vec<u8>,
    pub executable: bool,
}

/// A program ready to run. Instructions are fetched only from the decoded
/// program table (the prover's preprocessed program table), never from data
/// memory, so writes to text cannot change what executes.
#[derive(Clone, Debug)]
pub struct Program {
    pub entry: u32,
    /// Address of `instructions[0]`.
    pub text_base: u32,
    pub instructions: Vec<Instruction>,
    pub segments: Vec<Segment>,
}

impl Program {
    pub(crate) fn new(
        entry: u32,
        text_base: u32,
        instructions: Vec<Instruction>,
        segments: Vec<Segment>,
    ) -> Program {
        Program {
            entry,
            text_base,
            instructions,
            segments,
        }
    }

    /// The instruction at `pc`, if `pc` is a 4-aligned address inside the table.
    #[inline(always)]
    pub fn fetch(&self, pc: u32) -> Option<&Instruction> {
        // A misaligned offset rotates its low bits to the top, out of range.
        let index = pc.wrapping_sub(self.text_base).rotate_right(2);
        self.instructions.get(index as usize)
    }

    /// Non-zero initial memory words `(address, value)` in address order: the
    /// image the memory argument starts from. Zero words are implicit.
    pub fn image_words(&self) -> impl Iterator<Item = (u32, u32)> + '_ {
        self.segments.iter().flat_map(|seg| {
            seg.data
                .chunks(4)
                .enumerate()
                .filter_map(move |(i, chunk)| {
                    let mut word = [0u8; 4];
                    word[..chunk.len()].copy_from_slice(chunk);
                    let value = u32::from_le_bytes(word);
                    (value != 0).then_some((seg.vaddr + 4 * i as u32, value))
                })
        })
    }

    /// SHA-256 over the entry point, the program table and the initial image: it
    /// identifies the program for caching and display. (The verifying key the
    /// prover derives commits to the same data.)
    pub fn digest(&self) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(b"cloak-program-v1");
        h.update(self.entry.to_le_bytes());
        h.update(self.text_base.to_le_bytes());
        h.update((self.instructions.len() as u64).to_le_bytes());
        for (addr, value) in self.image_words() {
            h.update(addr.to_le_bytes());
            h.update(value.to_le_bytes());
        }
        h.finalize().into()
    }
}
