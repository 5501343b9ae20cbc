"""The points whose median moves most from run to run, in repeated runs of one thing:
`python reports/gate/recipes/noisy_points.py RESULTS... [--top 12]`.

Per gated point (memcpy, the yardstick, left out): its runs' medians (µs, in time order) and the
standard deviation of their logs, largest first, with how many points of all have a run-to-run sd
above 0.5% and above 1%. A slowdown of 10% needs the point's own noise well under it to be told from
noise at the gate's error control (reports/gate/README.md): these are the points where it is not.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

from bench.report.render import point_label
from bench.results import load


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", nargs="+")
    ap.add_argument("--top", type=int, default=12)
    args = ap.parse_args(argv)
    df = load(args.results)
    ok = df[(df["status"] == "ok") & (df["backend"] != "memcpy")].sort_values("started_at")
    runs = ok["run_id"].nunique()
    rows = []
    for _, g in ok.groupby("point_key", sort=False):
        medians = g["median_us"].to_numpy(dtype=np.float64)
        rows.append((float(np.std(np.log(medians), ddof=1)), point_label(g.iloc[0]), medians))
    rows.sort(key=lambda r: -r[0])
    sds = np.array([r[0] for r in rows])
    print(
        f"{len(rows)} points over {runs} runs: run-to-run sd of the log median above 0.5% for "
        f"{int((sds > 0.005).sum())}, above 1% for {int((sds > 0.01).sum())}; median {np.median(sds):.2%}"
    )
    print()
    print("| point | sd | medians per run, µs |")
    print("|---|---|---|")
    for sd, label, medians in rows[: args.top]:
        print(f"| {label} | {sd:.2%} | {' '.join(f'{m:.2f}' for m in medians)} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
