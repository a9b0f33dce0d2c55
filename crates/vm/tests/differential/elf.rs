//! Minimal ELF32 writer: RISC-V, little-endian, ET_EXEC, PT_LOAD segments only.

pub const PF_X: u32 = 1;
pub const PF_W: u32 = 2;
pub const PF_R: u32 = 4;

const PAGE: usize = 0x1000;
const EHSIZE: usize = 52;
const PHENTSIZE: usize = 32;
const EM_RISCV: u16 = 243;

pub struct Segment<'a> {
    /// Page aligned.
    pub vaddr: u32,
    pub flags: u32,
    /// File contents (p_filesz = data.len()).
    pub data: &'a [u8],
    /// p_memsz >= data.len(); the rest is zero-filled by the loader.
    pub memsz: u32,
}

pub fn write_elf(entry: u32, segs: &[Segment]) -> Vec<u8> {
    let mut out = Vec::new();
    let put16 = |o: &mut Vec<u8>, v: u16| o.extend_from_slice(&v.to_le_bytes());
    let put32 = |o: &mut Vec<u8>, v: u32| o.extend_from_slice(&v.to_le_bytes());

    // e_ident
    out.extend_from_slice(&[0x7f, b'E', b'L', b'F', 1, 1, 1, 0]);
    out.extend_from_slice(&[0; 8]);
    put16(&mut out, 2); // e_type = ET_EXEC
    put16(&mut out, EM_RISCV);
    put32(&mut out, 1); // e_version
    put32(&mut out, entry);
    put32(&mut out, EHSIZE as u32); // e_phoff
    put32(&mut out, 0); // e_shoff
    put32(&mut out, 0); // e_flags: soft-float ABI, no RVC
    put16(&mut out, EHSIZE as u16);
    put16(&mut out, PHENTSIZE as u16);
    put16(&mut out, segs.len() as u16);
    put16(&mut out, 40); // e_shentsize
    put16(&mut out, 0); // e_shnum
    put16(&mut out, 0); // e_shstrndx
    assert_eq!(out.len(), EHSIZE);

    // File offsets: each segment on its own page, congruent to its vaddr.
    let mut offsets = Vec::new();
    let mut off = (EHSIZE + PHENTSIZE * segs.len() + PAGE - 1) & !(PAGE - 1);
    for s in segs {
        assert_eq!(
            s.vaddr as usize % PAGE,
            0,
            "segment vaddr must be page aligned"
        );
        assert!(s.memsz as usize >= s.data.len());
        offsets.push(off);
        off = (off + s.data.len() + PAGE - 1) & !(PAGE - 1);
    }
    for (s, &o) in segs.iter().zip(&offsets) {
        put32(&mut out, 1); // PT_LOAD
        put32(&mut out, o as u32);
        put32(&mut out, s.vaddr);
        put32(&mut out, s.vaddr); // p_paddr
        put32(&mut out, s.data.len() as u32);
        put32(&mut out, s.memsz);
        put32(&mut out, s.flags);
        put32(&mut out, PAGE as u32);
    }
    for (s, &o) in segs.iter().zip(&offsets) {
        out.resize(o, 0);
        out.extend_from_slice(s.data);
    }
    out
}
