"""Issue 3, proof (b): the harness's timer against torch.cuda.Event and triton.testing.do_bench on one
large kernel (GPU only; torch and triton are imported here and nowhere else in the project).

The kernel is the `cuda` backend's Scale kernel on 64x256x56x56 fp32, CHANNEL mode, launched on
torch's current stream so that all three timers see the very same launch. Compared:
- harness graph / events (warm, back to back) and harness cold (L2 flushed before each call);
- torch.cuda.Event around back-to-back launches (warm), median over repetitions;
- triton.testing.do_bench(return_mode="median"), which clears the L2 before each call (cold).
Warm is compared with warm and cold with cold. Usage:
PYTHONPATH=. python scripts/timer_crosscheck.py --out crosscheck.json
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from bench.backends.cuda_backend import CudaBackend
from bench.gpu import cuda
from bench.point import Point
from bench.problem import make_problem
from bench.timing.device import measure
from bench.timing.settings import TimingSettings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--shape", default="64x256x56x56")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    import torch

    shape = tuple(int(d) for d in args.shape.split("x"))
    point = Point(shape, "channel", "fp32", None, "cuda")
    problem = make_problem(point)
    prepared = CudaBackend().prepare(point, problem)
    check = problem.check(prepared.output())
    if not check.correct:
        raise SystemExit(f"kernel output wrong: max error {check.max_abs_err} > {check.tolerance}")
    tstream = torch.cuda.Stream()  # not the legacy default stream, which cannot be captured into a graph
    stream = cuda.Stream.wrap(tstream.cuda_stream)
    with torch.cuda.stream(tstream):
        results = _time_all(lambda s: prepared.enqueue(s), stream)
    prepared.close()
    rows = _rows(results)
    gpu = torch.cuda.get_device_name()
    print(f"scale kernel {args.shape} fp32 channel on {gpu}")
    for r in rows:
        print(f"  {r['timer']:32} {r['median_us']:9.2f} us  {r['diff_vs_reference_pct']:+6.2f}% vs its reference")
    if args.out:
        args.out.write_text(json.dumps({"shape": args.shape, "gpu": gpu, "rows": rows}, indent=1))
    return 0


def _time_all(enqueue: Callable[[cuda.Stream], None], stream: cuda.Stream) -> dict[str, float]:
    """Median microseconds per call from each timer; torch's current stream is ``stream``."""
    import torch
    import triton.testing

    settings = TimingSettings(warmup_s=0.1, min_time_s=0.5, max_time_s=3.0, target_noise=0.005)
    results: dict[str, float] = {}
    for name, st in (
        ("harness graph (warm)", settings),
        ("harness events (warm)", replace(settings, method="events")),
        ("harness events cold", replace(settings, method="events", l2_flush=True)),
    ):
        results[name] = float(np.median(measure(enqueue, stream, st).samples_us))

    def launch() -> None:
        enqueue(stream)

    for _ in range(50):
        launch()
    torch.cuda.synchronize()
    n, per = 50, []
    for _ in range(60):  # events around n back-to-back launches (warm), median over repetitions
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        for _ in range(n):
            launch()
        b.record()
        b.synchronize()
        per.append(a.elapsed_time(b) * 1e3 / n)
    results["torch.cuda.Event (warm)"] = float(np.median(per))
    ms = triton.testing.do_bench(launch, warmup=100, rep=1000, return_mode="median")
    results["triton do_bench median (cold)"] = float(ms) * 1e3
    return results


def _rows(results: dict[str, float]) -> list[dict]:
    """Warm timers against torch.cuda.Event, cold ones against do_bench (which clears the L2)."""
    warm_ref = results["torch.cuda.Event (warm)"]
    cold_ref = results["triton do_bench median (cold)"]
    rows = []
    for name, us in results.items():
        ref = cold_ref if "cold" in name else warm_ref
        rows.append({"timer": name, "median_us": us, "diff_vs_reference_pct": 100.0 * (us - ref) / ref})
    return rows


if __name__ == "__main__":
    raise SystemExit(main())
