"""One-line readings of each plot, computed from the same aggregates the plots draw.

A plot without a sentence gets misread; a sentence typed by hand goes stale. These say what the data
shows at the ends of the size range, where the differences that matter live.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench.report import frames


def _n(numel: float) -> str:
    return f"{int(numel):,}"


def time_reading(df: pd.DataFrame) -> str:
    curves = frames.time_curves(df)
    if curves.empty:
        return "No timed points."
    parts = []
    for label, numel in (("largest", curves["numel"].max()), ("smallest", curves["numel"].min())):
        at = curves[curves["numel"] == numel].sort_values("median_us")
        lo, hi = at.iloc[0], at.iloc[-1]
        parts.append(
            f"at the {label} size ({_n(numel)} elements) medians run from {lo.median_us:.3g} µs "
            f"({lo.series} {lo.precision} {lo['mode']}) to {hi.median_us:.3g} µs ({hi.series} {hi.precision} {hi['mode']})"
        )
    cv = curves["cv"]
    noise = f"median cv {np.nanmedian(cv):.1%}, worst {np.nanmax(cv):.1%}" if cv.notna().any() else "cv not recorded"
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + f". Noise: {noise}."


def bandwidth_reading(df: pd.DataFrame) -> str:
    bw = frames.bandwidth_curves(df)
    if bw.empty:
        return "No bandwidth figures (no timed points with bytes_moved)."
    roof = frames.roofline(bw).rename(columns={"gbps": "roof"})
    kernels = bw[bw["backend"] != frames.MEMCPY]
    if roof.empty:
        best = bw.loc[bw["gbps"].idxmax()]
        return (
            f"No memcpy rows, so no roofline; peak {best.gbps:.0f} GB/s by {best.series} at {_n(best.numel)} elements."
        )
    if kernels.empty:
        return f"Only memcpy rows: the roofline peaks at {roof['roof'].max():.0f} GB/s."
    joined = kernels.merge(roof, on=["side", "precision", "numel"], how="inner")
    if joined.empty:
        return "memcpy and the kernels were run at different sizes; no like-for-like ratio."
    out = []
    for series, g in joined.groupby("series"):
        at = g[g["numel"] == g["numel"].max()]
        pct = at["gbps"] / at["roof"] * 100
        spread = f" (range {pct.min():.0f}–{pct.max():.0f}% over {len(at)} mode/precision)" if len(at) > 1 else ""
        out.append(
            f"{series} reaches {pct.median():.0f}% of memcpy at the largest size ({_n(at['numel'].iloc[0])} elements){spread}"
        )
    return "; ".join(out) + "."


def speedup_reading(matrix: pd.DataFrame, base_label: str, threshold: float = 0.05) -> str:
    if matrix.empty:
        return "No point was timed on both sides."
    out = []
    for side in matrix.columns:
        v = matrix[side].dropna()
        v = v[v > 0]
        geo = float(np.exp(np.mean(np.log(v)))) if len(v) else float("nan")
        faster, slower = int((v > 1 + threshold).sum()), int((v < 1 - threshold).sum())
        best, worst = v.idxmax(), v.idxmin()
        out.append(
            f"{side} vs {base_label}: geometric-mean speedup {geo:.2f}× over {len(v)} rows; faster by >{threshold:.0%} "
            f"on {faster}, slower on {slower}; largest gain {v.max():.2f}× ({best}), least {v.min():.2f}× ({worst})"
        )
    return "; ".join(out) + "."


def distribution_reading(df: pd.DataFrame, point_keys: list[str] | None = None) -> str:
    long = frames.samples_long(df, point_keys or frames.representative_points(df))
    if long.empty:
        return "No samples to show."
    cv = long.groupby(["point", "series"])["cv"].first()
    lo, hi = cv.idxmin(), cv.idxmax()
    return (
        f"{len(cv)} sample sets; cv from {cv.min():.1%} ({lo[1]}, {lo[0]}) to {cv.max():.1%} ({hi[1]}, {hi[0]}); "
        "a long upper tail means interference (other work, clocks), a second mode means two code paths."
    )
