#!/usr/bin/env bash
# Whether a point's move between runs is decided by its process: PROCESSES runs (default 6), each a
# separate process with --rounds 4 (a small point stays open between rounds: same buffers), of the shapes
# whose same-launch runs moved most between processes (reports/tuning/README.md), one tuning store shared
# so every process runs the same launches. Read with reports/tuning/recipes/round_vs_process_spread.py.
#   usage: scripts/device/placement_probe.sh COMMIT [bench run args...]
set -uo pipefail
commit="$1"; shift
export BENCH_GIT_COMMIT="$commit" PYTHONUNBUFFERED=1 GIT_DIR=/nonexistent
out="/tmp/placement-$(date -u +%F)"
rm -rf "$out" /tmp/placement-cache
nvidia-smi --query-gpu=name,uuid,driver_version --format=csv,noheader
for i in $(seq "${PROCESSES:-6}"); do
  python3 -m bench run --sweep default --shape 1x64x56x56 --shape 8x128x56x56 --backend cuda --backend memcpy \
    --rounds 4 --cache-dir /tmp/placement-cache --out "$out" --no-progress "$@" 2>&1 | grep -v "^kernel tuning" | tail -2
done
python3 reports/tuning/recipes/round_vs_process_spread.py "$out"
(cd /tmp && tar czf "$OUT/placement.tgz" "$(basename "$out")")
