"""The engine digest: what a built engine runs (its layers and tactics), recorded per row in comparable form.

Built for real with TensorRT-RTX ahead of time, whose build logs the engine's layers with their tactics
(the engine inspector needs a deserialised engine, which needs a GPU the engine runs on). The inspector's
JSON and the 8.x/10.x log form are read by the same code; their tests below use lines written in the
documented forms (NVIDIA's field names), as no full TensorRT can build here.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from bench import what_ran
from bench.backends.base import BackendOptions
from bench.backends.tensorrt import layers
from bench.backends.tensorrt.backend import TensorRTRTXBackend
from bench.point import Point
from bench.problem import make_problem

_NO_RTX = importlib.util.find_spec("tensorrt_rtx") is None


def needs_rtx(test):  # type: ignore[no-untyped-def]
    reason = "tensorrt_rtx is not installed: pip install 'scale-bench[rtx]' (tensorrt-rtx-cu13)"
    return pytest.mark.rtx(pytest.mark.skipif(_NO_RTX, reason=reason)(test))


def _build(point: Point, cache: Path) -> dict:
    """A fresh backend and engine cache: a real build, never an engine read back from a cache."""
    with TensorRTRTXBackend(BackendOptions(build_only=True, cache_dir=cache)) as backend:
        prepared = backend.prepare(point, make_problem(point))
        assert not prepared.build.cached
        return {"settings": prepared.build.builder_settings, "layer_info": prepared.build.layer_info}


CHANNEL = Point((2, 8, 4, 4), "channel", "fp32", None, "tensorrt-rtx")


@needs_rtx
def test_the_same_network_built_twice_has_one_digest(tmp_path: Path) -> None:
    first, second = _build(CHANNEL, tmp_path / "a"), _build(CHANNEL, tmp_path / "b")
    digest = first["settings"]["engine_digest"]
    assert digest is not None and len(digest) == 16
    assert second["settings"]["engine_digest"] == digest
    assert first["settings"]["engine_digest_from"] == layers.BUILDER_LOG
    found = layers.from_layer_info(first["layer_info"])
    assert found is not None and found.digest == digest
    assert all(x.tactic for x in found.layers), found.layers  # DETAILED verbosity: every layer names its kernel
    assert first["settings"]["timing_cache_digest"] is None  # TensorRT-RTX: no timing cache


@needs_rtx
def test_another_network_has_another_digest(tmp_path: Path) -> None:
    base = _build(CHANNEL, tmp_path / "a")["settings"]["engine_digest"]
    others = {
        "fp16": Point((2, 8, 4, 4), "channel", "fp16", None, "tensorrt-rtx"),
        "int8 (Q/DQ)": Point((2, 8, 4, 4), "channel", "int8", None, "tensorrt-rtx"),
        "elementwise": Point((2, 8, 4, 4), "elementwise", "fp32", None, "tensorrt-rtx"),
    }
    digests = {name: _build(p, tmp_path / name)["settings"]["engine_digest"] for name, p in others.items()}
    assert base not in digests.values()
    assert len(set(digests.values())) == len(digests), digests


@needs_rtx
def test_the_row_label_is_the_digest(tmp_path: Path) -> None:
    built = _build(CHANNEL, tmp_path)
    row = {"status": "ok", "backend": "tensorrt-rtx", "builder_settings": json.dumps(built["settings"])}
    assert what_ran.label(row) == f"engine {built['settings']['engine_digest'][:12]}"


# ---- the forms TensorRT describes an engine in ----------------------------------------------------

INSPECTOR_JSON = json.dumps(
    {
        "Layers": [
            {
                "Name": "Reformatting CopyNode for Input Tensor 0 to scale",
                "LayerType": "Reformat",
                "Inputs": [{"Name": "x", "Format/Datatype": "Row major linear FP32"}],
                "TacticValue": "0x00000000000003e8",
            },
            {
                "Name": "scale",
                "LayerType": "CaskPointWise",
                "TacticName": "sm90_pointwise_kernel",
                "TacticValue": "0x1234abcd",
            },
        ],
        "Bindings": ["x", "y"],
    }
)


def test_inspector_json_names_kernels_and_reformat_layers() -> None:
    found = layers.from_layer_info(INSPECTOR_JSON)
    assert found is not None and found.source == layers.INSPECTOR
    assert [(x.type, x.tactic) for x in found.layers] == [
        ("Reformat", "0x00000000000003e8"),  # no kernel name: the tactic id
        ("CaskPointWise", "sm90_pointwise_kernel"),  # the kernel's name where there is one
    ]
    assert [x.name for x in found.reformat_layers()] == ["Reformatting CopyNode for Input Tensor 0 to scale"]


def test_a_digest_changes_with_any_tactic_and_not_with_formatting() -> None:
    base = layers.from_inspector_json(INSPECTOR_JSON)
    value = json.loads(INSPECTOR_JSON)
    value["Layers"][1]["TacticName"] = "sm90_pointwise_kernel_v2"
    other = layers.from_inspector_json(json.dumps(value))
    reindented = layers.from_inspector_json(json.dumps(json.loads(INSPECTOR_JSON), indent=4))
    assert base is not None and other is not None and reindented is not None
    assert base.digest != other.digest
    assert base.digest == reindented.digest


def test_the_8x_10x_build_log_form() -> None:
    table = (
        "Engine Layer Information:\n"
        "Layer(Reformat): Reformatting CopyNode for Input Tensor 0 to (Unnamed Layer* 0) [Scale], Tactic: "
        "0x0000000000000000, x[Float(1,3,3,3)] -> Reformatted Input Tensor 0[Half(1,3,3,3)]\n"
        "Layer(Scale): (Unnamed Layer* 0) [Scale], Tactic: 0x0000000000000001, Reformatted Input Tensor "
        "0[Half(1,3,3,3)] -> y[Half(1,3,3,3)]\n"
    )
    found = layers.from_log_table(table)
    assert found is not None and found.source == layers.BUILDER_LOG
    assert [(x.type, x.name, x.tactic) for x in found.layers] == [
        ("Reformat", "Reformatting CopyNode for Input Tensor 0 to (Unnamed Layer* 0) [Scale]", "0x0000000000000000"),
        ("Scale", "(Unnamed Layer* 0) [Scale]", "0x0000000000000001"),
    ]
    assert len(found.reformat_layers()) == 1


def test_text_that_names_no_layer_has_no_digest() -> None:
    assert layers.from_layer_info(None) is None
    assert layers.from_layer_info("") is None
    assert layers.from_layer_info("not a layer table") is None
    assert layers.from_layer_info(json.dumps({"Bindings": []})) is None
    empty = layers.from_inspector_json(json.dumps({"Layers": []}))
    assert empty is not None and empty.digest is None
