#!/usr/bin/env bash
# The committed GPU material of one lent single-GPU machine, in one call (run from the repo root on the
# device, after the wheels in $WHEELS are installed; BENCH_GIT_COMMIT names the commit of this tree):
# selfcheck, the default sweep twice (the first run tunes the kernel, the second uses the cached
# decisions), three events-mode runs of the 1x3x3x3 points with memcpy as their yardstick, the
# bandwidth sweep, the kernel's tuning records and its targets. Everything lands in one tarball in $OUT.
#   usage: scripts/device/gpu_runs.sh NAME      (NAME: h100, h200, ...; results go to results/NAME-<date>/)
set -uo pipefail
name="$1"
day=$(date -u +%F)
res="results/${name}-${day}"
log="$OUT/${name}.log"
run() { echo "+ $*" | tee -a "$log"; "$@" 2>&1 | tee -a "$log"; echo "exit ${PIPESTATUS[0]}" | tee -a "$log"; }
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw --format=csv | tee -a "$log"
run python3 -m bench selfcheck --out "$OUT/selfcheck-${name}.md"
rm -rf .cache/bench/kernel-tuning
for i in 1 2; do run python3 -m bench run --sweep default --backend cuda --backend memcpy --out "$res" --no-progress; done
for i in 1 2 3; do
  run python3 -m bench run --sweep default --shape 1x3x3x3 --method events --backend cuda --backend memcpy \
    --out "results/${name}-events-${day}" --no-progress
done
run python3 -m bench run --sweep bandwidth --out "results/bandwidth-${name}-${day}" --no-progress
mkdir -p "reports/kernel-tuning"
run python3 -m bench tuning export --out "reports/kernel-tuning/${name}-launches.json"
second=$(ls -t "$res"/*.parquet | head -1)
run python3 reports/kernel-tuning/recipes/kernel_targets.py "$second"
tar czf "$OUT/${name}-results.tgz" results/*-"${day}" "reports/kernel-tuning/${name}-records.json" \
  .cache/bench/kernel-tuning 2>>"$log"
ls -la "$OUT" | tee -a "$log"
