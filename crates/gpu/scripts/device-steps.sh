#!/bin/bash
# Steps of one call on the GPU machine (CUDA, no Rust), in the order given,
# each writing under OUT_DIR (binaries built beforehand for x86-64-v4 and
# carried in .dev/; CUBINs cached in .cubin-cache between calls):
#
#   checks   cloak-gpu-check --quick, then prove-check.sh (CPU/GPU proofs
#            byte-identical and verifying)
#   bench    the suite's loop, fibonacci and json cases on the GPU
#   large    loop and fibonacci up to ~2^24 cycles (`cloak bench --large`),
#            LARGE_ROUNDS rounds (default 2), each program in its own run
#   gpus     json on one GPU and on two (`--gpus 1`, `--gpus 2`)
#   gpusame  loop 4.2 M and json proven with one seed on one GPU and on two,
#            alternating (1, 2, 2, 1): the same proof bytes? The last one
#            verified. (Machines with two GPUs: nothing else checks the
#            routing of work across GPUs on real devices.)
#   grind    loop 4.2 M cycles with the proof-of-work search on the GPU and
#            on the host (CLOAK_GPU_HOST_GRIND=1), same call
#   p2ab     loop 4.2 M cycles profiled with Poseidon2's round loops rolled,
#            unrolled by 2 and 4, and fully, same seed: same bytes? (Since
#            stop 24 only the proof-of-work search permutes: BLAKE3 trees.)
#   threads  loop 4.2 M and json with 2, 3 and 4 shards generated at once,
#            alternating, two rounds
#   quotient each table's quotient kernel timed (Nsight Compute) over a
#            one-shard loop proof with the kernels cut into parts of at
#            most N nodes (CLOAK_QUOTIENT_PART_NODES), same seed: same bytes?
#   ab       the previous binary (.dev/old/cloak) against this one on loop
#            and fibonacci 4.2 M and json, alternating, same seed: same bytes?
#   ahead    pass 2's challenge-free work done in pass 1 (default) against
#            not (CLOAK_GPU_AHEAD=0) on loop, fibonacci and json,
#            alternating, same seed: same bytes? Then a loop timeline
#   cpuab    the CPU prover, previous binary against this one (loop and
#            fibonacci at ~125 K cycles, loop at 1 M), alternating, same seed
#   pinned   staged uploads from page-locked buffers (default) against
#            pageable ones (CLOAK_GPU_PINNED=0) on loop, fibonacci and json,
#            alternating, same seed: same bytes?
#   nttreg   NTT passes as register tiles (default) against radix-4
#            shared-memory tiles (CLOAK_GPU_NTT_REG=0) on loop, fibonacci
#            and json, alternating, same seed: same bytes?
#   execthreads shards traced on 1 and 3 threads (CLOAK_EXEC_THREADS; or
#            those $EXEC_THREADS lists) on loop, fibonacci and json,
#            alternating, same seed: same bytes?
#   workers  one, two and three provers per GPU (CLOAK_GPU_WORKERS; or
#            those $WORKERS lists) on loop,
#            fibonacci and json, alternating, same seed: same bytes?
#   envab    this binary under each of the environments in $ENVAB (space
#            separated, e.g. "CLOAK_RAYON_NICE=5 CLOAK_RAYON_NICE=19"; each
#            VAR=VALUE[,VAR=VALUE...], or "-" for none) inside `cloak bench --only
#            loop` and `--only fibonacci` (or each of $ENVAB_PROGS; warm),
#            alternating, ENVAB_ROUNDS rounds (default 4): loop's and
#            fibonacci's 4.2 M-cycle rows (json's one row)
#   benchab  the previous binary against this one inside `cloak bench
#            --only loop` and `--only fibonacci` (warm), alternating
#   hostknobs loop, fibonacci and json under each of $KNOBS (environment
#            and flags: GPU sync mode, executor run-ahead, generating
#            threads), alternating, same seed: first shard's arrival, pass
#            1's end, proving time (pipeline-summary.py)
#   membw    the host's memory bandwidth on 1 to 16 threads (membw.cpp)
#   hostperf the host's heaviest symbols over a loop 4.2 M proof (perf)
#   tracebench the executor alone (.dev/executor-bench, the vm crate's
#            `executor` bench): loop and fibonacci ~4 M cycles in fast mode
#            and traced in 2^19-cycle shards on 1 to 4 threads
#            (run_traced_parallel), alone and with every core busy
#   timeline loop 4.2 M cycles with the pipeline's per-shard events
#   cpuload  the timeline's proof with /proc/stat sampled every 10 ms
#            (cpu-sample.sh): busy cores per pass (CPULOAD_JSON=1: json's)
#   shardsize loop and fibonacci 4.2 M cycles in shards of 2^19, 2^20 and
#            2^21 cycles (or the logs in $SHARD_LOGS), alternating, same seed
#   warmtimeline the pipeline's events over `cloak bench --only loop` (the
#            4.2 M proof last, warm as the suite's figures are)
#   shardgen one 2^19-cycle shard's trace generation (.dev/shard-bench, the
#            machine crate's `shard` bench) on 1 to 16 threads, fresh and
#            reused memory, with each generation's phases; and the host's
#            transparent-huge-page setting
#   ncu      every kernel's time over a one-shard loop proof (Nsight Compute)
#   ncusol   the heaviest kernels' speed of light, occupancy and launch
#            shape (Nsight Compute sections) over the same proof
#   cold     json proven by the previous binary and by this one, each with
#            an empty CUBIN cache (every kernel compiled in the proof): the
#            first commitments, the key's preparation, the proving time
#   profile  loop 4.2 M cycles with CLOAK_GPU_PROFILE=1
#   tee      the TEE-overhead experiment up to $UP_TO cycles, $REPEAT runs a mode
#   tee-rustcrypto  the same with CLOAK_CC_CIPHER=rustcrypto
#   cubins   the kernel cache as OUT_DIR/cubins.tgz (unpack it into
#            .cubin-cache here and carry that, to skip NVRTC next time)
#
#   crates/gpu/scripts/device-steps.sh OUT_DIR STEP...
#
# A call brings back only a few files: pack OUT_DIR into one tarball as the
# call's last command (as stop 32's calls did).
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
# Loop and fibonacci at 4.2 M cycles and json, proven with environment
# variable $2 set to each of $3..., alternating, $ROUNDS rounds (default
# two), same seed (same bytes?); files and lines tagged $1.
seeded_by_env() {
  local tag=$1 var=$2 v prog name input round f
  shift 2
  local values=("$@")
  for round in $(seq 1 "${ROUNDS:-2}"); do
    for v in "${values[@]}"; do
      for prog in "loop u32:600000" "fibonacci u32:700000" "json vec@guests/inputs/json-records.json"; do
        name=${prog%% *} input=${prog#* }
        f="$OUT/$tag-$v-$name-$round.txt"
        rm -f /tmp/env.bin  # a failed run must not hash the previous proof
        env "$var=$v" timeout 90 .dev/cloak prove "guests/bin/$name.elf" --input "$input" \
          --backend gpu -o /tmp/env.bin \
          --insecure-seed 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
          > "$f" 2>&1
        echo "$tag $v $name #$round rc=$?: $(sha256sum < /tmp/env.bin | cut -c1-16) $(grep -E '^setup:' "$f") $(grep -E '^peak GPU' "$f")"
      done
    done
  done
}
for step in "$@"; do
  s=$(date +%s)
  case $step in
    checks)
      timeout 400 .dev/cloak-gpu-check --quick > "$OUT/gpu-check.txt" 2>&1
      echo "gpu-check rc=$?: $(grep -c ^PASS "$OUT/gpu-check.txt") PASS, $(grep -c ^FAIL "$OUT/gpu-check.txt") FAIL"
      grep ^FAIL "$OUT/gpu-check.txt" | head -5
      timeout 500 crates/gpu/scripts/prove-check.sh .dev/cloak /tmp/prove-check > "$OUT/prove-check.txt" 2>&1
      echo "prove-check rc=$?: $(grep -E '^(PASS|FAIL)' "$OUT/prove-check.txt" | cut -d' ' -f1 | sort | uniq -c | tr '\n' ' ')"
      grep -A3 ^FAIL "$OUT/prove-check.txt" | head -20
      ;;
    bench)
      timeout 240 .dev/cloak bench --backend gpu --only o -o "$OUT/bench.csv" > "$OUT/bench.txt" 2>&1
      echo "bench rc=$?"
      cut -d, -f1,3,4,6,9 "$OUT/bench.csv"
      ;;
    large)
      for round in $(seq 1 "${LARGE_ROUNDS:-2}"); do
        for prog in loop fibonacci; do
          timeout 200 .dev/cloak bench --backend gpu --large --only $prog -o "$OUT/large-$prog-$round.csv" \
            > "$OUT/large-$prog-$round.txt" 2>&1
          echo "large $prog #$round rc=$?"
          grep -E "^$prog," "$OUT/large-$prog-$round.csv" | cut -d, -f1,3,4,6,9
        done
      done
      ;;
    gpusame)
      same=0; differ=0
      for prog in "loop u32:600000" "json vec@guests/inputs/json-records.json"; do
        set -- $prog
        first=""
        for n in 1 2 2 1; do
          rm -f /tmp/gpusame.bin  # a failed run must not hash the previous proof
          timeout 120 .dev/cloak prove guests/bin/$1.elf --input $2 --backend gpu --gpus $n \
            -o /tmp/gpusame.bin \
            --insecure-seed 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
            > "$OUT/gpusame-$1-$n.txt" 2>&1
          rc=$?
          h=$(sha256sum < /tmp/gpusame.bin | cut -c1-16)
          [ -z "$first" ] && first=$h
          if [ $rc -eq 0 ] && [ "$h" = "$first" ]; then same=$((same + 1)); else differ=$((differ + 1)); fi
          echo "$1 gpus=$n rc=$rc: $h $(grep -E '^setup:' "$OUT/gpusame-$1-$n.txt")"
        done
        timeout 120 .dev/cloak verify --elf guests/bin/$1.elf /tmp/gpusame.bin > "$OUT/gpusame-$1-verify.txt" 2>&1
        echo "$1 verify rc=$?"
      done
      echo "gpusame: $same same, $differ differ or failed"
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
      # Poseidon2 with its round loops rolled (default), unrolled 2 and 4
      # rounds at a time (CLOAK_P2_UNROLL), and fully (CLOAK_P2_UNROLLED),
      # same seed: the same proof bytes, and each one's profile.
      for v in rolled 2 4 full; do
        case $v in
          rolled) env=() ;;
          full) env=(CLOAK_P2_UNROLLED=1) ;;
          *) env=(CLOAK_P2_UNROLL=$v) ;;
        esac
        env "${env[@]}" CLOAK_GPU_PROFILE=1 .dev/cloak "${LOOP_4M[@]}" \
          --insecure-seed 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
          > "$OUT/p2-$v.txt" 2>&1
        echo "p2 $v rc=$?: $(sha256sum < /tmp/loop.bin | cut -c1-16) $(grep -E '^setup:' "$OUT/p2-$v.txt")"
        grep -E "grind|fri: layer|permutation: commit|quotient chunks" "$OUT/p2-$v.txt"
      done
      ;;
    threads)
      # Shards generated at once (--trace-threads; each on every core), on
      # loop 4.2 M and json: how long pass 1 waits for traces.
      for round in 1 2; do
        for n in 2 3 4; do
          for prog in "loop u32:600000" "json vec@guests/inputs/json-records.json"; do
            set -- $prog
            timeout 90 .dev/cloak prove guests/bin/$1.elf --input $2 --backend gpu -o /tmp/threads.bin \
              --trace-threads $n > "$OUT/threads-$n-$1-$round.txt" 2>&1
            echo "threads $n $1 #$round rc=$?: $(grep -E '^setup:' "$OUT/threads-$n-$1-$round.txt")"
          done
        done
      done
      ;;
    quotient)
      for v in ${QVARIANTS:-1500 300 150 100}; do
        rm -f /tmp/q.bin
        CLOAK_QUOTIENT_PART_NODES=$v CLOAK_GPU_WORKERS=1 \
          timeout 120 ncu --clock-control none -k regex:'^quotient_part' \
          --metrics gpu__time_duration.sum,launch__registers_per_thread,launch__grid_size --csv \
          .dev/cloak prove guests/bin/loop.elf --input u32:70000 --backend gpu -o /tmp/q.bin \
          --insecure-seed 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
          > "$OUT/quotient-$v.csv" 2> "$OUT/quotient-$v.log"
        echo "quotient $v rc=$?: $(sha256sum < /tmp/q.bin | cut -c1-16)"
        python3 - "$OUT/quotient-$v.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
head = rows[0]; k = head.index("Kernel Name"); m = head.index("Metric Name"); v = head.index("Metric Value"); i = head.index("ID")
by = collections.defaultdict(dict)
for r in rows[1:]:
    by[r[i]][r[m]] = float(r[v].replace(",", ""))
tot = sum(d.get("gpu__time_duration.sum", 0) for d in by.values()) / 1e6
big = [d for d in by.values() if d.get("launch__grid_size", 0) >= 4096]
print("  total %.2f ms over %d launches; on 2^19+ points: %s" % (tot, len(by), ", ".join(
    "%.2f (%d regs)" % (d["gpu__time_duration.sum"] / 1e6, d.get("launch__registers_per_thread", 0)) for d in big)))
PY
      done
      ;;
    ab)
      # The previous binary (.dev/old/cloak) against this one, alternating,
      # on loop and fibonacci at 4.2 M cycles and json, same seed: same
      # proof bytes? AB_ROUNDS rounds (default 2).
      for round in $(seq 1 "${AB_ROUNDS:-2}"); do
        for bin in old new; do
          exe=.dev/cloak; [ $bin = old ] && exe=.dev/old/cloak
          for prog in "loop u32:600000" "fibonacci u32:700000" "json vec@guests/inputs/json-records.json"; do
            set -- $prog
            rm -f /tmp/ab.bin  # a failed run must not hash the previous proof
            timeout 90 $exe prove guests/bin/$1.elf --input $2 --backend gpu -o /tmp/ab.bin \
              --insecure-seed 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
              > "$OUT/ab-$bin-$1-$round.txt" 2>&1
            echo "$bin $1 #$round rc=$?: $(sha256sum < /tmp/ab.bin | cut -c1-16) $(grep -E '^setup:' "$OUT/ab-$bin-$1-$round.txt")"
          done
        done
      done
      ;;
    envab)
      for round in $(seq 1 "${ENVAB_ROUNDS:-4}"); do
        for setting in ${ENVAB:--}; do
          tag=$(echo "$setting" | tr -c 'A-Za-z0-9_\n' '-')
          for prog in ${ENVAB_PROGS:-loop fibonacci}; do
            if [ "$setting" = - ]; then
              timeout 120 .dev/cloak bench --backend gpu --only $prog -o "$OUT/envab-$tag-$prog-$round.csv" \
                > "$OUT/envab-$tag-$prog-$round.txt" 2>&1
            else
              # shellcheck disable=SC2046 # one word per VAR=VALUE
              timeout 120 env $(echo "$setting" | tr ',' ' ') .dev/cloak bench --backend gpu --only $prog -o "$OUT/envab-$tag-$prog-$round.csv" \
                > "$OUT/envab-$tag-$prog-$round.txt" 2>&1
            fi
            echo "$setting $prog #$round rc=$?: $(grep -E '^[a-z]+,(u32:[67]00000|vec@)' "$OUT/envab-$tag-$prog-$round.csv" | cut -d, -f1,3,6,9)"
          done
        done
      done
      ;;
    benchab)
      # The previous binary against this one inside `cloak bench` (warm,
      # as the suite's figures are), alternating, BENCHAB_ROUNDS rounds
      # (default 3): loop's and fibonacci's 4.2 M-cycle rows.
      for round in $(seq 1 "${BENCHAB_ROUNDS:-3}"); do
        for bin in old new; do
          exe=.dev/cloak; [ $bin = old ] && exe=.dev/old/cloak
          for prog in loop fibonacci; do
            timeout 120 $exe bench --backend gpu --only $prog -o "$OUT/benchab-$bin-$prog-$round.csv" \
              > "$OUT/benchab-$bin-$prog-$round.txt" 2>&1
            echo "$bin $prog #$round rc=$?: $(grep -E '^[a-z]+,u32:[67]00000,' "$OUT/benchab-$bin-$prog-$round.csv" | cut -d, -f1,3,6,9)"
          done
        done
      done
      ;;
    hostknobs)
      # The host side of pass 1 under each of $KNOBS ("name:ENV=V,...:FLAGS",
      # FLAGS with commas for spaces), alternating, HK_ROUNDS rounds (default
      # two), same seed: when the first shard reached the GPU, when pass 1
      # ended, the proving time, the proof's hash.
      knobs=${KNOBS:-"auto:CLOAK_GPU_SYNC=auto: yield:CLOAK_GPU_SYNC=yield: block:CLOAK_GPU_SYNC=block:"}
      for round in $(seq 1 "${HK_ROUNDS:-2}"); do
        for knob in $knobs; do
          IFS=: read -r name envs flags <<< "$knob"
          for prog in "loop u32:600000" "fibonacci u32:700000" "json vec@guests/inputs/json-records.json"; do
            set -- $prog
            f="$OUT/hk-$name-$1-$round.txt"
            rm -f /tmp/hk.bin
            env ${envs//,/ } RUST_LOG=cloak::pipeline=debug NO_COLOR=1 timeout 90 .dev/cloak prove \
              guests/bin/$1.elf --input $2 --backend gpu -o /tmp/hk.bin ${flags//,/ } \
              --insecure-seed 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
              > "$f" 2>&1
            echo "$name $1 #$round rc=$?: $(crates/gpu/scripts/pipeline-summary.py "$f" "$(sha256sum < /tmp/hk.bin | cut -c1-16)")"
          done
        done
      done
      ;;
    membw)
      # The host's memory bandwidth on 1 to 16 threads (scripts/membw.cpp,
      # compiled here by whichever C++ compiler the machine has).
      cxx=$(command -v g++ || command -v c++ || command -v clang++)
      if [ -n "$cxx" ]; then
        "$cxx" -O2 -pthread -o /tmp/membw crates/gpu/scripts/membw.cpp && timeout 120 /tmp/membw | tee "$OUT/membw.txt"
      else
        nvcc -O2 -Xcompiler -pthread -o /tmp/membw -x cu crates/gpu/scripts/membw.cpp \
          && timeout 120 /tmp/membw | tee "$OUT/membw.txt"
      fi
      echo "membw rc=$?"
      ;;
    hostperf)
      # Where the host's CPU time goes in a loop 4.2 M proof (perf, if the
      # machine has it): the heaviest symbols, all threads together.
      if command -v perf > /dev/null; then
        perf record -F 499 -g -o /tmp/host.perf .dev/cloak "${LOOP_4M[@]}" > "$OUT/hostperf-run.txt" 2>&1
        echo "hostperf rc=$?"
        perf report -i /tmp/host.perf --no-children --percent-limit 0.7 --stdio 2>/dev/null \
          | grep -E '^ +[0-9]' > "$OUT/hostperf.txt"
        head -40 "$OUT/hostperf.txt"
      else
        echo "hostperf: no perf on this machine"
      fi
      ;;
    nttreg)
      seeded_by_env nttreg CLOAK_GPU_NTT_REG 0 1
      ;;
    execthreads)
      seeded_by_env execthreads CLOAK_EXEC_THREADS ${EXEC_THREADS:-1 3}
      ;;
    ahead)
      # Pass 2's challenge-free work done in pass 1 (default, 1) against not
      # (CLOAK_GPU_AHEAD=0), same binary.
      seeded_by_env ahead CLOAK_GPU_AHEAD 0 1
      RUST_LOG=cloak::pipeline=debug timeout 60 .dev/cloak prove guests/bin/loop.elf --input u32:600000 \
        --backend gpu -o /tmp/ah.bin > "$OUT/ahead-timeline.txt" 2>&1
      echo "ahead timeline rc=$?: $(grep -c 'drew ahead' "$OUT/ahead-timeline.txt") shards drawn ahead; $(grep -E '^setup:' "$OUT/ahead-timeline.txt")"
      ;;
    cpuab)
      # The CPU prover (16 host cores), previous binary against this one,
      # alternating, two rounds, same seed: loop and fibonacci of ~125 K
      # cycles and loop of 1 M.
      for round in 1 2; do
        for bin in old new; do
          exe=.dev/cloak; [ $bin = old ] && exe=.dev/old/cloak
          for prog in "loop u32:17000" "fibonacci u32:20000" "loop u32:148000"; do
            set -- $prog
            rm -f /tmp/cpuab.bin
            timeout 120 $exe prove guests/bin/$1.elf --input $2 --backend cpu -o /tmp/cpuab.bin \
              --insecure-seed 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff \
              > "$OUT/cpuab-$bin-$1-$2-$round.txt" 2>&1
            echo "cpu $bin $1 $2 #$round rc=$?: $(sha256sum < /tmp/cpuab.bin | cut -c1-16) $(grep -E '^setup:' "$OUT/cpuab-$bin-$1-$2-$round.txt")"
          done
        done
      done
      ;;
    pinned)
      # Staged uploads from page-locked buffers reserved at start (default)
      # against the pageable thread buffers (CLOAK_GPU_PINNED=0), same seed.
      seeded_by_env pinned CLOAK_GPU_PINNED 0 1
      ;;
    workers)
      # Provers per GPU (CLOAK_GPU_WORKERS): $WORKERS, default 1, 2 and 3.
      seeded_by_env workers CLOAK_GPU_WORKERS ${WORKERS:-1 2 3}
      ;;
    shardsize)
      for round in 1 2; do
        for log in ${SHARD_LOGS:-19 20 21}; do
          for prog in "loop u32:600000" "fibonacci u32:700000"; do
            set -- $prog
            timeout 60 .dev/cloak prove guests/bin/$1.elf --input $2 --backend gpu -o /tmp/ss.bin \
              --shard-cycles $((1 << log)) > "$OUT/shardsize-$1-$log-$round.txt" 2>&1
            echo "2^$log $1 #$round rc=$?: $(grep -E '^setup:' "$OUT/shardsize-$1-$log-$round.txt") $(grep -E '^peak GPU' "$OUT/shardsize-$1-$log-$round.txt")"
          done
        done
      done
      ;;
    shardgen)
      cat /sys/kernel/mm/transparent_hugepage/enabled /sys/kernel/mm/transparent_hugepage/defrag \
        > "$OUT/thp.txt" 2>&1
      echo "thp: $(tr '\n' ' ' < "$OUT/thp.txt")"
      RUST_LOG=cloak::pipeline=debug timeout 150 .dev/shard-bench loop 200000 19 1,2,4,8,16 \
        > "$OUT/shardgen.txt" 2>&1
      echo "shardgen rc=$?"
      grep generate_shard "$OUT/shardgen.txt"
      grep "generation phases" "$OUT/shardgen.txt" | tail -2 | sed -E 's/.*phases=//'
      ;;
    tracebench)
      THREADS=1,2,3,4 SHARD=524288 LOOP_N=600000 FIB_N=700000 timeout 120 .dev/executor-bench \
        > "$OUT/tracebench.txt" 2>&1
      echo "tracebench rc=$?"; grep -E "^(program|loop|fibonacci)," "$OUT/tracebench.txt"
      ;;
    timeline)
      # When each shard of loop 4.2 M is executed, generated, staged,
      # committed and proven (the pipeline's events, cloak::pipeline).
      RUST_LOG=cloak::pipeline=debug timeout 60 .dev/cloak "${LOOP_4M[@]}" > "$OUT/timeline.txt" 2>&1
      echo "timeline rc=$?"
      grep -E "claimed|executed|generated|staged|received|committed|proven|^setup" "$OUT/timeline.txt" \
        | sed -E 's/^[0-9-]+T([0-9:.]+)Z? +DEBUG +/\1 /' | head -80
      ;;
    warmtimeline)
      # The timeline of loop's 4.2 M-cycle proof inside `cloak bench` (its
      # smaller sizes first, so memory pools and kernels are warm, as the
      # suite's figures are).
      RUST_LOG=cloak::pipeline=debug NO_COLOR=1 timeout 120 .dev/cloak bench --backend gpu --only loop \
        -o "$OUT/warm.csv" > "$OUT/warmtimeline.txt" 2>&1
      echo "warmtimeline rc=$?"
      cut -d, -f1,3,4,6,9 "$OUT/warm.csv"
      # The last proof's events: from the last `executed shard=0` on.
      n=$(grep -n "executed shard=0" "$OUT/warmtimeline.txt" | tail -1 | cut -d: -f1)
      tail -n +"${n:-1}" "$OUT/warmtimeline.txt" > "$OUT/warmtimeline-4m.txt"
      python3 crates/gpu/scripts/pipeline-summary.py "$OUT/warmtimeline-4m.txt" 2>&1 | tail -4
      grep -E "received|committed|memory proven|proven shard" "$OUT/warmtimeline-4m.txt" \
        | sed -E 's/^[0-9-]+T([0-9:.]+)Z? +DEBUG +/\1 /' | head -40
      ;;
    cpuload)
      crates/gpu/scripts/cpu-sample.sh > "$OUT/cpuload-stat.txt" & sampler=$!
      sleep 0.2
      # CPULOAD_JSON=1: json instead of loop 4.2 M.
      args=("${LOOP_4M[@]}")
      [ "${CPULOAD_JSON:-0}" = 1 ] && args=(prove guests/bin/json.elf --input vec@guests/inputs/json-records.json --backend gpu -o /tmp/json.bin)
      RUST_LOG=cloak::pipeline=debug NO_COLOR=1 timeout 60 .dev/cloak "${args[@]}" > "$OUT/cpuload-timeline.txt" 2>&1
      echo "cpuload rc=$?"
      kill $sampler
      python3 - "$OUT/cpuload-stat.txt" "$OUT/cpuload-timeline.txt" <<'PY'
import os, re, sys
ticks = []
for line in open(sys.argv[1]):
    f = line.split()
    v = list(map(int, f[2:10]))
    ticks.append((float(f[0]) % 86400, v[0] + v[1] + v[2] + v[5] + v[6], sum(v)))
ev = re.findall(r'T(\d\d):(\d\d):([\d.]+)Z\s+DEBUG (.*)', open(sys.argv[2]).read())
ev = [(int(h) * 3600 + int(m) * 60 + float(s), e) for h, m, s, e in ev]
if not ev:
    sys.exit("no pipeline events")
start, end = ev[0][0], ev[-1][0]
second = next((t for t, e in ev if "pass 2 received" in e), end)
def cores(a, b):
    d = [(ticks[i][1] - ticks[i - 1][1]) / max(ticks[i][2] - ticks[i - 1][2], 1)
         for i in range(1, len(ticks)) if a <= ticks[i][0] <= b]
    return os.cpu_count() * sum(d) / max(len(d), 1)
print(f"pass 1 {1e3 * (second - start):.0f} ms, {cores(start, second):.1f} cores busy; "
      f"pass 2 {1e3 * (end - second):.0f} ms, {cores(second, end):.1f} cores busy")
PY
      ;;
    ncu)
      # Every kernel's time (Nsight Compute, clocks left alone) over one
      # 2^19-cycle shard of loop, summed per kernel name.
      # NCU_BIN picks another binary (its files tagged NCU_TAG).
      ncu --clock-control none --metrics gpu__time_duration.sum --csv \
        "${NCU_BIN:-.dev/cloak}" prove guests/bin/loop.elf --input u32:70000 --backend gpu -o /tmp/ncu.bin \
        > "$OUT/ncu${NCU_TAG:-}.csv" 2> "$OUT/ncu${NCU_TAG:-}.log"
      echo "ncu ${NCU_TAG:-} rc=$?"
      python3 - "$OUT/ncu${NCU_TAG:-}.csv" <<'PY'
import csv, sys, collections
rows = [r for r in csv.reader(open(sys.argv[1])) if len(r) > 10]
head = rows[0]; k = head.index("Kernel Name"); v = head.index("Metric Value"); u = head.index("Metric Unit")
tot = collections.defaultdict(lambda: [0, 0.0])
for r in rows[1:]:
    scale = {"nsecond": 1e-6, "usecond": 1e-3, "msecond": 1.0}.get(r[u], 1e-6)
    t = tot[r[k].split("(")[0]]; t[0] += 1; t[1] += float(r[v].replace(",", "")) * scale
all_ms = sum(t[1] for t in tot.values())
print(f"kernels: {sum(t[0] for t in tot.values())} launches, {all_ms:.1f} ms")
for name, (n, ms) in sorted(tot.items(), key=lambda x: -x[1][1])[:30]:
    print(f"{ms:9.2f} ms {n:6d}  {name}")
PY
      ;;
    ncusol)
      # Where the heaviest kernels stand against the hardware's limits:
      # compute and memory throughput, occupancy, registers a thread.
      # NCUSOL_KERNELS: other kernel names (anchored regexes).
      for k in ${NCUSOL_KERNELS:-hash_rows_inline ntt_dif_pass_r9 lde_first_pass_masked_r10 compress_sub lde_to_columns open_reduce}; do
        ncu --clock-control none -k "regex:^$k\$" -c "${NCU_COUNT:-12}" \
          --section SpeedOfLight --section Occupancy --section LaunchStats \
          --section ComputeWorkloadAnalysis \
          "${NCU_BIN:-.dev/cloak}" prove guests/bin/loop.elf --input u32:70000 --backend gpu -o /tmp/ncu.bin \
          > "$OUT/ncusol-$k.txt" 2>&1
        echo "ncusol $k rc=$?"
        python3 - "$OUT/ncusol-$k.txt" <<'PY'
import re, sys
want = ["Duration", "Compute (SM) Throughput", "Memory Throughput", "DRAM Throughput",
        "Achieved Occupancy", "Theoretical Occupancy", "Registers Per Thread",
        "Issue Slots Busy", "Executed Ipc Active", "Block Limit Registers"]
cur = None
for line in open(sys.argv[1]):
    m = re.match(r"^  (\w+)(?:\(.*\))? \((\d+), \d+, \d+\)x\((\d+), (\d+), \d+\)", line)
    if m:
        if cur: print(cur)
        cur = f"{m.group(1)} grid {m.group(2)} block {m.group(3)}x{m.group(4)}:"
        continue
    for w in want:
        if cur and line.strip().startswith(w + " "):
            parts = line.split()
            unit = parts[-2] if parts[-2] in ("%", "us", "ms", "ns") else ""
            cur += f" {w.replace(' ', '_')}={parts[-1]}{unit}"
if cur: print(cur)
PY
      done
      ;;
    cold)
      # COLD_ORDER: which binary goes first (default "old new").
      for bin in ${COLD_ORDER:-old new}; do
        exe=.dev/cloak; [ $bin = old ] && exe=.dev/old/cloak
        cache=$(mktemp -d)
        CLOAK_CUBIN_CACHE=$cache RUST_LOG=cloak::pipeline=debug NO_COLOR=1 timeout 120 $exe prove \
          guests/bin/json.elf --input vec@guests/inputs/json-records.json --backend gpu -o /tmp/cold.bin \
          > "$OUT/cold-$bin.txt" 2>&1
        echo "cold $bin rc=$?: $(grep -E '^setup:' "$OUT/cold-$bin.txt")"
        grep -E "committed shard=[0-3] |prepared set|kernels compiled" "$OUT/cold-$bin.txt" | sed -E 's/^[0-9-]+T//'
        rm -rf "$cache"
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
