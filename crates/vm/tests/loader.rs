//! Every ELF loader error, and a bounded fuzz run of the loader and decoder.

mod common;
use cloak_vm::elf::{write_elf, SegmentSpec};
use cloak_vm::{ElfError, ExecConfig, Executor, Instruction, Program};
use common::*;
use proptest::prelude::*;

fn good() -> Vec<u8> {
    elf(&clean_exit(&[]), b"data")
}

fn patch(mut bytes: Vec<u8>, offset: usize, value: &[u8]) -> Vec<u8> {
    bytes[offset..offset + value.len()].copy_from_slice(value);
    bytes
}

fn err(bytes: &[u8]) -> ElfError {
    Program::from_elf(bytes).expect_err("must be rejected")
}

fn assert_field(e: ElfError, name: &str, off: u64) {
    match &e {
        ElfError::BadField { field, offset, .. } => {
            assert_eq!((*field, *offset), (name, off), "{e}")
        }
        other => panic!("expected BadField {name}, got {other}"),
    }
}

#[test]
fn good_elf_loads_and_runs() {
    let p = Program::from_elf(&good()).unwrap();
    assert_eq!(p.entry, TEXT);
    assert_eq!(p.segments.len(), 2);
    Executor::new(&p, vec![], ExecConfig::default())
        .run()
        .unwrap();
}

#[test]
fn header_fields_are_validated() {
    assert!(matches!(
        err(&good()[..40]),
        ElfError::Truncated {
            what: "ELF header",
            ..
        }
    ));
    assert!(matches!(err(&[]), ElfError::Truncated { .. }));
    assert_field(err(&patch(good(), 0, b"\x7fELG")), "e_ident[EI_MAG]", 0);
    assert_field(err(&patch(good(), 4, &[2])), "e_ident[EI_CLASS]", 4);
    assert_field(err(&patch(good(), 5, &[2])), "e_ident[EI_DATA]", 5);
    assert_field(err(&patch(good(), 6, &[0])), "e_ident[EI_VERSION]", 6);
    assert_field(err(&patch(good(), 16, &[3, 0])), "e_type", 16);
    assert_field(err(&patch(good(), 18, &[62, 0])), "e_machine", 18);
    assert_field(err(&patch(good(), 20, &[2, 0, 0, 0])), "e_version", 20);
    assert_field(err(&patch(good(), 36, &[1, 0, 0, 0])), "e_flags", 36); // RVC
    assert_field(err(&patch(good(), 36, &[2, 0, 0, 0])), "e_flags", 36); // single-float ABI
    assert_field(err(&patch(good(), 36, &[8, 0, 0, 0])), "e_flags", 36); // RVE
    assert_field(err(&patch(good(), 42, &[40, 0])), "e_phentsize", 42);
    assert_field(err(&patch(good(), 44, &[0, 0])), "e_phnum", 44);
    assert!(matches!(
        err(&patch(good(), 44, &[0xff, 0xff])),
        ElfError::Truncated {
            what: "program header table",
            ..
        }
    ));
    assert!(matches!(
        err(&patch(good(), 28, &[0xff, 0xff, 0xff, 0])),
        ElfError::Truncated { .. }
    ));
    let e = err(&patch(good(), 18, &[62, 0]));
    assert!(e.to_string().contains("e_machine at offset 0x12"), "{e}");
}

#[test]
fn entry_point_is_validated() {
    let e = err(&patch(good(), 24, &(TEXT + 2).to_le_bytes()));
    assert!(
        matches!(
            e,
            ElfError::BadEntry {
                reason: "is not 4-byte aligned",
                ..
            }
        ),
        "{e}"
    );
    let e = err(&patch(good(), 24, &DATA.to_le_bytes()));
    assert!(
        matches!(
            e,
            ElfError::BadEntry {
                reason: "is not inside an executable segment",
                ..
            }
        ),
        "{e}"
    );
    let e = err(&patch(good(), 24, &0u32.to_le_bytes()));
    assert!(matches!(e, ElfError::BadEntry { .. }), "{e}");
}

fn seg(vaddr: u32, data: &[u8], zero_fill: u32, executable: bool) -> SegmentSpec<'_> {
    SegmentSpec {
        vaddr,
        data,
        zero_fill,
        executable,
    }
}

const CODE: [u8; 8] = [0x13, 0, 0, 0, 0x13, 0, 0, 0];

#[test]
fn segments_are_validated() {
    let reason = |bytes: &[u8]| match err(bytes) {
        ElfError::BadSegment { reason, .. } => reason,
        other => panic!("expected BadSegment, got {other}"),
    };
    assert!(reason(&write_elf(0x10, &[seg(0x10, &CODE, 0, true)])).contains("below 0x20"));
    assert!(
        reason(&write_elf(0x1002, &[seg(0x1002, &CODE, 0, true)])).contains("not 4-byte aligned")
    );
    assert!(reason(&write_elf(
        0x1000,
        &[
            seg(0x1000, &CODE, 0, true),
            seg(0xffff_f000, &[], 0x2000, false)
        ]
    ))
    .contains("32-bit address space"));
    // p_filesz > p_memsz: segment 0's p_memsz is at 52 + 20.
    assert!(reason(&patch(good(), 52 + 20, &[4, 0, 0, 0])).contains("larger than p_memsz"));
    // File bytes past the end: segment 1's p_offset at 52 + 32 + 4.
    let e = err(&patch(good(), 52 + 32 + 4, &0xfff0u32.to_le_bytes()));
    assert!(e.to_string().contains("run past the end"), "{e}");
    assert!(
        e.to_string()
            .contains("segment 1 (program header at offset 0x54)"),
        "{e}"
    );
}

#[test]
fn overlapping_segments_are_rejected() {
    let e = err(&write_elf(
        0x1000,
        &[seg(0x1000, &CODE, 0, true), seg(0x1004, b"abcd", 0, false)],
    ));
    assert_eq!(
        e,
        ElfError::Overlap {
            first: 0,
            second: 1,
            address: 0x1004
        }
    );
    // Overlap through the zero-filled tail.
    let e = err(&write_elf(
        0x1000,
        &[
            seg(0x1000, &CODE, 0, true),
            seg(0x800, b"abcd", 0x800, false),
        ],
    ));
    assert!(matches!(e, ElfError::Overlap { .. }), "{e}");
    // Adjacent segments are fine.
    Program::from_elf(&write_elf(
        0x1000,
        &[seg(0x1000, &CODE, 0, true), seg(0x1008, b"abcd", 0, false)],
    ))
    .unwrap();
}

#[test]
fn executable_segment_is_required() {
    let e = err(&write_elf(0x1000, &[seg(0x1000, &CODE, 0, false)]));
    assert!(matches!(e, ElfError::NoText { .. }), "{e}");
    let e = err(&write_elf(
        0x1000,
        &[
            seg(0x1000, &CODE, 0, true),
            seg(0x2000_0000, &CODE, 0, true),
        ],
    ));
    assert!(e.to_string().contains("MiB"), "{e}");
}

#[test]
fn text_at_the_top_of_memory_loads() {
    let p =
        Program::from_elf(&write_elf(0xffff_fff8, &[seg(0xffff_fff8, &CODE, 0, true)])).unwrap();
    assert_eq!(p.instructions.len(), 2);
}

#[test]
fn sp1_layout_loads() {
    // SP1 v4 layout: read-only header segment at 0x10000, text at 0x200800.
    let mut text = Vec::new();
    for w in clean_exit(&[]) {
        text.extend(w.to_le_bytes());
    }
    let bytes = write_elf(
        0x0020_0800,
        &[
            seg(0x10000, &[0u8; 0x100], 0, false),
            seg(0x0020_0800, &text, 0, true),
        ],
    );
    let p = Program::from_elf(&bytes).unwrap();
    Executor::new(&p, vec![], ExecConfig::default())
        .run()
        .unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    /// Arbitrary bytes never panic the loader.
    #[test]
    fn loader_never_panics_on_random_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = Program::from_elf(&bytes);
    }

    /// Mutations of a valid ELF never panic the loader, and what loads also runs
    /// to an answer or an error without panicking.
    #[test]
    fn loader_and_executor_never_panic_on_mutated_elfs(
        flips in proptest::collection::vec((0usize..400, any::<u8>()), 1..8)
    ) {
        let mut bytes = good();
        for (off, v) in flips {
            let n = bytes.len();
            bytes[off % n] = v;
        }
        if let Ok(p) = Program::from_elf(&bytes) {
            let mut e = Executor::new(&p, vec![vec![1, 2, 3]], ExecConfig { max_cycles: Some(10_000), max_memory_bytes: Some(1 << 24) });
            let _ = e.run();
        }
    }

    /// Every 32-bit word decodes without panicking, and anything that decodes
    /// to a real instruction can be displayed.
    #[test]
    fn decoder_never_panics(word in any::<u32>()) {
        let i = Instruction::decode(word);
        let _ = i.to_string();
    }

    /// Random instruction streams run to an error or a halt, never a panic.
    #[test]
    fn executor_never_panics_on_random_code(words in proptest::collection::vec(any::<u32>(), 1..64)) {
        let p = program(&words, &[0u8; 64]);
        let mut e = Executor::new(&p, vec![], ExecConfig { max_cycles: Some(10_000), max_memory_bytes: Some(1 << 24) });
        let _ = e.run();
        let mut e = Executor::new(&p, vec![], ExecConfig { max_cycles: Some(10_000), max_memory_bytes: Some(1 << 24) });
        let _ = e.trace(64);
    }
}
