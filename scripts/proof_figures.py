"""Figures for the GPU timing proof (issue 3), computed from results files only.

    python scripts/proof_figures.py --runs A.parquet B.parquet [--events E.parquet] [--markdown out.md]

(a) the 1x3x3x3 median with graph replay (run A) and with plain events (run E);
(c) the cuda kernel's percent of memcpy at the largest size of each precision (run A);
(d) two back-to-back runs A and B: median |B/A - 1| over points whose median is >= 50 us.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from bench.results import load


def to_markdown(df: pd.DataFrame, fmt: str = ".2f") -> str:
    """A pipe table without the optional tabulate dependency."""
    df = df.reset_index()
    cells = [[format(v, fmt) if isinstance(v, float) else str(v) for v in row] for row in df.itertuples(index=False)]
    head = "| " + " | ".join(map(str, df.columns)) + " |"
    rule = "|" + "|".join("---" for _ in df.columns) + "|"
    return "\n".join([head, rule, *("| " + " | ".join(r) + " |" for r in cells)])


def tiny_medians(df: pd.DataFrame) -> pd.DataFrame:
    tiny = df[(df["shape"] == "1x3x3x3") & (df.status == "ok") & (df.backend == "cuda")]
    return tiny.groupby(["timing_method", "mode", "precision", "channel_axis"])["median_us"].median().unstack(0)


def pct_at_largest(df: pd.DataFrame) -> pd.DataFrame:
    ok = df[(df.status == "ok") & (df.backend == "cuda")].copy()
    itemsize = ok["precision"].map({"fp32": 4, "fp16": 2, "bf16": 2, "int8": 1})
    ok["tensor_mib"] = ok["numel"] * itemsize / 2**20
    rows = []
    for prec, g in ok.groupby("precision"):
        largest = g[g.numel == g.numel.max()]
        rows.append({
            "precision": prec, "shape": largest["shape"].iloc[0], "tensor_MiB": largest["tensor_mib"].iloc[0],
            "min_pct": largest["pct_of_memcpy"].min(), "median_pct": largest["pct_of_memcpy"].median(),
            "max_pct": largest["pct_of_memcpy"].max(), "points": len(largest),
        })  # fmt: skip
    ge64 = ok[ok.tensor_mib >= 64]
    summary = ge64.groupby("precision")["pct_of_memcpy"].agg(["min", "median", "count"])
    return pd.DataFrame(rows).set_index("precision"), summary


def repeatability(a: pd.DataFrame, b: pd.DataFrame, floor_us: float = 50.0) -> tuple[float, int, float]:
    cols = ["point_key", "backend", "median_us"]
    j = a[a.status == "ok"][cols].merge(b[b.status == "ok"][cols], on=["point_key", "backend"], suffixes=("_a", "_b"))
    j = j[(j.median_us_a >= floor_us) & (j.median_us_b >= floor_us)]
    rel = (j.median_us_b / j.median_us_a - 1).abs()
    return float(rel.median()), len(j), float(rel.quantile(0.9)) if len(j) else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", nargs=2, type=Path, required=True, metavar=("A", "B"))
    ap.add_argument("--events", type=Path)
    ap.add_argument("--markdown", type=Path)
    args = ap.parse_args()
    a, b = load(args.runs[0]), load(args.runs[1])
    lines = [f"# GPU timing proof: {a.gpu_name.dropna().iloc[0]} (driver {a.driver_version.dropna().iloc[0]})", ""]
    frames = [a] + ([load(args.events)] if args.events else [])
    lines += ["## (a) 1x3x3x3, cuda backend, median us per call by timing method", "",
              to_markdown(tiny_medians(pd.concat(frames))), ""]  # fmt: skip
    largest, ge64 = pct_at_largest(a)
    lines += ["## (c) cuda kernel, % of memcpy of the same bytes", "", "At the largest shape:", "",
              to_markdown(largest, ".1f"), "", "Over every point with a tensor of 64 MiB or more:", "",
              to_markdown(ge64, ".1f"), ""]  # fmt: skip
    med, n, p90 = repeatability(a, b)
    lines += ["## (d) two back-to-back runs", "",
              f"median |B/A - 1| over {n} points with median >= 50 us: {med:.3%} (90th percentile {p90:.3%})", ""]  # fmt: skip
    text = "\n".join(lines)
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


if __name__ == "__main__":
    main()
