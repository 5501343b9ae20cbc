"""Aggregations behind the report: few rows per plot, whatever the size of the input.

Plots never see raw rows: 10,000 results rows become one line point per (mode, precision, series, numel)
and at most MAX_HEATMAP_ROWS heatmap rows, which keeps rendering within seconds and the plots readable.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis.compare import join_keys, sides

MAX_HEATMAP_ROWS = 40
MEMCPY = "memcpy"


def ok_rows(df: pd.DataFrame) -> pd.DataFrame:
    return df[(df["status"] == "ok") & df["median_us"].notna()]


def with_series(df: pd.DataFrame, sides_by: str | None) -> pd.DataFrame:
    """Adds `side` (the --by value, or 'all') and `series` (what one line in a plot is: side and backend)."""
    out = df.copy()
    if sides_by:
        out["side"] = out[sides_by].astype("string").fillna("(none)")
        out["series"] = out["side"] if sides_by == "backend" else out["side"] + " · " + out["backend"].astype("string")
    else:
        out["side"] = "all"
        out["series"] = out["backend"].astype("string")
    return out


def time_curves(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (mode, precision, series, numel): median of medians, band min_us .. p99_us, median cv."""
    ok = ok_rows(df)
    return (
        ok.groupby(["mode", "precision", "series", "numel"], observed=True)
        .agg(
            median_us=("median_us", "median"),
            low_us=("min_us", "min"),
            high_us=("p99_us", "max"),
            cv=("cv", "median"),
            rows=("median_us", "size"),
        )
        .reset_index()
    )


def bandwidth_curves(df: pd.DataFrame) -> pd.DataFrame:
    """One row per (precision, mode, series, backend, side, numel): median achieved GB/s."""
    ok = ok_rows(df)
    ok = ok[ok["gbps"].notna()]
    return (
        ok.groupby(["precision", "mode", "series", "backend", "side", "numel"], observed=True)["gbps"]
        .median()
        .reset_index()
    )


def roofline(bw: pd.DataFrame) -> pd.DataFrame:
    """memcpy's best GB/s per (side, precision, numel): the line a Scale kernel can at most reach."""
    mem = bw[bw["backend"] == MEMCPY]
    return mem.groupby(["side", "precision", "numel"], observed=True)["gbps"].max().reset_index()


def size_bucket(numel: pd.Series) -> pd.Series:
    """'1e4-1e5' style decade labels, for aggregating heatmap rows."""
    decade = np.floor(np.log10(numel.clip(lower=1).astype(float))).astype(int)
    return decade.map(lambda d: f"1e{d}–1e{d + 1}")


def speedup_matrix(df: pd.DataFrame, sides_by: str, max_rows: int = MAX_HEATMAP_ROWS) -> pd.DataFrame:
    """Rows: points (or groups of points), columns: each side after the first; value: speedup of that
    side over the first (base median / side median, > 1 is faster). Groups use the geometric mean."""
    parts = sides(ok_rows(df), sides_by)
    names = list(parts)
    keys = join_keys(sides_by)
    desc = ["mode", "precision", "numel", "shape", "channel_axis", "backend"]
    grouped_base = parts[names[0]].groupby(keys)
    base = grouped_base[[d for d in desc if d not in keys]].first()
    base["median_us"] = grouped_base["median_us"].median()
    cols = {}
    for name in names[1:]:
        other = parts[name].groupby(keys)["median_us"].median()
        cols[name] = (base["median_us"] / other).dropna()
    speed = pd.DataFrame(cols).dropna(how="all")
    if speed.empty:
        return speed
    info = base.loc[speed.index].reset_index()
    table = pd.concat([info.drop(columns=["median_us"]), speed.reset_index(drop=True)], axis=1)
    table = table.sort_values(["mode", "precision", "numel"], kind="stable")
    side_cols = names[1:]
    if len(table) <= max_rows:
        table["label"] = [
            f"{r.mode} {r.precision} {r.shape} ax={r.channel_axis}" + ("" if sides_by == "backend" else f" {r.backend}")
            for r in table.itertuples()
        ]
        return table.set_index("label")[side_cols]
    # Size is what GPUs differ on (launch-bound small tensors vs bandwidth-bound large ones), so keep the
    # size buckets as long as the rows fit, dropping the mode before the size.
    for group in (["mode", "precision", "bucket"], ["precision", "bucket"], ["mode", "precision"]):
        grouped = _geomean_groups(table.assign(bucket=size_bucket(table["numel"])), group, side_cols)
        if len(grouped) <= max_rows:
            return grouped
    return grouped.head(max_rows)


def _geomean_groups(table: pd.DataFrame, group: list[str], value_cols: list[str]) -> pd.DataFrame:
    logs = np.log(table[value_cols].where(table[value_cols] > 0))
    g = logs.groupby([table[c] for c in group], sort=False).mean().apply(np.exp)
    n = table.groupby(group, sort=False).size()
    g.index = [" ".join(map(str, k if isinstance(k, tuple) else (k,))) + f" (n={n[k]})" for k in g.index]
    return g


def representative_points(df: pd.DataFrame, limit: int = 4) -> list[str]:
    """Default points for the distribution plot: per backend the largest and the smallest timed point."""
    ok = ok_rows(df)
    chosen: list[str] = []
    for _, rows in ok.sort_values(["numel", "point_key"]).groupby("backend", sort=True):
        for key in (rows["point_key"].iloc[-1], rows["point_key"].iloc[0]):
            if key not in chosen:
                chosen.append(key)
    return chosen[:limit]


def samples_long(df: pd.DataFrame, point_keys: list[str], cap: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Raw samples of the chosen points in long form (one row per sample), at most `cap` per row."""
    rng = np.random.default_rng(seed)
    ok = ok_rows(df)
    frames = []
    for _, row in ok[ok["point_key"].isin(point_keys)].iterrows():
        s = np.asarray(row["samples_us"], dtype=np.float64)
        if s.size > cap:
            s = rng.choice(s, cap, replace=False)
        frames.append(
            pd.DataFrame(
                {
                    "point_key": row["point_key"],
                    "point": f"{row['mode']} {row['precision']} {row['shape']}",
                    "series": row["series"],
                    "us": s,
                    "cv": row["cv"],
                }
            )
        )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["point", "series", "us", "cv"])
