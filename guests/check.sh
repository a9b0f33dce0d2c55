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

# name | inputs (space separated) | exit code | public values (hex)
CASES=$(cat <<EOF
fibonacci|u32:0|0|0000000000000000
fibonacci|u32:1|0|0100000001000000
fibonacci|u32:10|0|0a00000037000000
fibonacci|u32:47|0|2f000000e12419b1
fibonacci|u32:1000000|0|40420f00bb145770
fibonacci|hex:0102|1|
loop|u32:0|0|0000000000000000
loop|u32:1000|0|e803000040ba9686
loop|u32:1000000|0|40420f002ae48350
sha256|hex:0000000000000000|0|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
sha256|vec@$IN/abc.txt|0|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
sha256|vec@$IN/json-records.json|0|23da287e4720c96e790ae5040a2feee0545e79e3d99bb6d665c926aa6103eb95
sha256|u32:7|1|
sha256-soft|hex:0000000000000000|0|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
sha256-soft|vec@$IN/abc.txt|0|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
sha256-soft|vec@$IN/json-records.json|0|23da287e4720c96e790ae5040a2feee0545e79e3d99bb6d665c926aa6103eb95
keccak256|hex:0000000000000000|0|c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470
keccak256|vec@$IN/abc.txt|0|4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45
keccak256|vec@$IN/json-records.json|0|d45adc540ae2444841e51ecb0dbfdd6bbf2058e28e70cc31a608336270536d7a
keccak256-soft|hex:0000000000000000|0|c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470
keccak256-soft|vec@$IN/abc.txt|0|4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45
keccak256-soft|vec@$IN/json-records.json|0|d45adc540ae2444841e51ecb0dbfdd6bbf2058e28e70cc31a608336270536d7a
sha256-c|hex:0000000000000000|0|e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
sha256-c|vec@$IN/abc.txt|0|ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015adba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad
sha256-c|vec@$IN/json-records.json|0|23da287e4720c96e790ae5040a2feee0545e79e3d99bb6d665c926aa6103eb9523da287e4720c96e790ae5040a2feee0545e79e3d99bb6d665c926aa6103eb95
json|vec@$IN/json-records.json|0|02010000fb0000009800000011080000fa000000000a0000f8020000ed0300000b000000ecd50000000000000e6b0ff48d002080c5a401000000000036b308424adeca8abec8260cdb55401406e72c79fb57ce41609b4e8259dddcb0
json|hex:03000000000000007b2261|1|
EOF
)

fail=0
while IFS='|' read -r name inputs want_exit want_pv; do
    args=()
    for i in $inputs; do args+=(--input "$i"); done
    if ! out="$("${cloak[@]}" execute "$BIN/$name.elf" "${args[@]}" 2>/dev/null)"; then
        echo "FAIL $name $inputs: cloak execute failed"
        fail=1
        continue
    fi
    exit_code="$(sed -n 's/^exit code: *//p' <<<"$out")"
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
