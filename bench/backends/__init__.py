"""Backend registry: names to classes, imported lazily so that every module imports without the
optional packages (cuda-python, tensorrt, tensorrt_rtx)."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bench.backends.base import Backend, BackendOptions

# name -> "module:Class"
REGISTRY: dict[str, str] = {
    "numpy": "bench.backends.numpy_backend:NumpyBackend",
    "cuda": "bench.backends.cuda_backend:CudaBackend",
    "memcpy": "bench.backends.memcpy_backend:MemcpyBackend",
    "tensorrt": "bench.backends.tensorrt.backend:TensorRTBackend",
    "tensorrt-rtx": "bench.backends.tensorrt.backend:TensorRTRTXBackend",
}
BACKEND_NAMES: tuple[str, ...] = tuple(REGISTRY)


def backend_class(name: str) -> type[Backend]:
    try:
        target = REGISTRY[name]
    except KeyError:
        raise ValueError(f"backend must be one of {', '.join(BACKEND_NAMES)}, got {name!r}") from None
    module, cls = target.split(":")
    return getattr(importlib.import_module(module), cls)


def create(name: str, options: BackendOptions | None = None) -> Backend:
    return backend_class(name)(options)
