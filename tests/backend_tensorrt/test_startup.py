"""The TensorRT adapter's start-up refusals: exit 2 and one line before any point, never a row of failures.

The messages are pure functions (tested here on any machine); the refusals go through the real CLI with
the real TensorRT-RTX where it is installed.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from bench.backends.tensorrt import startup
from bench.cli.main import main
from bench.errors import UserError

needs_rtx = pytest.mark.skipif(
    importlib.util.find_spec("tensorrt_rtx") is None, reason="needs tensorrt-rtx-cu13 (pip install .[rtx])"
)

# The two shapes TensorRT-RTX's refusal has been seen in: the fragments of libtensorrt_rtx.so.1 1.7.1.116
# ("The engine cannot run on this GPU, which has compute capability ", "Supported compute capabilities:")
# and the wording recorded from the H100 (shared/notes/tensorrt-api.md).
FROM_LIBRARY = (
    "IRuntime::deserializeCudaEngine: Error Code 1: The engine cannot run on this GPU, which has compute "
    "capability 9.0.\nSupported compute capabilities: 8.0 8.6 8.9 12.0 12.1"
)
FROM_NOTES = "deserialize_cuda_engine refuses: supported compute capabilities are 8.0 8.6 8.9 12.0 12.1, Hopper is 9.0"


@pytest.mark.parametrize("message", [FROM_LIBRARY, FROM_NOTES])
def test_the_supported_compute_capabilities_come_from_tensorrts_message(message: str) -> None:
    assert startup.supported_compute_capabilities(message) == ["8.0", "8.6", "8.9", "12.0", "12.1"]
    line = startup.gpu_refused_line("tensorrt-rtx", "tensorrt_rtx 1.7.1.116", "NVIDIA H100 80GB HBM3", "9.0", message)
    assert "\n" not in line
    assert "compute capabilities 8.0, 8.6, 8.9, 12.0, 12.1 only" in line
    assert "NVIDIA H100 80GB HBM3, compute capability 9.0" in line and "--build-only" in line
    assert " ".join(message.split()) in line  # TensorRT's own words, whole


def test_a_refusal_without_a_list_claims_none() -> None:
    line = startup.gpu_refused_line("tensorrt-rtx", "tensorrt_rtx 1.7.1.116", "GPU", "9.0", "Error Code 6: unknown")
    assert "runs engines on" not in line and "Error Code 6: unknown" in line
    assert startup.supported_compute_capabilities("compute capability 9.0") == []


def test_the_no_gpu_line_offers_build_only_only_where_the_module_builds_without_a_gpu() -> None:
    rtx = startup.no_gpu_line("tensorrt-rtx", "cudaErrorInsufficientDriver", None)
    assert "add --build-only" in rtx and "cudaErrorInsufficientDriver" in rtx
    full = startup.no_gpu_line("tensorrt", "cudaErrorNoDevice", "tensorrt 10.16 builds engines on the GPU they run on")
    assert "add --build-only" not in full and "builds engines on the GPU they run on" in full


def test_an_unwritable_cache_dir_is_refused_naming_the_flag(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(UserError, match="--cache-dir") as info:
        startup.check_cache_dir(blocker / "cache")  # root can write anywhere, but not under a file
    assert str(blocker / "cache") in str(info.value)
    startup.check_cache_dir(tmp_path / "new" / "cache")  # a missing folder is made
    assert (tmp_path / "new" / "cache").is_dir() and not any((tmp_path / "new" / "cache").iterdir())


def _one_line_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str], out: Path) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err, err
    assert not out.exists() or not any(out.iterdir()), "nothing may be written before the refusal"
    return err


@needs_rtx
def test_cli_refuses_an_unwritable_cache_dir_before_any_point(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "a-file").write_text("")
    out = tmp_path / "results"
    argv = ["run", "--backend", "tensorrt-rtx", "--build-only", "--sweep", "seed", "--out", str(out), "--no-progress",
            "--cache-dir", str(tmp_path / "a-file" / "cache")]  # fmt: skip
    assert "--cache-dir" in _one_line_exit_2(argv, capsys, out)


@needs_rtx
def test_cli_refuses_to_execute_without_a_gpu(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """This used to exit 0 with every row failed. The GPU probe is told there is none, so the
    test means the same on a GPU host."""
    from bench.gpu import cuda

    monkeypatch.setattr(cuda, "gpu_available", lambda: (False, "no usable CUDA device (test)"))
    out = tmp_path / "results"
    argv = ["run", "--backend", "tensorrt-rtx", "--sweep", "seed", "--out", str(out), "--no-progress",
            "--cache-dir", str(tmp_path / "cache")]  # fmt: skip
    err = _one_line_exit_2(argv, capsys, out)
    assert "--build-only" in err and "no usable CUDA device (test)" in err
