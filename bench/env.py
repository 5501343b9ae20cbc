"""What this machine is and offers: host facts for every row, and the probe behind `bench env` and
`nox -s bench`'s choice of backends.

It never imports cuda-python or TensorRT itself: it asks importlib whether they are installed and
asks bench.gpu.cuda (the one module that talks to CUDA) whether a GPU answers.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import platform
import socket
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

import bench

LIBRARIES = ("numpy", "pandas", "pyarrow", "ml_dtypes", "cuda-python", "cuda-bindings", "nvidia-ml-py",
             "tensorrt", "tensorrt-rtx-cu13", "tensorrt_rtx")  # fmt: skip


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def git_commit(cwd: Path | None = None) -> str:
    """BENCH_GIT_COMMIT when set (a copy of the tree on a GPU host, where git may not answer), else the
    checkout's commit (with '-dirty' when tracked files differ), else 'unknown'."""
    where = cwd or Path(__file__).resolve().parent.parent
    if os.environ.get("BENCH_GIT_COMMIT"):  # set by whoever copied the tree; git may not work there
        return os.environ["BENCH_GIT_COMMIT"]
    try:
        sha = subprocess.run(["git", "rev-parse", "HEAD"], cwd=where, capture_output=True, text=True, timeout=5)
        if sha.returncode != 0:
            return "unknown"
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=where,
            capture_output=True,
            text=True,
            timeout=5,
        )
        return sha.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def host_facts() -> dict[str, str]:
    """Columns every row carries, whatever the backend."""
    import json

    libs = {name: v for name in LIBRARIES if (v := package_version(name))}
    return {
        "host": socket.gethostname(),
        "git_commit": git_commit(),
        "python_version": platform.python_version(),
        "bench_version": bench.__version__,
        "libraries": json.dumps(libs, sort_keys=True),
    }


@dataclass
class Offer:
    """What the machine offers, and what `nox -s bench` should run on it."""

    gpu: bool
    gpu_reason: str  # the GPU's name, or why there is none
    cuda_python: str | None
    tensorrt: str | None
    tensorrt_rtx: str | None
    details: dict[str, str] = field(default_factory=dict)

    def recommendation(self) -> tuple[str, list[str], str]:
        """(sweep, backends, why) for the main job."""
        if self.gpu and self.tensorrt:
            return "default", ["tensorrt", "cuda", "memcpy"], f"GPU ({self.gpu_reason}) and TensorRT {self.tensorrt}"
        if self.gpu and self.cuda_python:
            why = f"GPU ({self.gpu_reason}) and cuda-python {self.cuda_python}, no TensorRT that can run here"
            return "default", ["cuda", "memcpy"], why
        return "smoke", ["numpy"], f"CPU only ({self.gpu_reason})"


def probe() -> Offer:
    from bench.gpu import cuda

    cuda_python = package_version("cuda-bindings") or package_version("cuda-python")
    details: dict[str, str] = {}
    gpu, reason = (False, "cuda-python is not installed")
    if cuda_python:
        gpu, reason = cuda.gpu_available()
        if gpu:
            dev = cuda.Device(0)
            reason = dev.name
            details = {
                "gpu": dev.name,
                "compute capability": dev.compute_capability,
                "driver": dev.driver_version,
                "CUDA runtime": dev.runtime_version,
                "SMs": str(dev.sm_count),
                "L2": f"{dev.l2_bytes / 2**20:.0f} MiB",
            }
    trt = package_version("tensorrt") if importlib.util.find_spec("tensorrt") else None
    rtx = package_version("tensorrt-rtx-cu13") if importlib.util.find_spec("tensorrt_rtx") else None
    return Offer(gpu, reason, cuda_python, trt, rtx, details)
