#!/usr/bin/env bash
# Rebuild every Cloak guest ELF, byte for byte reproducibly, with Debian
# bookworm packages only.
#
#   guests/build.sh [OUT_DIR]        (default OUT_DIR: guests/bin)
#
# Produces OUT_DIR/<name>.elf for
#   C    (guests/c/<name>.c):       clang 14 + ld.lld 14, guest/include/cloak.h
#   Rust (guests/rust/<member>/):   Debian rustc 1.63 + cargo 0.66, offline,
#                                   crates from /usr/share/cargo/registry,
#                                   core/alloc/compiler_builtins built here from
#                                   rust-src + librust-compiler-builtins-dev
# all linked with guest/link.ld (text at 0x0020_0800).
#
# Intermediates go to $CLOAK_GUEST_BUILD_DIR (default guests/build, ignored by
# git; reused between runs).  The output does not depend on the checkout's
# location, on OUT_DIR or on the build directory: e.g.
#   guests/build.sh /tmp/a
#   CLOAK_GUEST_BUILD_DIR=/tmp/fresh guests/build.sh /tmp/b
#   for f in guests/bin/*.elf; do cmp "$f" "/tmp/b/$(basename "$f")"; done
# It does depend on the exact Debian package versions (see guests/README.md).
#
# Run as root, missing packages are installed with apt-get.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
OUT="${1:-$REPO/guests/bin}"
BUILD="${CLOAK_GUEST_BUILD_DIR:-$REPO/guests/build}"
TARGET=riscv32im-unknown-none-elf
RUSTC=/usr/bin/rustc
CARGO=/usr/bin/cargo

log() { printf '[guests/build.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# --------------------------------------------------------------------------
# Packages
# --------------------------------------------------------------------------
PKGS=(clang lld llvm rustc cargo rust-src librust-compiler-builtins-dev
      librust-serde-dev librust-serde-json-dev librust-sha2-dev
      librust-tiny-keccak-dev)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" \
        || missing+=("$p")
done
if ((${#missing[@]})); then
    if [ "$(id -u)" = 0 ]; then
        log "installing: ${missing[*]}"
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
    else
        die "missing Debian packages: ${missing[*]} (run as root or apt-get install them)"
    fi
fi

# --------------------------------------------------------------------------
# Environment: nothing from the caller may change the output.
# --------------------------------------------------------------------------
for v in $(env | sed -n 's/^\(CARGO_[A-Za-z0-9_]*\)=.*/\1/p'); do unset "$v"; done
unset RUSTFLAGS RUSTDOCFLAGS RUSTC_WRAPPER RUSTC_WORKSPACE_WRAPPER RUSTUP_TOOLCHAIN \
      CFLAGS CPPFLAGS LDFLAGS C_INCLUDE_PATH CPATH LIBRARY_PATH
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export LC_ALL=C TZ=UTC SOURCE_DATE_EPOCH=0
export RUSTC_BOOTSTRAP=1   # core/alloc, alloc_error_handler on rustc 1.63
umask 022

rustc_version="$("$RUSTC" --version)"
case "$rustc_version" in
    "rustc 1.63.0"*) ;;
    *) log "warning: expected Debian rustc 1.63.0, found '$rustc_version'; output will differ" ;;
esac

mkdir -p "$BUILD" "$OUT"
BUILD="$(cd "$BUILD" && pwd -P)"
OUT="$(cd "$OUT" && pwd -P)"

# --------------------------------------------------------------------------
# Sysroot: core, compiler_builtins (feature "mem"), alloc for $TARGET.
# --------------------------------------------------------------------------
RUST_LIB_SRC="$("$RUSTC" --print sysroot)/lib/rustlib/src/rust/library"
[ -f "$RUST_LIB_SRC/core/src/lib.rs" ] || die "rust-src not found at $RUST_LIB_SRC"
CB_SRC="$(ls -d /usr/share/cargo/registry/compiler_builtins-* 2>/dev/null | sort -V | tail -n 1)"
[ -n "$CB_SRC" ] && [ -f "$CB_SRC/src/lib.rs" ] || die "compiler_builtins sources not found (librust-compiler-builtins-dev)"

SYSROOT="$BUILD/sysroot"
SYSROOT_LIB="$SYSROOT/lib/rustlib/$TARGET/lib"
SYSROOT_FLAGS=(--target "$TARGET" -C opt-level=3 -C panic=abort -C debuginfo=0
               -C codegen-units=1 -C embed-bitcode=yes -Z force-unstable-if-unmarked
               --sysroot "$SYSROOT" --cap-lints allow)
stamp="$(printf '%s\n' "$("$RUSTC" -vV)" "$CB_SRC" "${SYSROOT_FLAGS[*]}" sysroot-v1)"
if [ "$(cat "$SYSROOT/stamp" 2>/dev/null)" != "$stamp" ]; then
    log "building sysroot for $TARGET (core, compiler_builtins, alloc)"
    rm -rf "$SYSROOT"
    mkdir -p "$SYSROOT_LIB"
    "$RUSTC" "${SYSROOT_FLAGS[@]}" --edition 2021 --crate-name core --crate-type lib \
        -C metadata=cloak-sysroot-core "$RUST_LIB_SRC/core/src/lib.rs" --out-dir "$SYSROOT_LIB"
    # compiler_builtins: the cfgs its build.rs sets for *-none targets.
    "$RUSTC" "${SYSROOT_FLAGS[@]}" --edition 2015 --crate-name compiler_builtins --crate-type lib \
        --cfg 'feature="compiler-builtins"' --cfg 'feature="mem"' --cfg 'feature="unstable"' \
        -C metadata=cloak-sysroot-compiler-builtins "$CB_SRC/src/lib.rs" --out-dir "$SYSROOT_LIB"
    "$RUSTC" "${SYSROOT_FLAGS[@]}" --edition 2021 --crate-name alloc --crate-type lib \
        -C metadata=cloak-sysroot-alloc "$RUST_LIB_SRC/alloc/src/lib.rs" --out-dir "$SYSROOT_LIB"
    printf '%s' "$stamp" > "$SYSROOT/stamp"
fi

# --------------------------------------------------------------------------
# C guests
# --------------------------------------------------------------------------
CFLAGS_GUEST=(--target=riscv32-unknown-elf -march=rv32im -mabi=ilp32 -O2 -g0
              -nostdlib -ffreestanding -fno-pic -fno-asynchronous-unwind-tables
              -fno-unwind-tables -fno-ident -ffile-prefix-map="$REPO"=/cloak
              -Wall -Wextra -Werror
              -I "$REPO/guest/include"
              -fuse-ld=lld -Wl,-T,"$REPO/guest/link.ld" -Wl,--build-id=none
              -Wl,--gc-sections -Wl,--no-undefined)
for src in "$REPO"/guests/c/*.c; do
    name="$(basename "$src" .c)"
    log "C    $name"
    clang "${CFLAGS_GUEST[@]}" -o "$BUILD/$name.c.elf" "$src"
    cp "$BUILD/$name.c.elf" "$OUT/$name.elf"
done

# --------------------------------------------------------------------------
# Rust guests (cargo workspace guests/rust)
# --------------------------------------------------------------------------
export CARGO_HOME="$BUILD/cargo-home"
mkdir -p "$CARGO_HOME"
cat > "$CARGO_HOME/config.toml" <<'EOF'
[source.crates-io]
replace-with = "debian"

[source.debian]
directory = "/usr/share/cargo/registry"

[net]
offline = true

[term]
progress.when = "never"
EOF
export RUSTC RUSTDOC=/usr/bin/rustdoc
# Target-only flags (build scripts are compiled for the host without them).
rustflags=(--sysroot "$SYSROOT"
           -C linker=/usr/bin/ld.lld -C linker-flavor=ld.lld
           -C "link-arg=-T$REPO/guest/link.ld" -C link-arg=--build-id=none
           -C debuginfo=0 -C force-frame-pointers=no
           "--remap-path-prefix=$REPO=/cloak")
CARGO_ENCODED_RUSTFLAGS="$(IFS=$'\x1f'; printf '%s' "${rustflags[*]}")"
export CARGO_ENCODED_RUSTFLAGS

members=()
for m in "$REPO"/guests/rust/*/Cargo.toml; do
    d="$(basename "$(dirname "$m")")"
    [ "$d" = cloak-guest ] && continue
    members+=("$d")
done
log "Rust ${members[*]}"
(cd "$REPO/guests/rust" && "$CARGO" build --release --locked --offline \
    --target "$TARGET" --target-dir "$BUILD/target" --workspace --exclude cloak-guest >&2)
for name in "${members[@]}"; do
    cp "$BUILD/target/$TARGET/release/$name" "$OUT/$name.elf"
done

# --------------------------------------------------------------------------
# Checks and summary
# --------------------------------------------------------------------------
for f in "$OUT"/*.elf; do
    # ELF32 little-endian RISC-V executable, entry in .text at 0x0020_0800.
    hdr="$(llvm-readelf -h "$f")"
    grep -q 'Class: *ELF32' <<<"$hdr" && grep -q 'Machine: *RISC-V' <<<"$hdr" \
        && grep -q 'Flags: *0x0$' <<<"$hdr" \
        || die "$f: not an RV32 (no C extension) ELF"
    grep -q 'Entry point address: *0x200800$' <<<"$hdr" || die "$f: entry is not 0x200800"
done
(cd "$OUT" && sha256sum -- *.elf)
