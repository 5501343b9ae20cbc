"""Per-GPU tuning of the Scale kernel's launch configuration: which candidates, keyed how, cached where.

Pure Python (no CUDA here): the `cuda` backend times the candidates with the shared timing core and
hands the times to `decide`; this module says what to time, picks the fastest, and reads and writes
the JSON tuning records.

Why tune at all: the best launch shape differs between GPUs and between kinds of work. On an H100
80GB HBM3 (reports/kernel-tuning/exploration.md), one 16-byte vector per thread in blocks of 512 with
L1 no-allocate and L2 evict-first hints reached 100.2-100.5% of a device-to-device copy on every >= 64
MiB fp32/fp16/bf16 point with small weights, while int8 ELEMENTWISE needed its weights reused over
rows (`grid=reuse`: 45.9% -> 90.2% of the copy at 64 MiB on axis 1), 1x3x3x3 needed one element per
thread (`variant=direct`: 1.13-1.51 us -> 0.98-1.02 us), and tensors that fit in the L2 ran up to 2.07x
faster in blocks of 256 than of 1024. On the H200, whose copy is 40% faster, the kernel tuned by hand
on the H100 reached only 88.8% of the copy: what fits one GPU is measured on each.

A tuning class (`tuning_key`) is what makes two points behave alike: precision, mode, how the weights
are read (and, for periodic weights, their period's order of magnitude, which decides whether reuse
pays), the size class (`tiny`: the direct variant's range; `l2-N`: in and out fit the L2, by factors of
four of the tensor's bytes; `hbm`: they do not), power, and 64-bit indices. The first point of a class
on a GPU is timed with every candidate of the class, in a fixed order; the fastest median wins (the
earlier candidate on a tie); the decision and the whole candidate table are stored as a JSON record
under ``<cache_dir>/kernel-tuning/<gpu model>/driver-<driver>/<generator hash>/``, so a new GPU model,
driver or kernel generator tunes afresh and everything else reuses it. The key is the model, not the
card: two cards of one model (the GPUs of one host, the hosts of one cluster) share decisions, so a
card-to-card comparison times the same launch on both, and a record made on one host serves another of
the same model and driver (the record keeps the UUID of the card it was tuned on). Every candidate is the same
kernel family with the same arithmetic (bench.gpu.kernels): tuning changes speed, never outputs.
"""

from __future__ import annotations

import json
import math
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.gpu import kernels as K

RECORD_FORMAT = "scale-bench kernel tuning record 1"
SOURCES = ("tuned", "cached", "pinned", "default")
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


# --- records ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GpuIdentity:
    """What a decision is valid for: this GPU model (its name; the UUID of the card at hand is kept in the
    record as provenance), this driver, this kernel generator."""

    name: str
    uuid: str
    driver: str
    generator: str = field(default_factory=K.generator_hash)

    def folder(self, cache_dir: Path) -> Path:
        return Path(cache_dir) / "kernel-tuning" / _slug(self.name) / f"driver-{_slug(self.driver)}" / self.generator


@dataclass
class Candidate:
    config: dict[str, Any]
    label: str
    median_us: float | None = None
    min_us: float | None = None
    noise: float | None = None
    samples: int | None = None
    error: str | None = None


@dataclass
class TuningRecord:
    """One tuning decision with everything that led to it (the JSON file's content)."""

    key: str
    gpu: dict[str, Any]
    driver: str
    generator: str
    tuned_on: dict[str, Any]
    settings: dict[str, Any]
    candidates: list[Candidate]
    chosen: dict[str, Any]
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    tuning_s: float = 0.0
    family: str = K.FAMILY
    format: str = RECORD_FORMAT

    @property
    def config(self) -> K.KernelConfig:
        return K.KernelConfig(**self.chosen)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuningRecord:
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"not a tuning record ({RECORD_FORMAT!r}): format is {data.get('format')!r}")
        data = dict(data)
        data["candidates"] = [Candidate(**c) for c in data["candidates"]]
        record = cls(**data)
        record.config  # noqa: B018 - validates the chosen configuration
        return record


def decide(cands: Sequence[Candidate]) -> int:
    """Index of the fastest candidate by median (the earlier one on a tie); ValueError if none ran."""
    timed = [(c.median_us, i) for i, c in enumerate(cands) if c.median_us is not None and c.error is None]
    if not timed:
        raise ValueError("no candidate could be timed: " + "; ".join(f"{c.label}: {c.error}" for c in cands))
    return min(timed)[1]


def record_path(identity: GpuIdentity, cache_dir: Path, key: str) -> Path:
    return identity.folder(cache_dir) / f"{_slug(key)}.json"


def load_record(path: Path) -> TuningRecord:
    """A tuning record from its JSON file (ValueError if it is not one)."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: cannot read a tuning record: {exc}") from None
    try:
        return TuningRecord.from_dict(data)
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def load_cached(identity: GpuIdentity, cache_dir: Path, key: str) -> TuningRecord | None:
    """The stored decision for ``key`` on this GPU, driver and generator, or None. A damaged file is
    reported on stderr and ignored (the class is tuned again and the file replaced)."""
    path = record_path(identity, cache_dir, key)
    if not path.exists():
        return None
    try:
        record = load_record(path)
    except ValueError as exc:
        announce(f"kernel tuning: ignoring a damaged record ({exc})")
        return None
    if record.key != key or record.generator != identity.generator or record.gpu.get("name") != identity.name:
        announce(f"kernel tuning: ignoring {path}: made for another key, GPU or generator")
        return None
    return record


def save_record(identity: GpuIdentity, cache_dir: Path, record: TuningRecord) -> Path:
    """Write atomically (a temporary file renamed over the target), so a killed run or a second
    process never leaves half a record."""
    path = record_path(identity, cache_dir, record.key)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            f.write(record.to_json())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def all_records(cache_dir: Path) -> list[tuple[Path, TuningRecord]]:
    """Every readable record under ``cache_dir`` (for export and inspection), in path order."""
    root = Path(cache_dir) / "kernel-tuning"
    out = []
    for path in sorted(root.rglob("*.json")) if root.exists() else []:
        try:
            out.append((path, load_record(path)))
        except ValueError as exc:
            announce(f"kernel tuning: skipping {exc}")
    return out


def describe(record: TuningRecord, source: str) -> str:
    """One line per decision: the class, the winner and its time, the default's time, the cost."""
    chosen = record.candidates[decide(record.candidates)]
    default = record.candidates[0]
    line = f"kernel tuning [{record.gpu.get('name')}] {record.key}: {chosen.label} {chosen.median_us:.2f} us"
    if default is not chosen and default.median_us is not None:
        line += f" (default {default.label} {default.median_us:.2f} us)"
    if source == "tuned":
        line += f"; {len(record.candidates)} candidates timed in {record.tuning_s:.1f} s"
    else:
        line += f"; {source} record of {record.created}"
    return line


def announce(line: str) -> None:
    """Tuning is never a silent wait: each step is a line on stderr (a live progress bar keeps it)."""
    print(line, file=sys.stderr, flush=True)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", str(text).lower()).strip("-")
