#!/usr/bin/env bash
# The gate's error-rate material from ONE card in one lease: repeated default-sweep runs (graph), events-mode runs
# of the 1x3x3x3 points, and default-sweep runs with one round (what the default's three rounds cost).
# The kernel's tuning records travel with the tree (.cache/bench/kernel-tuning, same GPU model, driver
# and generator), so every run times the same launches. Each item of PLAN runs only if its estimated
# time (the last run of its kind, else a guess) still fits before DEADLINE seconds of this command; after
# every run all results so far (kept in /tmp/gate, which outlives a call on a warm machine) go to $OUT.
#   usage: scripts/device/gate_runs.sh NAME DEADLINE_S PLAN...     PLAN items: graph | rounds1 | events
set -uo pipefail
name="$1"; deadline="$2"; shift 2
t0=$(date +%s)
day=$(date -u +%F)
store=/tmp/gate
mkdir -p "$store/results"
log="$store/${name}-$(date -u +%H%M%S).log"
declare -A est=([graph]=200 [rounds1]=160 [events]=45)
nvidia-smi --query-gpu=name,uuid,driver_version,clocks.sm,clocks.max.sm,clocks.mem,temperature.gpu,power.draw \
  --format=csv | tee -a "$log"
for item in "$@"; do
  spent=$(( $(date +%s) - t0 ))
  if (( spent + est[$item] > deadline )); then
    echo "skip $item: $spent s spent, about ${est[$item]} s more would pass $deadline s" | tee -a "$log"
    continue
  fi
  case "$item" in
    graph) args=(--sweep default --out "$store/results/${name}-gate-${day}") ;;
    rounds1) args=(--sweep default --rounds 1 --out "$store/results/${name}-rounds1-${day}") ;;
    events) args=(--sweep default --shape 1x3x3x3 --method events --out "$store/results/${name}-gate-events-${day}") ;;
    *) echo "unknown plan item $item" | tee -a "$log"; continue ;;
  esac
  start=$(date +%s)
  echo "+ [$item] python3 -m bench run ${args[*]} --backend cuda --backend memcpy" | tee -a "$log"
  python3 -m bench run "${args[@]}" --backend cuda --backend memcpy --no-progress 2>&1 | tail -25 | tee -a "$log"
  est[$item]=$(( $(date +%s) - start ))
  echo "[$item] wall ${est[$item]} s (command, start-up included)" | tee -a "$log"
  (cd "$store" && tar czf "$OUT/${name}-gate.tgz" results ./*.log)
done
(cd "$store" && tar czf "$OUT/${name}-gate.tgz" results ./*.log)
ls -la "$OUT"
