//! What the CLI test files share: running `cloak` and reading its output.

use std::path::Path;
use std::process::{Command, Output};

/// Runs `cloak` with `args` from the repository root (where `guests/` is).
#[allow(dead_code)] // attest.rs runs cloak from its own directory
pub fn cloak(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cloak"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."))
        .args(args)
        .output()
        .unwrap()
}

/// stdout then stderr, for assertions and failure messages.
pub fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}
