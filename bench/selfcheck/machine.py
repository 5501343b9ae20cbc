"""What this machine has for the harness, with versions, and for what it lacks, why (the loader's words)."""

from __future__ import annotations

import platform
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from bench.env import host_facts, package_version
from bench.errors import UserError

TRT_MODULES = ("tensorrt", "tensorrt-rtx", "tensorrt-lean")  # bench.backends.tensorrt.importer's names


@dataclass
class Machine:
    gpu: Any = None  # bench.gpu.cuda.Device, or None
    gpu_reason: str = ""  # why there is no GPU
    modules: dict[str, ModuleType] = field(default_factory=dict)  # importer name -> module
    missing: dict[str, str] = field(default_factory=dict)  # importer name -> why it is not here
    facts: dict[str, str] = field(default_factory=dict)


def _gpu(m: Machine) -> None:
    cuda_python = package_version("cuda-bindings") or package_version("cuda-python")
    m.facts["cuda-python"] = cuda_python or "not installed (pip install 'scale-bench[gpu]')"
    if not cuda_python:
        m.gpu_reason = "cuda-python is not installed (pip install 'scale-bench[gpu]')"
        return
    try:
        from bench.backends.gpu_common import gpu_device
        from bench.gpu import cuda, nvml

        ok, reason = cuda.gpu_available()
        if not ok:
            m.gpu_reason = reason
            m.facts["GPU"] = f"none: {reason}"
            return
        dev = gpu_device(0)
        m.gpu = dev
        m.facts["GPU"] = f"{dev.name}, compute capability {dev.compute_capability}"
        m.facts["driver"] = nvml.driver_version() or f"CUDA {dev.driver_version} (driver API)"
        m.facts["CUDA runtime"] = dev.runtime_version
    except Exception as exc:  # a broken cuda-python: say so, the CPU checks still run
        m.gpu_reason = f"cuda-python is broken here: {type(exc).__name__}: {exc}"
        m.facts["GPU"] = f"none: {m.gpu_reason}"


def _trt(m: Machine) -> None:
    from bench.backends.tensorrt.importer import flavour, import_trt

    for name in TRT_MODULES:
        module_name = flavour(name).module
        try:
            module = import_trt(name)
        except UserError as exc:
            m.missing[name] = str(exc)
            m.facts[module_name] = f"not available: {exc}"
            continue
        m.modules[name] = module
        m.facts[module_name] = f"{getattr(module, '__version__', 'unknown')} ({module.__file__})"


def probe() -> Machine:
    m = Machine()
    host = host_facts()
    m.facts.update(
        {
            "host": host["host"],
            "scale-bench": f"{host['bench_version']} at commit {host['git_commit']}",
            "Python": f"{platform.python_version()} on {platform.platform()}",
            "numpy": package_version("numpy") or "?",
        }
    )
    _gpu(m)
    _trt(m)
    return m
