"""Backend registry: names to classes, imported lazily so that every module imports without the
optional packages (cuda-python, tensorrt, tensorrt_rtx)."""

from __future__ import annotations

import importlib
import os
from typing import TYPE_CHECKING

from bench import copy_yardstick

if TYPE_CHECKING:
    from bench.backends.base import Backend, BackendOptions

# name -> "module:Class"
REGISTRY: dict[str, str] = {
    "numpy": "bench.backends.numpy_backend:NumpyBackend",
    "cuda": "bench.backends.cuda_backend:CudaBackend",
    copy_yardstick.BACKEND: "bench.backends.memcpy_backend:MemcpyBackend",
    "tensorrt": "bench.backends.tensorrt.backend:TensorRTBackend",
    "tensorrt-rtx": "bench.backends.tensorrt.backend:TensorRTRTXBackend",
}
# Backends that fail on purpose (crash, exit, hang, lose the CUDA context), for the crash-isolation tests;
# only where BENCH_TEST_BACKENDS=1 (worker processes inherit it). Listed here, not imported: see testing.py.
TEST_BACKENDS_ENV = "BENCH_TEST_BACKENDS"
TEST_REGISTRY: dict[str, str] = {
    "test-abort": "bench.backends.testing:AbortBackend",
    "test-exit": "bench.backends.testing:ExitBackend",
    "test-hang": "bench.backends.testing:HangBackend",
    "test-illegal-address": "bench.backends.testing:IllegalAddressBackend",
    "test-lost-context": "bench.backends.testing:LostContextBackend",
}
if os.environ.get(TEST_BACKENDS_ENV) == "1":
    REGISTRY.update(TEST_REGISTRY)
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
