"""Read one real TensorRT module's API, in its own process: `python trt_module_probe.py MODULE FLAVOUR`.

Both lean runtimes (10.x and 11.x) install the same module name, `tensorrt_lean_bindings`, so each is
imported in a process of its own with its install folder first on PYTHONPATH (the repository root after
it, for bench's feature detection). Reads a JSON list of [owner, member] on stdin ("<module>" or a class
path such as "ILogger.Severity"); writes JSON: the module's version and file, the features
bench.backends.tensorrt.features.detect reads from it, and per member whether it exists, what kind of
object it is, and its docstring (pybind11 puts the call signatures there).
"""

from __future__ import annotations

import importlib
import json
import sys

MODULE = "<module>"


def _resolve(module: object, owner: str) -> object | None:
    obj = module
    if owner == MODULE:
        return obj
    for part in owner.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def _kind(owner_obj: object, value: object) -> str:
    if isinstance(value, property):
        return "property"
    if isinstance(value, type):
        return "class"
    if isinstance(owner_obj, type) and isinstance(value, owner_obj):
        return "member"  # an enum member (an instance of its enum class)
    return "callable" if callable(value) else type(value).__name__


def main() -> None:
    name, flavour = sys.argv[1], sys.argv[2]
    module = importlib.import_module(name)
    from bench.backends.tensorrt import features

    members = {}
    for owner, member in json.load(sys.stdin):
        owner_obj = _resolve(module, owner)
        value = None if owner_obj is None else getattr(owner_obj, member, None)
        if owner_obj is not None and value is None and isinstance(owner_obj, type):
            value = owner_obj.__dict__.get(member)  # a property is found on the class, not on an instance
        members[f"{owner}.{member}"] = {
            "exists": value is not None,
            "kind": None if value is None else _kind(owner_obj, value),
            "doc": None if value is None else getattr(value, "__doc__", None),
        }
    print(json.dumps({
        "module": module.__name__,
        "version": str(getattr(module, "__version__", "unknown")),
        "file": getattr(module, "__file__", None),
        "features": features.detect(module, flavour).to_dict(),
        "members": members,
    }))  # fmt: skip


if __name__ == "__main__":
    main()
