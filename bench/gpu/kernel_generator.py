"""Which code generated a kernel launch, as one hash: the tuning store and launch sets key their decisions
on it, and every cuda row records it (`kernel_generator`), since a decision is valid only for the code
that generated the launches it timed.

The modules hashed are those whose text decides what runs: the launch arithmetic
(`bench.gpu.kernel_layout`: layout, grid, arguments) and the CUDA source written for it
(`bench.gpu.kernel_source`). An edit to either, even one that changes nothing that runs, invalidates the
decisions made before it: a new hash costs a re-tune, never a stale decision.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from bench.gpu import kernel_layout, kernel_source

GENERATOR_MODULES = (Path(kernel_layout.__file__), Path(kernel_source.__file__))


@cache
def generator_hash() -> str:
    """The hash of `GENERATOR_MODULES` as they are in this process."""
    return modules_hash(GENERATOR_MODULES)


def modules_hash(paths: tuple[Path, ...]) -> str:
    """16 hex digits of the SHA-256 of the files' names and texts, in order."""
    digest = hashlib.sha256()
    for path in paths:
        text = path.read_bytes()
        digest.update(f"{path.name}\0{len(text)}\0".encode())
        digest.update(text)
    return digest.hexdigest()[:16]
