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

from bench.results.schema import SCHEMA_VERSION


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


STEPS: dict[int, Callable[[dict], dict]] = {1: _v1_to_v2}


def upgrade(rows: list[dict], version: int) -> list[dict]:
    """Rows of a file written at ``version``, as the current schema has them."""
    while version < SCHEMA_VERSION:
        step = STEPS[version]
        rows = [step(r) for r in rows]
        version += 1
    return rows
