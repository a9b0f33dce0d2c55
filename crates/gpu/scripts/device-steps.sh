#!/bin/bash
# Steps of one call on the GPU machine (CUDA, no Rust), in the order given,
# each writing under OUT_DIR (binaries built beforehand for x86-64-v4 and
# carried in .dev/; CUBINs cached in .cubin-cache between calls):
#
#   checks   cloak-gpu-check --quick, then prove-check.sh (CPU/GPU proofs
#            byte-identical and verifying)
#   bench    the suite's loop, fibonacci and json cases on the GPU
#   gpus     json on one GPU and on two (`--gpus 1`, `--gpus 2`)
#   grind    loop 4.2 M cycles with the proof-of-work search on the GPU and
#            on the host (CLOAK_GPU_HOST_GRIND=1), same call
#   p2ab     loop 4.2 M cycles profiled with Poseidon2's round loops rolled
#            and unrolled (CLOAK_P2_UNROLLED), same seed: same bytes?
#   profile  loop 4.2 M cycles with CLOAK_GPU_PROFILE=1
#   tee      the TEE-overhead experiment up to $UP_TO cycles, $REPEAT runs a mode
#   tee-rustcrypto  the same with CLOAK_CC_CIPHER=rustcrypto
#   cubins   the kernel cache as OUT_DIR/cubins.tgz (unpack it into
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
    gpus)
      # Throughput on one GPU and on two, same call (json's 40 shards, loop's 9).
      for n in 1 2; do
        .dev/cloak bench --backend gpu --gpus $n --only json -o "$OUT/gpus$n.csv" > /dev/null 2>&1
        echo "gpus=$n rc=$?"; cut -d, -f1,3,4,6,9 "$OUT/gpus$n.csv" | tail -n +2
      done
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
    p2ab)
      # Poseidon2 with rolled (default) and unrolled round loops: the same
      # proof bytes (fixed seed) and each one's profile.
      for unrolled in 0 1; do
        CLOAK_P2_UNROLLED=$unrolled CLOAK_GPU_PROFILE=1 .dev/cloak "${LOOP_4M[@]}" \
          --insecure-seed 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
          > "$OUT/p2-unrolled$unrolled.txt" 2>&1
        echo "unrolled=$unrolled rc=$?: $(sha256sum < /tmp/loop.bin | cut -c1-16) $(grep -E '^setup:' "$OUT/p2-unrolled$unrolled.txt")"
        grep -E "merkle|fri: layer|permutation: commit|quotient chunks" "$OUT/p2-unrolled$unrolled.txt"
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
    tee-rustcrypto)
      # The same with RustCrypto's AES-256-GCM in the emulation (stops 12-14).
      CLOAK_CC_CIPHER=rustcrypto .dev/cloak bench --backend gpu --tee-overhead --up-to "$UP_TO" \
        --repeat "$REPEAT" -o "$OUT/tee-rc.csv" > /dev/null 2> "$OUT/tee-rc.log"
      echo "tee-rustcrypto rc=$?"
      cut -d, -f1,3,6,7,8,13 "$OUT/tee-rc.csv"
      ;;
    cubins)
      # The compiled kernels, to carry to the next (fresh) machine.
      tar -czf "$OUT/cubins.tgz" -C "$CLOAK_CUBIN_CACHE" . && ls -la "$OUT/cubins.tgz"
      ;;
    *) echo "unknown step $step"; exit 2 ;;
  esac
  echo "== $step took $(( $(date +%s) - s )) s"
done
