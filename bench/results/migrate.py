"""Bring a results file written by an older schema up to the current one, on read (asv's api_version).

One function per version step, each taking and returning plain row dicts; `upgrade` chains them. The
file itself is never rewritten: a results file is evidence, and stays as it was written.
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Callable
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from bench.results.schema import COLUMNS, COLUMNS_AT, SCHEMA, SCHEMA_VERSION, TIMING_SETTINGS


def _json(text: Any) -> Any:
    if text is None or (isinstance(text, float) and math.isnan(text)):
        return None
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return None


def _v1_to_v2(row: dict) -> dict:
    """v1 stored nested data as JSON text, the start time as `timestamp` text, the axis only as a label,
    and had no noise flag, provenance source, phases or footprints (those stay null)."""
    from bench import reference  # the axis arithmetic lives there; imported late (pure, cheap)

    out = dict(row)
    out["clocks"] = _json(row.get("clocks"))
    out["timing_settings"] = {"rounds": 1, **(_json(row.get("timing_settings")) or {})}
    out["libraries"] = _json(row.get("libraries"))
    warnings = row.get("warnings")
    out["warnings"] = [w for w in str(warnings).split("; ") if w] if isinstance(warnings, str) else None
    shape = str(row.get("shape") or "")
    dims = [int(d) for d in shape.split("x")] if shape else None
    out["dims"] = dims
    label = row.get("channel_axis")
    out["channel_axis_arg"] = None if label in (None, "default") else int(label)
    out["resolved_axis"] = None
    if dims and row.get("mode") in ("channel", "elementwise"):
        with contextlib.suppress(ValueError):
            out["resolved_axis"] = reference.resolve_axis(dims, out["channel_axis_arg"])
    samples = row.get("samples_us")
    has_samples = samples is not None and len(samples) > 0
    if row.get("round_sizes") is None and has_samples:
        out["round_sizes"] = [len(samples)]
    out["unit"] = "us/call" if has_samples else None
    settings = out["timing_settings"] or {}
    noise, target = row.get("noise"), settings.get("target_noise")
    if has_samples and noise is not None and target is not None and not math.isnan(noise):
        out["noise_target_met"] = bool(noise <= target)
    commit = row.get("git_commit")
    if isinstance(commit, str) and commit.endswith("-dirty"):
        out["git_commit"], out["git_dirty"] = commit[: -len("-dirty")], True
    if row.get("status") == "skipped":
        out["error_origin"] = "plan"
    out["schema_version"] = 2
    return out


def _v2_to_v3(table: pa.Table) -> pa.Table:
    """v2 had no rotated buffers: a timed row ran on one buffer set, its L2 warm or flushed. Column
    operations, not rows: v2 is what every committed run before rotation wrote, and analysis reads many."""
    flush = table.column("l2_flush")
    mode = pc.if_else(flush, pa.scalar("flushed"), pa.scalar("warm"))
    sets = pc.if_else(pc.is_valid(flush), pa.scalar(1, pa.int64()), pa.scalar(None, pa.int64()))
    settings = table.column("timing_settings").combine_chunks()
    fields = {f.name: settings.field(f.name) for f in settings.type}
    fields["rotate_buffers"] = pa.array([False] * len(settings), pa.bool_())
    names = [f.name for f in TIMING_SETTINGS]
    merged = pa.StructArray.from_arrays([fields[n] for n in names], names=names, mask=settings.is_null())
    columns = {n: table.column(n) for n in table.column_names}
    columns.update(l2_mode=mode, buffer_sets=sets, timing_settings=merged)
    columns["schema_version"] = pa.array([3] * len(table), pa.int32())
    return pa.table({n: columns[n] for n in COLUMNS}).cast(SCHEMA)


ROW_STEPS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}  # on row dicts (the file's own types differ)
TABLE_STEPS: dict[int, Callable[[pa.Table], pa.Table]] = {2: _v2_to_v3}  # on tables of the previous schema


def upgrade(table: pa.Table, version: int) -> pa.Table:
    """A file written at ``version``, as the current schema has it."""
    from bench.results.table import rows_to_table

    if version in ROW_STEPS:
        rows = table.to_pylist()
        while version in ROW_STEPS:
            rows = [ROW_STEPS[version](r) for r in rows]
            version += 1
        table = rows_to_table(rows, COLUMNS_AT[version])
    while version < SCHEMA_VERSION:
        table = TABLE_STEPS[version](table)
        version += 1
    return table
