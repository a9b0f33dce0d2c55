#!/bin/bash
# Steps of one call on the GPU machine (CUDA, no Rust), in the order given,
# each writing under OUT_DIR (binaries built beforehand for x86-64-v4 and
# carried in .dev/; CUBINs cached in .cubin-cache between calls):
#
#   checks   cloak-gpu-check --quick, then prove-check.sh (CPU/GPU proofs
#            byte-identical and verifying)
#   bench    the suite's loop, fibonacci and json cases on the GPU
#   grind    loop 4.2 M cycles with the proof-of-work search on the GPU and
#            on the host (CLOAK_GPU_HOST_GRIND=1), same call
#   profile  loop 4.2 M cycles with CLOAK_GPU_PROFILE=1
#   tee      the TEE-overhead experiment up to $UP_TO cycles, $REPEAT runs a mode
#   cubins   the kernel cache as OUT_DIR/cubins.tar (unpack it into
#            .cubin-cache here and carry that, to skip NVRTC next time)
#
#   crates/gpu/scripts/device-steps.sh OUT_DIR STEP...
set -u
OUT=${1:?OUT_DIR}
shift
UP_TO=${UP_TO:-21000000}
REPEAT=${REPEAT:-2}
mkdir -p "$OUT"
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:${LD_LIBRARY_PATH:-}
export CLOAK_CUBIN_CACHE=${CLOAK_CUBIN_CACHE:-$PWD/.cubin-cache}
{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  nproc
} | tee "$OUT/machine.txt"
LOOP_4M=(prove guests/bin/loop.elf --input u32:600000 --backend gpu -o /tmp/loop.bin)
for step in "$@"; do
  s=$(date +%s)
  case $step in
    checks)
      .dev/cloak-gpu-check --quick > "$OUT/gpu-check.txt" 2>&1
      echo "gpu-check rc=$?: $(grep -c ^PASS "$OUT/gpu-check.txt") PASS, $(grep -c ^FAIL "$OUT/gpu-check.txt") FAIL"
      grep ^FAIL "$OUT/gpu-check.txt" | head -5
      crates/gpu/scripts/prove-check.sh .dev/cloak /tmp/prove-check > "$OUT/prove-check.txt" 2>&1
      echo "prove-check rc=$?: $(grep -E '^(PASS|FAIL)' "$OUT/prove-check.txt" | cut -d' ' -f1 | sort | uniq -c | tr '\n' ' ')"
      grep -A3 ^FAIL "$OUT/prove-check.txt" | head -20
      ;;
    bench)
      .dev/cloak bench --backend gpu --only o -o "$OUT/bench.csv" > "$OUT/bench.txt" 2>&1
      echo "bench rc=$?"
      cut -d, -f1,3,4,6,9 "$OUT/bench.csv"
      ;;
    grind)
      for mode in gpu host; do
        if [ $mode = host ]; then export CLOAK_GPU_HOST_GRIND=1; fi
        .dev/cloak "${LOOP_4M[@]}" > "$OUT/grind-$mode.txt" 2>&1
        echo "grind on $mode rc=$?: $(grep -E '^setup:' "$OUT/grind-$mode.txt")"
        sha256sum /tmp/loop.bin | cut -c1-16
        unset CLOAK_GPU_HOST_GRIND
      done
      ;;
    profile)
      CLOAK_GPU_PROFILE=1 .dev/cloak "${LOOP_4M[@]}" > "$OUT/profile-loop.txt" 2>&1
      echo "profile rc=$?"
      head -32 "$OUT/profile-loop.txt"
      ;;
    tee)
      .dev/cloak bench --backend gpu --tee-overhead --up-to "$UP_TO" --repeat "$REPEAT" \
        -o "$OUT/tee.csv" > "$OUT/tee.out" 2> "$OUT/tee.log"
      echo "tee rc=$?"
      cut -d, -f1,3,6,7,8,13 "$OUT/tee.csv"
      ;;
    cubins)
      # The compiled kernels, to carry to the next (fresh) machine.
      tar -cf "$OUT/cubins.tar" -C "$CLOAK_CUBIN_CACHE" . && ls -la "$OUT/cubins.tar"
      ;;
    *) echo "unknown step $step"; exit 2 ;;
  esac
  echo "== $step took $(( $(date +%s) - s )) s"
done
