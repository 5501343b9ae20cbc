"""Make a slowed-down copy of a results file, to prove the gate catches a regression (issue 5).

    python scripts/inject_slowdown.py IN.parquet OUT.parquet --factor 1.10 [--point KEY ...]

Multiplies the raw samples of the chosen points (default: the first timed point) by ``factor`` and
recomputes every statistic from them, exactly as a real slower run would be stored. The copy gets its
own run id (IN's plus "-slowed"), so that both can be read together. For error rates over many
injections, scripts/gate_error_rates.py injects on the gate's per-run estimates instead.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from bench.results import load
from bench.results.table import rows_to_table
from bench.stats import summarize


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    ap.add_argument("--factor", type=float, default=1.10)
    ap.add_argument("--point", action="append", default=[], metavar="KEY", help="point_key to slow down (repeatable)")
    args = ap.parse_args()
    df = load(args.src)
    timed = df[df.status == "ok"]
    keys = args.point or [timed.point_key.iloc[0]]
    for i in df.index[df.point_key.isin(keys) & (df.status == "ok")]:
        samples = np.asarray(df.at[i, "samples_us"]) * args.factor
        df.at[i, "samples_us"] = samples
        for name, value in summarize(samples).items():
            df.at[i, name] = value
        df.at[i, "gbps"] = df.at[i, "bytes_moved"] / (df.at[i, "median_us"] * 1e-6) / 1e9
        print(f"slowed {df.at[i, 'backend']} {df.at[i, 'shape']} {df.at[i, 'mode']} {df.at[i, 'precision']} "
              f"axis={df.at[i, 'channel_axis']} ({df.at[i, 'point_key']}) by {args.factor:g}x")  # fmt: skip
    df["run_id"] = df["run_id"].astype(str) + "-slowed"
    for column in ("timestamp", "started_at"):  # NaT (migrated schema-1 rows) is not None to rows_to_table
        df[column] = [None if pd.isna(v) else v for v in df[column]]
    pq.write_table(rows_to_table(df.to_dict("records")), args.dst)


if __name__ == "__main__":
    main()
