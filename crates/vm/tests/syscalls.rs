//! Every syscall of the guest ABI, its results and its errors.

mod common;
use cloak_vm::syscall::*;
use cloak_vm::ExecError;
use common::*;
use sha2::{Digest, Sha256};

fn write_bytes(addr: u32, bytes: &[u8]) -> Vec<u32> {
    // Stores `bytes` at addr with sb, via s2.
    let mut code = li(18, addr);
    for (i, &b) in bytes.iter().enumerate() {
        code.push(addi(19, 0, b as i32));
        code.push(store("sb", 19, 18, i as i32));
    }
    code
}

fn write_syscall(fd: u32, ptr: u32, len: u32) -> Vec<u32> {
    let mut code = li(12, len);
    code.extend(syscall(WRITE, fd, ptr));
    code
}

#[test]
fn halt_reports_the_exit_code_and_stops() {
    let mut code = syscall(HALT, 42, 0);
    code.push(0xffff_ffff); // never reached
    let (r, _) = run_with(&code, &[], vec![]);
    let out = r.unwrap();
    assert_eq!(out.exit_code, 42);
    assert_eq!(out.cycles, 7);
}

#[test]
fn write_routes_each_fd() {
    let mut code = write_bytes(DATA, b"hi!");
    code.extend(write_syscall(1, DATA, 3));
    code.extend(write_syscall(2, DATA + 1, 2));
    code.extend(write_syscall(3, DATA, 3));
    code.extend(write_syscall(3, DATA + 2, 1));
    code.extend(write_syscall(4, DATA, 2));
    code.extend(write_syscall(1, DATA, 0));
    code.extend(clean_exit(b"hi!!"));
    let (r, _) = run_with(&code, &[], vec![]);
    let out = r.unwrap();
    assert_eq!(out.stdout, b"hi!");
    assert_eq!(out.stderr, b"i!");
    assert_eq!(out.public_values, b"hi!!");
    assert_eq!(out.hint_output, vec![b"hi".to_vec()]);
    assert_eq!(
        out.public_values_digest(),
        <[u8; 32]>::from(Sha256::digest(b"hi!!"))
    );
}

#[test]
fn write_rejects_bad_fds_and_buffers() {
    for (fd, ptr, len, needle) in [
        (0, DATA, 1, "file descriptor 0"),
        (5, DATA, 1, "file descriptor 5"),
        (1, 0x10, 4, "outside guest memory"),
        (1, 0xffff_fff0, 0x20, "outside guest memory"),
        (1, DATA, 1 << 27, "limit"),
    ] {
        let code = write_syscall(fd, ptr, len);
        let err = run_with(&code, &[], vec![]).0.unwrap_err();
        assert!(
            matches!(err, ExecError::SyscallFailed { code: WRITE, .. }),
            "{err}"
        );
        assert!(err.to_string().contains(needle), "{err}");
        assert!(
            err.to_string().contains("WRITE (0x00000002) at pc"),
            "{err}"
        );
    }
}

#[test]
fn commit_digest_is_checked_at_halt() {
    // Public values written but the wrong digest committed.
    let mut code = write_bytes(DATA, b"x");
    code.extend(write_syscall(3, DATA, 1));
    code.extend(clean_exit(b"y"));
    let err = run_with(&code, &[], vec![]).0.unwrap_err();
    assert!(
        matches!(err, ExecError::DigestMismatch { index: 0, .. }),
        "{err}"
    );
    // No COMMIT at all.
    let err = run_with(&syscall(HALT, 0, 0), &[], vec![]).0.unwrap_err();
    assert!(err.to_string().contains("never set"), "{err}");
    // One word missing.
    let mut code = clean_exit(&[]);
    code.drain(7 * 7..7 * 7 + 7); // each syscall() is 7 words: drop the COMMIT of word 7
    let err = run_with(&code, &[], vec![]).0.unwrap_err();
    assert!(
        matches!(err, ExecError::DigestMismatch { index: 7, .. }),
        "{err}"
    );
    // A non-zero exit (a panic) needs no digest.
    let out = run_with(&syscall(HALT, 1, 0), &[], vec![]).0.unwrap();
    assert_eq!(out.exit_code, 1);
}

#[test]
fn commit_word_index_must_be_in_range() {
    let err = run_with(&syscall(COMMIT, 8, 0), &[], vec![]).0.unwrap_err();
    assert!(err.to_string().contains("word index a0 = 8"), "{err}");
    let err = run_with(&syscall(COMMIT_DEFERRED_PROOFS, 9, 0), &[], vec![])
        .0
        .unwrap_err();
    assert!(err.to_string().contains("word index a0 = 9"), "{err}");
}

#[test]
fn deferred_proofs_must_be_zero() {
    let mut code = Vec::new();
    for i in 0..8 {
        code.extend(syscall(COMMIT_DEFERRED_PROOFS, i, 0));
    }
    code.extend(clean_exit(&[]));
    run_with(&code, &[], vec![]).0.unwrap();
    let err = run_with(&syscall(COMMIT_DEFERRED_PROOFS, 0, 1), &[], vec![])
        .0
        .unwrap_err();
    assert!(
        matches!(
            err,
            ExecError::UnsupportedSyscall {
                code: COMMIT_DEFERRED_PROOFS,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn hints_are_read_in_order() {
    let mut code = syscall(HINT_LEN, 0, 0);
    code.push(addi(20, 5, 0)); // s4 = len of first buffer
    code.extend(syscall(HINT_READ, DATA, 5));
    code.extend(syscall(HINT_LEN, 0, 0));
    code.push(addi(21, 5, 0)); // s5 = len of second
    code.extend(syscall(HINT_READ, DATA + 8, 0));
    code.extend(li(18, DATA));
    code.push(load("lw", 22, 18, 0));
    code.push(load("lw", 23, 18, 4));
    code.extend(clean_exit(&[]));
    let data = [0xeeu8; 16];
    let (r, regs) = run_with(&code, &data, vec![b"abcde".to_vec(), vec![]]);
    r.unwrap();
    assert_eq!((regs[20], regs[21]), (5, 0));
    assert_eq!(regs[22], u32::from_le_bytes(*b"abcd"));
    // The last partial word is zero-padded, as SP1 does.
    assert_eq!(regs[23], u32::from(b'e'));
}

#[test]
fn hint_errors_are_clear() {
    let err = run_with(&syscall(HINT_LEN, 0, 0), &[], vec![])
        .0
        .unwrap_err();
    assert!(err.to_string().contains("no input buffer left"), "{err}");
    let err = run_with(&syscall(HINT_READ, DATA, 4), &[], vec![])
        .0
        .unwrap_err();
    assert!(err.to_string().contains("no input buffer left"), "{err}");
    let err = run_with(&syscall(HINT_READ, DATA, 3), &[], vec![vec![1, 2]])
        .0
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("a1 = 3 but the next input buffer is 2 bytes"),
        "{err}"
    );
    let err = run_with(&syscall(HINT_READ, DATA + 2, 2), &[], vec![vec![1, 2]])
        .0
        .unwrap_err();
    assert!(err.to_string().contains("not 4-byte aligned"), "{err}");
    let err = run_with(&syscall(HINT_READ, 0x8, 2), &[], vec![vec![1, 2]])
        .0
        .unwrap_err();
    assert!(err.to_string().contains("outside guest memory"), "{err}");
}

fn words_at(data: &[u32]) -> Vec<u8> {
    data.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[test]
fn sha_extend_and_compress_match_sha256() {
    // One padded block of "abc", big-endian words as the ABI's w[] holds them.
    let mut block = [0u8; 64];
    block[..3].copy_from_slice(b"abc");
    block[3] = 0x80;
    block[63] = 24;
    let mut w = [0u32; 64];
    for (i, c) in block.chunks(4).enumerate() {
        w[i] = u32::from_be_bytes(c.try_into().unwrap());
    }
    let h0: [u32; 8] = [
        0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab,
        0x5be0cd19,
    ];
    let mut data = words_at(&w);
    data.extend(words_at(&h0));
    let h_ptr = DATA + 256;
    let mut code = syscall(SHA_EXTEND, DATA, 0);
    code.extend(syscall(SHA_COMPRESS, DATA, h_ptr));
    code.extend(li(18, h_ptr));
    for i in 0..8 {
        code.push(load(
            "lw",
            6 + [0, 1, 22, 23, 24, 25, 2, 3][i],
            18,
            4 * i as i32,
        ));
    }
    code.extend(clean_exit(&[]));
    let (r, regs) = run_with(&code, &data, vec![]);
    r.unwrap();
    let got: Vec<u8> = (0..8)
        .flat_map(|i| regs[6 + [0, 1, 22, 23, 24, 25, 2, 3][i] as usize].to_be_bytes())
        .collect();
    assert_eq!(got, Sha256::digest(b"abc").to_vec());
}

#[test]
fn keccak_permute_matches_tiny_keccak() {
    let mut lanes = [0u64; 25];
    for (i, l) in lanes.iter_mut().enumerate() {
        *l = (i as u64 + 1).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
    let data: Vec<u8> = lanes.iter().flat_map(|l| l.to_le_bytes()).collect();
    let mut code = syscall(KECCAK_PERMUTE, DATA, 0);
    code.extend(clean_exit(&[]));
    let p = program(&code, &data);
    let mut e = cloak_vm::Executor::new(&p, vec![], Default::default());
    e.run().unwrap();
    tiny_keccak::keccakf(&mut lanes);
    for (i, lane) in lanes.iter().enumerate() {
        let got = e.read_word(DATA + 8 * i as u32) as u64
            | (e.read_word(DATA + 8 * i as u32 + 4) as u64) << 32;
        assert_eq!(got, *lane, "lane {i}");
    }
}

#[test]
fn precompile_pointers_are_validated() {
    for (code, a0, a1, needle) in [
        (SHA_EXTEND, DATA + 2, 0, "not 4-byte aligned"),
        (SHA_EXTEND, 0, 0, "outside guest memory"),
        (SHA_EXTEND, 0xffff_ff04, 0, "outside guest memory"),
        (SHA_COMPRESS, DATA, DATA + 64, "overlap"),
        (SHA_COMPRESS, DATA, 0x4, "outside guest memory"),
        (KECCAK_PERMUTE, DATA + 1, 0, "not 4-byte aligned"),
        (KECCAK_PERMUTE, 0xffff_ff40, 0, "outside guest memory"),
    ] {
        let err = run_with(&syscall(code, a0, a1), &[], vec![]).0.unwrap_err();
        assert!(err.to_string().contains(needle), "{code:#x}: {err}");
    }
}

#[test]
fn unknown_and_unsupported_codes_name_code_and_pc() {
    let err = run_with(&syscall(0x1234, 0, 0), &[], vec![]).0.unwrap_err();
    assert_eq!(
        err,
        ExecError::UnknownSyscall {
            pc: TEXT + 24,
            code: 0x1234
        }
    );
    assert!(err.to_string().contains("0x00001234") && err.to_string().contains("0x00001018"));
    for code in [
        ENTER_UNCONSTRAINED,
        EXIT_UNCONSTRAINED,
        0x0001_010A,
        0x0001_011D,
    ] {
        let err = run_with(&syscall(code, 0, 0), &[], vec![]).0.unwrap_err();
        assert!(
            matches!(err, ExecError::UnsupportedSyscall { code: c, .. } if c == code),
            "{err}"
        );
    }
}

#[test]
fn syscall_results_land_in_t0_only() {
    let mut code = li(6, 77);
    code.extend(syscall(HINT_LEN, 0, 0));
    code.push(addi(18, 5, 0));
    code.extend(syscall(COMMIT, 0, 0)); // no result: t0 keeps the code
    code.push(addi(19, 5, 0));
    code.push(addi(20, 10, 0));
    let mut all = code;
    all.extend(clean_exit(&[]));
    let (r, regs) = run_with(&all, &[], vec![vec![0; 9]]);
    r.unwrap();
    assert_eq!((regs[18], regs[19], regs[6]), (9, COMMIT, 77));
}
