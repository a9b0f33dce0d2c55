#!/usr/bin/env bash
# CPU-prover benchmarks for a machine with many cores and no Rust toolchain
# (e.g. the GPU machine's host): the `cloak` binary is built beforehand
# (`cargo build --release -p cloak-cli`) and copied next to the checkout.
#
#   scripts/bench-cpu-many-core.sh BIN OUT_DIR [suite|50m|all]
#
# suite: `cloak bench` (writes OUT_DIR/bench.csv);
# 50m:   proves loop with 7,150,000 iterations (50.06 M cycles) in shards of
#        SHARD_CYCLES (default 2^19) cycles, verifies it and reports the peak
#        memory (OUT_DIR/loop-50m.txt).
set -euo pipefail
BIN="$1"
OUT="$2"
WHAT="${3:-all}"
cd "$(dirname "$0")/.."
mkdir -p "$OUT"
{
  echo "date: $(date -u +%FT%TZ)"
  echo "cpus: $(nproc) x $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo "memory: $(grep MemTotal /proc/meminfo)"
} | tee "$OUT/machine.txt"
if [[ "$WHAT" == suite || "$WHAT" == all ]]; then
  "$BIN" bench -o "$OUT/bench.csv"
fi
if [[ "$WHAT" == 50m || "$WHAT" == all ]]; then
  {
    "$BIN" prove guests/bin/loop.elf --input u32:7150000 -o "$OUT/loop-50m.bin" \
      --shard-cycles "${SHARD_CYCLES:-524288}"
    "$BIN" verify "$OUT/loop-50m.bin" --elf guests/bin/loop.elf
    echo "proof bytes: $(stat -c %s "$OUT/loop-50m.bin")"
    rm -f "$OUT/loop-50m.bin"
  } 2>&1 | tee "$OUT/loop-50m.txt"
fi
