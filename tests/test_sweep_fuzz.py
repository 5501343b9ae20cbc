"""Property: any sweep document is either refused with one UserError line or expands to a valid plan.
Never a traceback: a sweep file is user input, and hostile input is still input."""

from __future__ import annotations

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.backends.base import BackendOptions
from bench.errors import UserError
from bench.planning import expand, make_backends, plan
from bench.sweepfile import AXES, MEASURE_KEYS, parse_sweep

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        ["1x3x3x3", "2x3", "default", "uniform", "channel", "fp16", "int8", "numpy", "-1", "0x3", "1e9x1e9"]
    ),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
KEYS = st.sampled_from(
    ["name", "description", "axes", "weights", "data", "measure", "case", *AXES, *MEASURE_KEYS, "kind", "seed",
     "shift", "scale", "power", "bogus"]
)  # fmt: skip


def documents() -> st.SearchStrategy[dict]:
    table = st.dictionaries(KEYS, VALUES, max_size=6)
    return st.dictionaries(KEYS, st.one_of(VALUES, table, st.lists(table, max_size=3)), max_size=7)


def _valid_plan(doc: dict) -> None:
    sweep = parse_sweep(doc, "fuzz.toml")
    points = expand(sweep)
    planned = plan(points, make_backends({p.backend for p in points} & {"numpy", "cuda", "memcpy"}, BackendOptions()))
    for pp in planned:
        assert pp.point.numel >= 1 and all(d >= 1 for d in pp.point.shape)
    m = sweep.measure
    assert all(math.isfinite(v) for v in (m.max_time_s, m.min_time_s, m.warmup_s, m.target_noise))


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents())
def test_any_document_is_refused_with_a_message_or_makes_a_valid_plan(doc):
    doc.setdefault("axes", {}).update({"backend": ["numpy"]}) if isinstance(doc.get("axes"), dict) else None
    try:
        _valid_plan(doc)
    except UserError as exc:
        message = str(exc)
        assert message and "\n" not in message and message.startswith("fuzz.toml")


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(list(AXES)), st.lists(SCALARS, min_size=1, max_size=3), min_size=1))
def test_any_axes_table_is_refused_with_a_message_or_makes_a_valid_plan(axes):
    axes["backend"] = ["numpy"]
    try:
        _valid_plan({"axes": axes})
    except UserError as exc:
        assert str(exc).startswith("fuzz.toml") and "\n" not in str(exc)
