"""Through the command line: TensorRT-RTX builds every valid point of the seed and
smoke sweeps ahead of time with no GPU, and invalid points become failed rows with TensorRT's message."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.cli.main import main
from bench.results import load

pytestmark = [
    pytest.mark.rtx,
    pytest.mark.skipif(
        importlib.util.find_spec("tensorrt_rtx") is None, reason="needs tensorrt-rtx-cu13 (pip install .[rtx])"
    ),
]


def build_only(sweep: str, tmp_path: Path):
    out = tmp_path / "results"
    argv = ["run", "--backend", "tensorrt-rtx", "--build-only", "--sweep", sweep, "--out", str(out), "--no-progress"]
    assert main([*argv, "--cache-dir", str(tmp_path / "cache")]) == 0
    return load(out)


def test_seed_sweep_builds_every_valid_point_and_fails_invalid_ones_with_tensorrts_message(tmp_path):
    df = build_only("seed", tmp_path)
    built = df[df.status == "built"]
    assert len(built) == 5
    assert (built.build_s > 0).all() and (built.engine_bytes > 0).all()
    failed = df[df.status == "failed"].set_index("channel_axis")
    assert set(failed.index) == {"default", "5"}
    assert "shift weights has count 4 but 3 was expected" in failed.loc["default", "error"]
    assert "channel axis 5 must be in range [-4, 4)" in failed.loc["5", "error"]


def test_smoke_sweep_builds_every_valid_point(tmp_path):
    df = build_only("smoke", tmp_path)
    counts = df.status.value_counts().to_dict()
    assert counts == {"built": 84, "skipped": 24}
    assert (df[df.status == "built"].engine_bytes > 0).all()
    assert set(df[df.status == "built"].precision) == {"fp32", "fp16", "bf16", "int8"}
