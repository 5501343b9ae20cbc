"""Compiled kernels kept: cubins on disk across processes, loaded kernels in this one.

NVRTC takes ~0.05-0.15 s a source and a sweep compiles hundreds (every tuning candidate of every class),
so each compile is done once: a cubin is a pure function of the source, the kernel's name, the
architecture, the options and the NVRTC version, which together are its file name's hash, so a later
process (another run, the other side of an A/B) loads it instead of compiling; and a kernel loaded in
this process is kept per device. The file handling is plain Python; compiling and loading are
`bench.gpu.cuda`'s (the one module that talks to cuda-python).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.gpu import cuda
from bench.parallel import workers

_FOLDER: list[Path] = []  # the folder compiled cubins are kept in, where one was set


def set_cubin_cache(folder: Path | None) -> None:
    """Keep compiled cubins in ``folder`` (None: compile every time)."""
    _FOLDER[:] = [Path(folder)] if folder is not None else []


def compile_cubin(source: str, name: str, arch: str, options: Sequence[str] = ()) -> bytes:
    """Compile CUDA C++ to a cubin for ``arch`` ('sm_90') with NVRTC, or read it from the cubin cache.
    Needs no GPU. A cache that cannot be read or written costs a compile, never the run."""
    if not _FOLDER:
        return cuda.nvrtc_compile(source, name, arch, options)
    key = hashlib.sha256(json.dumps([source, name, arch, list(options), cuda.nvrtc_version()]).encode()).hexdigest()
    path = _FOLDER[0] / f"{key[:32]}.cubin"
    cubin = _read_cubin(path)
    if cubin is None:
        cubin = cuda.nvrtc_compile(source, name, arch, options)
        _write_cubin(path, cubin)
    return cubin


def _read_cubin(path: Path) -> bytes | None:
    """The cubin stored at ``path``, or None where it is absent, unreadable or damaged (its checksum)."""
    with contextlib.suppress(OSError):
        stored = path.read_bytes()  # sha256 of the cubin, then the cubin: damage shows and is compiled over
        if len(stored) > 32 and hashlib.sha256(stored[32:]).digest() == stored[:32]:
            return stored[32:]
    return None


def _write_cubin(path: Path, cubin: bytes) -> None:
    """Store ``cubin`` behind its checksum, atomically; a folder that cannot be written is left alone."""
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".cubin")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(hashlib.sha256(cubin).digest() + cubin)
            os.replace(tmp, path)  # whole or absent: a killed writer leaves no half cubin
        finally:
            Path(tmp).unlink(missing_ok=True)


_KERNELS: dict[tuple[str, str, str, tuple[str, ...], int], cuda.Kernel] = {}
_KERNELS_LOCK = threading.Lock()


def compile_kernel(source: str, name: str, arch: str, options: Sequence[str] = ()) -> cuda.Kernel:
    """Compile (NVRTC) and load ``name`` from ``source``; cached by (source, name, arch, options, device)."""
    return compile_kernels([source], name, arch, options)[0]


def compile_kernels(sources: Sequence[str], name: str, arch: str, options: Sequence[str] = ()) -> list[cuda.Kernel]:
    """`compile_kernel` for many sources: the ones not cached yet are compiled on a few threads (NVRTC
    takes ~0.05-0.15 s a source and runs outside the GIL), then loaded here, in order."""
    device = cuda.current_device()
    keys = [(src, name, arch, tuple(options), device) for src in sources]
    with _KERNELS_LOCK:
        missing = list(dict.fromkeys(k for k in keys if k not in _KERNELS))
    if missing:
        compile_one = functools.partial(_compile_cubin_of, name=name, arch=arch, options=options)
        if len(missing) == 1:
            cubins = [compile_one(missing[0])]
        else:
            with ThreadPoolExecutor(min(len(missing), workers())) as pool:  # NVRTC runs outside the GIL
                cubins = list(pool.map(compile_one, missing))
        for key, cubin in zip(missing, cubins, strict=True):
            kernel = cuda.Kernel(cubin, name)
            with _KERNELS_LOCK:
                _KERNELS.setdefault(key, kernel)
    with _KERNELS_LOCK:
        return [_KERNELS[k] for k in keys]


def _compile_cubin_of(key: tuple, name: str, arch: str, options: Sequence[str]) -> bytes:
    return compile_cubin(key[0], name, arch, options)


def compile_ptx(source: str, name: str, arch: str, options: Sequence[str] = ()) -> str:
    """The PTX of ``source`` for ``arch`` ('compute_90'), not cached: what tests and the instruction-count
    recipe read to see which instructions a generated kernel uses."""
    return cuda.nvrtc_compile(source, name, arch, options, ptx=True).rstrip(b"\x00").decode()
