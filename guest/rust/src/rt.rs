//! Entry point, panic and allocation-error handlers.

use core::fmt::Write;
use core::panic::PanicInfo;

// _start: set up gp and the stack (SP1 v4 layout), then run the program.
core::arch::global_asm!(
    ".pushsection .text._start,\"ax\",@progbits",
    ".globl _start",
    ".type _start, @function",
    "_start:",
    ".option push",
    ".option norelax",
    "    la gp, __global_pointer$",
    ".option pop",
    "    li sp, 0x00200400",
    "    call __cloak_rust_start",
    "1:  j 1b",
    ".size _start, . - _start",
    ".popsection",
);

extern "Rust" {
    // Defined by `entrypoint!`.
    fn __cloak_main();
}

#[doc(hidden)]
#[inline(never)]
pub fn start_marker() {}

#[no_mangle]
unsafe extern "C" fn __cloak_rust_start() -> ! {
    __cloak_main();
    crate::syscalls::halt(0)
}

/// Fixed-size stack buffer for formatting the panic message without the heap.
struct StackBuf {
    buf: [u8; 512],
    len: usize,
}

impl Write for StackBuf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        for &b in s.as_bytes() {
            if self.len == self.buf.len() {
                // Flush when full.
                crate::syscalls::write(crate::syscalls::FD_STDERR, &self.buf[..self.len]);
                self.len = 0;
            }
            self.buf[self.len] = b;
            self.len += 1;
        }
        Ok(())
    }
}

#[panic_handler]
fn panic(info: &PanicInfo) -> ! {
    let mut w = StackBuf {
        buf: [0; 512],
        len: 0,
    };
    let _ = writeln!(w, "{}", info);
    crate::syscalls::write(crate::syscalls::FD_STDERR, &w.buf[..w.len]);
    crate::syscalls::halt(1)
}

#[alloc_error_handler]
fn alloc_error(layout: core::alloc::Layout) -> ! {
    panic!(
        "memory allocation of {} bytes (align {}) failed",
        layout.size(),
        layout.align()
    )
}
