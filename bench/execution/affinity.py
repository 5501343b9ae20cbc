"""CPU cores for timing and for making data, so that work done ahead never runs on the core of a timing loop.

A host's cores are split into one contiguous share per GPU worker (`split`; the share travels to the
worker in BENCH_CPUS). Inside a worker, the first core of its share is the timing core: the thread that
runs a point is pinned to it while the point is timed (`pinned`), and the threads that make the next
point's data are pinned to the others. Linux applies affinity per thread (pid 0 is the calling thread),
and a thread inherits the affinity of the thread that started it, so data threads and their NumPy helper
threads stay off the timing core. Elsewhere (no sched_setaffinity) nothing is pinned.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

ENV = "BENCH_CPUS"


def parse_cpus(text: str) -> tuple[int, ...]:
    """'0-3,8,10-11' -> (0, 1, 2, 3, 8, 10, 11) (the kernel's cpulist format)."""
    cpus: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if not part:
            continue
        lo, _, hi = part.partition("-")
        a, b = int(lo), int(hi or lo)
        if a < 0 or b < a:
            raise ValueError(f"bad CPU range {part!r} in {text!r}")
        cpus.update(range(a, b + 1))
    return tuple(sorted(cpus))


def format_cpus(cpus: tuple[int, ...] | list[int] | set[int]) -> str:
    """(0, 1, 2, 3, 8) -> '0-3,8'."""
    out: list[str] = []
    run: list[int] = []
    for c in sorted(set(cpus)):
        if run and c != run[-1] + 1:
            out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
            run = []
        run.append(c)
    if run:
        out.append(f"{run[0]}-{run[-1]}" if len(run) > 1 else str(run[0]))
    return ",".join(out)


def split(cpus: tuple[int, ...], parts: int) -> list[tuple[int, ...]]:
    """``cpus`` cut into ``parts`` contiguous, nearly equal shares; with fewer cores than parts, shares of one
    core each, reused in turn (such workers make no data ahead: they have no core to spare)."""
    if parts < 1:
        raise ValueError(f"parts must be >= 1, got {parts}")
    cpus = tuple(sorted(cpus))
    if not cpus:
        return [() for _ in range(parts)]
    if len(cpus) < parts:
        return [(cpus[i % len(cpus)],) for i in range(parts)]
    edges = [len(cpus) * i // parts for i in range(parts + 1)]
    return [cpus[edges[i] : edges[i + 1]] for i in range(parts)]


def available() -> tuple[int, ...]:
    """The cores this thread may run on (all the host's where affinity is unknown)."""
    if hasattr(os, "sched_getaffinity"):
        return tuple(sorted(os.sched_getaffinity(0)))
    return tuple(range(os.cpu_count() or 1))


@dataclass(frozen=True)
class CoreShare:
    """A worker's cores: the first times points, the rest make data."""

    cpus: tuple[int, ...]

    @property
    def timing(self) -> tuple[int, ...]:
        return self.cpus[:1]

    @property
    def data(self) -> tuple[int, ...]:
        return self.cpus[1:]


def this_workers_share() -> CoreShare:
    """The share BENCH_CPUS hands this process (within what it may use), else every core it may use."""
    allowed = available()
    text = os.environ.get(ENV, "").strip()
    if text:
        given = tuple(c for c in parse_cpus(text) if c in set(allowed))
        if given:
            return CoreShare(given)
    return CoreShare(allowed)


def pin(cpus: tuple[int, ...]) -> None:
    """Restrict the calling thread to ``cpus`` (no-op where affinity cannot be set or cpus is empty)."""
    if cpus and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, cpus)


@contextlib.contextmanager
def pinned(cpus: tuple[int, ...]) -> Iterator[None]:
    """The calling thread on ``cpus`` for the block, back on its previous cores after."""
    if not cpus or not hasattr(os, "sched_setaffinity"):
        yield
        return
    before = os.sched_getaffinity(0)
    os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)
