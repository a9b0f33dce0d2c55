//! Raw system calls (guest-abi.md): code in `t0`, arguments in `a0`, `a1`,
//! `a2`, result in `t0`.
//!
//! The `syscall_*` functions have the names and C ABI of SP1 v4's
//! `sp1-zkvm` syscalls, so code written against those symbols links here.

/// `ecall` with `code` in t0 and the arguments in a0, a1, a2; returns t0.
///
/// # Safety
/// The system call may read or write guest memory named by the arguments.
#[cfg(target_arch = "riscv32")]
#[inline(always)]
pub unsafe fn ecall(code: u32, a0: u32, a1: u32, a2: u32) -> u32 {
    let t0: u32;
    core::arch::asm!("ecall", inlateout("t0") code => t0, in("a0") a0, in("a1") a1, in("a2") a2,
                     options(nostack));
    t0
}

/// Host stand-in (for unit tests of the portable parts): panics.
///
/// # Safety
/// Always safe; never returns.
#[cfg(not(target_arch = "riscv32"))]
pub unsafe fn ecall(code: u32, _a0: u32, _a1: u32, _a2: u32) -> u32 {
    panic!(
        "Cloak system call {:#x} is only available on riscv32 (the zkVM)",
        code
    )
}

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

pub const FD_STDOUT: u32 = 1;
pub const FD_STDERR: u32 = 2;
/// Public values.
pub const FD_PUBLIC_VALUES: u32 = 3;
/// Host-side hint output.
pub const FD_HINT: u32 = 4;

/// Start of the code (SP1 v4 layout).
pub const TEXT_START: usize = 0x0020_0800;
/// Initial stack pointer (the stack grows down from here).
pub const STACK_TOP: usize = 0x0020_0400;
/// No guest address at or above this one.
pub const MEMORY_LIMIT: usize = 0x7800_0000;

/// `HALT` with `code` and nothing else; prefer [`halt`], which commits the
/// public-values digest first as the VM expects.
#[inline(always)]
pub fn sys_halt(code: u32) -> ! {
    unsafe {
        ecall(HALT, code, 0, 0);
    }
    // HALT does not return.
    #[allow(clippy::empty_loop)]
    loop {}
}

/// Exit sequence (like SP1 v4 `syscall_halt`): 8 `COMMIT` words of the
/// SHA-256 digest of the public values (word i = bytes 4i..4i+4, little
/// endian), 8 `COMMIT_DEFERRED_PROOFS` words of 0, then `HALT(code)`.
pub fn halt(code: u32) -> ! {
    let digest = crate::io::public_values_digest();
    for i in 0..8u32 {
        let j = 4 * i as usize;
        let word = u32::from_le_bytes([digest[j], digest[j + 1], digest[j + 2], digest[j + 3]]);
        unsafe {
            ecall(COMMIT, i, word, 0);
        }
    }
    for i in 0..8u32 {
        unsafe {
            ecall(COMMIT_DEFERRED_PROOFS, i, 0, 0);
        }
    }
    sys_halt(code)
}

/// `WRITE` `bytes` to `fd` (1 stdout, 2 stderr, 3 public values, 4 hints).
/// Writing to fd 3 directly bypasses the public-values digest: use
/// [`crate::io::commit_slice`] instead.
#[inline]
pub fn write(fd: u32, bytes: &[u8]) {
    unsafe { syscall_write(fd, bytes.as_ptr(), bytes.len()) }
}

/// Length of the next input buffer.
#[inline]
pub fn hint_len() -> usize {
    syscall_hint_len()
}

/// Safe `SHA_EXTEND`: fills `w[16..64]` from `w[0..16]`.
#[inline]
pub fn sha256_extend(w: &mut [u32; 64]) {
    unsafe { syscall_sha256_extend(w) }
}

/// Safe `SHA_COMPRESS`: one compression of the schedule `w` into `state`.
#[inline]
pub fn sha256_compress(w: &mut [u32; 64], state: &mut [u32; 8]) {
    unsafe { syscall_sha256_compress(w, state) }
}

/// Safe `KECCAK_PERMUTE`: Keccak-f[1600] on 25 lanes in place.
#[inline]
pub fn keccak_permute(state: &mut [u64; 25]) {
    unsafe { syscall_keccak_permute(state) }
}

/// Halts (with the commit sequence), SP1 v4 name.
#[no_mangle]
pub extern "C" fn syscall_halt(exit_code: u8) -> ! {
    halt(exit_code as u32)
}

/// `WRITE`: SP1 v4 name and signature.
///
/// # Safety
/// `ptr..ptr+len` must be readable.
#[no_mangle]
pub unsafe extern "C" fn syscall_write(fd: u32, ptr: *const u8, len: usize) {
    ecall(WRITE, fd, ptr as u32, len as u32);
}

/// `HINT_LEN`: SP1 v4 name.
#[no_mangle]
pub extern "C" fn syscall_hint_len() -> usize {
    unsafe { ecall(HINT_LEN, 0, 0, 0) as usize }
}

/// `HINT_READ`: SP1 v4 name and signature.
///
/// # Safety
/// `ptr` must be 4-byte aligned and `ptr..ptr+len` writable; `len` must equal
/// the length of the next input buffer.
#[no_mangle]
pub unsafe extern "C" fn syscall_hint_read(ptr: *mut u8, len: usize) {
    ecall(HINT_READ, ptr as u32, len as u32, 0);
}

/// `SHA_EXTEND`: SP1 v4 name and signature.
///
/// # Safety
/// `w` must point to 64 writable, aligned `u32`.
#[no_mangle]
pub unsafe extern "C" fn syscall_sha256_extend(w: *mut [u32; 64]) {
    ecall(SHA_EXTEND, w as u32, 0, 0);
}

/// `SHA_COMPRESS`: SP1 v4 name and signature.
///
/// # Safety
/// `w` must point to 64 aligned `u32`, `state` to 8 writable aligned `u32`.
#[no_mangle]
pub unsafe extern "C" fn syscall_sha256_compress(w: *mut [u32; 64], state: *mut [u32; 8]) {
    ecall(SHA_COMPRESS, w as u32, state as u32, 0);
}

/// `KECCAK_PERMUTE`: SP1 v4 name and signature.
///
/// # Safety
/// `state` must point to 25 writable, aligned `u64`.
#[no_mangle]
pub unsafe extern "C" fn syscall_keccak_permute(state: *mut [u64; 25]) {
    ecall(KECCAK_PERMUTE, state as u32, 0, 0);
}

/// `ENTER_UNCONSTRAINED`: SP1 v4 name.  Cloak may reject it (see the ABI).
#[no_mangle]
pub extern "C" fn syscall_enter_unconstrained() -> bool {
    unsafe { ecall(ENTER_UNCONSTRAINED, 0, 0, 0) != 0 }
}

/// `EXIT_UNCONSTRAINED`: SP1 v4 name.
#[no_mangle]
pub extern "C" fn syscall_exit_unconstrained() {
    unsafe {
        ecall(EXIT_UNCONSTRAINED, 0, 0, 0);
    }
}
