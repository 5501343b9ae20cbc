"""What executed for a results row, as one comparable label: the rule every comparison uses to say
whether two sides ran the same code on the device.

A time moves for two kinds of reason: the same launch ran faster or slower, or something else ran (the
kernel's tuner picked another launch, TensorRT chose other tactics). The second explains a difference
before any statistics do, so compare, gate and report put it beside every verdict.

- ``cuda``: the kernel generator (a hash of the code that writes the kernel's source) and the launch
  (variant, block, vectors per thread, grid, cache hint), from `kernel_config` and the backend's
  environment. How the launch was chosen (tuned, cached, pinned) is not part of it: the same launch
  chosen two ways is the same work. The grid's block count is not either: it follows from the launch
  and the GPU's SM count, so two GPUs of one launch read alike.
- ``tensorrt`` / ``tensorrt-rtx``: the digest of the engine's layers and tactics (`engine_digest` in
  `builder_settings`, from the engine inspector), else a digest of the stored layer information.
- ``memcpy`` (the copy yardstick): the copy that won (`kernel_config['copy']`: ``cudaMemcpyAsync`` or
  ``copy kernel <generator> b512 v2``; ``cudaMemcpyAsync`` where not recorded, as rows written before
  the copy kernel existed).
- anything else (``numpy``): the backend's name.

Rows that ran nothing (skipped, failed before running, built only) have no label (None).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

import pandas as pd

from bench import copy_yardstick

RAN_STATUSES = ("ok", "mismatch")  # a mismatch ran (wrongly): what ran explains it too
COLUMN = "what_ran"


def launch_label(config: Mapping[str, Any]) -> str:
    """'b256 v4 reuse streaming' or 'direct b128' from a row's `kernel_config` (or a KernelConfig dict)."""
    variant = str(config.get("variant", "vector"))
    block = config.get("block")
    if variant == "direct":
        return f"direct b{block}"
    vpt = config.get("vectors_per_thread", config.get("vpt"))
    cache = config.get("cache_hint", config.get("cache"))
    return f"b{block} v{vpt} {config.get('grid')} {cache}"


@lru_cache(maxsize=256)
def json_field(text: str | None, key: str) -> str | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except (TypeError, ValueError):
        return None
    found = value.get(key) if isinstance(value, dict) else None
    return None if found is None else str(found)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def label(row: Mapping[str, Any]) -> str | None:
    """What ran for one row (see the module docstring); None where nothing ran."""
    if row.get("status") not in RAN_STATUSES:
        return None
    backend = str(row.get("backend") or "")
    config = row.get("kernel_config")
    config = dict(config) if isinstance(config, Mapping) else dict(config) if isinstance(config, list) else {}
    if backend == "cuda":
        if not config:
            return None
        generator = json_field(row.get("environment"), "kernel_generator")
        return f"kernel {(generator or 'unknown')[:8]} {launch_label(config)}"
    if backend.startswith("tensorrt"):
        digest = json_field(row.get("builder_settings"), "engine_digest")
        if digest:
            return f"engine {digest[:12]}"
        layers = row.get("layer_info")
        return f"layers {_digest(layers)}" if isinstance(layers, str) and layers else None
    if copy_yardstick.is_copy(backend):
        return str(config.get("copy") or copy_yardstick.DRIVER_COPY)
    return backend or None


def column(rows: pd.DataFrame) -> pd.Series:
    """`label` of every row of a results DataFrame, aligned on its index."""
    if rows.empty:
        return pd.Series([], index=rows.index, dtype=object, name=COLUMN)
    fields = ("status", "backend", "kernel_config", "environment", "builder_settings", "layer_info")
    present = [c for c in fields if c in rows.columns]
    records = rows[present].to_dict("records")
    return pd.Series([label(r) for r in records], index=rows.index, dtype=object, name=COLUMN)
