"""Is a point's run-to-run move a property of the process? Per point and launch: how far its rounds move
inside one process (the same buffers, kept open between rounds) against how far its processes move.

  python reports/tuning/recipes/round_vs_process_spread.py RESULTS...

Made for runs with `--rounds N` (each row holds its rounds' samples, `round_sizes` long each), several
processes of one commit on one card: `scripts/device/placement_probe.sh`. Where rounds agree and
processes do not, what moves a point is decided when the process allocates its buffers, not while it
times them.
"""

from __future__ import annotations

import argparse
import itertools

import numpy as np
import pandas as pd
from same_launch_spread import launch_groups  # beside this file

from bench import mdtable
from bench.results import load


def round_medians(row: pd.Series) -> list[float]:
    samples = np.asarray(row["samples_us"], dtype=np.float64)
    edges = np.cumsum([0, *[int(n) for n in row["round_sizes"]]])
    return [float(np.median(samples[a:b])) for a, b in itertools.pairwise(edges) if b > a]


def spread(values: list[float]) -> float:
    return max(values) / min(values) - 1 if values and min(values) > 0 else float("nan")


def table(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for about, d in launch_groups(df, 2):
        per_process = [round_medians(r) for _, r in d.iterrows()]
        rows.append(
            {
                **about,
                "processes": len(d),
                "rounds": min(len(p) for p in per_process),
                "within a process (largest)": max(spread(p) for p in per_process),
                "between processes": spread([float(np.median(p)) for p in per_process]),
            }
        )
    return pd.DataFrame(rows).sort_values("between processes", ascending=False, kind="stable")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("results", nargs="+")
    out = table(load(ap.parse_args().results))
    pct = ["within a process (largest)", "between processes"]
    shown = out.assign(**{c: out[c].map("{:.2%}".format) for c in pct})
    print(mdtable.table(list(shown.columns), shown.itertuples(index=False), right=["processes", "rounds", *pct]))


if __name__ == "__main__":
    main()
