//! `cloak-guest`: `no_std` runtime for programs running on the Cloak zkVM.
//!
//! Cloak runs RV32IM ELF programs with the SP1 v4 guest ABI (see
//! `shared/spec/guest-abi.md`).  This crate provides:
//!
//! * the entry point `_start` (stack at `0x0020_0400`, `gp`), and the
//!   [`entrypoint!`] macro naming the program's `main`;
//! * [`io`]: reading inputs (`HINT_LEN`/`HINT_READ`), bincode-compatible typed
//!   values ([`io::read`]), committing public values ([`io::commit`],
//!   [`io::commit_slice`]), writing to stdout/stderr ([`println!`]);
//! * [`syscalls`]: raw system calls and the precompiles (`SHA_EXTEND`,
//!   `SHA_COMPRESS`, `KECCAK_PERMUTE`);
//! * [`sha256`] (software or precompile backed) and [`keccak`] (precompile);
//! * a global bump allocator ([`heap`]) and a panic handler that writes the
//!   message to fd 2 and halts with exit code 1.
//!
//! When `main` returns the runtime commits the public-values digest (SHA-256 of
//! every byte written to fd 3, as 8 little-endian words through `COMMIT`), 8
//! `COMMIT_DEFERRED_PROOFS` words of 0, and halts with exit code 0.
//!
//! ```ignore
//! #![no_std]
//! #![no_main]
//! cloak_guest::entrypoint!(main);
//! fn main() {
//!     let n: u32 = cloak_guest::io::read();
//!     cloak_guest::io::commit(&(n * 2));
//! }
//! ```
//!
//! Host builds (any target other than `riscv32`) compile the portable parts
//! only (`bincode`, software SHA-256), so `cargo test` runs on the host; the
//! system calls panic there.
#![cfg_attr(not(test), no_std)]
#![cfg_attr(target_os = "none", feature(alloc_error_handler))]

extern crate alloc;

pub mod bincode;
#[cfg(target_arch = "riscv32")]
pub mod heap;
pub mod io;
pub mod keccak;
pub mod sha256;
pub mod syscalls;

#[cfg(target_arch = "riscv32")]
mod rt;

#[doc(hidden)]
pub mod __private {
    #[cfg(target_arch = "riscv32")]
    pub use crate::rt::start_marker;
    #[cfg(not(target_arch = "riscv32"))]
    pub fn start_marker() {}
}

/// Declares the guest's main function: `cloak_guest::entrypoint!(main);`
/// where `fn main()`.  When it returns, the program commits the public-values
/// digest and halts with exit code 0.
#[macro_export]
macro_rules! entrypoint {
    ($path:path) => {
        const _: () = {
            #[no_mangle]
            fn __cloak_main() {
                // Keep the runtime (and its `_start`) linked in.
                $crate::__private::start_marker();
                let f: fn() = $path;
                f()
            }
        };
    };
}
