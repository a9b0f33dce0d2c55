#!/usr/bin/env bash
# Cloak's test command (README.md; .ci/run runs exactly this).
# Installs the Debian packages the tests use, then runs every test, clippy and
# the format check. GPU tests skip with a printed reason on machines without one.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's rustc/cargo 1.63 (for guests) must not shadow the rustup toolchain.
[ -d "$HOME/.cargo/bin" ] && export PATH="$HOME/.cargo/bin:$PATH"

# qemu-user: the differential test's reference RISC-V implementation.
# The rest: guests/build.sh, which the suite runs to check that the committed
# guest ELFs rebuild byte for byte.
packages=(qemu-user clang lld llvm rustc cargo rust-src librust-compiler-builtins-dev
          librust-serde-dev librust-serde-json-dev librust-sha2-dev librust-tiny-keccak-dev)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    echo "installing Debian packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cargo fmt --all -- --check
cargo clippy --workspace --all-targets -q -- -D warnings
cargo test --workspace
