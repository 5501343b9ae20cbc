#!/usr/bin/env bash
# What ran, held fixed: one lease's material for the tuner and the same-machine A/B.
#   usage: scripts/device/tuning_ab.sh NAME DEADLINE_S COMMIT PLAN...
#   PLAN items:
#     tests    the GPU tests of the tuner, the rotation and the backends (stops the call on a failure)
#     scan     `bench tuning scan` of the default sweep's cuda points: every candidate on every point
#     ab       `nox -s gate` by hand: two copies of this tree, each with its own empty .cache/bench,
#              default-sweep runs interleaved base, head, base, head (2+2)
#     carried  one default-sweep run from an empty cache taking the committed baseline's launches
#              (--tuning-from results/_baselines/nvidia-h200.launches.json), then `gate --baseline`
#     phases   two default-sweep runs sharing one cache that starts empty: a fresh store, then a warm one
#     bandwidth  the bandwidth sweep (results/bandwidth-h200-DATE)
#     baseline   `nox -s baseline` by hand: BASELINE_RUNS (default 5) default-sweep runs from an empty
#              cache into results/nvidia-h200-DATE, its manifest, noise profile and launch set
# RUN_ARGS (e.g. "--verify device") goes to every default-sweep run.
# Each item runs only if its estimate still fits before DEADLINE_S; after every item everything so far
# (kept in /tmp/tab, which outlives a call on a warm machine) is packed into $OUT/NAME.tgz.
set -uo pipefail
name="$1"; deadline="$2"; commit="$3"; shift 3
# the tree travels with a stale .git (an older HEAD): git must not answer for it, BENCH_GIT_COMMIT does
export BENCH_GIT_COMMIT="$commit" PYTHONUNBUFFERED=1 GIT_DIR=/nonexistent
t0=$(date +%s)
day=$(date -u +%F)
store=/tmp/tab
tree=$(pwd)
mkdir -p "$store/results" "$store/logs"
log="$store/logs/${name}-$(date -u +%H%M%S).log"
declare -A est=([tests]=150 [scan]=260 [ab]=300 [carried]=90 [phases]=120 [bandwidth]=120 [baseline]=300)
pack() { (cd "$store" && tar czf "$OUT/${name}.tgz" results logs stores 2>/dev/null); }
gpu=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -1 | tr 'A-Z ' 'a-z-')
fits() { local spent=$(( $(date +%s) - t0 )); (( spent + est[$1] <= deadline )) || { echo "skip $1: $spent s spent, ~${est[$1]} s more would pass $deadline s" | tee -a "$log"; return 1; }; }
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw \
  --format=csv | tee -a "$log"
# the hashes this Python computes: they must equal those of the machine that reads the results
python3 -c "from bench.gpu import copy_kernel, kernel_generator as g; print('generator', g.generator_hash(), 'copy', copy_kernel.generator_hash())" 2>&1 | tee -a "$log"
bench_run() {  # bench_run SRC OUT [ARGS...]: a default-sweep run of the tree at SRC, its own .cache/bench
  local src="$1" out="$2"; shift 2
  local s=$(date +%s)
  echo "+ ($src) bench run --sweep default --backend cuda --backend memcpy --out $out $*" | tee -a "$log"
  (cd "$src" && python3 -m bench run --sweep default --backend cuda --backend memcpy --out "$out" --no-progress ${RUN_ARGS:-} "$@") \
    2>&1 | grep -v "^kernel tuning" | tail -12 | tee -a "$log"
  echo "wall $(( $(date +%s) - s )) s" | tee -a "$log"
}
for item in "$@"; do
  fits "$item" || continue
  start=$(date +%s)
  case "$item" in
    tests)
      python3 -m pytest -q -rfE -m gpu -o addopts="" -p no:cacheprovider -k "${TESTS_K:-not nothing}" ${TESTS:-tests/gpu} \
        2>&1 | tail -${TESTS_TAIL:-40} | tee -a "$log"
      if [ "${PIPESTATUS[0]}" != 0 ] && [ "${TESTS_STOP:-1}" = 1 ]; then echo "GPU tests failed: stopping" | tee -a "$log"; pack; exit 1; fi ;;
    scan)
      python3 -m bench tuning scan --sweep default --backend cuda --cache-dir /tmp/scan-cache \
        --out "$store/results/scan-${name}-${day}.jsonl" 2>&1 | tail -3 | tee -a "$log" ;;
    ab)
      for side in base head; do rm -rf "/tmp/ab-$side"; mkdir -p "/tmp/ab-$side"
        (cd "$tree" && tar cf - --exclude=./results --exclude=./reports --exclude=./archive --exclude=./.cache .) | (cd "/tmp/ab-$side" && tar xf -)
      done
      ab="$store/results/ab-same-code-h200-${day}-${name}"
      for round in 1 2; do
        for side in base head; do bench_run "/tmp/ab-$side" "$ab/$side"; done
      done
      mkdir -p "$store/stores/$name"
      for side in base head; do cp -r "/tmp/ab-$side/.cache/bench/kernel-tuning" "$store/stores/$name/$side" 2>/dev/null; done ;;
    carried)
      rm -rf /tmp/carried-cache
      bench_run "$tree" "$store/results/carried-${gpu}-${day}-${name}" --cache-dir /tmp/carried-cache \
        --tuning-from "results/_baselines/${gpu}.launches.json"
      python3 -m bench gate --baseline "$gpu" "$store/results/carried-${gpu}-${day}-${name}" 2>&1 | tail -25 | tee -a "$log" ;;
    phases)
      rm -rf /tmp/phases-cache
      for run in 1 2; do bench_run "$tree" "$store/results/phases-${gpu}-${day}-${name}" --cache-dir /tmp/phases-cache; done
      python3 -m bench phases "$store/results/phases-${gpu}-${day}-${name}" 2>&1 | tee -a "$log" ;;
    bandwidth)
      s=$(date +%s)
      python3 -m bench run --sweep bandwidth --out "$store/results/bandwidth-${gpu}-${day}" --no-progress \
        --cache-dir /tmp/phases-cache 2>&1 | grep -v "^kernel tuning" | tail -5 | tee -a "$log"
      echo "wall $(( $(date +%s) - s )) s" | tee -a "$log" ;;
    baseline)
      rm -rf /tmp/baseline-cache
      folder="results/${gpu}-${day}"
      for run in $(seq "${BASELINE_RUNS:-5}"); do bench_run "$tree" "$folder" --cache-dir /tmp/baseline-cache; done
      python3 -m bench baseline make "$gpu" "$folder" --note "nox -s baseline by hand (scripts/device/tuning_ab.sh), $day" 2>&1 | tail -5 | tee -a "$log"
      python3 -m bench tuning export --results "$folder" --out "results/_baselines/${gpu}.launches.json" 2>&1 | tail -3 | tee -a "$log"
      mkdir -p "$store/results/_baselines"
      cp -r "$folder" "$store/results/"
      cp results/_baselines/"${gpu}".* "$store/results/_baselines/" ;;
    *) echo "unknown plan item $item" | tee -a "$log"; continue ;;
  esac
  est[$item]=$(( $(date +%s) - start ))
  echo "[$item] $(( $(date +%s) - start )) s" | tee -a "$log"
  pack
done
pack
ls -la "$OUT"
