"""Launches carried from one place to another: what each point of a sweep ran, for `--tuning-from`.

A comparison holds what ran fixed only if both sides run the same launch. Within one machine, one
shared tuning store does it; across machines (a CI runner that never saw the baseline's card, a
colleague's GPU) the decisions must travel. A launch set is that: per point, the kernel launch, with
the GPU model, kernel generator and timing it was decided for. It is made from a tuning store
(`from_records`) or from results rows (`from_rows`: every row records the launch it ran, so a
baseline's runs carry their launches even where nobody kept the store), and written as one JSON file
(`nox -s baseline` puts one beside the manifest in results/_baselines/).

Pure Python: reading results files is the caller's (the CLI's) job; this module takes rows as dicts.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from bench.errors import UserError
from bench.gpu import kernel_layout as K

FORMAT = "scale-bench launches 1"
_ROW_FIELDS = {
    "variant": "variant",
    "block": "block",
    "vectors_per_thread": "vpt",
    "grid": "grid",
    "cache_hint": "cache",
}


@dataclass(frozen=True)
class LaunchSet:
    """Per point (`point_key`), the launch it runs: a KernelConfig as a dict."""

    gpu_name: str | None
    generator: str | None
    timing: str | None  # '<method>-<l2 mode>' the launches were decided (or run) with
    launches: dict[str, dict[str, Any]]
    origin: str = ""  # where it came from: a file, runs, a store
    drivers: tuple[str, ...] = ()
    notes: tuple[str, ...] = field(default=())  # what was decided while making it (several launches for a point)

    def lookup(self, point_key: str) -> K.KernelConfig | None:
        found = self.launches.get(point_key)
        return None if found is None else K.KernelConfig(**found)

    def refusal(self, gpu_name: str, generator: str) -> str | None:
        """Why these launches cannot stand for this GPU model and kernel generator, or None. Another
        model would time another card's choices; another generator compiles other code for the same
        launch, so its launches are tuned anew (and a comparison shows that what ran changed)."""
        if self.gpu_name and self.gpu_name != gpu_name:
            return f"they were decided on a {self.gpu_name}, this is a {gpu_name}"
        if self.generator and self.generator != generator:
            return f"they are for kernel generator {self.generator}, this code's is {generator}"
        return None

    def digest(self) -> str:
        """A short hash of the launches and what they are for (part of a run's identity)."""
        body = json.dumps([self.gpu_name, self.generator, self.launches], sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:16]

    def to_json(self) -> str:
        return json.dumps({"format": FORMAT, **asdict(self)}, indent=1, sort_keys=True)

    def write(self, path: Path, what: str | None = None) -> Path:
        """Atomically (a temporary file renamed over the target); ``what``: how a failure names the file."""
        from bench.files import save

        return save(Path(path), self.to_json() + "\n", what or f"--out {path}")


def _text_fields(data: dict, where: str) -> None:
    """The fields besides the launches, checked for their types (a list where a GPU name belongs would
    refuse every card, or match none, without saying why)."""
    for name in ("gpu_name", "generator", "timing"):
        if not isinstance(data.get(name), (str, type(None))):
            raise UserError(f"{where}: {name} must be text or null, not {type(data[name]).__name__}")
    for name in ("drivers", "notes"):
        value = data.get(name)
        if value is not None and not (isinstance(value, list) and all(isinstance(v, str) for v in value)):
            raise UserError(f"{where}: {name} must be a list of strings")
    launches = data.get("launches")
    if not isinstance(launches, dict) or not launches:
        raise UserError(f"{where}: launches must be a non-empty object of point_key: launch")


def read(path: Path) -> LaunchSet:
    """A launch set from its JSON file; UserError naming the file and what is wrong."""
    from bench.files import read_json

    where = f"--tuning-from {path}"
    try:
        data = read_json(Path(path))
    except ValueError as exc:
        raise UserError(f"{where}: cannot read a launch set: it {exc}") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise UserError(
            f"{where}: not a launch set (format {FORMAT!r}); give a file `bench tuning export` wrote, or results"
        )
    _text_fields(data, where)
    launches = {}
    for key, launch in data["launches"].items():
        try:
            launches[key] = K.KernelConfig(**launch).as_dict()
        except (TypeError, ValueError) as exc:
            raise UserError(f"{where}: the launch of point {key[:40]!r} is not valid: {exc}") from None
    return LaunchSet(
        gpu_name=data.get("gpu_name"),
        generator=data.get("generator"),
        timing=data.get("timing"),
        launches=launches,
        origin=str(path),
        drivers=tuple(data.get("drivers") or ()),
        notes=tuple(data.get("notes") or ()),
    )


def config_of_row(kernel_config: Mapping[str, Any]) -> K.KernelConfig:
    """The launch a results row's `kernel_config` map says ran (ValueError if it does not say)."""
    values: dict[str, Any] = {}
    for column, name in _ROW_FIELDS.items():
        if column in kernel_config and kernel_config[column] is not None:
            values[name] = kernel_config[column]
    if "block" not in values:
        raise ValueError("no launch recorded")
    for name in ("block", "vpt"):
        if name in values:
            values[name] = int(values[name])
    return K.KernelConfig(**values)


def _one(values: Iterable[str | None], what: str, origin: str) -> str | None:
    found = sorted({v for v in values if v})
    if len(found) > 1:
        raise UserError(f"--tuning-from {origin}: the rows span several {what}s ({', '.join(found)}); give one")
    return found[0] if found else None


def from_rows(rows: Iterable[Mapping[str, Any]], origin: str) -> LaunchSet:
    """The launches the `cuda` rows among ``rows`` ran (dicts with backend, status, point_key,
    kernel_config, gpu_name, driver_version, timing_method, l2_mode and the `kernel_generator` of their
    environment). Where a point ran several launches over the runs, the one most runs ran is taken
    (ties: the first in label order), and a note says how many points that was."""
    ran: dict[str, Counter] = {}
    names, generators, timings, drivers = [], [], [], set()
    for row in rows:
        if row.get("backend") != "cuda" or row.get("status") not in ("ok", "mismatch"):
            continue
        try:
            config = config_of_row(dict(row.get("kernel_config") or {}))
        except (TypeError, ValueError):
            continue
        ran.setdefault(str(row["point_key"]), Counter())[json.dumps(config.as_dict(), sort_keys=True)] += 1
        names.append(row.get("gpu_name"))
        generators.append(row.get("kernel_generator"))
        timings.append(f"{row.get('timing_method')}-{row.get('l2_mode')}")
        drivers.add(str(row.get("driver_version")))
    if not ran:
        raise UserError(f"--tuning-from {origin}: no cuda point ran there; give runs of the cuda backend")
    launches, several = {}, 0
    for key, counts in sorted(ran.items()):
        top = max(counts.values())
        several += len(counts) > 1
        launches[key] = json.loads(min(c for c, n in counts.items() if n == top))
    notes = (
        (f"{several} points ran more than one launch over these runs: the one most runs ran is used",)
        if several
        else ()
    )
    return LaunchSet(
        gpu_name=_one(names, "GPU model", origin),
        generator=_one(generators, "kernel generator", origin),
        timing=_one(timings, "timing method and L2 state", origin),
        launches=launches,
        origin=origin,
        drivers=tuple(sorted(drivers)),
        notes=notes,
    )
