"""From a sweep to the list of points: cartesian expansion, skips with reasons, sharding, estimates.

Pure: it asks each backend `unsupported(point)` (which needs no GPU and no TensorRT), so `plan`
shows exactly what `run` will do, before any work.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import dataclass, replace

from bench import copy_yardstick
from bench.backends import create
from bench.backends.base import Backend, BackendOptions
from bench.errors import UserError
from bench.point import Point
from bench.sweepfile import Sweep
from bench.timing.settings import TimingSettings


@dataclass(frozen=True)
class PlannedPoint:
    point: Point
    skip_reason: str | None = None  # None: the backend will run it

    @property
    def runs(self) -> bool:
        return self.skip_reason is None


# Backends that move the same bytes whatever the mode and axis: one point per shape and precision, so
# the copy (the roofline every `% of memcpy` is read against) exists whatever modes the sweep has.
MODE_FREE_BACKENDS = (copy_yardstick.BACKEND,)


def expand(sweep: Sweep) -> list[Point]:
    """Every case's cartesian product, in declaration order, without repeats."""
    points: dict[tuple[str, str], Point] = {}
    for case in sweep.cases:
        a = case.axes
        for backend, shape, precision, mode, axis in itertools.product(
            a.backend, a.shape, a.precision, a.mode, a.channel_axis
        ):
            p = Point(shape, mode, precision, axis, backend, case.weights, case.data)
            if backend in MODE_FREE_BACKENDS:
                p = replace(p, mode="uniform", channel_axis=None)
            points.setdefault((p.key, p.backend), p)
    return list(points.values())


def parse_shard(text: str) -> tuple[int, int]:
    """'2/4' -> (2, 4): the second of four shards (1-based)."""
    try:
        i, n = (int(t) for t in text.split("/"))
    except ValueError:
        raise UserError(f"--shard {text!r} is malformed: write I/N with 1 <= I <= N, e.g. --shard 1/4") from None
    if not 1 <= i <= n:
        raise UserError(f"--shard {text!r}: need 1 <= I <= N, e.g. --shard 1/4")
    return i, n


def shard(points: list[Point], index: int, count: int) -> list[Point]:
    """A deterministic 1/count of the points: independent of sweep order and of the machine.

    Points are ordered by (key, backend) and dealt round-robin, so shards differ in size by at most one.
    """
    if count == 1:
        return points
    ordered = sorted(points, key=lambda p: (p.key, p.backend))
    chosen = {(p.key, p.backend) for p in ordered[index - 1 :: count]}
    return [p for p in points if (p.key, p.backend) in chosen]


def make_backends(names: set[str], options: BackendOptions) -> dict[str, Backend]:
    """Backend objects for planning and running; constructing one needs no GPU."""
    return {name: create(name, options) for name in sorted(names)}


def plan(points: list[Point], backends: dict[str, Backend]) -> list[PlannedPoint]:
    return [PlannedPoint(p, backends[p.backend].unsupported(p)) for p in points]


def host_shortfall(point: Point) -> str | None:
    """Why a point would be skipped here for host memory (what `run` checks before it starts the point), or
    None. The GPU's side is known only once a backend runs on it."""
    from bench import resources

    return resources.shortfall(resources.host_bytes(point), 0, resources.host_available(), None)


def estimate_seconds(planned: list[PlannedPoint], timing: TimingSettings) -> float:
    """Rough wall time: warm-up and sampling per point, plus making and checking the data.

    Most points reach the noise target soon after min_time_s (the time cap is for noisy ones), so the
    estimate takes 1.5x min_time_s, plus a few milliseconds for each further round, all bounded by
    max_time_s (the cap bounds a point's total time, rounds included). Making the input and the float64
    reference and checking the output cost about 50 ns per element on one core, spread over the cores
    (bench.parallel); building, uploading and sizing the batch about 0.1 s a point. The default sweep
    took 64-80 s on the 16-core H100 host; this gives 60 s there.
    """
    from bench.parallel import workers

    per_element = 50e-9 / workers()
    timing_s = min(
        timing.max_time_s, timing.warmup_s + 1.5 * timing.min_time_s + ROUND_OVERHEAD_S * (timing.rounds - 1)
    )
    total = 0.0
    for pp in planned:
        if pp.runs:
            total += timing_s + per_element * pp.point.numel + 0.1
    return total


ROUND_OVERHEAD_S = 0.005  # a round's own cost (the call into the backend, sizing a batch)


def plan_identity(
    sweep: Sweep, planned: list[PlannedPoint], timing: TimingSettings, options: dict, shard: str | None
) -> dict:
    """What a run is, for `--resume` to check: the sweep, every planned point (and whether it runs), the
    timing settings and the options that shape a row. A resume with any of these different would mix
    two runs in one file."""
    return {
        "sweep": sweep.name,
        "source": sweep.source,
        "shard": shard,
        "timing": timing.to_dict(),
        "options": options,
        "points": sorted(f"{pp.point.key}:{pp.point.backend}:{'run' if pp.runs else 'skip'}" for pp in planned),
    }


def plan_id(identity: dict) -> str:
    blob = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def identity_differences(old: dict, new: dict) -> list[str]:
    """What differs between a journal's plan and this command's, in words (empty when they match)."""
    out = []
    for key in ("sweep", "source", "shard"):
        if old.get(key) != new.get(key):
            out.append(f"{key}: the run has {old.get(key)!r}, this command {new.get(key)!r}")
    for key in ("timing", "options"):
        a, b = old.get(key) or {}, new.get(key) or {}
        for name in sorted(set(a) | set(b)):
            if a.get(name) != b.get(name):
                out.append(f"{key} {name}: the run has {a.get(name)!r}, this command {b.get(name)!r}")
    a, b = set(old.get("points") or []), set(new.get("points") or [])
    if a != b:
        out.append(
            f"points: {len(b - a)} planned here are not in the run, {len(a - b)} of the run are not planned here"
        )
    return out
