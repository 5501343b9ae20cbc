#!/usr/bin/env bash
# The multi-GPU measurements on one GPU host with two or more GPUs (the device kind nvidia-h100-x2), in one go:
#   crash   a sweep with a sticky CUDA error (an illegal address) in the middle, --isolate
#   gpu0    the default sweep (cuda + memcpy) through the cluster path on GPU 0 alone (--gpus 0)
#   all     the same on every GPU of the host (--gpus all): wall time, interference and gate against gpu0
#   inproc  the same in this process on GPU 0: where the default sweep spends its time today, and whether
#           data made ahead on the worker disturbs a timing (gpu0 against inproc)
#   gpu1    the same on GPU 1 alone: card to card against gpu0 (compare --by gpu_index)
#   all2    --gpus all again, and three events-mode runs of the 1x3x3x3 points with memcpy in this process:
#           with gpu0, all, inproc and gpu1, five default-sweep runs of one commit on one host (the gate's
#           error-rate material)
# The kernel's tuning records are expected in .cache/bench/kernel-tuning (carried from a run on this GPU
# model and driver), so no run here spends its time tuning and every card times the same launches.
# Leaves $OUT/summary.txt (wall times and every analysis), $OUT/card_to_card.md and $OUT/runs.tgz (the run
# files and their logs). Each run is capped at 200 s; a run that would start after 480 s is skipped and
# says so. Needs dask and distributed importable (scripts/device_cluster_wheels.sh, installed to /tmp/site).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-/tmp/bench-out}
R=/tmp/bench-runs
rm -rf "$R" && mkdir -p "$OUT" "$R"  # a warm machine may hold an earlier call's runs
S="$OUT/summary.txt"
: > "$S"
say() { echo "$*" | tee -a "$S"; }

timed() {  # timed NAME ENV ARGS...: python -m bench run ARGS into $R/NAME with ENV (VAR=value ...), wall time noted
  local name=$1 envs=$2
  shift 2
  if ((SECONDS > 480)); then say "$name: skipped (${SECONDS}s spent)"; return; fi
  local t0=$EPOCHREALTIME
  env $envs timeout 200 python3 -m bench run --out "$R/$name" --no-progress "$@" >"$R/$name.log" 2>&1
  local rc=$? t1=$EPOCHREALTIME
  echo -e "$name\t$rc\t$t0\t$t1" >>"$R/walls.tsv"
  say "$name: exit $rc, wall $(python3 -c "print(f'{$t1 - $t0:.1f}')") s: python -m bench run $* ($envs)"
  grep -E "^(run |results:|note:|error)" "$R/$name.log" | head -5 | sed 's/^/    /' | tee -a "$S"
}

say "== host"
nvidia-smi -L | tee -a "$S"
say "cores: $(nproc); $(python3 -c 'import dask, distributed; print("dask", dask.__version__, "distributed", distributed.__version__)')"
say "commit: ${BENCH_GIT_COMMIT:-unset}"
say "tuning records carried: $(find .cache/bench/kernel-tuning -name '*.json' 2>/dev/null | wc -l)"
DEFAULT=(--sweep default --backend cuda --backend memcpy)
ORDER=CUDA_DEVICE_ORDER=PCI_BUS_ID

model=$(python3 -c "from bench.gpu import cuda; print(cuda.Device(0).name)")
slug=$(python3 -c "import re,sys; print(re.sub(r'[^A-Za-z0-9._-]+', '-', sys.argv[1].lower()).strip('-'))" "$model")
if ! python3 -c "import sys; from bench.gpu import cuda, tuning; sys.exit(0 if (tuning.Path('.cache/bench/kernel-tuning') / tuning._slug(sys.argv[1])).is_dir() else 1)" "$model"; then
  say "no carried tuning records for $model: tuning on GPU 0 first (not timed)"
  timeout 240 python3 -m bench run --sweep default --backend cuda --out "$R/tune" --no-progress >"$R/tune.log" 2>&1
fi
say "GPU model $model ($slug); tuning records: $(ls .cache/bench/kernel-tuning/ 2>/dev/null | tr '\n' ' ')"
say "== runs"
timed crash "BENCH_TEST_BACKENDS=1" --sweep tests/gpu/crash_mid_sweep.toml --isolate
timed gpu0 "$ORDER" "${DEFAULT[@]}" --gpus 0
timed all "$ORDER" "${DEFAULT[@]}" --gpus all
timed inproc "$ORDER CUDA_VISIBLE_DEVICES=0" "${DEFAULT[@]}"
timed gpu1 "$ORDER" "${DEFAULT[@]}" --gpus 1
for i in 1 2 3; do
  timed "events$i" "$ORDER CUDA_VISIBLE_DEVICES=0" --sweep default --shape 1x3x3x3 --method events --backend cuda --backend memcpy
done
timed all2 "$ORDER" "${DEFAULT[@]}" --gpus all
tar czf "$OUT/runs.tgz" -C "$R" .  # the runs first: if the analysis below runs out of time, they are back

say "== wall time: 1 GPU (gpu0) against all GPUs (all), whole commands"
python3 - "$R/walls.tsv" <<'PY' | tee -a "$S"
import sys
walls = {n: float(b) - float(a) for n, rc, a, b in (l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l)}
if "gpu0" in walls and "all" in walls:
    print(f"gpu0 {walls['gpu0']:.1f} s, all {walls['all']:.1f} s: {walls['gpu0'] / walls['all']:.2f}x faster")
PY
say "== crash mid-sweep (in run order)"
python3 - "$R/crash" <<'PY' | tee -a "$S"
import sys
from bench.results import load
df = load(sys.argv[1]).sort_values("started_at")
for r in df.itertuples():
    print(f"{r.backend:22} {r.shape:13} {r.mode:8} {r.precision} {r.status:8} origin={r.error_origin} "
          f"attempts={r.attempts} worker={r.worker}" + (f"\n    {r.error}" if isinstance(r.error, str) else ""))
PY
for run in inproc gpu0 all; do
  [ -d "$R/$run" ] || continue
  say "== where the time goes: $run"
  python3 python -m bench phases "$R/$run" --by shape 2>&1 | tee -a "$S"
done
if [ -d "$R/gpu0" ] && [ -d "$R/all" ]; then
  say "== interference: all against gpu0"
  python3 reports/multi-gpu/recipes/interference.py "$R/gpu0" "$R/all" 2>&1 | tee -a "$S"
  say "== gate: gpu0 -> all"
  python3 -m bench gate "$R/gpu0" "$R/all" 2>&1 | tail -25 | tee -a "$S"
fi
if [ -d "$R/inproc" ] && [ -d "$R/gpu0" ]; then
  say "== data made ahead: gpu0 against inproc (both GPU 0)"
  python3 reports/multi-gpu/recipes/interference.py "$R/inproc" "$R/gpu0" 2>&1 | tee -a "$S"
  python3 -m bench gate "$R/inproc" "$R/gpu0" 2>&1 | tail -25 | tee -a "$S"
fi
if [ -d "$R/gpu0" ] && [ -d "$R/gpu1" ]; then
  say "== card to card: GPU 0 against GPU 1"
  python3 -m bench compare --by gpu_index "$R/gpu0" "$R/gpu1" --markdown "$OUT/card_to_card.md" 2>&1 | tail -30 | tee -a "$S"
fi
tar czf "$OUT/runs.tgz" -C "$R" .
say "done in ${SECONDS}s; $(du -h "$OUT/runs.tgz" | cut -f1) of runs in runs.tgz"
