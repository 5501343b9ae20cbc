"""The sentences under each plot, computed from the same aggregates the plots draw.

A plot without a sentence gets misread; a sentence typed by hand goes stale. Every sentence here names
its population (which rows or points, of which side and runs) and takes its numbers from
bench.report.summaries, so two sentences about the same rows cannot disagree.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from bench import copy_yardstick
from bench.analysis.rule import VERDICTS
from bench.report import bounds, frames, summaries
from bench.report.sections import Section, Side

BELOW_COPY = 90.0  # % of the copy under which the report names the bound that applies


def _n(numel: float) -> str:
    return f"{int(numel):,}"


def point_text(row: pd.Series) -> str:
    """'elementwise fp32 64x256x64x64 axis=0': enough to find the point in a sweep."""
    return f"{row['mode']} {row['precision']} {row['shape']} axis={row['channel_axis']}"


def run_list(rows: pd.DataFrame, runs: dict[str, str]) -> str:
    ids = sorted(rows["run_id"].astype(str).unique(), key=lambda r: int(runs.get(r, "R0")[1:]))
    return ", ".join(runs.get(r, r) for r in ids)


def side_name(side: Side) -> str:
    return "" if side.label == "all" else f"{side.label} · "


def holds(section: Section, runs: dict[str, str], about_mixes: dict[str, list[str]]) -> list[str]:
    """What a section holds: its rows per backend and side, with their runs, and how repeated runs of a
    point are combined."""
    rows = section.rows
    per_backend = ", ".join(
        f"{b} {summaries.count(int((rows['backend'] == b).sum()), 'row')}" for b in section.backends
    )
    lines = [
        f"{summaries.count(len(rows), 'timed row')} ({per_backend}); times are "
        f"{section.group.describe() or 'as recorded'}; unit µs per call."
    ]
    for side in section.sides:
        repeated = side.rows.groupby(["point_key", "backend"])["run_id"].nunique()
        text = f"Side {side.label}" if side.label != "all" else "Rows"
        if side.label != "all" and side.value != side.label:
            text += f" ({side.value})"
        text += f": {summaries.count(len(side.rows), 'row')} from {run_list(side.rows, runs)}"
        multi = repeated[repeated > 1]
        if len(multi):
            times = f"{multi.min()}" if multi.min() == multi.max() else f"{multi.min()}–{multi.max()}"
            text += (
                f"; {summaries.count(len(multi), 'point')} of {len(repeated):,} were timed in {times} runs: a line "
                "takes the median of their medians, a comparison pools their samples as repeated runs of one point"
            )
        if about_mixes.get(side.value):
            text += f"; this side combines {'; '.join(about_mixes[side.value])}"
        lines.append(text + ".")
    if len(section.sides) == 1 and section.side_column:
        lines.append(f"Only {section.sides[0].label} has rows measured this way: nothing to compare here.")
    return lines


def _ends(numel: pd.Series, largest_first: bool = True) -> list[tuple[str, int]]:
    """[('largest', n), ('smallest', m)], or [('only', n)] when every row has one size."""
    lo, hi = int(numel.min()), int(numel.max())
    if lo == hi:
        return [("only", lo)]
    ends = [("largest", hi), ("smallest", lo)]
    return ends if largest_first else ends[::-1]


def time_reading(section: Section) -> str:
    curves = frames.time_curves(section.rows)
    if curves.empty:
        return "No kernel rows (only the copy) in this section."
    parts = []
    for label, numel in _ends(curves["numel"]):
        at = curves[curves["numel"] == numel].sort_values("median_us", kind="stable")
        lo, hi = at.iloc[0], at.iloc[-1]
        parts.append(
            f"at the {label} size ({_n(numel)} elements) the {len(at)} kernel lines run from "
            f"{summaries.us(lo.median_us)} µs ({lo.series}, {lo['mode']} {lo.precision}) to "
            f"{summaries.us(hi.median_us)} µs ({hi.series}, {hi['mode']} {hi.precision})"
        )
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + " (a line is the median of the row medians at a size)."


def noise_reading(section: Section) -> str:
    """Noise per side and backend: one population per series, never one number over unlike rows."""
    parts = []
    for side in section.sides:
        for backend in section.backends:
            rows = side.rows[side.rows["backend"] == backend]
            if len(rows):
                who = side.label if section.side_column == "backend" else f"{side_name(side)}{backend}"
                parts.append(summaries.noise_text(rows, who))
    if not parts:
        return "No timed rows."
    return summaries.NOISE_DEFINITION[:1].upper() + summaries.NOISE_DEFINITION[1:] + ": " + "; ".join(parts) + "."


def bandwidth_reading(section: Section) -> str:
    rows = section.rows
    if frames.kernels(rows).empty and frames.copies(rows).empty:
        return "No timed rows."
    roof = frames.roofline(rows)
    if roof.empty:
        bw = frames.bandwidth_curves(rows)
        if bw.empty:
            return "No bandwidth figures (no rows with bytes_moved)."
        best = bw.loc[bw["gbps"].idxmax()]
        return (
            f"No memcpy rows measured this way, so no roofline; the highest line reaches {summaries.gbps(best.gbps)} GB/s "
            f"({best.series}, {best['mode']} {best.precision}, {_n(best.numel)} elements)."
        )
    copy_peak = roof.loc[roof.groupby("side_label")["gbps"].idxmax()]
    out = [
        f"the copy{_of(side.side_label)} peaks at {summaries.gbps(side.gbps)} GB/s ({side.precision}, {_n(side.numel)} elements)"
        for side in copy_peak.itertuples()
    ]
    out += copy_parts(section)
    text = "; ".join(out)
    return text[:1].upper() + text[1:] + "."


def copy_parts(section: Section) -> list[str]:
    """Per kernel series, its rows' % of the copy at the largest size that has a copy, and its launch-bound
    rows (bench.copy_yardstick.launch_bound) as time over the copy's: bytes per second mean nothing there."""
    out = []
    for series, g in frames.pct_of_copy(section.rows).groupby("series", sort=True):
        bound = g[g["launch_bound"]]
        g = g[~g["launch_bound"]]
        if len(g):
            at = g[g["numel"] == g["numel"].max()]
            s = summaries.spread(at["pct"])
            lo, hi = at.loc[at["pct"].idxmin()], at.loc[at["pct"].idxmax()]
            out.append(
                f"{series} at its largest size with a copy ({_n(at['numel'].iloc[0])} elements): the "
                f"{summaries.count(s.n, 'row')} there reach a median {s.median:.1f}% of the copy's bandwidth, from "
                f"{s.low:.1f}% ({point_text(lo)}) to {s.high:.1f}% ({point_text(hi)})"
            )
        if len(bound):
            s = summaries.spread(bound["time_ratio"])
            out.append(
                f"{series}'s {summaries.count(s.n, 'row')} at {summaries.count(bound['numel'].nunique(), 'size')} "
                f"up to {_n(bound['numel'].max())} elements are launch-bound (the copy takes under "
                f"{copy_yardstick.LAUNCH_BOUND_US:g} µs, or the host's enqueue rate set an events time): they take a "
                f"median x{s.median:.2f} the copy's time, from x{s.low:.2f} to x{s.high:.2f}"
            )
    return out


def _of(side_label: str) -> str:
    return "" if side_label == "all" else f" on {side_label}"


def below_copy(section: Section, threshold: float = BELOW_COPY) -> pd.DataFrame:
    """Per kernel series and size, the lines (mode, precision) under `threshold`% of the copy, the lowest
    of them and the bound that applies to it (bench.report.bounds.bound_text)."""
    pct = frames.pct_of_copy(section.rows)
    pct = pct[~pct["launch_bound"]] if len(pct) else pct  # launch-bound rows: shown as time ratios (copy_parts)
    if pct.empty:
        return pd.DataFrame()
    l2 = frames.l2_bytes(section.rows)
    copies = frames.copies(section.rows)
    lines = pct.groupby(["series", "side_label", "numel", "mode", "precision"], sort=True)["pct"].agg(
        summaries.line_value
    )
    out = []
    for (series, side, numel), g in lines.groupby(level=["series", "side_label", "numel"], sort=True):
        below = g[g < threshold]
        if below.empty:
            continue
        _, _, _, mode, prec = below.idxmin()
        rows = pct[(pct["series"] == series) & (pct["numel"] == numel) & (pct["mode"] == mode)]
        row = rows[rows["precision"] == prec].sort_values("pct").iloc[0]
        side_copies = copies[(copies["side_label"] == side) & (copies["precision"] == prec)]
        out.append(
            {
                "series": series,
                "elements": _n(numel),
                "lines below": f"{len(below)} of {len(g)}",
                "lowest line": f"{mode} {prec}: {below.min():.1f}%",
                "bound": bounds.bound_text(row, side_copies, l2.get(side), section.rotated),
            }
        )
    return pd.DataFrame(out)


def ratio_headline(points: pd.DataFrame, base: str, cand: str, backend: str) -> str:
    """'over the 220 points of cuda timed on both sides, the geometric mean of the time ratio H200/H100 is
    0.892 (H200 1.121x as fast); verdicts: faster 113, ...' (the report's summary and each reading)."""
    p = points[np.isfinite(points["ratio"].astype(float))]
    of = f" of {backend}" if backend else ""
    if p.empty:
        return f"no point{of} was timed on both sides"
    geo = summaries.geomean(p["ratio"])
    verdicts = points["verdict"].value_counts()
    return (
        f"over the {summaries.count(len(p), 'point')}{of} timed on both sides, the geometric mean of the "
        f"time ratio {cand}/{base} is {geo:.3f} ({_speed(geo, cand)}); verdicts (the decision rule above): "
        + ", ".join(f"{v} {int(verdicts.get(v, 0))}" for v in VERDICTS)
    )


def ratio_reading(points: pd.DataFrame, base: str, cand: str, backend: str, threshold: float) -> str:
    """The comparison's points: the headline, how many medians moved beyond the threshold, the extremes,
    and the smallest and largest sizes on their own (where launch cost and bandwidth rule)."""
    p = points[np.isfinite(points["ratio"].astype(float))]
    parts = [ratio_headline(points, base, cand, backend)]
    if len(p):
        faster, slower = int((p["ratio"] < 1 / (1 + threshold)).sum()), int((p["ratio"] > 1 + threshold).sum())
        lo, hi = p.loc[p["ratio"].idxmin()], p.loc[p["ratio"].idxmax()]
        parts.append(
            f"by their medians alone, {faster} points are more than {threshold:.0%} faster and {slower} more than "
            f"{threshold:.0%} slower; ratios run from {lo.ratio:.3f} ({point_text(lo)}) to {hi.ratio:.3f} "
            f"({point_text(hi)})"
        )
        for label, numel in _ends(p["numel"], largest_first=False):
            at = p[p["numel"] == numel]
            parts.append(
                f"at the {label} size ({_n(numel)} elements, {summaries.count(len(at), 'point')}) the geometric mean "
                f"is {summaries.geomean(at['ratio']):.3f}, ratios {at['ratio'].min():.3f} to {at['ratio'].max():.3f}"
            )
    text = "; ".join(parts)
    return text[:1].upper() + text[1:] + "."


def _speed(ratio: float, cand: str) -> str:
    if not np.isfinite(ratio) or ratio <= 0:
        return "n/a"
    return f"{cand} {1 / ratio:.3f}x as fast"


def distribution_reading(section: Section, point_keys: list[str]) -> str:
    rows = section.rows[section.rows["point_key"].isin(point_keys)]
    if rows.empty:
        return "No samples to show."
    s = summaries.noise(rows)
    tail = rows["p99_us"] / rows["median_us"]
    lo, hi = rows.loc[rows["noise"].idxmin()], rows.loc[rows["noise"].idxmax()]
    worst = rows.loc[tail.idxmax()]
    return (
        f"Over the {summaries.count(len(rows), 'row')} drawn, noise (MAD/median) runs from {s.low:.2%} "
        f"({lo.series}, {point_text(lo)}) to {s.high:.2%} ({hi.series}, {point_text(hi)}); the largest p99 is "
        f"{tail.max():.2f}x its median ({worst.series}, {point_text(worst)}). A violin of several runs pools "
        "their samples: a second mode there can be a shift between runs."
    )
