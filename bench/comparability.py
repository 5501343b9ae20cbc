"""What may be compared with what: the one rule that compare, gate and report all follow.

Two timings of the same workload are comparable only when they measured the same thing the same way:
the same timing method (`graph` device time, `events` time with launch overhead, `host` clock), the same
L2 state (`l2_mode`: warm, one buffer set; rotated, each call on the next of several copies of the
buffers; or flushed before every sample), the same backend and the same unit. A
`graph` median of 1.2 µs and an `events` median of 5.9 µs of one kernel are not a 5x regression; they
are two different questions. Pooling them into one number, line, heatmap cell or violin is the error
this module exists to prevent.

What a comparison is *about* (two GPUs, drivers, TensorRT versions, commits, runs) is what varies
between its sides; `ABOUT` lists those columns. A column named by `--by` is what the sides differ in,
so it leaves the comparability key (comparing backends is a fine question with `--by backend`).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pandas as pd

from bench.timing.settings import l2_mode_of

# Columns whose values must be equal for two rows to be compared (unless one is the --by column).
COMPARABLE_ON: tuple[str, ...] = ("timing_method", "l2_mode", "backend", "unit")
# Columns a comparison may be about: they may differ between the sides, and are reported.
ABOUT: tuple[str, ...] = (
    "gpu_name",
    "driver_version",
    "cuda_version",
    "backend_version",
    "git_commit",
    "host",
    "gpu_index",
    "run_id",
)
UNIT = "us/call"  # every stored time is microseconds per call (samples_us and its statistics)

L2_MEANING = {
    "warm": "warm L2 (one buffer set)",
    "rotated": "rotated buffers (calls cycle over copies past twice the L2)",
    "flushed": "L2 flushed before each sample",
}

L2_LABEL = {"warm": "warm L2", "rotated": "rotated buffers", "flushed": "L2 flushed"}  # short, for titles

TIMING_MEANING = {
    "graph": "graph: device time per call from CUDA-graph replay (no launch overhead)",
    "events": "events: CUDA-event time per call, launch overhead included",
    "host": "host: host clock (perf_counter) per call",
}


def key_columns(by: str | None = None) -> list[str]:
    """The comparability key, minus the column the sides are split by."""
    return [c for c in COMPARABLE_ON if c != by]


def l2_modes(df: pd.DataFrame, *, untimed_from_settings: bool = False) -> pd.Series:
    """Each row's L2 state as text: `l2_mode` as stored, else '(none)'. Every timed row read through the
    store has one (bench.results.migrate gives the rows of files written before it was recorded theirs).
    ``untimed_from_settings``: a row that was not timed (skipped, failed) gets what its run's timing
    settings asked for, so that `--by l2_mode` puts it on its run's side."""
    mode = (
        df["l2_mode"].astype("string") if "l2_mode" in df.columns else pd.Series(pd.NA, index=df.index, dtype="string")
    )
    if untimed_from_settings and "timing_settings" in df.columns:
        asked = df["timing_settings"].map(_asked_l2_mode).astype("string")
        mode = mode.fillna(asked)
    return mode.fillna("(none)")


def _asked_l2_mode(settings: object) -> str | None:
    if not isinstance(settings, dict):
        return None
    return l2_mode_of(settings.get("l2_flush"), settings.get("rotate_buffers"))


def _normalized(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """The key columns as text, with missing values spelled out (so NaN groups with NaN)."""
    out = pd.DataFrame(index=df.index)
    for c in columns:
        if c == "unit" and c not in df.columns:
            out[c] = UNIT
        elif c == "l2_mode":
            out[c] = l2_modes(df)
        elif c not in df.columns:
            out[c] = "(none)"
        else:
            out[c] = df[c].astype("string").fillna("(none)")
    return out


@dataclass(frozen=True)
class Group:
    """One comparable group: its key values and a sentence saying what it holds."""

    key: tuple[str, ...]
    columns: tuple[str, ...]

    def as_dict(self) -> dict[str, str]:
        return dict(zip(self.columns, self.key, strict=True))

    def describe(self) -> str:
        """e.g. 'backend cuda, graph: device time per call from CUDA-graph replay (...), warm L2'."""
        d = self.as_dict()
        parts = []
        if "backend" in d:
            parts.append(f"backend {d['backend']}")
        if "timing_method" in d:
            parts.append(TIMING_MEANING.get(d["timing_method"], f"timing {d['timing_method']}"))
        if "l2_mode" in d:
            parts.append(L2_MEANING.get(d["l2_mode"], "L2 state unknown"))
        return ", ".join(parts)

    def slug(self) -> str:
        return "-".join(v for v in self.key if v not in ("(none)", UNIT)).replace(" ", "_") or "all"


def groups(df: pd.DataFrame, by: str | None = None) -> Iterator[tuple[Group, pd.DataFrame]]:
    """Split rows into comparable groups (sorted by key; rows keep their order within a group)."""
    cols = key_columns(by)
    if df.empty:
        return
    keys = _normalized(df, cols)
    # Positions, not labels: frames concatenated without ignore_index repeat labels, and selecting by a
    # repeated label would pull in rows of other groups.
    for key, positions in keys.groupby(cols, sort=True, dropna=False).indices.items():
        key_t = key if isinstance(key, tuple) else (key,)
        yield Group(tuple(str(k) for k in key_t), tuple(cols)), df.iloc[positions]


def mixes(df: pd.DataFrame, by: str | None = None) -> list[str]:
    """What a set of rows mixes that must not be pooled, e.g. ["timing_method: events, graph"]; [] if one group."""
    cols = key_columns(by)
    keys = _normalized(df, cols)
    return [f"{c}: {', '.join(sorted(keys[c].unique()))}" for c in cols if keys[c].nunique() > 1]
