"""How far one point moves between processes when it runs the same launch: per (point, backend, what ran)
with at least three runs, the spread of the runs' medians (max / min - 1), the largest first.

  python reports/tuning/recipes/same_launch_spread.py RESULTS... [--top N]

What the gate's noise must cover: one run a side compares two processes, so a point whose time depends
on the process (where its buffers landed, say) moves by this much with no change to the code.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import numpy as np
import pandas as pd

from bench import mdtable, what_ran
from bench.results import load


def launch_groups(df: pd.DataFrame, least: int) -> Iterator[tuple[dict, pd.DataFrame]]:
    """The ok rows of each (point, backend, what ran) with at least ``least`` runs: the point's
    description and its rows."""
    df = df[df["status"] == "ok"].copy()
    df["ran"] = what_ran.column(df)
    for _, d in df.groupby(["point_key", "backend", "ran"]):
        if len(d) >= least:
            f = d.iloc[0]
            about = {k: f[c] for k, c in (("backend", "backend"), ("shape", "shape"), ("mode", "mode"),
                                          ("precision", "precision"), ("axis", "channel_axis"))}  # fmt: skip
            yield about, d


def spreads(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for about, d in launch_groups(df, 3):
        m = d["median_us"].to_numpy(dtype=np.float64)
        rows.append(
            {
                **about,
                "runs": len(d),
                "cards": d["gpu_uuid"].nunique(),
                "spread": m.max() / m.min() - 1,
                "within-run noise": float(np.median(d["noise"])),
                "medians (us)": ", ".join(f"{v:.3f}" for v in np.sort(m)),
            }
        )
    return pd.DataFrame(rows).sort_values("spread", ascending=False, kind="stable")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+")
    ap.add_argument("--top", type=int, default=8)
    args = ap.parse_args()
    table = spreads(load(args.results))
    n = len(table)
    print(
        f"{n} (point, backend, launch) groups with 3 or more runs; spread over 1%: {(table.spread > 0.01).sum()}, "
        f"over 2%: {(table.spread > 0.02).sum()}, over 3%: {(table.spread > 0.03).sum()}; "
        f"median spread {table.spread.median():.2%}\n"
    )
    top = table.head(args.top).assign(
        spread=lambda t: t.spread.map("{:.2%}".format),
        **{"within-run noise": lambda t: t["within-run noise"].map("{:.2%}".format)},
    )
    print(mdtable.table(list(top.columns), top.itertuples(index=False), right=("runs", "cards", "spread")))


if __name__ == "__main__":
    main()
