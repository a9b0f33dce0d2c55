#!/bin/bash
# Proves each case with `cloak prove --backend cpu` and `--backend gpu` under
# one fixed seed, checks the two proofs are byte-identical and that the GPU's
# verifies, and prints pass 1's commitment time on each backend.
# Usage (repository root): prove-check.sh CLOAK_BINARY OUT_DIR
set -u
C=${1:-./target/release/cloak}
OUT=${2:-/tmp/prove-check}
mkdir -p "$OUT"
SEED=00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff
fail=0
case_() { # name input [extra args]
  local name=$1 input=$2; shift 2
  local base=${input#u32:}; base=${base#vec@guests/inputs/}; base=${base%.*}
  local tag="$name-$base${1:+-sharded}"
  case "$*" in *keep-commitments-mib*) tag="$tag-recommit" ;; esac
  for b in cpu gpu; do
    if ! "$C" prove "guests/bin/$name.elf" --input "$input" --insecure-seed $SEED "$@" \
        --backend $b -o "$OUT/$tag-$b.bin" > "$OUT/$tag-$b.log" 2>&1; then
      echo "FAIL $tag: prove --backend $b"; tail -5 "$OUT/$tag-$b.log"; fail=1; return
    fi
    echo "[$tag $b] $(grep -E '^cycles:' "$OUT/$tag-$b.log") | $(grep -E '^setup:' "$OUT/$tag-$b.log" | sed 's/.*proving: /proving: /') | $(grep -E '^pass 1' "$OUT/$tag-$b.log")"
    grep -E '^gpu|^  commit_main|^  prove #|^gpu-diff' "$OUT/$tag-$b.log" | sed "s/^/[$tag $b] /"
  done
  if cmp -s "$OUT/$tag-cpu.bin" "$OUT/$tag-gpu.bin"; then
    echo "PASS $tag ($input $*): cpu and gpu proofs byte-identical, $(stat -c%s "$OUT/$tag-gpu.bin") bytes, sha256 $(sha256sum < "$OUT/$tag-gpu.bin" | cut -c1-16)"
  else
    echo "FAIL $tag: cpu and gpu proofs differ ($(stat -c%s "$OUT/$tag-cpu.bin") vs $(stat -c%s "$OUT/$tag-gpu.bin") bytes)"; fail=1
  fi
  if "$C" verify "$OUT/$tag-gpu.bin" --elf "guests/bin/$name.elf" > "$OUT/$tag-verify.log" 2>&1; then
    echo "PASS $tag: the gpu proof verifies"
  else
    echo "FAIL $tag: the gpu proof does not verify"; tail -3 "$OUT/$tag-verify.log"; fail=1
  fi
}
case_ fibonacci u32:10
case_ loop u32:17000
case_ fibonacci u32:1000 --shard-cycles 4096
# Only the last shard's commitment kept: the others are generated, staged
# and committed again in pass 2 (the kept one is proven from the device alone).
case_ fibonacci u32:1000 --shard-cycles 4096 --keep-commitments-mib 0
case_ fibonacci u32:170000
# Every other bundled guest: the precompiles, the software hashes, C, and
# the real workload (json, two shards).
case_ sha256 vec@guests/inputs/abc.txt
case_ sha256-soft vec@guests/inputs/abc.txt
case_ sha256-c vec@guests/inputs/abc.txt
case_ keccak256 vec@guests/inputs/abc.txt
case_ keccak256-soft vec@guests/inputs/abc.txt
case_ keccak256 vec@guests/inputs/json-records.json
case_ json vec@guests/inputs/json-small.json
[ $fail = 0 ] && echo "ALL PASS" || echo "SOME FAILED"
exit $fail
