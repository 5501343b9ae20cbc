"""Per point and version: what the builds of one version did, and how two versions' builds differ.

A version's point has one row per build (one per run of the sweep). Build time is `build_s`, the wall time
of `build_serialized_network` with the timing cache off, in a process that built the sweep's earlier
points first; its spread over the builds is the noise a difference between versions is judged against.

Build-time verdict, per point: "slower" when every build of the other version took more than every build
of the first times (1 + threshold), "faster" the mirror, else "within noise". With 3 builds a side, two
versions of identical speed put all of one side's builds above the other's in 1 of 10 orderings, so the
threshold (10% by default) is what keeps a verdict from being a coin flip: the report shows how often it
fires on the builds of one version against themselves (`self_check`), and the same command run on one
version twice (as a requirement and as its wheel) measures it directly.

Tactics, per point: "same tactics" when every build of both versions has one engine digest (the engine's
layers and their tactics), "tactics differ" when the versions' digests differ, "builds differ" when one
version's own builds disagree (then a difference between versions is not the version's alone);
`reformat_delta` counts reformat layers the other version added (or removed) against the first.
"""

from __future__ import annotations

import json
import statistics
from dataclasses import dataclass

import pandas as pd

from bench.backends.tensorrt import layers as engine_layers

DESCRIBE = ("shape", "mode", "precision", "channel_axis")
BUILT = ("built", "ok", "mismatch")  # an engine exists


def _settings(text: object) -> dict:
    if not isinstance(text, str) or not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True)
class PointBuilds:
    """One version's builds of one point."""

    statuses: tuple[str, ...]
    build_s: tuple[float, ...]
    engine_bytes: tuple[int, ...]
    digests: tuple[str | None, ...]
    layers: engine_layers.EngineLayers | None  # of the first build
    error: str | None  # the first skip reason or failure, where the point was not built
    recipe: str | None = None  # how the harness expressed the precision to this version (builder settings)

    @property
    def built(self) -> bool:
        return bool(self.build_s)

    @property
    def median_s(self) -> float:
        return statistics.median(self.build_s)

    @property
    def digest(self) -> str | None:
        """The one digest of every build, or None where builds disagree or named no layer."""
        found = set(self.digests)
        return next(iter(found)) if len(found) == 1 else None

    @property
    def builds_agree(self) -> bool:
        return len(set(self.digests)) <= 1

    @property
    def reformats(self) -> int:
        return len(self.layers.reformat_layers()) if self.layers else 0

    def what_ran(self) -> str:
        """'kgen __myl_MulAdd_0x2fd84658…' (each layer's type and tactic), for a table cell."""
        if self.layers is None:
            return "?"
        return " + ".join(_short(x.label()) for x in self.layers.layers)


def _short(text: str, width: int = 34) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def collect(rows: pd.DataFrame) -> dict[str, PointBuilds]:
    """point_key -> PointBuilds of one version's rows (all its runs)."""
    found = {}
    for key, group in rows.groupby("point_key", sort=False):
        built = group[group["status"].isin(BUILT) & group["build_s"].notna()]
        not_built = group[~group["status"].isin(BUILT)]
        settings = [_settings(s) for s in built["builder_settings"]]
        first_info = built["layer_info"].iloc[0] if len(built) else None
        errors = [str(e) for e in not_built["error"] if isinstance(e, str) and e]
        found[str(key)] = PointBuilds(
            statuses=tuple(str(s) for s in group["status"]),
            build_s=tuple(float(x) for x in built["build_s"]),
            engine_bytes=tuple(int(x) for x in built["engine_bytes"] if pd.notna(x)),
            digests=tuple(s.get("engine_digest") for s in settings),
            layers=engine_layers.from_layer_info(first_info),
            error=errors[0] if errors else None,
            recipe=recipe(settings[0]) if settings else None,
        )
    return found


def recipe(settings: dict) -> str | None:
    """'weak HALF/FLOAT +FP16', 'strong HALF/HALF', 'strong INT8/FLOAT qdq': the network the harness built
    for the point's precision. TensorRT 8.6/10.x get weakly typed networks with builder flags, 11.x and
    TensorRT-RTX strongly typed ones, so two versions may build different networks for one point."""
    plan = settings.get("precision")
    if not isinstance(plan, dict):
        return None
    text = f"{plan.get('typing')} {plan.get('io_dtype')}/{plan.get('weight_dtype')}"
    flags = plan.get("builder_flags") or []
    return text + "".join(f" +{f}" for f in flags) + (f" {plan['int8']}" if plan.get("int8") else "")


def describe(rows: pd.DataFrame) -> pd.DataFrame:
    """point_key -> shape, mode, precision, channel_axis, in sweep order (numel, then the sweep's order)."""
    cols = [c for c in (*DESCRIBE, "numel") if c in rows.columns]
    first = rows.drop_duplicates("point_key").set_index("point_key")[cols]
    return first.sort_values("numel", kind="stable") if "numel" in cols else first


def build_verdict(base: PointBuilds, other: PointBuilds, threshold: float) -> str:
    if not (base.built and other.built):
        return "—"
    if min(other.build_s) > max(base.build_s) * (1 + threshold):
        return "slower"
    if max(other.build_s) * (1 + threshold) < min(base.build_s):
        return "faster"
    return "within noise"


def tactics(base: PointBuilds, other: PointBuilds) -> str:
    if not (base.built and other.built):
        return "—"
    if not (base.builds_agree and other.builds_agree):
        return "builds differ"
    if base.digest is None or other.digest is None:
        return "unknown (no layer information)"
    return "same tactics" if base.digest == other.digest else "tactics differ"


def spread(values: tuple[float, ...]) -> float:
    """(max - min) / median: how far one version's builds of a point lie apart."""
    return (max(values) - min(values)) / statistics.median(values) if values else float("nan")


def self_check(points: dict[str, PointBuilds], threshold: float) -> tuple[int, int, int]:
    """(verdicts, points judged, builds a side) when a version's first half of builds is judged against its
    second half by `build_verdict`: how often noise alone gives a verdict. With fewer builds a side than
    two versions are judged with, the rule fires at least as often (every build of a side above every
    build of the other is easier with fewer builds), so this bounds the false verdicts from above."""
    fired = judged = side = 0
    for p in points.values():
        side = len(p.build_s) // 2
        if side < 1:
            continue
        a = PointBuilds(p.statuses, p.build_s[:side], (), (), None, None)
        b = PointBuilds(p.statuses, p.build_s[side : 2 * side], (), (), None, None)
        judged += 1
        fired += build_verdict(a, b, threshold) != "within noise"
    return fired, judged, side
