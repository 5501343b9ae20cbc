"""The report's markdown tables: runs, points not timed, warnings, points below the copy.

Tables say where every number came from: the runs table gives each run's short label (R1, R2, ...) used
everywhere else in the report, with its GPU, versions, timing settings and commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import pandas as pd

from bench import mdtable
from bench.comparability import L2_LABEL
from bench.report import sections
from bench.timing.settings import l2_mode_of

MAX_PROBLEM_ROWS = 60
KEY_LIBRARIES = ("tensorrt", "tensorrt-rtx", "tensorrt-rtx-cu13", "cuda-python", "cuda-bindings", "numpy")


def text(value: object, width: int = 100) -> str:
    """A table cell (bench.mdtable.cell), cut at ``width``."""
    return mdtable.cell(value, width)


def markdown(
    header: Sequence[str], rows: Iterable[Sequence[object]], right: Sequence[str] = (), width: int = 100
) -> str:
    """A pipe table (bench.mdtable.table); columns in `right` right-aligned; cells cut at `width`."""
    return mdtable.table(header, rows, right, width)


def _when(ts: object) -> str:
    return "" if ts is None or pd.isna(ts) else pd.Timestamp(ts).strftime("%Y-%m-%d %H:%M:%S UTC")


def _l2_label(mode: str | None) -> str:
    """The L2 state in the runs table; a warm L2 (one buffer set, what older runs did) goes unsaid."""
    return L2_LABEL[mode] if mode in ("flushed", "rotated") else ""


def _settings(g: pd.DataFrame) -> str:
    """Timing method(s) and the sampler's targets from the rows' `timing_settings`."""
    methods = ", ".join(sorted(g["timing_method"].dropna().astype(str).unique())) or "-"
    settings = next((s for s in g.get("timing_settings", pd.Series(dtype=object)) if isinstance(s, dict)), None)
    if not settings:
        return methods
    extra = [
        f"noise target {settings['target_noise']:.1%}" if settings.get("target_noise") is not None else "",
        f"cap {settings['max_time_s']:g} s" if settings.get("max_time_s") is not None else "",
        _l2_label(l2_mode_of(settings.get("l2_flush"), settings.get("rotate_buffers"))),
        f"{settings['rounds']} rounds" if (settings.get("rounds") or 1) > 1 else "",
    ]
    return f"{methods} ({', '.join(e for e in extra if e)})"


def _libraries(g: pd.DataFrame) -> str:
    libs = next((x for x in g.get("libraries", pd.Series(dtype=object)) if isinstance(x, dict) and x), {})
    return ", ".join(f"{k} {libs[k]}" for k in KEY_LIBRARIES if k in libs)


def _sm_clock(g: pd.DataFrame) -> str:
    """The SM clock range NVML saw around the run's measurements (`clocks` before and after), in MHz."""
    mhz = [
        snap.get("sm_clock_mhz")
        for clocks in g.get("clocks", pd.Series(dtype=object))
        if isinstance(clocks, dict)
        for snap in (clocks.get("before"), clocks.get("after"))
        if isinstance(snap, dict) and snap.get("sm_clock_mhz") is not None
    ]
    if not mhz:
        return ""
    lo, hi = min(mhz), max(mhz)
    return f"{lo:.0f}" if lo == hi else f"{lo:.0f}–{hi:.0f}"


def runs_table(df: pd.DataFrame, runs: dict[str, str]) -> str:
    """One row per run: label, id, when (UTC), where, on what, with which versions, timing, commit, counts."""
    rows = []
    for run_id, label in runs.items():
        g = df[df["run_id"] == run_id]
        first = g.iloc[0]
        start = g["started_at"].min() if "started_at" in g.columns and g["started_at"].notna().any() else None
        backends = g.groupby("backend")["backend_version"].first()
        commit = text(first.get("git_commit"))[:12] + (" (dirty)" if first.get("git_dirty") is True else "")
        throttled = int((g.get("throttled_samples", pd.Series(dtype=float)).fillna(0) > 0).sum())
        rows.append(
            [
                label,
                run_id,
                _when(start if start is not None else g["timestamp"].min()),
                _when(g["timestamp"].max()),
                first.get("host"),
                first.get("gpu_name") or "(no GPU)",
                first.get("driver_version"),
                first.get("cuda_version"),
                "; ".join(f"{b} {v}" for b, v in backends.items()),
                _libraries(g),
                _settings(g),
                commit,
                f"{int((g['status'] == 'ok').sum())}/{len(g)}",
                _sm_clock(g),
                throttled,
            ]
        )
    header = ["run", "id", "started", "finished", "host", "GPU", "driver", "CUDA", "backends (version)",
              "libraries", "timing", "commit", "ok/rows", "SM MHz", "throttled rows"]  # fmt: skip
    return markdown(header, rows, right=("ok/rows", "SM MHz", "throttled rows"))


def side_short(df: pd.DataFrame, column: str, label_of: dict[str, str]) -> pd.Series:
    values = df[column].astype("string").fillna("(none)")
    return values.map(lambda v: label_of.get(v, v))


def problems_table(df: pd.DataFrame, gpu_labels: dict[str, str]) -> str:
    """Failed, mismatched and skipped points with their reasons, grouped by reason when there are many."""
    if df.empty:
        return "No rows."
    unusable = (df["status"] == "ok") & ~sections.usable(df)
    bad = df[df["status"].isin(["failed", "mismatch", "skipped"]) | unusable]
    if bad.empty:
        return "Every point was timed."
    reason = bad["error"].where(~unusable[bad.index], "ok, but no finite positive median to plot or compare")
    bad = bad.assign(gpu=side_short(bad, "gpu_name", gpu_labels), reason=reason.map(text))
    if len(bad) <= MAX_PROBLEM_ROWS:
        cols = ["status", "gpu", "backend", "shape", "mode", "precision", "channel_axis", "reason"]
        body = bad.sort_values(["status", "gpu", "backend"])[cols].itertuples(index=False)
        return markdown(["status", "GPU", "backend", "shape", "mode", "precision", "axis", "reason"], body)
    grouped = (
        bad.groupby(["status", "gpu", "backend", "reason"], dropna=False)
        .agg(points=("shape", "size"), shapes=("shape", lambda s: ", ".join(s.astype(str).unique()[:3])))
        .reset_index()
        .sort_values(["points", "status"], ascending=[False, True], kind="stable")
    )
    body = ([r.status, r.gpu, r.backend, r.points, r.shapes, r.reason] for r in grouped.itertuples())
    table = markdown(["status", "GPU", "backend", "points", "e.g. shapes", "reason"], body, right=("points",))
    return f"{len(bad):,} rows, grouped by reason:\n\n{table}"


def warnings_table(df: pd.DataFrame, runs: dict[str, str], limit: int = 20) -> str | None:
    """The rows' `warnings` (a list per row), counted per distinct text, with the runs they came from."""
    if "warnings" not in df.columns:
        return None
    w = df[["run_id", "warnings"]].explode("warnings").dropna(subset=["warnings"])
    w = w[w["warnings"].astype(str).str.len() > 0]
    if w.empty:
        return None
    w = w.assign(text=w["warnings"].map(lambda s: text(s, 160)))
    g = w.groupby("text").agg(
        rows=("run_id", "size"), runs=("run_id", lambda r: ", ".join(runs.get(x, x) for x in sorted(set(r))))
    )
    g = g.sort_values("rows", ascending=False, kind="stable")
    more = f"\n\n{len(g) - limit} more distinct warnings not shown." if len(g) > limit else ""
    return (
        markdown(["warning", "rows", "runs"], ([t, r.rows, r.runs] for t, r in g.head(limit).iterrows()), ("rows",))
        + more
    )
