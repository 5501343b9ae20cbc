"""The plain-Python side of the CUDA wrapper, and that cuda-python has one importer in bench/."""

from __future__ import annotations

import re
from pathlib import Path

from bench.gpu import cuda_values as V

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_cuda_versions_read_as_major_dot_minor() -> None:
    assert V.version_str(13000) == "13.0"
    assert V.version_str(12060) == "12.6"
    assert V.version_str(11080) == "11.8"


def test_device_uuid_reads_as_nvidia_smi_writes_it() -> None:
    raw = bytes(range(16))
    assert V.uuid_str(raw) == "GPU-00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert V.uuid_str(raw.decode("latin-1")) == V.uuid_str(raw)
    assert V.uuid_str(b"") == "" and V.uuid_str(b"short") == ""


def test_launch_dimensions_fill_in_ones() -> None:
    assert V.dim3(7) == (7, 1, 1)
    assert V.dim3((7, 2)) == (7, 2, 1)
    assert V.dim3((7, 2, 3)) == (7, 2, 3)


def test_an_owned_handle_closes_on_leaving_its_block() -> None:
    closed = []

    class Handle(V.Owned):
        def close(self) -> None:
            closed.append(self)

    with Handle() as h:
        assert not closed
    assert closed == [h]


def test_only_the_cuda_module_imports_cuda_python() -> None:
    """`bench.gpu.cuda` is the one module that talks to cuda-python (its modules `cuda.bindings.*`, or
    `cuda.cudart`/`cuda.nvrtc` before 13.0); the modules split off it import it, not cuda-python."""
    importer = re.compile(r"[\"']cuda\.(?:bindings|cudart|nvrtc|\{)|^\s*(?:import|from)\s+cuda(?:\.|\s|$)", re.M)
    found = sorted(str(p.relative_to(BENCH)) for p in BENCH.rglob("*.py") if importer.search(p.read_text()))
    assert found == ["gpu/cuda.py"]
