#!/usr/bin/env bash
# Where a default-sweep run's time goes: a cProfile of one run from an empty cache (tuning store, cubins).
#   usage: scripts/device/profile_run.sh COMMIT [bench run args...]
set -uo pipefail
commit="$1"; shift
export BENCH_GIT_COMMIT="$commit" PYTHONUNBUFFERED=1 GIT_DIR=/nonexistent
rm -rf /tmp/prof-cache /tmp/prof-results
nvidia-smi --query-gpu=name,uuid,driver_version --format=csv,noheader
s=$(date +%s)
python3 -m cProfile -o "$OUT/run.prof" -m bench run --sweep default --no-progress \
  --cache-dir /tmp/prof-cache --out /tmp/prof-results "$@" 2>&1 | grep -v "^kernel tuning" | tail -8
echo "wall $(( $(date +%s) - s )) s"
python3 -m bench phases /tmp/prof-results
python3 - <<'PY'
import os, pstats
p = pstats.Stats(os.environ["OUT"] + "/run.prof")
p.sort_stats("cumulative").print_stats(45)
p.sort_stats("tottime").print_stats(25)
PY
