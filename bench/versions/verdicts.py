"""Run times with verdicts, one version against another, from `bench compare`'s own machinery.

The coupling is kept to what `bench.analysis.compare` publishes: the function `compare(base, cand, by=...,
base_label=..., cand_label=...)`, the per-point table it returns (`points`, one row per point with
point_key, base_median_us, cand_median_us, ratio, ci_low, ci_high, verdict) and a refusal as UserError.
Its decision rule, noise model and thresholds are its own; this module only picks the columns a versions
report shows, so a rewrite of the statistics behind them changes nothing here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from bench.errors import UserError

COLUMNS = ("base_median_us", "cand_median_us", "ratio", "ci_low", "ci_high", "verdict")


@dataclass
class Verdicts:
    points: pd.DataFrame  # index point_key; COLUMNS
    counts: dict[str, int] = field(default_factory=dict)
    note: str | None = None  # why there are none, where there are none


def timed(rows: pd.DataFrame) -> pd.DataFrame:
    return rows[rows["status"].isin(["ok", "mismatch"])] if len(rows) else rows


def against(base: pd.DataFrame, cand: pd.DataFrame, base_label: str, cand_label: str) -> Verdicts:
    """Verdicts of ``cand`` against ``base`` (each: the rows of one version's runs)."""
    empty = pd.DataFrame(columns=list(COLUMNS))
    if timed(base).empty or timed(cand).empty:
        which = base_label if timed(base).empty else cand_label
        return Verdicts(empty, note=f"none, as {which} was built only (or no point of it ran)")
    from bench.analysis.compare import compare

    by = "backend" if set(base["backend"]) != set(cand["backend"]) else None
    try:
        comparison = compare(base, cand, by=by, base_label=base_label, cand_label=cand_label)
    except UserError as exc:
        return Verdicts(empty, note=f"`bench compare` refused these two: {exc}")
    points = comparison.points
    if points is None or points.empty:
        return Verdicts(empty, note="`bench compare` found no point timed alike on both sides")
    table = points.drop_duplicates("point_key").set_index("point_key")[list(COLUMNS)]
    counts = {str(k): int(v) for k, v in table["verdict"].value_counts().items()}
    return Verdicts(table, counts)
