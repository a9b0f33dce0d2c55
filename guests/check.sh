#!/usr/bin/env bash
# Run every guest in guests/bin on its documented inputs with the Cloak CLI and
# compare exit code and public values with the expected ones (guests/README.md).
#
#   guests/check.sh [ELF_DIR]         (default ELF_DIR: guests/bin)
#
# The CLI is $CLOAK if set, else target/release/cloak if built, else
# `cargo run --release -p cloak-cli --`.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd -P)"
BIN="${1:-$REPO/guests/bin}"
IN="$REPO/guests/inputs"
cd "$REPO"

if [ -n "${CLOAK:-}" ]; then
    read -r -a cloak <<<"$CLOAK"
elif [ -x "$REPO/target/release/cloak" ]; then
    cloak=("$REPO/target/release/cloak")
else
    cloak=(cargo run -q --release -p cloak-cli --)
fi

CASES=$(grep -v '^#' "$REPO/guests/expected.txt")

fail=0
while IFS='|' read -r name inputs want_exit want_pv; do
    args=()
    for i in $inputs; do args+=(--input "$i"); done
    # The CLI may or may not exit non-zero for a guest exit code != 0.
    out="$("${cloak[@]}" execute "$BIN/$name.elf" "${args[@]}" 2>/dev/null || true)"
    exit_code="$(sed -n 's/^exit code: *//p' <<<"$out")"
    if [ -z "$exit_code" ]; then
        echo "FAIL $name $inputs: cloak execute did not report an exit code"
        fail=1
        continue
    fi
    pv="$(sed -n 's/^public values: *//p' <<<"$out")"
    cycles="$(sed -n 's/^cycles: *//p' <<<"$out")"
    short="${inputs//$REPO\//}"
    if [ "$exit_code" = "$want_exit" ] && [ "$pv" = "$want_pv" ]; then
        printf 'ok   %-15s %-45s exit %s cycles %s\n' "$name" "$short" "$exit_code" "$cycles"
    else
        printf 'FAIL %-15s %-45s exit %s (want %s) public values %s (want %s)\n' \
            "$name" "$short" "$exit_code" "$want_exit" "$pv" "$want_pv"
        fail=1
    fi
done <<<"$CASES"
exit $fail
