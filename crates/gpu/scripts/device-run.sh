#!/bin/bash
# One call on the GPU machine (CUDA, no Rust): the kernel checks, CPU/GPU
# proof equality, then the TEE-overhead experiment up to UP_TO cycles
# (device-steps.sh's `checks` and `tee` steps).
#
#   crates/gpu/scripts/device-run.sh OUT_DIR [UP_TO] [checks|no-checks]
set -u
OUT=${1:?OUT_DIR}
steps=(tee)
[ "${3:-checks}" = checks ] && steps=(checks tee)
UP_TO=${2:-1100000} REPEAT=${REPEAT:-1} exec "$(dirname "$0")/device-steps.sh" "$OUT" "${steps[@]}"
