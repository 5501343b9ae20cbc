"""A shared TensorRT timing cache file: which file a run uses, importing it, exporting it, refusing it.

Full TensorRT (the only flavour whose timing cache does something) cannot be installed here. The file
handling is plain Python and tested as such. The TensorRT side runs against TensorRT-RTX, whose bindings
have the same timing cache API (IBuilderConfig.create_timing_cache / set_timing_cache,
ITimingCache.serialize) with the calls as no-ops; its builder is told it has a timing cache
(`has_timing_cache=True`) so the full API's path is taken. Without a GPU TensorRT-RTX reads no blob but
its own empty cache ("Failed to deserialize timing cache. Returning an empty timing cache."), which is a
real refusal of the kind a damaged or foreign file gets from full TensorRT. The names and argument
counts of that path are held against TensorRT 8.6, TensorRT-RTX and the lean runtimes in
test_trt_contract.py.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import logging
import os
from pathlib import Path

import pytest

from bench.backends.tensorrt import timing_cache as tcfile
from bench.errors import UserError
from bench.point import Point
from bench.problem import make_problem

# ---- which file, and the file itself -------------------------------------------------------------------


def test_the_command_line_value() -> None:
    assert tcfile.option_value(None, False) is None
    assert tcfile.option_value(None, True) == tcfile.OFF
    shared = tcfile.option_value("off", False)  # a file named 'off' is a path, never the switch
    assert shared is not None and shared != tcfile.OFF and Path(shared).is_absolute()
    with pytest.raises(UserError, match="exclude each other"):
        tcfile.option_value("t.cache", True)


def test_the_file_a_run_uses(tmp_path: Path) -> None:
    own = tmp_path / "own.cache"
    assert tcfile.choose(None, True, own) == tcfile.TimingCacheFile(own, False)
    assert tcfile.choose(str(tmp_path / "s.cache"), True, own) == tcfile.TimingCacheFile(tmp_path / "s.cache", True)
    assert not tcfile.choose(tcfile.OFF, True, own).used
    assert not tcfile.choose(None, False, own).used  # no timing cache in this flavour, or no GPU to time on


def test_a_path_that_cannot_be_a_cache_file_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="is a folder") as info:
        tcfile.check_shared_path(tmp_path)
    assert "\n" not in str(info.value)
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(UserError, match="cannot create its folder"):
        tcfile.check_shared_path(blocker / "sub" / "t.cache")
    tcfile.check_shared_path(tmp_path / "new" / "t.cache")  # a new file in a new folder: fine


def test_a_missing_file_is_an_empty_start(tmp_path: Path) -> None:
    assert tcfile.read(tcfile.TimingCacheFile(tmp_path / "absent.cache", True)) == b""


def test_an_unreadable_file_stops_a_shared_run_and_warns_for_the_harnesss_own(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "a-folder.cache"
    folder.mkdir()  # reading a folder fails with an OSError, whoever runs the test (root reads any file)
    with pytest.raises(UserError, match="cannot be read"):
        tcfile.read(tcfile.TimingCacheFile(folder, True))
    with caplog.at_level(logging.WARNING):
        assert tcfile.read(tcfile.TimingCacheFile(folder, False)) == b""
    assert "starting an empty one" in caplog.text


def test_an_export_is_whole_or_absent(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "t.cache"
    tcfile.write_atomic(path, b"first")
    choice = tcfile.TimingCacheFile(path, True)
    tcfile.export(choice, b"second")
    assert path.read_bytes() == b"second"
    blocked = tcfile.TimingCacheFile(tmp_path / "dir.cache", True)
    (tmp_path / "dir.cache").mkdir()  # os.replace cannot put a file over a folder: the write fails
    with caplog.at_level(logging.WARNING):
        tcfile.export(blocked, b"lost")
    assert "could not be written" in caplog.text
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dir.cache", "t.cache"]  # no temporary left behind


def test_a_refused_file_stops_a_shared_run_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    with pytest.raises(UserError) as info:
        tcfile.refused(tcfile.TimingCacheFile(Path("/x/base.cache"), True), "Failed to deserialize\ntiming cache.")
    text = str(info.value)
    assert "\n" not in text and "--timing-cache /x/base.cache" in text and "Failed to deserialize timing cache" in text
    with caplog.at_level(logging.WARNING):
        tcfile.refused(tcfile.TimingCacheFile(Path("/x/own.cache"), False), "damaged")
    assert "starting an empty one" in caplog.text


# ---- through TensorRT's timing cache API (TensorRT-RTX's bindings) --------------------------------------

needs_rtx = pytest.mark.skipif(importlib.util.find_spec("tensorrt_rtx") is None, reason="tensorrt_rtx is not installed")
pytestmark = pytest.mark.filterwarnings("ignore:Use Deprecated in TensorRT-RTX:DeprecationWarning")
POINT = Point((2, 8, 4, 4), "channel", "fp32", None, "tensorrt-rtx")


def _builder(cache_dir: Path, option: str | None):  # -> EngineBuilder
    from bench.backends.tensorrt import features as feat
    from bench.backends.tensorrt.build import EngineBuilder
    from bench.backends.tensorrt.capture import MessageLog, make_logger
    from bench.backends.tensorrt.importer import import_trt

    trt = import_trt("tensorrt-rtx")
    features = dataclasses.replace(feat.detect(trt, "tensorrt-rtx"), has_timing_cache=True)
    messages = MessageLog()
    return EngineBuilder(trt, features, make_logger(trt, messages), messages, cache_dir, "a GPU", option)


def _build(builder):  # -> BuiltEngine
    from bench.backends.tensorrt import features as feat

    problem = make_problem(POINT)
    return builder.build(problem, feat.precision_plan(builder.features, "fp32"))


@pytest.mark.rtx
@needs_rtx
def test_a_shared_file_is_created_exported_and_read_back(tmp_path: Path) -> None:
    shared = tmp_path / "shared" / "base.cache"
    first = _build(_builder(tmp_path / "c1", str(shared)))
    assert shared.stat().st_size > 0  # exported after the build
    settings = first.info.builder_settings
    assert settings["timing_cache_digest"] == tcfile.digest(b"")  # the build started from an empty cache
    assert settings["timing_cache"] == {"file": "base.cache", "digest": tcfile.digest(b"")}
    assert not list(shared.parent.glob(".*.tmp"))
    exported = shared.read_bytes()
    second = _builder(tmp_path / "c2", str(shared))
    second.load_timing_cache()  # a file this TensorRT exported is accepted
    built = _build(second)
    assert built.info.builder_settings["timing_cache_digest"] == tcfile.digest(exported)
    # the engine cache keys a shared file by its content when the run found it: engines built from
    # another cache are not reused
    assert built.info.builder_settings["timing_cache"]["digest"] != settings["timing_cache"]["digest"]


@pytest.mark.rtx
@needs_rtx
def test_a_shared_file_tensorrt_refuses_stops_the_run_before_any_build(tmp_path: Path) -> None:
    shared = tmp_path / "foreign.cache"
    shared.write_bytes(b"not a timing cache" * 20)
    builder = _builder(tmp_path / "c", str(shared))
    with pytest.raises(UserError) as info:
        builder.load_timing_cache()
    text = str(info.value)
    assert "\n" not in text and f"--timing-cache {shared}" in text and "empty timing cache" in text
    assert shared.read_bytes() == b"not a timing cache" * 20  # the user's file is left as it was


@pytest.mark.rtx
@needs_rtx
def test_the_harnesss_own_damaged_file_is_rebuilt_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    builder = _builder(tmp_path, None)
    own = builder.timing_file.path
    assert own is not None and own.parent == tmp_path / "timing"
    own.parent.mkdir(parents=True)
    own.write_bytes(b"\x00" * 100)  # a torn file from another tool, or a disk error
    with caplog.at_level(logging.WARNING):
        built = _build(builder)
    assert "refused by TensorRT" in caplog.text
    assert built.info.builder_settings["timing_cache_digest"] == tcfile.digest(b"")
    assert own.read_bytes() != b"\x00" * 100  # replaced by the exported cache


@pytest.mark.rtx
@needs_rtx
def test_no_timing_cache(tmp_path: Path) -> None:
    builder = _builder(tmp_path, tcfile.OFF)
    built = _build(builder)
    assert built.info.builder_settings["timing_cache"] is None
    assert built.info.builder_settings["timing_cache_digest"] is None
    assert not (tmp_path / "timing").exists()


@pytest.mark.rtx
@needs_rtx
def test_the_run_command_refuses_a_timing_cache_tensorrt_rtx_cannot_use(tmp_path: Path, capsys) -> None:
    from bench.cli.main import main

    args = ["run", "--backend", "tensorrt-rtx", "--build-only", "--shape", "1x3x3x3", "--mode", "uniform",
            "--precision", "fp32", "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"), "--no-progress"]  # fmt: skip
    assert main([*args, "--timing-cache", str(tmp_path / "t.cache")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "--timing-cache" in err and "no timing cache to share" in err
    assert not (tmp_path / "r").exists() or not list((tmp_path / "r").glob("*.parquet"))
    assert main([*args, "--timing-cache", "x", "--no-timing-cache"]) == 2
    assert main([*args, "--no-timing-cache"]) == 0  # nothing to turn off there: the run goes on
    assert os.path.isdir(tmp_path / "r")
