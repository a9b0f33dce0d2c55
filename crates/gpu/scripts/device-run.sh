#!/bin/bash
# One call on the GPU machine (CUDA, no Rust): the kernel checks, CPU/GPU
# proof equality, then the TEE-overhead experiment up to UP_TO cycles.
# The binaries are built beforehand for x86-64-v4 and carried in .dev/.
# CUBINs are cached in .cubin-cache (kept between calls on a warm machine).
#
#   crates/gpu/scripts/device-run.sh OUT_DIR [UP_TO] [checks|no-checks]
set -u
OUT=${1:?OUT_DIR}
UP_TO=${2:-1100000}
CHECKS=${3:-checks}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export CLOAK_CUBIN_CACHE=${CLOAK_CUBIN_CACHE:-$PWD/.cubin-cache}
{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nproc
} | tee "$OUT/machine.txt"
if [ "$CHECKS" = checks ]; then
  s=$(date +%s)
  .dev/cloak-gpu-check --quick > "$OUT/gpu-check.txt" 2>&1
  echo "gpu-check rc=$? in $(( $(date +%s) - s )) s: $(grep -c ^PASS "$OUT/gpu-check.txt") PASS, $(grep -c ^FAIL "$OUT/gpu-check.txt") FAIL"
  s=$(date +%s)
  crates/gpu/scripts/prove-check.sh .dev/cloak "$OUT/prove-check" > "$OUT/prove-check.txt" 2>&1
  echo "prove-check rc=$? in $(( $(date +%s) - s )) s: $(grep -E '^(PASS|FAIL)' "$OUT/prove-check.txt" | sort | uniq -c | awk '{print $1, $2}' | tr '\n' ' ')"
fi
s=$(date +%s)
.dev/cloak bench --backend gpu --tee-overhead --up-to "$UP_TO" -o "$OUT/tee-overhead.csv" \
  > "$OUT/tee-overhead.out" 2> "$OUT/tee-overhead.log"
echo "tee-overhead rc=$? in $(( $(date +%s) - s )) s"
cat "$OUT/tee-overhead.csv"
