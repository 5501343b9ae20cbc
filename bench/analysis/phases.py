"""Where a run spends its time, per phase, from its rows' `phase_s` (data, build, reference, verify, timing).

Per run: the seconds each phase took summed over points, and its share; "other" is what the points took
beyond their phases (the memory check, building the row); the run's wall time (first point started to
last point finished) beside the points' summed time, whose ratio is how many points ran at once. Where a
worker made a point's data ahead (bench.execution.ahead), its `data` and `reference` seconds are work
that overlapped the previous point, so the phases can add up to more than the points' own time.
"""

from __future__ import annotations

import pandas as pd

from bench.results.schema import PHASES


def phase_table(df: pd.DataFrame) -> pd.DataFrame:
    """Seconds per phase (and 'other', and the points' own time), summed over the rows of ``df``."""
    phases = pd.DataFrame([p if isinstance(p, dict) else {} for p in df["phase_s"]], index=df.index)
    phases = phases.reindex(columns=list(PHASES)).astype(float).fillna(0.0)
    own = (pd.to_datetime(df["timestamp"]) - pd.to_datetime(df["started_at"])).dt.total_seconds()
    seconds = phases.sum()
    seconds["other"] = max(0.0, float(own.sum() - seconds.sum()))
    out = pd.DataFrame({"seconds": seconds, "share": seconds / seconds.sum() if seconds.sum() > 0 else 0.0})
    out.loc["points' own time"] = [float(own.sum()), float("nan")]
    return out


def report(df: pd.DataFrame, by: str | None) -> str:
    lines = []
    for run_id, run in df.groupby("run_id", sort=False):
        start, end = pd.to_datetime(run["started_at"]).min(), pd.to_datetime(run["timestamp"]).max()
        wall = (end - start).total_seconds()
        table = phase_table(run)
        own = table.loc["points' own time", "seconds"]
        workers = run["worker"].nunique()
        gpus = sorted(run["gpu_index"].dropna().astype(int).unique().tolist())
        lines += [
            f"run {run_id}: {len(run)} points ({int((run['status'] == 'ok').sum())} ok) on {workers} worker(s), "
            f"GPU index {gpus or '-'}; wall {wall:.1f} s from the first point's start to the last point's end; "
            f"points' own time {own:.1f} s ({own / wall if wall > 0 else float('nan'):.2f} at once on average)",
            "",
            table.to_string(float_format=lambda v: f"{v:.3f}"),
            "",
        ]
        if by:
            per = {key: phase_table(part)["seconds"] for key, part in run.groupby(by, sort=True)}
            lines += [
                f"seconds per phase by {by}:",
                "",
                pd.DataFrame(per).T.to_string(float_format=lambda v: f"{v:.2f}"),
                "",
            ]
    return "\n".join(lines)
