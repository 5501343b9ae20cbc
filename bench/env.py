"""What this machine is and offers: host facts for every row, and the probe behind `bench env` and
`nox -s bench`'s choice of backends.

It never imports cuda-python or TensorRT itself: it asks importlib whether they are installed and
asks bench.gpu.cuda (the one module that talks to CUDA) whether a GPU answers.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import bench
from bench import copy_yardstick
from bench.errors import UserError

LIBRARIES = ("numpy", "pandas", "pyarrow", "ml_dtypes", "cuda-python", "cuda-bindings", "nvidia-ml-py",
             "tensorrt", "tensorrt-rtx-cu13", "tensorrt_rtx")  # fmt: skip


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


_WARNED: set[str] = set()


def _git(args: list[str], where: Path) -> str | None:
    try:
        out = subprocess.run(["git", *args], cwd=where, capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def _digest(files: list[tuple[str, bytes]]) -> str:
    h = hashlib.sha256()
    for rel, data in sorted(files):
        h.update(rel.encode() + b"\0" + data + b"\0")
    return h.hexdigest()[:16]


def _counts(rel: str) -> bool:
    return rel.endswith((".py", ".toml")) and "__pycache__" not in rel.split("/")


def code_digest(root: Path | None = None) -> str:
    """sha256 over the harness's own files (bench/**/*.py and the shipped sweeps), path and content.

    It lets anyone check a row's `git_commit`: the digest of that commit's tree must equal the row's
    (`commit_digest`; python -m bench provenance does it). A copied tree without .git has its digest too."""
    base = root or Path(__file__).resolve().parent
    files = [(f.relative_to(base).as_posix(), f) for f in base.rglob("*") if f.is_file()]
    return _digest([(rel, f.read_bytes()) for rel, f in files if _counts(rel)])


def commit_digest(commit: str, repo: Path | None = None) -> str | None:
    """The code_digest of bench/ as it is in ``commit`` (from git's objects); None if git cannot say."""
    where = repo or Path(__file__).resolve().parent.parent
    listing = _git(["ls-tree", "-r", "--name-only", commit, "bench/"], where)
    if listing is None:
        return None
    files = []
    for path in listing.splitlines():
        rel = path.removeprefix("bench/")
        if _counts(rel):
            out = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=where, capture_output=True, timeout=10)
            if out.returncode != 0:
                return None
            files.append((rel, out.stdout))
    return _digest(files)


def provenance(cwd: Path | None = None) -> dict[str, object]:
    """git_commit, git_dirty, commit_source and code_digest for every row.

    The checkout answers when it can (with `git_dirty` when tracked files differ). BENCH_GIT_COMMIT is used
    only where git cannot answer (a copy of the tree on a GPU host); where both exist and disagree, git
    wins and a warning says so, so a stale variable never mislabels a run."""
    where = cwd or Path(__file__).resolve().parent.parent
    env = os.environ.get("BENCH_GIT_COMMIT") or None
    sha = _git(["rev-parse", "HEAD"], where)
    digest = code_digest()
    if sha:
        status = _git(["status", "--porcelain", "--untracked-files=no"], where)
        if env and env != sha and env not in _WARNED:
            _WARNED.add(env)
            print(f"warning: BENCH_GIT_COMMIT={env} differs from the checkout's HEAD {sha}; recording {sha}",
                  file=sys.stderr)  # fmt: skip
        return {"git_commit": sha, "git_dirty": bool(status) if status is not None else None,
                "commit_source": "git", "code_digest": digest}  # fmt: skip
    if env:
        if not re.fullmatch(r"[0-9a-f]{40}", env):
            # a short or mistyped sha cannot be checked later (python -m bench provenance): refuse it
            raise UserError(
                f"BENCH_GIT_COMMIT must be the full 40-hex commit of this tree (git rev-parse HEAD), got {env!r}"
            )
        return {"git_commit": env, "git_dirty": None, "commit_source": "env", "code_digest": digest}
    return {"git_commit": "unknown", "git_dirty": None, "commit_source": "unknown", "code_digest": digest}


def host_facts() -> dict[str, object]:
    """Columns every row carries, whatever the backend: where, with what software, from which code."""
    libs = {name: v for name in LIBRARIES if (v := package_version(name))}
    return {
        "host": socket.gethostname(),
        **provenance(),
        "python_version": platform.python_version(),
        "bench_version": bench.__version__,
        "libraries": libs,
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
            return (
                "default",
                ["tensorrt", "cuda", copy_yardstick.BACKEND],
                f"GPU ({self.gpu_reason}) and TensorRT {self.tensorrt}",
            )
        if self.gpu and self.cuda_python:
            why = f"GPU ({self.gpu_reason}) and cuda-python {self.cuda_python}, no TensorRT that can run here"
            return "default", ["cuda", copy_yardstick.BACKEND], why
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
