"""From results rows to what the model reads: one estimate per (point, run), and why a row cannot count.

A run is the unit of replication: every row of status "ok" becomes `log_median` and `log_p90` (logs of
the median and the 90th percentile of its samples: the typical call and the tail) and `within_se` (the
median's standard error from inside the run: rounds or blocks, see stats.within_run_se; the model never
claims less noise for a run than this), or a `problem` saying why it cannot be judged: no samples, fewer
than the model needs, NaN/inf or non-positive times, round sizes that do not add up. Nothing is dropped
quietly: a problem row is listed by the comparison and the gate fails (candidate) or refuses (baseline)
on it.

Estimating once per row and reading the estimates afterwards is also what lets the error-rate replay
(bench.analysis.error_rates) gate thousands of splits of the same runs: scaling a row's samples by f
shifts `log_median` and `log_p90` by log(f) and leaves `within_se` and `problem` as they are.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.analysis import stats

ESTIMATE_COLUMNS = ("log_median", "log_p90", "within_se", "within_df", "problem")


def row_problem(samples: object, round_sizes: object) -> str | None:
    """Why one ok row's samples cannot be judged, or None when they can."""
    x = np.asarray(samples if samples is not None else [], dtype=np.float64)
    if x.size == 0:
        return "no samples"
    bad = ~np.isfinite(x)
    if bad.any():
        return f"non-finite samples (NaN or inf): {int(bad.sum())} of {x.size}"
    if (x <= 0).any():
        return f"non-positive samples (zero or negative times): {int((x <= 0).sum())} of {x.size}"
    if x.size < stats.MIN_SAMPLES:
        return f"{x.size} sample(s), fewer than the {stats.MIN_SAMPLES} a run needs"
    sizes = _sizes(round_sizes)
    if sizes is not None:
        if (sizes < 0).any() or int(sizes.sum()) != x.size:
            return f"round sizes {sizes.tolist()} add up to {int(sizes.sum())}, not to the {x.size} samples"
        if sizes.size >= stats.MIN_ROUNDS and (sizes == 0).any():
            return f"round {int(np.flatnonzero(sizes == 0)[0]) + 1} of {sizes.size} has no samples"
    return None


def _sizes(round_sizes: object) -> np.ndarray | None:
    if round_sizes is None or (isinstance(round_sizes, float) and np.isnan(round_sizes)):
        return None
    sizes = np.asarray(round_sizes, dtype=np.int64)
    return sizes if sizes.size else None


def estimate(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with log_median, log_p90, within_se (and its within_df) and problem filled in for its ok rows.

    Idempotent: a frame that already carries the columns is returned as it is, so callers may estimate
    once and compare many times."""
    if all(c in df.columns for c in ESTIMATE_COLUMNS):
        return df
    out = df.copy(deep=False)  # new columns only: the rows' own arrays are shared, never written
    y = np.full(len(df), np.nan)
    y90 = np.full(len(df), np.nan)
    w = np.full(len(df), np.nan)
    wdf = np.full(len(df), np.nan)
    problems: list[str | None] = [None] * len(df)
    ok = (df["status"] == "ok").to_numpy()
    rounds = df["round_sizes"] if "round_sizes" in df.columns else pd.Series([None] * len(df), index=df.index)
    samples_of, rounds_of = df["samples_us"].to_numpy(), rounds.to_numpy()
    for i in np.flatnonzero(ok):
        samples, sizes = samples_of[i], rounds_of[i]
        problems[i] = row_problem(samples, sizes)
        if problems[i] is None:
            x = np.asarray(samples, dtype=np.float64)
            s = np.sort(x)
            y[i] = float(np.log((s[(s.size - 1) // 2] + s[s.size // 2]) / 2.0))  # the median
            at = 0.9 * (s.size - 1)  # the 90th percentile, interpolated as np.percentile does
            low = int(at)
            y90[i] = float(np.log(s[low] + (s[min(low + 1, s.size - 1)] - s[low]) * (at - low)))
            w[i], wdf[i] = stats.within_run_se(x, _sizes(sizes))
    out["log_median"], out["log_p90"], out["within_se"], out["within_df"], out["problem"] = y, y90, w, wdf, problems
    return out


def scaled(df: pd.DataFrame, factor: float, mask: np.ndarray | pd.Series | None = None) -> pd.DataFrame:
    """An estimated frame as if the samples of the masked rows (all when None) had been `factor` times
    as long: exactly what estimate() gives for the scaled samples, without recomputing them."""
    out = estimate(df).copy()
    rows = np.ones(len(out), dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    for column in ("log_median", "log_p90"):
        out.loc[rows, column] = out.loc[rows, column] + np.log(factor)
    return out
