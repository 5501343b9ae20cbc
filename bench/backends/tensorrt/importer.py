"""The one place that imports TensorRT (Polygraphy's `trt_importer`): a flavour name in, a module out.

Every other module receives the module object from here, so a machine without TensorRT can import the
whole harness, and the flavour (full TensorRT or TensorRT-RTX) is chosen in exactly one spot.

`tensorrt-lean` (module `tensorrt_lean_bindings`, TensorRT's lean runtime) imports from here too, but is
no backend: it runs engines and builds none (see bench/backends/tensorrt/backend.py for why the adapter
does not accept it). `python -m bench selfcheck` and the contract tests use it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType

from bench.errors import missing_package


@dataclass(frozen=True)
class Flavour:
    """One TensorRT distribution: what to import, what to pip install, which extra carries it."""

    backend: str  # the --backend name
    module: str  # the Python module it imports as
    pip_package: str  # what `pip install` needs
    extra: str  # the scale-bench extra that pulls it in
    builds: bool = True  # has a Builder (a backend flavour); False: a runtime only


FLAVOURS: dict[str, Flavour] = {
    "tensorrt": Flavour("tensorrt", "tensorrt", "tensorrt", "tensorrt"),
    "tensorrt-rtx": Flavour("tensorrt-rtx", "tensorrt_rtx", "tensorrt-rtx-cu13", "rtx"),
}
# Runtimes only: importable here, never a --backend.
RUNTIMES: dict[str, Flavour] = {
    "tensorrt-lean": Flavour(
        "tensorrt-lean", "tensorrt_lean_bindings", "tensorrt-lean-cu13-libs tensorrt-lean-cu13-bindings", "lean", False
    ),
}

# What to suggest when TensorRT is missing: the harness's own kernel measures the same op.
INSTEAD = "--backend cuda, or --backend numpy without a GPU"


def flavour(name: str) -> Flavour:
    known = {**FLAVOURS, **RUNTIMES}
    try:
        return known[name]
    except KeyError:
        raise ValueError(f"TensorRT flavour must be one of {', '.join(known)}, got {name!r}") from None


def import_trt(name: str) -> ModuleType:
    """Import the module of flavour ``name`` ('tensorrt', 'tensorrt-rtx', or the runtime 'tensorrt-lean').

    A missing package is the user's to fix: a UserError naming the pip package, the extra and the
    backend to use instead. Any other import failure (a broken install, a missing libnvinfer) is
    re-raised as that UserError too, with the loader's own message, since the fix is the same.
    """
    fl = flavour(name)
    base = missing_package(fl.module, fl.extra, INSTEAD)
    err = type(base)(f"{base}; the package alone: pip install {fl.pip_package}")
    try:
        module = importlib.import_module(fl.module)
    except ImportError as exc:
        if not isinstance(exc, ModuleNotFoundError) or exc.name != fl.module:
            err = type(err)(f"{err} [import failed: {exc}]")
        raise err from exc
    if getattr(module, "__file__", None) is None or not hasattr(module, "Builder" if fl.builds else "Runtime"):
        # A directory of that name on sys.path (e.g. a tests/tensorrt folder) imports as an empty
        # namespace package: that is not TensorRT.
        raise type(err)(f"{err} ['{fl.module}' resolved to {getattr(module, '__path__', module)!r}, not TensorRT]")
    return module
