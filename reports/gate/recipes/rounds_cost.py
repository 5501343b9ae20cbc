"""What interleaved rounds do on a GPU: run time and the per-round medians of chosen points, from
committed runs: `python reports/gate/recipes/rounds_cost.py RESULTS... [--shape 8x128x56x56] [--precision fp32]`.

Prints, per results folder (runs grouped by their number of rounds): how long each run took (its first
point's start to its last point's end, start-up excluded) and the seconds its points spent timing; then,
for the chosen shape and precision of the cuda backend, each point's median per run, one entry per
round ("7.7/7.9/6.8" is three rounds), so a round that is slow in every run shows as a column.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.results import load


def rounds_of(row) -> int:
    settings = row["timing_settings"]
    return int((settings or {}).get("rounds") or 1) if isinstance(settings, dict) else 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--shape", default="8x128x56x56")
    ap.add_argument("--precision", default="fp32")
    args = ap.parse_args(argv)
    df = load(args.results)
    df = df.assign(rounds=[rounds_of(r) for _, r in df.iterrows()])
    print("| rounds | runs | run time, s (first point start to last point end) | seconds timing, per run |")
    print("|---|---|---|---|")
    for rounds, part in df.groupby("rounds"):
        spans, timing = [], []
        for _, run in part.groupby("run_id"):
            spans.append((run["timestamp"].max() - run["started_at"].min()).total_seconds())
            timing.append(sum(((p or {}).get("timing") or 0.0) for p in run["phase_s"]))
        print(
            f"| {rounds} | {len(spans)} | {min(spans):.1f}-{max(spans):.1f} (median {np.median(spans):.1f}) "
            f"| {min(timing):.1f}-{max(timing):.1f} |"
        )
    print()
    chosen = df[(df["backend"] == "cuda") & (df["shape"] == args.shape) & (df["precision"] == args.precision)]
    chosen = chosen[chosen["status"] == "ok"]
    print(f"cuda {args.precision} {args.shape}: median µs per run (runs in time order; a/b/c = rounds 1/2/3)")
    print()
    print("| point | rounds | per run |")
    print("|---|---|---|")
    for (mode, axis, rounds), g in chosen.groupby(["mode", "channel_axis", "rounds"], sort=True):
        cells = []
        for _, r in g.sort_values("started_at").iterrows():
            s = np.asarray(r["samples_us"], dtype=np.float64)
            sizes = np.asarray(r["round_sizes"] if r["round_sizes"] is not None else [s.size], dtype=np.int64)
            parts = np.split(s, np.cumsum(sizes)[:-1]) if sizes.sum() == s.size else [s]
            cells.append("/".join(f"{np.median(p):.2f}" for p in parts))
        print(f"| {mode} axis={axis} | {rounds} | {'  '.join(cells)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
