"""Short, readable labels for runs, sides and series, so that no axis is labelled by a run id.

"NVIDIA H100 80GB HBM3" beside "NVIDIA H200" as x tick labels overlap; "20261126T074450Z-vm-cd5b" tells a
reader nothing. Plots use the shortest labels that still tell the values apart ("H100", "H200", "R1");
the markdown prints the table from each label to the full value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import pandas as pd

VENDOR_WORDS = {"nvidia", "geforce", "tesla", "quadro"}
MAX_LABEL = 18


def _tokens(value: str) -> list[str]:
    return [t for t in re.split(r"\s+", value.strip()) if t]


def shortest_unique(values: Sequence[str], drop: set[str] | None = None) -> dict[str, str]:
    """Each value's shortest prefix of words that no other value shares ('NVIDIA H100 80GB HBM3' -> 'H100')."""
    words = {v: [t for t in _tokens(v) if t.lower() not in (drop or set())] or _tokens(v) or [v] for v in values}
    out = {}
    for v in values:
        for k in range(1, len(words[v]) + 1):
            label = " ".join(words[v][:k])
            if all(" ".join(words[o][:k]) != label for o in values if o != v):
                break
        out[v] = label
    if len(set(out.values())) < len(out):  # prefixes cannot separate them (e.g. one is a prefix of another)
        out = {v: v for v in values}
    return out


def run_labels(df: pd.DataFrame) -> dict[str, str]:
    """run id -> 'R1', 'R2', ... in the order the runs started (the order of the environment table)."""
    if df.empty:
        return {}
    start = df.groupby("run_id", sort=False)["timestamp"].min().sort_values(kind="stable")
    return {str(run): f"R{i}" for i, run in enumerate(start.index, 1)}


def side_labels(values: Sequence[str], column: str, runs: dict[str, str]) -> dict[str, str]:
    """Short labels for the sides of `--by column`: GPU names without the vendor, runs as R1.., commits
    as 8 hex digits, anything else its shortest distinguishing prefix, or 'S1', 'S2'.. when still long."""
    if column == "run_id":
        return {v: runs.get(v, v) for v in values}
    if column == "git_commit":
        return {v: v[:8] for v in values} if len({v[:8] for v in values}) == len(values) else {v: v for v in values}
    out = shortest_unique(values, drop=VENDOR_WORDS if column == "gpu_name" else None)
    if any(len(label) > MAX_LABEL for label in out.values()):
        return {v: f"S{i}" for i, v in enumerate(values, 1)}
    return out


def slug(text: str) -> str:
    """A file-name-safe form of a label."""
    return re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()[:40] or "x"
