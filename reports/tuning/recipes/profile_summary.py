"""Where a default-sweep cuda run from an empty cache spent its time, from its cProfile (pstats) file:
the seconds (cumulative, main thread) of the harness's phases and of the tuner's parts.

  python reports/tuning/recipes/profile_summary.py reports/tuning/profile-fresh-cuda-h200-2026-12-04.prof

The profile is made by scripts/device/profile_run.sh COMMIT --backend cuda (an empty --cache-dir: no
tuning records, no cubins). Functions are matched by file and name, so a renamed function shows as absent.
"""

from __future__ import annotations

import pstats
import sys

# (label, file, function[, calling file, calling function]): with a caller, only the calls from it
ROWS: list[tuple[str, ...]] = [
    ("whole run (bench.runner.run)", "bench/runner.py", "run"),
    ("a point's data, build, reference, verify (worker._prepare)", "bench/execution/worker.py", "_prepare"),
    ("the kernel tuner's choice (KernelTuner.choose)", "bench/backends/kernel_tuner.py", "choose"),
    ("  timing candidates (time_launches)", "bench/backends/kernel_tuner.py", "time_launches"),
    (
        "    of it, measurements (timing.device.measure)",
        "bench/timing/device.py",
        "measure",
        "bench/backends/kernel_tuner.py",
        "time_launches",
    ),
    (
        "    of it, binding rotated copies (GpuPreparedPoint.rotation)",
        "bench/backends/gpu_common.py",
        "rotation",
        "bench/backends/kernel_tuner.py",
        "time_launches",
    ),
    ("  classes tuned on their first point (KernelTuner._tune)", "bench/backends/kernel_tuner.py", "_tune"),
    (
        "  other points checking their class's shortlist (KernelTuner._check)",
        "bench/backends/kernel_tuner.py",
        "_check",
    ),
    ("NVML throttle-reason names (nvml.reason_bits)", "bench/gpu/nvml.py", "reason_bits"),
    ("the points' own timing (GpuPreparedPoint.measure)", "bench/backends/gpu_common.py", "measure"),
]


def main(path: str) -> None:
    stats = pstats.Stats(path).stats  # {(file, line, name): (cc, nc, tt, ct, callers)}
    print("| what | calls | seconds (cumulative) |")
    print("|---|---:|---:|")
    for label, file, name, *caller in ROWS:
        hits = []
        for (f, _, n), (_, nc, _, ct, callers) in stats.items():
            if not (f.endswith(file) and n == name):
                continue
            if not caller:
                hits.append((nc, ct))
                continue
            hits += [(c[1], c[3]) for (cf, _, cn), c in callers.items() if cf.endswith(caller[0]) and cn == caller[1]]
        calls, seconds = (sum(h[0] for h in hits), sum(h[1] for h in hits)) if hits else (0, 0.0)
        print(f"| {label} | {calls} | {seconds:.1f} |")


if __name__ == "__main__":
    main(sys.argv[1])
