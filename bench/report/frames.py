"""Aggregations behind the report's plots and readings: few rows per plot, whatever the input size.

Inputs are one section's timed rows (bench.report.sections: one timing method, L2 state and unit, with
`side`, `side_label` and `series` columns). Every aggregate keeps side and backend apart, and every value
is defined in bench.report.summaries, so a plot and the sentence under it quote the same number.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from bench import copy_yardstick
from bench.precision import info
from bench.report import summaries

MEMCPY = copy_yardstick.BACKEND
PRECISION_ORDER = ("fp32", "fp16", "bf16", "int8")  # widest first, as the panels are laid out
MAX_SIZE_COLUMNS = 20  # heatmap columns: exact sizes up to this many, decades beyond


def kernels(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["backend"] != MEMCPY]


def copies(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["backend"] == MEMCPY]


def itemsize(precision: str) -> int:
    try:
        return info(precision).itemsize
    except ValueError:
        return 1


def with_finite(rows: pd.DataFrame, column: str) -> pd.DataFrame:
    """Rows whose `column` is a finite number (a stored inf or NaN GB/s draws nothing and averages badly)."""
    return rows[np.isfinite(pd.to_numeric(rows[column], errors="coerce").astype(float))]


def _line(rows: pd.DataFrame, keys: list[str], value: str) -> pd.DataFrame:
    """One row per key: the line's value (summaries.line_value), the min and max row value there, the
    number of rows and runs it stands for."""
    if rows.empty:
        return pd.DataFrame(columns=[*keys, value, "low", "high", "rows", "runs"])
    g = rows.groupby(keys, observed=True, sort=True)
    out = g[value].agg(summaries.line_value).rename(value).to_frame()
    out["low"] = g[value].min()
    out["high"] = g[value].max()
    out["rows"] = g[value].size()
    out["runs"] = g["run_id"].nunique()
    return out.reset_index()


def time_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """Kernel lines: per (mode, precision, side, backend, numel) the median of row medians (µs)."""
    return _line(kernels(rows), ["mode", "precision", "side_label", "backend", "series", "numel"], "median_us")


def copy_time(rows: pd.DataFrame) -> pd.DataFrame:
    """The copy's line (µs) per (precision, side, numel); memcpy is measured once per shape and precision,
    so it serves every mode's panel."""
    return _line(copies(rows), ["precision", "side_label", "numel"], "median_us")


def bandwidth_curves(rows: pd.DataFrame) -> pd.DataFrame:
    """Kernel lines: per (mode, precision, side, backend, numel) the median of the rows' GB/s."""
    keys = ["mode", "precision", "side_label", "backend", "series", "numel"]
    return _line(with_finite(kernels(rows), "gbps"), keys, "gbps")


def roofline(rows: pd.DataFrame) -> pd.DataFrame:
    """The copy's GB/s per (precision, side, numel): the median of the memcpy rows' GB/s there."""
    return _line(with_finite(copies(rows), "gbps"), ["precision", "side_label", "numel"], "gbps")


def pct_of_copy(rows: pd.DataFrame) -> pd.DataFrame:
    """Kernel rows with `copy_gbps` (the roofline at their side, precision and size) and `pct` (their GB/s
    as a percentage of it), `copy_us` (the copy's time there), `time_ratio` (their time over it) and
    `launch_bound` (bench.copy_yardstick.launch_bound: where launches set the time, `time_ratio` is what
    to show); rows with no copy of the same size on their side are left out."""
    at = ["precision", "side_label", "numel"]
    roof = roofline(rows)[[*at, "gbps"]].rename(columns={"gbps": "copy_gbps"})
    k = with_finite(kernels(rows), "gbps")
    if k.empty or roof.empty:
        empty = {c: pd.Series(dtype=float) for c in ("copy_gbps", "pct", "copy_us", "time_ratio")}
        return k.assign(**empty, launch_bound=pd.Series(dtype=bool)).iloc[:0]
    joined = k.reset_index().merge(roof, on=at, how="inner")
    joined = joined.merge(
        copy_time(rows)[[*at, "median_us"]].rename(columns={"median_us": "copy_us"}), on=at, how="left"
    )
    joined = joined.set_index("index")
    joined["pct"] = joined["gbps"] / joined["copy_gbps"] * 100.0
    joined["time_ratio"] = joined["median_us"] / joined["copy_us"]
    method = joined["timing_method"] if "timing_method" in joined else pd.Series(None, index=joined.index)
    enqueue = joined["enqueue_bound"] if "enqueue_bound" in joined else pd.Series(None, index=joined.index)
    joined["launch_bound"] = [
        copy_yardstick.launch_bound(float(c), m, e)
        for c, m, e in zip(joined["copy_us"].to_numpy(dtype=float), method.to_numpy(), enqueue.to_numpy(), strict=True)
    ]
    return joined


def l2_bytes(rows: pd.DataFrame) -> dict[str, float]:
    """Per side label, the GPU's L2 size in bytes from the rows' `environment` JSON (`l2_bytes`); sides
    with none recorded (CPU runs) are absent. A side holds one GPU model (sections refuse mixes)."""
    out: dict[str, float] = {}
    if "environment" not in rows.columns:
        return out
    for label, env in rows.drop_duplicates(["side_label", "environment"])[["side_label", "environment"]].itertuples(
        index=False
    ):
        try:
            value = json.loads(env).get("l2_bytes") if isinstance(env, str) else None
        except (ValueError, AttributeError):
            value = None
        if isinstance(value, (int, float)) and value > 0:
            out[str(label)] = max(out.get(str(label), 0.0), float(value))
    return out


def size_columns(numel: pd.Series) -> tuple[pd.Series, list[str]]:
    """Heatmap column of each point and the columns in order: the exact size while there are at most
    MAX_SIZE_COLUMNS sizes, else decades of elements ('1e4–1e5')."""
    sizes = sorted(int(n) for n in numel.unique())
    if len(sizes) <= MAX_SIZE_COLUMNS:
        names = {n: summaries.human_count(n) for n in sizes}
        return numel.astype(int).map(names), [names[n] for n in sizes]
    decade = np.floor(np.log10(numel.clip(lower=1).astype(float))).astype(int)
    label = decade.map(lambda d: f"1e{d}–1e{d + 1}")
    return label, [f"1e{d}–1e{d + 1}" for d in sorted(decade.unique())]


def ratio_matrix(points: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(geometric-mean time ratio, number of points) per (mode precision) row and size column, from a
    comparison's points (bench.analysis.compare: `ratio` = cand median / base median per point); the
    copy's rows read 'copy fp32' (memcpy is measured once per shape and precision, whatever the mode)."""
    p = points[np.isfinite(points["ratio"].astype(float))]
    if p.empty:
        return pd.DataFrame(), pd.DataFrame()
    column, order = size_columns(p["numel"])
    copy = p["backend"].astype(str) == MEMCPY if "backend" in p.columns else pd.Series(False, index=p.index)
    row = p["mode"].astype(str).where(~copy, "copy") + " " + p["precision"].astype(str)
    g = p.assign(_row=row, _col=column).groupby(["_row", "_col"])["ratio"]
    ratio = g.agg(summaries.geomean).unstack("_col")
    n = g.size().unstack("_col")
    rank = {p: i for i, p in enumerate(PRECISION_ORDER)}
    rows_order = sorted(ratio.index, key=lambda r: (r.split(" ")[0], rank.get(r.split(" ")[1], 99), r))
    cols = [c for c in order if c in ratio.columns]
    return ratio.loc[rows_order, cols], n.loc[rows_order, cols].fillna(0).astype(int)


def representative_points(rows: pd.DataFrame, limit: int = 4) -> list[str]:
    """Points for the distribution plot: per backend the largest and the smallest timed point."""
    chosen: list[str] = []
    for _, part in rows.sort_values(["numel", "point_key"]).groupby("backend", sort=True):
        for key in (part["point_key"].iloc[-1], part["point_key"].iloc[0]):
            if key not in chosen:
                chosen.append(key)
    return chosen[:limit]


def samples_long(rows: pd.DataFrame, point_keys: list[str], cap: int = 2000, seed: int = 0) -> pd.DataFrame:
    """Raw samples of the chosen points, one row per sample, at most `cap` per results row; a point
    timed in several runs of a side contributes each run's samples (column `run_id`)."""
    rng = np.random.default_rng(seed)
    frames = []
    chosen = rows[rows["point_key"].isin(point_keys)]
    for _, row in chosen.iterrows():
        raw = row["samples_us"]
        s = np.asarray(raw if raw is not None else [], dtype=np.float64).ravel()
        s = s[np.isfinite(s)]
        if not s.size:
            continue
        if s.size > cap:
            s = rng.choice(s, cap, replace=False)
        frames.append(
            pd.DataFrame(
                {
                    "point_key": row["point_key"],
                    "point": f"{row['mode']} {row['precision']} {row['shape']}",
                    "series": row["series"],
                    "backend": row["backend"],
                    "run_id": row["run_id"],
                    "us": s,
                }
            )
        )
    cols = ["point_key", "point", "series", "backend", "run_id", "us"]
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=cols)
