"""report(): results in, `report.md` plus PNGs out.

The markdown states for every number what it measured (timing method) and how noisy it was, the
environment of every run that fed it, and which points could not be timed and why: a report that only
shows the points that worked hides the interesting ones.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd

from bench.analysis.compare import compare, sides
from bench.analysis.render import comparison_markdown, describe_timing, md_table, short_text
from bench.report import frames, plots, readings

REPORT_RESAMPLES = 2000  # fewer than the gate's 4000: the report shows, the gate decides
MAX_PROBLEM_ROWS = 100


def report(df_or_paths: pd.DataFrame | str | Path | list, out_dir: str | Path, sides_by: str | None = None) -> Path:
    """Write report.md and its PNGs into out_dir; returns the markdown's path."""
    if isinstance(df_or_paths, pd.DataFrame):
        df = df_or_paths
    else:
        from bench.results import load

        df = load(df_or_paths)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    df = frames.with_series(df, sides_by)
    names = list(sides(df, sides_by)) if sides_by else []

    md = [
        "# Scale layer benchmark report",
        "",
        f"Generated {datetime.now(UTC):%Y-%m-%d %H:%M UTC} from {len(df):,} rows of "
        f"{df['run_id'].nunique()} run(s)" + (f", sides by `{sides_by}`: {', '.join(names)}" if sides_by else "") + ".",
        "",
        "**What the times are:** " + _timing_sentence(df),
        "",
        "## Environment",
        "",
        environment_table(df),
        "",
    ]
    md += _figure(
        plots.plot_time_vs_numel(df, out),
        "Time per call vs tensor size",
        "x: elements (log), y: median time per call in µs (log); band: min to p99 of the samples.",
        readings.time_reading(df),
    )
    md += _figure(
        plots.plot_bandwidth(df, out),
        "Achieved bandwidth vs the memcpy roofline",
        "x: elements (log), y: GB/s = bytes read + written / median time; dashed: memcpy of the same bytes.",
        readings.bandwidth_reading(df),
    )
    if len(names) >= 2:
        matrix = frames.speedup_matrix(df, sides_by)
        if not matrix.empty:
            md += _figure(
                plots.plot_speedup_heatmap(matrix, out, names[0]),
                f"Speedup over {names[0]}",
                "rows: points (or groups, geometric mean, when there are many), columns: sides; "
                "colour: log2 speedup, blue faster.",
                readings.speedup_reading(matrix, names[0]),
            )
    md += _figure(
        plots.plot_distributions(df, out),
        "Sample distributions of representative points",
        "per point: violin of the raw per-call samples (µs) per series; default points: largest and smallest per backend.",
        readings.distribution_reading(df),
    )
    md += ["## Points not timed", "", problems_table(df), ""]
    if len(names) >= 2:
        md += comparison_sections(df, sides_by, names, out)
    path = out / "report.md"
    path.write_text("\n".join(md) + "\n")
    return path


def _figure(path: Path, title: str, axes: str, reading: str) -> list[str]:
    return [f"## {title}", "", f"![{title}]({path.name})", "", f"*Axes:* {axes}", "", f"**Reading:** {reading}", ""]


def _timing_sentence(df: pd.DataFrame) -> str:
    ok = frames.ok_rows(df)
    if ok.empty:
        return "no timed points."
    counts = ok["timing_method"].astype("string").fillna("(none)").value_counts()
    methods = ", ".join(f"{m} for {n:,} points" for m, n in counts.items())
    l2 = ok["l2_flush"].astype("boolean").fillna(False)
    cv = ok["cv"]
    return (
        f"medians of per-call samples in µs, {methods} ({describe_timing(counts.index)}); "
        f"L2 flushed before each sample on {int(l2.sum()):,} of {len(ok):,} points; "
        f"noise: median cv {np.nanmedian(cv):.1%}, 90th percentile {np.nanpercentile(cv, 90):.1%}."
        if cv.notna().any()
        else f"medians of per-call samples in µs, {methods} ({describe_timing(counts.index)})."
    )


def environment_table(df: pd.DataFrame) -> str:
    """One row per run: where, on what, with which versions, and how many of its points were timed."""
    rows = []
    for run_id, g in df.groupby("run_id", sort=False):
        backends = g.groupby("backend")["backend_version"].first()
        first = g.iloc[0]
        rows.append(
            [
                run_id,
                str(g["timestamp"].min()),
                first.get("host"),
                first.get("gpu_name"),
                first.get("compute_capability"),
                first.get("driver_version"),
                first.get("cuda_version"),
                ", ".join(f"{b} {v}" for b, v in backends.items()),
                str(first.get("git_commit"))[:12],
                f"{int((g['status'] == 'ok').sum())}/{len(g)}",
            ]
        )
    header = ["run", "timestamp", "host", "GPU", "cc", "driver", "CUDA", "backends (version)", "commit", "ok/rows"]
    return md_table(header, ([short_text(c, 60) for c in r] for r in rows))


def problems_table(df: pd.DataFrame) -> str:
    """Failed, mismatched and skipped points with their reasons; grouped by reason when there are many."""
    bad = df[df["status"].isin(["failed", "mismatch", "skipped"])]
    if bad.empty:
        return "Every point was timed."
    cols = ["status", "series", "shape", "mode", "precision", "channel_axis", "error"]
    if len(bad) <= MAX_PROBLEM_ROWS:
        rows = ([short_text(r[c]) for c in cols] for _, r in bad.sort_values(["status", "series"]).iterrows())
        return md_table(["status", "series", "shape", "mode", "precision", "axis", "reason"], rows)
    grouped = (
        bad.assign(reason=bad["error"].map(short_text))
        .groupby(["status", "series", "reason"], dropna=False)
        .agg(points=("shape", "size"), e_g=("shape", lambda s: ", ".join(s.astype(str).unique()[:3])))
        .reset_index()
        .sort_values("points", ascending=False)
    )
    rows = ([r.status, r.series, str(r.points), r.e_g, r.reason] for r in grouped.itertuples())
    table = md_table(["status", "series", "points", "e.g. shapes", "reason"], rows)
    return f"{len(bad):,} points, grouped by reason:\n\n{table}"


def comparison_sections(df: pd.DataFrame, sides_by: str, names: list[str], out: Path) -> list[str]:
    """Each side against the first: summary and the most notable points here, every point in a file."""
    parts = sides(df, sides_by)
    md = ["## Comparison", ""]
    for name in names[1:]:
        comp = compare(
            parts[names[0]],
            parts[name],
            by=sides_by,
            base_label=names[0],
            cand_label=name,
            n_resamples=REPORT_RESAMPLES,
        )
        full = out / f"compare_{_slug(name)}_vs_{_slug(names[0])}.md"
        full.write_text(comparison_markdown(comp))
        md += [
            comparison_markdown(comp, max_rows=30).replace("## ", "### ", 1),
            f"Every point: [{full.name}]({full.name}).",
            "",
        ]
    return md


def _slug(text: str) -> str:
    return "".join(ch if ch.isalnum() else "-" for ch in text).strip("-")[:40] or "side"
