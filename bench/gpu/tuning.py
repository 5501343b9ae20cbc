"""Per-GPU tuning of the Scale kernel's launch configuration: which candidates, and which one wins.

Pure Python (no CUDA here): the `cuda` backend times the candidates with the shared timing core and
hands the times to `decide`; this module says what to time and picks. Records on disk are
bench.gpu.tuning_store; launches carried from elsewhere (a baseline, another runner) are
bench.gpu.launch_sets.

Why tune at all: the best launch shape differs between GPUs and between kinds of work. On an H100
80GB HBM3 (reports/kernel-tuning/exploration.md), one 16-byte vector per thread in blocks of 512 with
L1 no-allocate and L2 evict-first hints reached 100.2-100.5% of a device-to-device copy on every >= 64
MiB fp32/fp16/bf16 point with small weights, while int8 ELEMENTWISE needed its weights reused over
rows (`grid=reuse`: 45.9% -> 90.2% of the copy at 64 MiB on axis 1), 1x3x3x3 needed one element per
thread (`variant=direct`: 1.13-1.51 us -> 0.98-1.02 us), and tensors that fit in the L2 ran up to 2.07x
faster in blocks of 256 than of 1024. On the H200, whose copy is 40% faster, the kernel tuned by hand
on the H100 reached only 88.8% of the copy: what fits one GPU is measured on each.

What ran must be reproducible, because a comparison between two runs that ran different launches
measures the tuner, not the change (two trees of one commit on one H200, each tuning for itself, ran
different launches on 61 of 220 points, which moved up to 16.5%). So:

- **Timed as points are timed.** Candidates are timed with the run's own timing method and L2 state
  (rotated buffers by default), so a launch that wins only with its data in the L2 does not win for a
  point that streams it.
- **Ties go to a fixed order.** The fastest's group of ties is every candidate reached from it upward
  through medians each at most `LINK` above the one before, none more than `CAP` above the fastest;
  the earliest of the group in the class's fixed candidate order wins (the default first). The
  finalists (within `FINALIST_MARGIN`) are timed again, interleaved, before the rule is applied. Two
  fresh stores then differ only where neighbouring medians sit about `LINK` apart or a candidate sits
  at the cap, and there the two launches' times differ by at most `CAP`. On the stores of two H200
  leases (reports/tuning/README.md, recipe tie_rule_agreement.py) this rule agreed on 94.5% and 95.4%
  of points, a plain 0.5% tie of the fastest on 85.8% and 87.7%.
- **A class proposes, each point decides.** A tuning class (`tuning_key`) is what makes two points
  behave alike: precision, mode, how the weights are read (and, for periodic weights, their period's
  order of magnitude), the size class (`tiny`: the direct variant's range; `l2-N`: in and out fit the
  L2, by factors of four of the tensor's bytes; `hbm`: they do not), power, and 64-bit indices. Its
  first point is timed with every candidate; the class keeps a `shortlist` (the launches within
  `SHORTLIST_MARGIN` of its best, at most `SHORTLIST_MAX`, the chosen one always, and the fastest of
  each family of launches: one pass, weights reused over rows, one element per thread). Every other point
  of the class times the shortlist on its own buffers and takes the rule's pick: a class's pick was
  up to 16.5% from the best launch for some of the points it served (int8 CHANNEL on axis 2).
- **Decided once.** Each point's decision is stored (bench.gpu.tuning_store) and reused by later runs;
  workers of one host take a lock on a class while one of them tunes it.

Every candidate is the same kernel family with the same arithmetic (bench.gpu.kernel_layout, bench.gpu.kernel_source): tuning changes
speed, never outputs.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bench.errors import UserError
from bench.gpu import kernel_layout as K

# How a point's launch was chosen: tuned (its class's full candidate table was timed on it), checked (its
# class's shortlist was timed on it), cached (a stored decision), imported (--tuning-from), pinned
# (--kernel-config), default (--kernel-config default).
SOURCES = ("tuned", "checked", "cached", "imported", "pinned", "default")
LINK = 0.0075  # neighbouring medians this close chain into the fastest's group of ties ...
CAP = 0.01  # ... which reaches at most 1% above the fastest; the group's earliest candidate wins
FINALIST_MARGIN = 0.03  # candidates within 3% of the fastest are timed again, interleaved
FINALIST_MAX = 6
FINALIST_ROUNDS = 2  # more rounds of the finalists after the first pass over every candidate
SHORTLIST_MARGIN = 0.05  # a class hands its points the launches within 5% of its best ...
SHORTLIST_MAX = 4  # ... at most this many
CHECK_ROUNDS = 2  # a point times its class's shortlist in this many interleaved rounds
FLAG = "--kernel-config"
_ALIASES = {
    "variant": "variant",
    "block": "block",
    "vpt": "vpt",
    "vectors_per_thread": "vpt",
    "grid": "grid",
    "cache": "cache",
    "cache_hint": "cache",
}


# --- what is pinned ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pin:
    """What --kernel-config asked for: a configuration (unset keys from the class default), or the
    class defaults with no tuning ('default')."""

    values: tuple[tuple[str, str | int], ...] = ()
    defaults_only: bool = False

    def apply(self, base: K.KernelConfig) -> K.KernelConfig:
        return K.KernelConfig(**{**base.as_dict(), **dict(self.values)})


def parse_kernel_config(text: str | None) -> Pin | None:
    """``block=256,vpt=4,cache=streaming`` (keys variant, block, vpt, grid, cache) or ``default``; None
    when not given. A bad key or value is a UserError naming the flag and what is allowed."""
    if text is None:
        return None
    text = text.strip()
    if text.lower() == "default":
        return Pin(defaults_only=True)
    if not text:
        raise UserError(f"{FLAG} is empty: give key=value pairs, e.g. {FLAG} block=256,vpt=4,cache=streaming")
    if len(text) > 200:  # five keys fit in 80 characters; a longer value is not a configuration, nor echoed
        raise UserError(
            f"{FLAG} is {len(text)} characters long: give at most five key=value pairs, e.g. block=256,vpt=4"
        )
    values: dict[str, str | int] = {}
    for part in text.split(","):
        key, sep, raw = part.partition("=")
        key, raw = key.strip().lower(), raw.strip()
        if not sep or not key or not raw:
            raise UserError(f"{FLAG} {text!r}: {part.strip()!r} is not key=value (e.g. block=256)")
        name = _ALIASES.get(key)
        if name is None:
            raise UserError(f"{FLAG}: unknown key {key!r}; use {', '.join(sorted(set(_ALIASES.values())))}")
        if name in values:
            raise UserError(f"{FLAG}: {key!r} is given twice")
        if name in ("block", "vpt"):
            try:
                values[name] = int(raw)
            except ValueError:
                raise UserError(f"{FLAG}: {key}={raw!r} must be an integer") from None
        else:
            values[name] = raw.lower()
    try:
        K.KernelConfig(**{**K.DEFAULT_CONFIG.as_dict(), **values})
    except ValueError as exc:
        raise UserError(f"{FLAG}: {exc}") from None
    return Pin(tuple(sorted(values.items())))


# --- classes, defaults and candidates ---------------------------------------------------------------------


def size_class(numel: int, tensor_bytes: int, l2_bytes: int) -> str:
    """'tiny' (the direct variant's range), 'l2-N' (input and output fit the L2; N = log4 of the
    tensor's bytes) or 'hbm' (they stream from device memory)."""
    if numel <= K.DIRECT_MAX:
        return "tiny"
    if 2 * tensor_bytes <= l2_bytes:
        return f"l2-{max(0, tensor_bytes.bit_length() - 1) // 2}"
    return "hbm"


def _weights_class(layout: K.ScaleLayout) -> str:
    period = layout.period_vectors
    if period is None:
        return layout.weights
    return f"{layout.weights}-p{min(4, int(math.log(max(period, 1), 16)))}"  # orders of 16 vectors


def tuning_key(layout: K.ScaleLayout, size: str, power_is_one: bool) -> str:
    """The class a decision is shared by, e.g. 'int8/elementwise/periodic-p3/hbm/pow1'."""
    parts = [layout.precision, layout.mode, _weights_class(layout), size, "pow1" if power_is_one else "pow"]
    if layout.index64:
        parts.append("i64")
    return "/".join(parts)


def default_config(layout: K.ScaleLayout, size: str) -> K.KernelConfig:
    """The configuration used without tuning (and the baseline a tuning record compares against),
    each the best of its kind on the H100 exploration."""
    if size == "tiny":
        return K.KernelConfig("direct", 256)
    if size.startswith("l2"):
        return K.KernelConfig("vector", 256, 1, "oneshot", "default")
    if layout.precision == "int8" and layout.period_vectors is not None and layout.weights == "periodic":
        return K.KernelConfig("vector", 256, 4, "reuse", "streaming")
    return K.KernelConfig("vector", 512, 1, "oneshot", "evict_first")


def candidates(layout: K.ScaleLayout, size: str, direct: K.ScaleLayout | None = None) -> list[K.KernelConfig]:
    """The configurations timed for a class, in a fixed order, the default first. ``layout`` is the
    vector layout and ``direct`` the direct variant's (tiny tensors). Configurations that run the
    same way (a block larger than the work, reuse without periodic weights) appear once."""
    out: list[K.KernelConfig] = [default_config(layout, size)]
    periodic = layout.period_vectors is not None
    if size == "tiny":
        out += [K.KernelConfig("direct", b) for b in (32, 128, 1024)]
        out += [K.KernelConfig("vector", b, 1, "oneshot", "default") for b in (32, 128)]
    elif size.startswith("l2"):
        out += [
            K.KernelConfig("vector", b, 1, "oneshot", c)
            for b in (64, 128, 256, 512, 1024)
            for c in ("default", "streaming")
        ]
        out += [K.KernelConfig("vector", b, 2, "oneshot", "default") for b in (128, 256)]
        if periodic:
            out += [K.KernelConfig("vector", b, v, "reuse", "streaming") for b, v in ((128, 2), (256, 4))]
    else:
        caches = ("default", "streaming", "evict_first", "prefetch")
        out += [K.KernelConfig("vector", b, 1, "oneshot", c) for b in (256, 512, 1024) for c in caches]
        out += [
            K.KernelConfig("vector", b, v, "oneshot", c)
            for v in (2, 4)
            for b in (512, 1024)
            for c in ("evict_first", "streaming")
        ]
        if periodic:
            out += [K.KernelConfig("vector", b, v, "reuse", "streaming") for b in (256, 512) for v in (2, 4, 8)]
            out.append(K.KernelConfig("vector", 128, 4, "reuse", "streaming"))
            out += [K.KernelConfig("vector", 256, v, "reuse", "evict_first") for v in (2, 4)]
    layouts = {"vector": layout, "direct": direct}
    unique: dict[K.KernelConfig, K.KernelConfig] = {}
    for cfg in out:
        lay = layouts[cfg.variant]
        if lay is not None:
            unique.setdefault(K.effective_config(lay, cfg), cfg)
    return list(unique.values())


# --- decisions -------------------------------------------------------------------------------------------


@dataclass
class Candidate:
    """One launch configuration timed on one point: its samples' median (pooled over rounds), or why it
    could not run."""

    config: dict[str, Any]
    label: str
    median_us: float | None = None
    min_us: float | None = None
    noise: float | None = None
    samples: int | None = None
    error: str | None = None
    rounds: int = 0

    @property
    def timed(self) -> bool:
        return self.median_us is not None and self.error is None


def timed_candidate(config: dict[str, Any], label: str, samples: Sequence[float] | str, rounds: int) -> Candidate:
    """A candidate from its samples (median, minimum, MAD/median, count), or from the error that stopped it."""
    cand = Candidate(config, label, rounds=rounds)
    if isinstance(samples, str):
        cand.error = samples
    elif len(samples):
        s = sorted(float(v) for v in samples)
        median = statistics.median(s)
        cand.median_us, cand.min_us, cand.samples = median, s[0], len(s)
        cand.noise = statistics.median(abs(v - median) for v in s) / median if median > 0 else None
    else:
        cand.error = "no samples"
    return cand


def _fastest(cands: Sequence[Candidate]) -> float:
    timed = [c.median_us for c in cands if c.timed]
    if not timed:
        raise ValueError("no candidate could be timed: " + "; ".join(f"{c.label}: {c.error}" for c in cands))
    return float(min(timed))  # type: ignore[type-var]


def decide(cands: Sequence[Candidate], link: float = LINK, cap: float = CAP) -> int:
    """Index of the earliest candidate (in the given, fixed order) of the fastest's group: those reached
    from the fastest upward through medians each at most ``link`` above the one before, all within
    ``cap`` of the fastest; ValueError if none ran."""
    best = _fastest(cands)
    ranked = sorted((c.median_us, i) for i, c in enumerate(cands) if c.timed)
    group, previous = [], best
    for median, i in ranked:
        if median > best * (1 + cap) or median > previous * (1 + link):  # type: ignore[operator]
            break
        group.append(i)
        previous = median
    return min(group)


def finalists(cands: Sequence[Candidate], margin: float = FINALIST_MARGIN, most: int = FINALIST_MAX) -> list[int]:
    """Indices (in the fixed order) of the candidates worth timing again: within ``margin`` of the
    fastest, the ``most`` fastest of them."""
    best = _fastest(cands)
    near = [i for i, c in enumerate(cands) if c.timed and c.median_us <= best * (1 + margin)]  # type: ignore[operator]
    near = sorted(near, key=lambda i: (cands[i].median_us, i))[:most]
    return sorted(near)


def shortlist(cands: Sequence[Candidate], chosen: int) -> list[int]:
    """What a class hands its other points (indices, fixed order): within `SHORTLIST_MARGIN` of the
    fastest, at most `SHORTLIST_MAX`, the chosen one always among them, and the fastest launch of every
    family (variant and grid) the class timed. A family is a different way of walking the tensor: the
    class's first point may favour reusing weights over rows where another point of the class, of
    another shape or axis, streams faster in one pass (on an H200, int8 CHANNEL 64x256x64x64 on axis 0
    ran 4.3% slower on its class's reuse launches than on its own best, a one-pass launch)."""
    near = [i for i in finalists(cands, SHORTLIST_MARGIN, SHORTLIST_MAX) if i != chosen]
    near = sorted(near, key=lambda i: (cands[i].median_us, i))[: SHORTLIST_MAX - 1]
    keep = {chosen, *near}
    fastest: dict[tuple[Any, Any], int] = {}
    for i, c in enumerate(cands):
        family = (c.config.get("variant"), c.config.get("grid"))
        if c.timed and (family not in fastest or c.median_us < cands[fastest[family]].median_us):  # type: ignore[operator]
            fastest[family] = i
    return sorted(keep | set(fastest.values()))
