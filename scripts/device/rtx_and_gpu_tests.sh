#!/usr/bin/env bash
# One lent GPU machine with TensorRT-RTX's wheels installed: selfcheck (RTX refuses Hopper: the adapter
# must say so in one line naming the compute capabilities RTX supports, exit 2), the same refusal
# through `bench run`, then the GPU test suite. Output in $OUT.   usage: scripts/device/rtx_and_gpu_tests.sh NAME
set -uo pipefail
name="$1"
log="$OUT/${name}-rtx-tests.log"
run() { echo "+ $*" | tee -a "$log"; "$@" 2>&1 | tee -a "$log"; echo "exit ${PIPESTATUS[0]}" | tee -a "$log"; }
run python3 -m bench selfcheck --out "$OUT/selfcheck-${name}-rtx.md"
run python3 -m bench run --backend tensorrt-rtx --sweep seed --out /tmp/r --cache-dir /tmp/c --no-progress
run python3 -m pytest -m gpu tests/gpu -q -o addopts="" -p no:cacheprovider -x
