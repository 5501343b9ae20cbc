"""The kernel's targets table, re-measured: one column per run of the default sweep (cuda + memcpy, graph mode).

    python reports/kernel-tuning/recipes/kernel_table.py RUN.parquet [RUN.parquet ...]

Rows (the issue's): the cuda kernel's lowest % of memcpy (`pct_of_memcpy`: bandwidth over the copy's of
the same tensor) at tensors of 64 MiB or more in fp32/fp16/bf16, and the median of those points; int8
ELEMENTWISE on axis 1 at the largest shape; int8 CHANNEL's lowest at >= 64 MiB; 1x3x3x3 in graph mode:
the cuda points' range and the worst gap to the memcpy of the same bytes (target: 0.2 µs).
"""

from __future__ import annotations

import sys

from bench.precision import info as precision_info
from bench.results import load

BIG = 64 << 20


def column(path: str) -> tuple[str, list[str]]:
    df = load(path)
    ok = df[(df["status"] == "ok") & (df["timing_method"] == "graph")].copy()
    ok["tensor_bytes"] = [n * precision_info(p).itemsize for n, p in zip(ok["numel"], ok["precision"], strict=True)]
    cuda, copy = ok[ok["backend"] == "cuda"], ok[ok["backend"] == "memcpy"]
    big = cuda[cuda["tensor_bytes"] >= BIG]
    flt = big[big["precision"].isin(["fp32", "fp16", "bf16"])]["pct_of_memcpy"]
    largest = cuda["numel"].max()
    ew1 = cuda[(cuda["precision"] == "int8") & (cuda["mode"] == "elementwise") & (cuda["channel_axis"] == "1")
               & (cuda["numel"] == largest)]["pct_of_memcpy"]  # fmt: skip
    ch = big[(big["precision"] == "int8") & (big["mode"] == "channel")]["pct_of_memcpy"]
    tiny_c, tiny_m = cuda[cuda["numel"] == 27], copy[copy["numel"] == 27].set_index("precision")["median_us"]
    gap = max(r.median_us - tiny_m[r.precision] for r in tiny_c.itertuples())
    label = f"{df['gpu_name'].iloc[0]} ({df['run_id'].iloc[0][:16]}, {str(df['git_commit'].iloc[0])[:7]})"
    cells = [
        f"{flt.min():.1f} (median {flt.median():.1f}, {len(flt)} points)",
        f"{ew1.iloc[0]:.1f}" if len(ew1) else "-",
        f"{ch.min():.1f} ({len(ch)} points)",
        f"{tiny_c['median_us'].min():.2f}-{tiny_c['median_us'].max():.2f} µs; memcpy {tiny_m.min():.2f}-{tiny_m.max():.2f}; "
        f"worst {gap:+.3f} µs",
    ]
    return label, cells


def main(paths: list[str]) -> int:
    cols = [column(p) for p in paths]
    rows = [
        "cuda kernel, min % of memcpy at >= 64 MiB, fp32/fp16/bf16",
        "int8 ELEMENTWISE (axis 1), % of memcpy at the largest shape",
        "int8 CHANNEL, min % of memcpy at >= 64 MiB",
        "1x3x3x3 cuda, graph: range, and worst over the memcpy of the same bytes",
    ]
    print("| measured, default sweep, graph mode | " + " | ".join(label for label, _ in cols) + " |")
    print("|---|" + "---|" * len(cols))
    for i, name in enumerate(rows):
        print(f"| {name} | " + " | ".join(cells[i] for _, cells in cols) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
