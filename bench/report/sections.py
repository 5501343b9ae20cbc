"""Cut results into the report's sections, following bench.comparability: nothing unlike is pooled.

A section is one kind of measurement: one timing method, one L2 state, one unit (the comparability key
without the backend). Backends inside a section are separate series, never pooled: every line, violin,
heatmap and comparison is per backend, and the copy (`memcpy`) of a section is the yardstick its kernels
are drawn against, measured the same way. Graph and events rows are therefore always in different
sections, and no number in the report spans two sections.

Sides: with `--by COLUMN` every section is split into the sides of that column (oldest first, the
order bench.analysis.compare.sides gives). Without `--by`, a section whose rows come from several GPUs is
split by `gpu_name` all the same, so that no line mixes two GPUs. A side that would still mix GPUs
(`--by backend_version` over H100 and H200 rows) is refused, naming the mix, as is a `--by` whose sides
never meet in one section (every comparison would pool unlike rows).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bench.analysis.sides import sides
from bench.comparability import ABOUT, L2_LABEL, Group, groups, mixes
from bench.errors import UserError
from bench.report import labels

SECTION_DROPS = ("backend",)  # backends are series inside a section
GPU = "gpu_name"
ONE_SIDE = "all"


@dataclass
class Side:
    """One side of a section: the side column's full value, its short label and its timed rows."""

    value: str
    label: str
    rows: pd.DataFrame


@dataclass
class Section:
    number: int
    group: Group
    rows: pd.DataFrame  # timed rows, with `side`, `side_label` and `series` columns
    side_column: str | None
    sides: list[Side] = field(default_factory=list)

    @property
    def title(self) -> str:
        """'graph timing, warm L2' (what the rows measured; the full meaning is in `describe`)."""
        d = self.group.as_dict()
        parts = []
        if "timing_method" in d:
            parts.append(f"{d['timing_method']} timing")
        if "l2_mode" in d:
            parts.append(L2_LABEL.get(d["l2_mode"], "L2 state unknown"))
        if d.get("unit") not in (None, "us/call", "(none)"):
            parts.append(f"unit {d['unit']}")
        return ", ".join(parts) or "all rows"

    @property
    def rotated(self) -> bool:
        """Timed on rotated buffers: every call streamed from memory, whatever the L2's size."""
        return self.group.as_dict().get("l2_mode") == "rotated"

    @property
    def slug(self) -> str:
        return f"s{self.number}-" + labels.slug(self.title)

    @property
    def backends(self) -> list[str]:
        return sorted(self.rows["backend"].astype(str).unique())

    @property
    def compared(self) -> bool:
        return len(self.sides) >= 2


def usable(df: pd.DataFrame) -> pd.Series:
    """Which rows carry a time: status ok with a finite, positive median (a log axis and a ratio need one)."""
    median = pd.to_numeric(df["median_us"], errors="coerce")
    return (df["status"] == "ok") & np.isfinite(median) & (median > 0)


def timed(df: pd.DataFrame) -> pd.DataFrame:
    return df[usable(df)]


def _merge_backends(rows: pd.DataFrame, by: str | None) -> list[tuple[Group, pd.DataFrame]]:
    """comparability.groups, with groups that differ only in backend merged (backends become series)."""
    merged: dict[tuple, list[pd.DataFrame]] = {}
    for group, part in groups(rows, by):
        kept = tuple((c, v) for c, v in group.as_dict().items() if c not in SECTION_DROPS)
        merged.setdefault(kept, []).append(part)
    out = []
    for kept, parts in merged.items():
        group = Group(tuple(v for _, v in kept), tuple(c for c, _ in kept))
        out.append((group, pd.concat(parts).sort_index()))
    return sorted(out, key=lambda gp: (-len(gp[1]), gp[0].key))


def _values(rows: pd.DataFrame, column: str) -> pd.Series:
    return rows[column].astype("string").fillna("(none)") if column in rows.columns else pd.Series("(none)", rows.index)


def build(df: pd.DataFrame, by: str | None, runs: dict[str, str]) -> list[Section]:
    """The report's sections, each with its sides; UserError where `--by` would pool unlike rows."""
    ok = timed(df)
    order = list(sides(df, by)) if by else []  # validates the column (UserError naming the choices)
    # Labels from every value in the inputs, so a side has one label in every section.
    short_of = {c: labels.side_labels(list(sides(df, c)), c, runs) for c in {by or GPU} if c in df.columns}
    out = []
    for number, (group, rows) in enumerate(_merge_backends(ok, by), 1):
        column = by or (GPU if _values(rows, GPU).nunique() > 1 else None)
        if column is None:
            values = [ONE_SIDE]
            side = pd.Series(ONE_SIDE, index=rows.index, dtype="string")
        else:
            parts = sides(rows, column)
            values = [v for v in order if v in parts] if by else list(parts)
            side = _values(rows, column)
        short = short_of[column] if column else {ONE_SIDE: ONE_SIDE}
        rows = rows.assign(side=side, side_label=side.map(short))
        if column is None or column == "backend":  # the side already names the backend
            rows["series"] = rows["side_label"].astype(str) if column else rows["backend"].astype(str)
        else:
            rows["series"] = rows["side_label"].astype(str) + " · " + rows["backend"].astype(str)
        section = Section(number, group, rows, column)
        section.sides = [Side(v, short[v], rows[rows["side"] == v]) for v in values]
        if by and by != GPU:
            _refuse_mixed_gpus(section, by)
        out.append(section)
    if by and len(order) >= 2 and out and not any(s.compared for s in out):
        raise UserError(_never_meet(ok, out, by))
    return out


def _refuse_mixed_gpus(section: Section, by: str) -> None:
    for side in section.sides:
        gpus = sorted(_values(side.rows, GPU).unique())
        if len(gpus) > 1:
            raise UserError(
                f"--by {by}: side {side.value!r} mixes gpu_name: {', '.join(gpus)} in the {section.title} rows; "
                "a line, violin or ratio of it would pool two GPUs. Report one GPU at a time, or use --by gpu_name"
            )


def _never_meet(ok: pd.DataFrame, sections: list[Section], by: str) -> str:
    """Why `--by` cannot compare anything: each side lives in other sections (e.g. graph vs events)."""
    where = "; ".join(f"{side.value!r} has only {section.title} rows" for section in sections for side in section.sides)
    mix = "; ".join(mixes(ok, by))
    return (
        f"--by {by}: no two sides were measured the same way, so nothing can be compared ({mix}): {where}. "
        "Rows are compared only within one timing method, L2 state, backend and unit; "
        "rerun one side with the other's settings (e.g. --method graph)"
    )


def about_mixes(side: Side, side_column: str | None) -> list[str]:
    """ABOUT columns that differ inside one side and backend (e.g. two drivers on the H100 side's cuda rows):
    what a line of that side combines, said rather than hidden."""
    skip = {"run_id", "host", "gpu_index", side_column}
    cols = [c for c in ABOUT if c not in skip and c in side.rows.columns]
    out = []
    for backend, rows in side.rows.groupby("backend", sort=True):
        for c in cols:
            values = sorted(_values(rows, c).unique())
            if c == "git_commit":
                values = [v[:12] for v in values]
            if len(values) > 1:
                out.append(f"{backend} rows of {c} {', '.join(values)}")
    return out
