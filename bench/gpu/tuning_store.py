"""The kernel tuner's decisions on disk: one JSON record per tuning class and one per point.

``<cache_dir>/kernel-tuning/<gpu model>/driver-<driver>/<generator hash>/<timing>/``
    ``classes/<class>.json``  the class's full candidate table, its pick and its shortlist;
    ``points/<point_key>.json``  what one point runs, with the candidates timed on it.

The path is what a decision is valid for. A new GPU model, driver, kernel generator or way of timing
(`graph-rotated`, `events-warm`, ...) tunes afresh; everything else reuses. The key is the model, not
the card: two cards of one model (the GPUs of one host, the hosts of one cluster) share decisions, so a
card-to-card comparison times the same launch on both (the record keeps the UUID of the card it was
tuned on). Records are written atomically (a temporary file renamed over the target), so a killed run
or a second process never leaves half a record; a class is tuned under an exclusive lock on its
record, so workers of one host that meet a new class together tune it once and the others read it.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.files import read_json
from bench.gpu import kernel_generator
from bench.gpu import kernel_layout as K
from bench.gpu import kernel_source as KS
from bench.gpu.tuning import Candidate

RECORD_FORMAT = "scale-bench kernel tuning record 2"  # 1: class records timed on one buffer set, no points


@dataclass(frozen=True)
class GpuIdentity:
    """What a decision is valid for: this GPU model (its name; the UUID of the card at hand is kept in the
    record as provenance), this driver, this kernel generator, this way of timing."""

    name: str
    uuid: str
    driver: str
    generator: str = field(default_factory=kernel_generator.generator_hash)
    timing: str = "graph-rotated"  # '<method>-<l2 mode>' of the run the candidates were timed for

    def folder(self, cache_dir: Path) -> Path:
        return (
            Path(cache_dir)
            / "kernel-tuning"
            / slug(self.name)
            / f"driver-{slug(self.driver)}"
            / self.generator
            / slug(self.timing)
        )


@dataclass
class TuningRecord:
    """One decision with everything that led to it (the JSON file's content). A class record has no
    ``point_key`` and a ``shortlist``; a point record names its point."""

    key: str
    gpu: dict[str, Any]
    driver: str
    generator: str
    timing: str
    tuned_on: dict[str, Any]
    settings: dict[str, Any]
    candidates: list[Candidate]
    chosen: dict[str, Any]
    shortlist: list[dict[str, Any]] = field(default_factory=list)
    point_key: str | None = None
    source: str = "tuned"  # tuned | checked (see bench.gpu.tuning.SOURCES)
    created: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    tuning_s: float = 0.0
    family: str = KS.FAMILY
    format: str = RECORD_FORMAT

    @property
    def config(self) -> K.KernelConfig:
        return K.KernelConfig(**self.chosen)

    @property
    def shortlist_configs(self) -> list[K.KernelConfig]:
        return [K.KernelConfig(**c) for c in self.shortlist] or [self.config]

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TuningRecord:
        if data.get("format") != RECORD_FORMAT:
            raise ValueError(f"not a tuning record ({RECORD_FORMAT!r}): format is {data.get('format')!r}")
        _check_types(data, _RECORD_TYPES, "")
        if not isinstance(data["gpu"].get("name"), str):
            raise ValueError("gpu.name must be text")
        for i, c in enumerate(data["candidates"]):
            _check_types(c, _CANDIDATE_TYPES, f"candidates[{i}].")
        data = dict(data)
        data["candidates"] = [Candidate(**c) for c in data["candidates"]]
        record = cls(**data)
        record.config  # noqa: B018 - validates the chosen configuration
        record.shortlist_configs  # noqa: B018 - and the shortlist
        return record


# What each field of a record (and of one of its candidates) holds: a file edited by hand or by another
# program must not reach `describe` or an export with a list where a name belongs.
_NUMBER = (int, float)
_RECORD_TYPES: dict[str, tuple[type, ...]] = {
    "key": (str,), "gpu": (dict,), "driver": (str,), "generator": (str,), "timing": (str,), "tuned_on": (dict,),
    "settings": (dict,), "candidates": (list,), "chosen": (dict,), "shortlist": (list,),
    "point_key": (str, type(None)), "source": (str,), "created": (str,), "tuning_s": _NUMBER, "family": (str,),
}  # fmt: skip
_CANDIDATE_TYPES: dict[str, tuple[type, ...]] = {
    "config": (dict,), "label": (str,), "median_us": (*_NUMBER, type(None)), "min_us": (*_NUMBER, type(None)),
    "noise": (*_NUMBER, type(None)), "samples": (int, type(None)), "error": (str, type(None)), "rounds": (int,),
}  # fmt: skip


def _check_types(data: object, types: dict[str, tuple[type, ...]], prefix: str) -> None:
    """ValueError naming the first field of ``data`` whose value is not of its type (absent fields are left
    to the dataclass, which names them)."""
    if not isinstance(data, dict):
        raise ValueError(f"{prefix.rstrip('.') or 'the record'} must be an object")
    for name, allowed in types.items():
        if name in data and (not isinstance(data[name], allowed) or isinstance(data[name], bool)):
            raise ValueError(
                f"{prefix}{name} must be {' or '.join(t.__name__ for t in allowed)}, not {data[name]!r:.40}"
            )


def class_path(identity: GpuIdentity, cache_dir: Path, key: str) -> Path:
    return identity.folder(cache_dir) / "classes" / f"{slug(key)}.json"


def point_path(identity: GpuIdentity, cache_dir: Path, point_key: str) -> Path:
    return identity.folder(cache_dir) / "points" / f"{slug(point_key)}.json"


def load_record(path: Path) -> TuningRecord:
    """A tuning record from its JSON file (ValueError if it is not one)."""
    try:
        data = read_json(Path(path))
    except ValueError as exc:
        raise ValueError(f"{path}: cannot read a tuning record: it {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a tuning record (a JSON object)")
    try:
        return TuningRecord.from_dict(data)
    except (TypeError, KeyError, ValueError) as exc:
        raise ValueError(f"{path}: {exc}") from None


def _load_valid(path: Path, identity: GpuIdentity, key: str, point_key: str | None) -> TuningRecord | None:
    """The record at ``path`` if it is a readable record made for this key (and point), GPU model,
    generator and timing; None otherwise. A damaged or foreign file is reported on stderr and ignored
    (the decision is made again and the file replaced)."""
    if not path.exists():
        return None
    try:
        record = load_record(path)
    except ValueError as exc:
        announce(f"kernel tuning: ignoring a damaged record ({exc})")
        return None
    made_for = (record.key, record.point_key, record.generator, record.gpu.get("name"), record.timing)
    if made_for != (key, point_key, identity.generator, identity.name, identity.timing):
        announce(f"kernel tuning: ignoring {path}: made for another class, point, GPU, generator or timing")
        return None
    return record


def load_class(identity: GpuIdentity, cache_dir: Path, key: str) -> TuningRecord | None:
    return _load_valid(class_path(identity, cache_dir, key), identity, key, None)


def load_point(identity: GpuIdentity, cache_dir: Path, key: str, point_key: str) -> TuningRecord | None:
    return _load_valid(point_path(identity, cache_dir, point_key), identity, key, point_key)


def save_record(identity: GpuIdentity, cache_dir: Path, record: TuningRecord) -> Path:
    """Write atomically: a temporary file in the same folder, renamed over the target."""
    if record.point_key is None:
        path = class_path(identity, cache_dir, record.key)
    else:
        path = point_path(identity, cache_dir, record.point_key)
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


@contextlib.contextmanager
def class_lock(identity: GpuIdentity, cache_dir: Path, key: str) -> Iterator[None]:
    """Hold an exclusive lock on a class's record while deciding it: another process that meets the
    same class waits here, then finds the record. Where the lock file cannot be made (a read-only
    cache), the class is decided without one: at worst twice, never wrongly."""
    path = class_path(identity, cache_dir, key).with_suffix(".lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError:
        yield
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # closing releases the lock


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
    """One line per decision: the class (and point), the winner and its time, the default's, the cost."""
    what = record.key if record.point_key is None else f"{record.key} {record.tuned_on.get('label', record.point_key)}"
    head = f"kernel tuning [{record.gpu.get('name')}] {what}"
    picked = [c for c in record.candidates if c.config == record.chosen and c.timed]
    if not picked:  # a point whose class lists one launch: nothing to time
        return f"{head}: {K.KernelConfig(**record.chosen).label()}, the class's only launch; {source} record of {record.created}"
    chosen, first = picked[0], record.candidates[0]
    line = f"{head}: {chosen.label} {chosen.median_us:.2f} us"
    if first is not chosen and first.median_us is not None:
        line += f" ({first.label} {first.median_us:.2f} us)"
    if source in ("tuned", "checked"):
        line += f"; {len(record.candidates)} candidates timed in {record.tuning_s:.1f} s"
    else:
        line += f"; {source} record of {record.created}"
    return line


def announce(line: str) -> None:
    """Tuning is never a silent wait: each step is a line on stderr (a live progress bar keeps it)."""
    print(line, file=sys.stderr, flush=True)


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", str(text).lower()).strip("-")
