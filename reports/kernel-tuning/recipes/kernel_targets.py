"""The kernel's targets for a run of the default sweep with the `cuda` and `memcpy` backends, with the
roofline bound (bench/analysis/roofline.py) of every point under its target.

  PYTHONPATH=. python3 reports/kernel-tuning/recipes/kernel_targets.py results/<run>.parquet

Targets, in the harness's pct_of_memcpy (bandwidth over the copy's of the same tensor), for tensors of
64 MiB or more: fp32/fp16/bf16 >= 97 in every mode and axis; int8 UNIFORM and CHANNEL >= 95; int8
ELEMENTWISE within 10% of its bound. 1x3x3x3 (graph): every cuda point within 0.2 us of the memcpy of
the same bytes. The bound uses the run's own numbers: the launch floor is the smallest memcpy, the
copy's slope comes from the largest one.
"""

from __future__ import annotations

import json
import sys

import pandas as pd

from bench import results
from bench.analysis.roofline import roofline, slope_gbps
from bench.point import parse_shape
from bench.precision import info as precision_info

BIG = 64 << 20
TARGETS = {"fp32": 97.0, "fp16": 97.0, "bf16": 97.0, "int8": 95.0}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    df = results.load(argv[0])
    df = df[df.status == "ok"].copy()
    df["tensor_bytes"] = [n * precision_info(p).itemsize for n, p in zip(df.numel, df.precision, strict=True)]
    cuda, memcpy = df[df.backend == "cuda"], df[df.backend == "memcpy"]
    if cuda.empty or memcpy.empty:
        print("need ok rows of both the cuda and the memcpy backends", file=sys.stderr)
        return 2
    env = json.loads(cuda.environment.iloc[0])
    floor = float(memcpy.median_us.min())
    largest = memcpy.loc[memcpy.bytes_moved.idxmax()]
    slope = slope_gbps(float(largest.bytes_moved), float(largest.median_us), floor)
    print(f"{cuda.gpu_name.iloc[0]}, commit {cuda.git_commit.iloc[0]}, L2 {env['l2_bytes'] >> 20} MiB")
    print(f"launch floor {floor:.3f} us (smallest memcpy), copy slope {slope:.0f} GB/s (largest memcpy)\n")
    big = cuda[cuda.tensor_bytes >= BIG]
    print("min pct_of_memcpy at >= 64 MiB, by precision and mode:")
    print(
        big.pivot_table(index="precision", columns="mode", values="pct_of_memcpy", aggfunc="min").round(1).to_string()
    )
    print()
    misses = 0
    for _, row in big.sort_values(["precision", "mode", "channel_axis"]).iterrows():
        axis = None if row.channel_axis == "default" else int(row.channel_axis)
        bound = roofline(
            row["mode"],
            row.precision,
            parse_shape(row["shape"]),
            axis,
            int(row.bytes_moved),
            int(env["l2_bytes"]),
            slope,
            floor,
        )
        target = TARGETS[row.precision]
        if row.precision == "int8" and row["mode"] == "elementwise":
            target = 0.9 * bound.pct_of_memcpy
        if row.pct_of_memcpy < target:
            misses += 1
        if row.pct_of_memcpy < target or (row.precision == "int8" and row["mode"] == "elementwise"):
            mark = "MISS" if row.pct_of_memcpy < target else "ok  "
            print(
                f"{mark} {row['shape']} {row['mode']} {row.precision} axis {row.channel_axis}: "
                f"{row.pct_of_memcpy:.1f}% (target {target:.1f}%); {bound.explain()}"
            )
    tiny = df[df["shape"] == "1x3x3x3"]
    mc = tiny[tiny.backend == "memcpy"].set_index("precision").median_us
    k = tiny[tiny.backend == "cuda"]
    over = k.median_us - k.precision.map(mc)
    print(
        f"\n1x3x3x3 ({', '.join(sorted(set(k.timing_method)))}): cuda {k.median_us.min():.3f}-{k.median_us.max():.3f} us, "
    )
    print(
        f"memcpy {mc.min():.3f}-{mc.max():.3f} us; the worst is {over.max():.3f} us over the memcpy of the same bytes"
    )
    late = k[over > 0.2]
    for _, row in late.iterrows():
        misses += 1
        print(f"MISS 1x3x3x3 {row['mode']} {row.precision} axis {row.channel_axis}: {row.median_us:.3f} us")
    if "kernel_config" in cuda:
        sources = cuda.kernel_config.map(lambda c: dict(c).get("source") if isinstance(c, (dict, list)) else c)
        print("\nkernel_config sources:", sources.value_counts(dropna=False).to_dict())
    print(f"\n{misses} point(s) under target" if misses else "\nevery point meets its target")
    return 1 if misses else 0


if __name__ == "__main__":
    pd.set_option("display.width", 200)
    sys.exit(main(sys.argv[1:]))
