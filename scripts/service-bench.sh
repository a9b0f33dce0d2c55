#!/usr/bin/env bash
# Stream of small jobs through `cloak serve`, once per runner mode, in one
# run: serial (--lookahead 0), pipelined (--lookahead 1), and pipelined with
# traces generated ahead. Each mode gets a fresh server and data directory;
# `cloak client load-test` submits the jobs (one client, all at once) and
# verifies every result. Figures: BENCHMARKS.md, "Service".
#
#   scripts/service-bench.sh [JOBS] [LOOP_N]     (defaults: 20 jobs, n = 1000)
#
# CLOAK=path picks the binary (default ./target/release/cloak), BACKEND=gpu
# proves on the GPU (`cloak serve --backend gpu`).
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${1:-20}
n=${2:-1000}
cloak=${CLOAK:-./target/release/cloak}
backend=${BACKEND:-cpu}
tmp=$(mktemp -d)
trap 'kill $server 2>/dev/null || true; rm -rf "$tmp"' EXIT
echo > "$tmp/policy.toml"
port=18431
for mode in "0 0" "1 0" "1 1048576"; do
    set -- $mode
    dir="$tmp/data-$1-$2"
    "$cloak" serve --attest dev --listen 127.0.0.1:$port --data-dir "$dir" \
        --lookahead "$1" --trace-ahead-max-cycles "$2" --backend "$backend" 2>/dev/null &
    server=$!
    until "$cloak" client --server http://127.0.0.1:$port attestation \
        --policy "$tmp/policy.toml" --allow-dev >/dev/null 2>&1; do sleep 0.2; done
    echo "== backend $backend, lookahead $1, trace-ahead-max-cycles $2 ($(uptime | sed 's/.*load/load/'))"
    "$cloak" client --server http://127.0.0.1:$port load-test guests/bin/loop.elf \
        --input "u32:$n" --clients 1 --jobs "$jobs" --burst \
        --policy "$tmp/policy.toml" --allow-dev
    kill "$server"; wait "$server" 2>/dev/null || true
    port=$((port + 1))
done
