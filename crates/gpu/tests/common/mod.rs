//! Shared by the host-emulation tests: building the real kernel sources as
//! C++ on a machine without CUDA.

use std::path::Path;
use std::process::Command;

/// Compiles the C++ file `cpp` into the executable `bin` with the host
/// compiler, panicking with its diagnostics (naming `what`) if it fails.
pub fn compile_cpp(cpp: &Path, bin: &Path, what: &str) {
    let out = Command::new("c++")
        .args(["-O1", "-std=c++17", "-pthread", "-w", "-o"])
        .arg(bin)
        .arg(cpp)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{what} did not compile:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
