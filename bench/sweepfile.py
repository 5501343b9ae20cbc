"""Sweep specifications: TOML files in bench/sweeps/ and the same axes from the command line.

A sweep declares axes (shape, mode, precision, channel_axis, backend), how weights and data are made,
and measurement settings; it may list several `[[case]]` tables, each a cartesian product of its own
axes (inheriting the top-level ones). Everything is validated here, before any work: an unknown key,
a malformed shape or an impossible value raises UserError naming the file, the key and what is allowed.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bench.backends import BACKEND_NAMES
from bench.errors import UserError
from bench.point import DataSpec, WeightsSpec, parse_shape
from bench.precision import PRECISIONS
from bench.reference import MODES
from bench.resources import addressable
from bench.timing.settings import TIMING_METHODS, WARMUP_SHARE, TimingSettings

SWEEPS_DIR = Path(__file__).parent / "sweeps"
AXES = ("shape", "mode", "precision", "channel_axis", "backend")
TOP_KEYS = {"name", "description", "axes", "weights", "data", "measure", "case"}
CASE_KEYS = {"name", "description", "weights", "data", *AXES}
WEIGHT_KEYS = {f.name for f in fields(WeightsSpec)}
DATA_KEYS = {f.name for f in fields(DataSpec)}
MEASURE_KEYS = {f.name for f in fields(TimingSettings)}


@dataclass(frozen=True)
class Axes:
    shape: tuple[tuple[int, ...], ...] = ()
    mode: tuple[str, ...] = MODES
    precision: tuple[str, ...] = ("fp32",)
    channel_axis: tuple[int | None, ...] = (None,)
    backend: tuple[str, ...] = ("numpy",)


@dataclass(frozen=True)
class Case:
    name: str
    axes: Axes
    weights: WeightsSpec = field(default_factory=WeightsSpec)
    data: DataSpec = field(default_factory=DataSpec)


@dataclass(frozen=True)
class Sweep:
    name: str
    source: str  # the file path, or 'cli'
    cases: tuple[Case, ...]
    measure: TimingSettings = field(default_factory=TimingSettings)


# -- value parsers: each raises ValueError with what is allowed; callers add where it came from --------


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _mode(v: Any) -> str:
    if isinstance(v, str) and v.lower() in MODES:
        return v.lower()
    raise ValueError(f"{v!r} is not a mode; allowed: {', '.join(MODES)} (any case)")


def _precision(v: Any) -> str:
    if isinstance(v, str) and v.lower() in PRECISIONS:
        return v.lower()
    raise ValueError(f"{v!r} is not a precision; allowed: {', '.join(PRECISIONS)}")


def _channel_axis(v: Any) -> int | None:
    if isinstance(v, str) and v.strip().lower() == "default":
        return None
    bad = ValueError(f"{_short(v)} is not a channel axis; allowed: 'default' or an integer such as 0, 1, -1")
    if isinstance(v, bool) or not isinstance(v, (str, int)):
        raise bad
    try:
        axis = int(str(v).strip()) if not isinstance(v, int) else v
    except ValueError:
        raise bad from None
    if not -MAX_RANK <= axis < MAX_RANK:
        raise bad
    return axis


def _backend(v: Any) -> str:
    if isinstance(v, str) and v.lower() in BACKEND_NAMES:
        return v.lower()
    raise ValueError(f"{v!r} is not a backend; allowed: {', '.join(BACKEND_NAMES)}")


def _shape(v: Any) -> tuple[int, ...]:
    if isinstance(v, list) and all(isinstance(d, int) and not isinstance(d, bool) for d in v):
        v = "x".join(map(str, v))
    elif not isinstance(v, (str, int)) or isinstance(v, bool):
        raise ValueError(f"{_short(v)} is not a shape: write dimensions joined by 'x', e.g. 1x3x224x224")
    dims = parse_shape(str(v))
    if len(dims) > MAX_RANK:
        raise ValueError(f"{_short(v)} has {len(dims)} dimensions; TensorRT tensors have at most {MAX_RANK}")
    if not addressable(dims):
        raise ValueError(f"{_short(v)} is too large to address ({math.prod(dims):.3g} elements); no machine holds it")
    return dims


MAX_RANK = 8  # TensorRT's Dims::MAX_DIMS


PARSERS = {"shape": _shape, "mode": _mode, "precision": _precision, "channel_axis": _channel_axis, "backend": _backend}


def parse_axis(axis: str, values: Any, where: str) -> tuple[Any, ...]:
    """Parse one axis's values; errors name ``where`` (file and key) and the allowed values."""
    items = _as_list(values)
    if not items:
        raise UserError(f"{where}: '{axis}' is empty; give at least one value")
    out = []
    for i, v in enumerate(items):
        try:
            out.append(PARSERS[axis](v))
        except ValueError as exc:
            raise UserError(f"{where}: {axis}[{i}] {exc}") from None
    return tuple(dict.fromkeys(out))  # keep order, drop repeats


def _check_keys(table: dict, allowed: set[str], where: str) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise UserError(f"{where}: unknown key '{unknown[0]}'; allowed keys: {', '.join(sorted(allowed))}")


def _is_number(v: Any) -> bool:
    """A finite int or float (not a bool): NaN and inf would make a point that never ends or never checks."""
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


MAX_WEIGHTS_LIST = 1 << 20  # a longer list of constant weights is a mistake, not a sweep


def _weights(table: dict, base: WeightsSpec, where: str) -> WeightsSpec:
    _check_table(table, where)
    _check_keys(table, WEIGHT_KEYS, where)
    spec = replace(base, **table)
    if spec.kind not in ("constant", "random"):
        raise UserError(f"{where}: kind {spec.kind!r} is not allowed; use 'constant' or 'random'")
    for name in ("shift", "scale"):
        value = getattr(spec, name)
        ok = _is_number(value) or (
            isinstance(value, list) and 0 < len(value) <= MAX_WEIGHTS_LIST and all(_is_number(x) for x in value)
        )
        if not ok:
            raise UserError(
                f"{where}: {name} must be a finite number or a non-empty list of finite numbers, got {_short(value)}"
            )
    if not _is_number(spec.power):
        raise UserError(f"{where}: power must be a finite number, got {_short(spec.power)}")
    if not isinstance(spec.seed, int) or isinstance(spec.seed, bool) or not 0 <= spec.seed < 2**63:
        raise UserError(f"{where}: seed must be an integer from 0 to 2**63-1, got {_short(spec.seed)}")
    return spec


def _short(value: Any, width: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def _check_table(value: Any, where: str) -> None:
    if not isinstance(value, dict):
        raise UserError(f"{where} must be a table (key = value pairs), got {_short(value)}")


def _data(table: dict, base: DataSpec, where: str) -> DataSpec:
    _check_table(table, where)
    _check_keys(table, DATA_KEYS, where)
    spec = replace(base, **table)
    if spec.kind not in ("random", "arange", "zeros"):
        raise UserError(f"{where}: kind {_short(spec.kind)} is not allowed; use 'random', 'arange' or 'zeros'")
    if not isinstance(spec.seed, int) or isinstance(spec.seed, bool) or not 0 <= spec.seed < 2**63:
        raise UserError(f"{where}: seed must be an integer from 0 to 2**63-1, got {_short(spec.seed)}")
    return spec


def parse_measure(table: dict, base: TimingSettings, where: str) -> TimingSettings:
    """Measurement settings with type and range checks."""
    _check_table(table, where)
    _check_keys(table, MEASURE_KEYS, where)
    values = {}
    for key, value in table.items():
        expected = type(getattr(base, key))
        if expected is bool:
            if not isinstance(value, bool):
                raise UserError(f"{where}: {key} must be true or false, got {_short(value)}")
        elif expected in (int, float):
            if not _is_number(value) or value < 0:
                raise UserError(f"{where}: {key} must be a finite, non-negative number, got {_short(value)}")
            if expected is int and int(value) != value:
                raise UserError(f"{where}: {key} must be a whole number, got {_short(value)}")
            value = expected(value)
        elif not isinstance(value, expected):
            raise UserError(f"{where}: {key} must be a {expected.__name__}, got {_short(value)}")
        values[key] = value
    settings = replace(base, **values)
    if settings.max_time_s <= 0:
        raise UserError(f"{where}: max_time_s must be more than 0 s (the time one point may take), got 0")
    if settings.warmup_s > settings.max_time_s * WARMUP_SHARE:
        if "warmup_s" in values:
            raise UserError(
                f"{where}: warmup_s ({settings.warmup_s:g}) must be at most half of max_time_s "
                f"({settings.max_time_s:g}): the time cap bounds a point's warm-up too; lower the warm-up "
                "(--warmup) or raise the cap (--max-time)"
            )
        # a warm-up the user did not set (the default, or the sweep's under a lower --max-time) gives way
        settings = replace(settings, warmup_s=settings.max_time_s * WARMUP_SHARE)
    if settings.l2_flush and settings.rotate_buffers:
        if values.get("rotate_buffers") is True:
            raise UserError(
                f"{where}: l2_flush and rotate_buffers exclude each other (a flushed L2 times one buffer set); "
                "set one of them to false"
            )
        settings = replace(settings, rotate_buffers=False)  # asking for a flushed L2 is asking for one set
    if settings.method not in TIMING_METHODS:
        raise UserError(f"{where}: method {settings.method!r} is not allowed; use {' or '.join(TIMING_METHODS)}")
    if settings.min_samples < 2 or settings.max_samples < settings.min_samples:
        raise UserError(
            f"{where}: need 2 <= min_samples <= max_samples, got {settings.min_samples}, {settings.max_samples}"
        )
    if settings.rounds < 1:
        raise UserError(f"{where}: rounds must be 1 or more, got {settings.rounds}")
    if settings.rounds > settings.max_samples // 2:
        raise UserError(
            f"{where}: rounds ({settings.rounds}) must be at most max_samples / 2 ({settings.max_samples // 2}): "
            "every round takes at least 2 samples"
        )
    if settings.max_samples > MAX_SAMPLES:
        raise UserError(f"{where}: max_samples must be at most {MAX_SAMPLES:,}, got {settings.max_samples:,}")
    if settings.max_time_s > MAX_TIME_S:
        raise UserError(f"{where}: max_time_s must be at most {MAX_TIME_S:g} s per point, got {settings.max_time_s:g}")
    if settings.max_time_s < settings.min_time_s:
        raise UserError(f"{where}: max_time_s ({settings.max_time_s}) must be >= min_time_s ({settings.min_time_s})")
    if not 0 < settings.target_noise < 1:
        raise UserError(f"{where}: target_noise must be a fraction between 0 and 1, e.g. 0.01 for 1%")
    return settings


MAX_SAMPLES = 1_000_000  # samples of one point kept in memory and in the results file
MAX_TIME_S = 3600.0  # an hour per point is a mistake, not a measurement


def _axes(table: dict, base: Axes, where: str) -> Axes:
    values = {axis: parse_axis(axis, table[axis], where) for axis in AXES if axis in table}
    return replace(base, **values)


def parse_sweep(doc: dict, source: str) -> Sweep:
    """Validate a parsed TOML document into a Sweep; every error names ``source`` and the key."""
    _check_keys(doc, TOP_KEYS, source)
    for key in ("axes", "weights", "data", "measure"):
        if key in doc and not isinstance(doc[key], dict):
            raise UserError(f"{source}: [{key}] must be a table")
    for key in ("name", "description"):
        if key in doc and not isinstance(doc[key], str):
            raise UserError(f"{source}: {key} must be text, got {_short(doc[key])}")
    axes_table = doc.get("axes", {})
    _check_keys(axes_table, set(AXES), f"{source}: [axes]")
    axes = _axes(axes_table, Axes(), f"{source}: [axes]")
    weights = _weights(doc.get("weights", {}), WeightsSpec(), f"{source}: [weights]")
    data = _data(doc.get("data", {}), DataSpec(), f"{source}: [data]")
    measure = parse_measure(doc.get("measure", {}), TimingSettings(), f"{source}: [measure]")
    cases: list[Case] = []
    raw_cases = doc.get("case", [])
    if not isinstance(raw_cases, list):
        raise UserError(f"{source}: 'case' must be an array of tables, written [[case]]")
    for i, raw in enumerate(raw_cases):
        where = f"{source}: [[case]] #{i + 1}"
        _check_table(raw, where)
        _check_keys(raw, CASE_KEYS, where)
        if "name" in raw and not isinstance(raw["name"], str):
            raise UserError(f"{where}: name must be text, got {_short(raw['name'])}")
        cases.append(
            Case(
                name=str(raw.get("name", f"case{i + 1}")),
                axes=_axes(raw, axes, where),
                weights=_weights(raw.get("weights", {}), weights, f"{where} weights"),
                data=_data(raw.get("data", {}), data, f"{where} data"),
            )
        )
    if not raw_cases:
        cases.append(Case(name=str(doc.get("name", "sweep")), axes=axes, weights=weights, data=data))
    for case in cases:
        if not case.axes.shape:
            raise UserError(f"{source}: case '{case.name}' has no shape; set shape in [axes] or in the case")
    name = str(doc.get("name", Path(source).stem))
    return Sweep(name=name, source=source, cases=tuple(cases), measure=measure)


def resolve_sweep_path(name_or_path: str) -> Path:
    """`--sweep NAME` is bench/sweeps/NAME.toml; `--sweep PATH` any file."""
    path = Path(name_or_path)
    if path.suffix == ".toml" or path.exists() or "/" in name_or_path:
        if not path.is_file():
            raise UserError(f"--sweep {name_or_path}: no such file")
        return path
    candidate = SWEEPS_DIR / f"{name_or_path}.toml"
    if not candidate.is_file():
        known = ", ".join(sorted(p.stem for p in SWEEPS_DIR.glob("*.toml")))
        raise UserError(
            f"--sweep {name_or_path}: no sweep of that name; known: {known} (or give a path to a .toml file)"
        )
    return candidate


MAX_SWEEP_BYTES = 1 << 20  # a sweep file is a few hundred bytes; a larger one is not a sweep


def load_sweep(name_or_path: str) -> Sweep:
    path = resolve_sweep_path(name_or_path)
    try:
        if path.stat().st_size > MAX_SWEEP_BYTES:
            raise UserError(
                f"--sweep {path}: {path.stat().st_size:,} bytes is not a sweep file (at most {MAX_SWEEP_BYTES:,})"
            )
        raw = path.read_bytes()
    except OSError as exc:
        raise UserError(f"--sweep {path}: cannot read it ({exc.strerror or exc})") from None
    try:
        text = raw.decode("utf-8-sig")  # a UTF-8 byte-order mark (some Windows editors write one) is fine
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{path}: not UTF-8 text (byte {exc.start} is {raw[exc.start : exc.start + 1]!r}); TOML sweep files are "
            "UTF-8: save it as UTF-8"
        ) from None
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise UserError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise UserError(f"{path}: nested too deeply to be a sweep file (arrays or tables inside each other)") from None
    if _depth(doc) > MAX_NESTING:
        raise UserError(
            f"{path}: nested more than {MAX_NESTING} levels deep; a sweep file is tables of values and lists"
        )
    return parse_sweep(doc, str(path))


MAX_NESTING = 8  # a sweep is [[case]] tables of axis lists: 4 levels; deeper is not a sweep


def _depth(value: Any, level: int = 0) -> int:
    """How deep lists and tables nest (stops counting past MAX_NESTING)."""
    if level > MAX_NESTING or not isinstance(value, (dict, list)):
        return level
    items = value.values() if isinstance(value, dict) else value
    return max((_depth(v, level + 1) for v in items), default=level + 1)


def with_cli_axes(sweep: Sweep, overrides: dict[str, list[str]]) -> Sweep:
    """Replace axes of every case with the values given on the command line (each flag repeatable)."""
    parsed = {
        axis: parse_axis(axis, values, f"--{axis.replace('_', '-')}") for axis, values in overrides.items() if values
    }
    if not parsed:
        return sweep
    cases = tuple(replace(c, axes=replace(c.axes, **parsed)) for c in sweep.cases)
    return replace(sweep, cases=cases)


def cli_sweep(overrides: dict[str, list[str]], measure: TimingSettings | None = None) -> Sweep:
    """A sweep made only from command-line axes; shape is required, the rest has defaults."""
    base = Sweep(name="cli", source="cli", cases=(Case(name="cli", axes=Axes()),), measure=measure or TimingSettings())
    sweep = with_cli_axes(base, overrides)  # a bad value of any axis is named before a missing shape
    if not overrides.get("shape"):
        raise UserError(
            "no points to run: give --sweep NAME (e.g. --sweep smoke) or at least one --shape such as 2x3x4x5"
        )
    return sweep
