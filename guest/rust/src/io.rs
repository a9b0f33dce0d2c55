//! Input, public values and console output.

use crate::bincode::{Decode, Encode};
use crate::sha256::Sha256;
use crate::syscalls;
use alloc::vec::Vec;
use core::cell::UnsafeCell;
use core::fmt;

struct Hasher(UnsafeCell<Sha256>);
// Guests are single-threaded.
unsafe impl Sync for Hasher {}

/// Running SHA-256 (software) of every byte written to the public values.
static PUBLIC_VALUES_HASHER: Hasher = Hasher(UnsafeCell::new(Sha256::new()));

/// Reads the next input buffer (`HINT_LEN` + `HINT_READ`) as raw bytes.
pub fn read_vec() -> Vec<u8> {
    let len = syscalls::hint_len();
    // The allocator aligns every block to 4 bytes, as HINT_READ requires;
    // round the capacity up to whole words (at least one, so that even an
    // empty buffer gets a real, aligned heap address).
    let mut v: Vec<u8> = Vec::with_capacity(core::cmp::max((len + 3) & !3, 4));
    unsafe {
        syscalls::syscall_hint_read(v.as_mut_ptr(), len);
        v.set_len(len);
    }
    v
}

/// Reads the next input buffer and decodes it as a bincode value of type `T`
/// (as written by SP1's `SP1Stdin::write`).  Panics on malformed input.
pub fn read<T: Decode>() -> T {
    let buf = read_vec();
    match crate::bincode::from_bytes(&buf) {
        Ok(v) => v,
        Err(e) => panic!(
            "cloak_guest::io::read::<{}>: {}",
            core::any::type_name::<T>(),
            e
        ),
    }
}

/// Appends raw bytes to the public values (fd 3) and to their digest.
pub fn commit_slice(buf: &[u8]) {
    syscalls::write(syscalls::FD_PUBLIC_VALUES, buf);
    unsafe { (*PUBLIC_VALUES_HASHER.0.get()).update(buf) }
}

/// Appends the bincode encoding of `value` to the public values (like
/// `sp1_zkvm::io::commit`): e.g. a `u32` is 4 little-endian bytes, a
/// `Vec<u8>` an 8-byte length followed by the bytes.
pub fn commit<T: Encode + ?Sized>(value: &T) {
    let v = crate::bincode::to_vec(value);
    commit_slice(&v);
}

/// SHA-256 of the public values committed so far.
pub fn public_values_digest() -> [u8; 32] {
    unsafe { (*PUBLIC_VALUES_HASHER.0.get()).clone().finalize() }
}

/// Writes bytes to a file descriptor (1 stdout, 2 stderr, 4 hint output).
/// Use [`commit_slice`] for the public values (fd 3).
pub fn write(fd: u32, bytes: &[u8]) {
    if fd == syscalls::FD_PUBLIC_VALUES {
        commit_slice(bytes)
    } else {
        syscalls::write(fd, bytes)
    }
}

/// Writes bytes to the hint output (fd 4), like `sp1_zkvm::io::hint_slice`.
pub fn hint_slice(bytes: &[u8]) {
    syscalls::write(syscalls::FD_HINT, bytes)
}

/// Line-buffered writer over a file descriptor (used by `print!`).
pub struct FdWriter {
    fd: u32,
    buf: [u8; 256],
    len: usize,
}

impl FdWriter {
    pub const fn new(fd: u32) -> Self {
        FdWriter {
            fd,
            buf: [0; 256],
            len: 0,
        }
    }

    pub fn flush(&mut self) {
        if self.len > 0 {
            syscalls::write(self.fd, &self.buf[..self.len]);
            self.len = 0;
        }
    }
}

impl fmt::Write for FdWriter {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let b = s.as_bytes();
        if b.len() > self.buf.len() - self.len {
            self.flush();
            if b.len() >= self.buf.len() {
                syscalls::write(self.fd, b);
                return Ok(());
            }
        }
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
        Ok(())
    }
}

impl Drop for FdWriter {
    fn drop(&mut self) {
        self.flush()
    }
}

#[doc(hidden)]
pub fn _print(fd: u32, args: fmt::Arguments<'_>) {
    let mut w = FdWriter::new(fd);
    let _ = fmt::Write::write_fmt(&mut w, args);
}

/// `print!` to stdout (fd 1).
#[macro_export]
macro_rules! print {
    ($($arg:tt)*) => { $crate::io::_print(1, format_args!($($arg)*)) };
}

/// `println!` to stdout (fd 1).
#[macro_export]
macro_rules! println {
    () => { $crate::io::_print(1, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::io::_print(1, format_args!("{}\n", format_args!($($arg)*))) };
}

/// `eprint!` to stderr (fd 2).
#[macro_export]
macro_rules! eprint {
    ($($arg:tt)*) => { $crate::io::_print(2, format_args!($($arg)*)) };
}

/// `eprintln!` to stderr (fd 2).
#[macro_export]
macro_rules! eprintln {
    () => { $crate::io::_print(2, format_args!("\n")) };
    ($($arg:tt)*) => { $crate::io::_print(2, format_args!("{}\n", format_args!($($arg)*))) };
}
