"""Run inside one version's environment: `python -m bench.versions.probe OUT.json`.

It says what the environment is (Python, the harness code it imports, its own site folder), which
TensorRT flavour its own site folder holds (imported through the adapter's importer, so the module the
runs will use), and what that flavour can do on this machine: execute engines (the adapter's start-up
checks pass: a GPU answers and its runtime accepts it), only build them (and why not more), or nothing.
"""

from __future__ import annotations

import json
import sys
import sysconfig
import tempfile
from pathlib import Path

# module directory in a site folder -> the backend that imports it; runtimes only, which build nothing
FLAVOUR_MODULES = {"tensorrt": "tensorrt", "tensorrt_rtx": "tensorrt-rtx"}
RUNTIME_MODULES = ("tensorrt_lean_bindings", "tensorrt_dispatch_bindings")


def _what_runs(backend: str) -> dict[str, object]:
    """{'execute': bool, 'build': bool, 'reason': why it cannot execute (or build)}: the adapter's own
    start-up checks decide (TensorRT-RTX on a GPU its runtime refuses: its one line, with TensorRT's words)."""
    from bench.backends import create
    from bench.backends.base import BackendOptions
    from bench.errors import UserError
    from bench.gpu.cuda import gpu_available

    def starts(build_only: bool, cache: Path) -> str | None:
        try:
            with create(backend, BackendOptions(build_only=build_only, cache_dir=cache)) as b:
                b.info()
        except UserError as exc:
            return str(exc)
        return None

    with tempfile.TemporaryDirectory(prefix="versions-probe-") as tmp:
        gpu, why_not = gpu_available()
        refused = starts(False, Path(tmp)) if gpu else f"no GPU answers here ({why_not})"
        if refused is None:
            return {"execute": True, "build": True, "reason": None}
        cannot_build = starts(True, Path(tmp))
        return {"execute": False, "build": cannot_build is None, "reason": cannot_build or refused}


def probe() -> dict[str, object]:
    import bench
    from bench.env import code_digest

    site = Path(sysconfig.get_paths()["purelib"]).resolve()
    names = {p.name for p in site.iterdir()} if site.is_dir() else set()
    flavours = []
    for module, backend in FLAVOUR_MODULES.items():
        if module not in names:
            continue
        entry: dict[str, object] = {"backend": backend, "module": module}
        try:
            from bench.backends.tensorrt.importer import import_trt

            trt = import_trt(backend)
            entry["version"] = str(getattr(trt, "__version__", "unknown"))
            entry["file"] = str(Path(trt.__file__).resolve())
            entry["in_environment"] = Path(trt.__file__).resolve().is_relative_to(site)
            entry["runs"] = _what_runs(backend)
        except Exception as exc:  # an import that fails is what the line must say
            entry["error"] = " ".join(f"{type(exc).__name__}: {exc}".split())
        flavours.append(entry)
    return {
        "python": sys.version.split()[0],
        "python_tag": f"cp{sys.version_info.major}{sys.version_info.minor}-{sysconfig.get_platform()}",
        "prefix": sys.prefix,
        "site": str(site),
        "bench": str(Path(bench.__file__).resolve().parent),
        "code_digest": code_digest(),
        "flavours": flavours,
        "runtimes": sorted(n for n in RUNTIME_MODULES if n in names),
    }


if __name__ == "__main__":
    # a file, not stdout: TensorRT and CUDA libraries may print there
    Path(sys.argv[1]).write_text(json.dumps(probe(), indent=1) + "\n")
