"""`needs_nvrtc`: the mark of a test that compiles CUDA C++ with NVRTC (no GPU needed, only the compiler)."""

from __future__ import annotations

import pytest


def _nvrtc_works() -> bool:
    try:
        from bench.gpu.cuda import nvrtc_version

        nvrtc_version()
        return True
    except Exception:
        return False


needs_nvrtc = pytest.mark.skipif(not _nvrtc_works(), reason="NVRTC is not installed (pip install nvidia-cuda-nvrtc)")
