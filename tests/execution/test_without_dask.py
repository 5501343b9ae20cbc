"""The single-process path needs no Dask: with dask and distributed unimportable, every module imports,
a run in this process works, and asking for workers names the extra to install."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

WITHOUT_DASK = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys, tempfile
    BLOCKED = {"dask", "distributed"}
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"No module named {name!r} (blocked by the test)")
    sys.meta_path.insert(0, Block())
    import bench
    names = [m.name for m in pkgutil.walk_packages(bench.__path__, "bench.") if m.name != "bench.__main__"]
    for name in names:
        importlib.import_module(name)
    from bench.cli.main import main
    out = tempfile.mkdtemp()
    point = ["run", "--backend", "numpy", "--shape", "1x3x3x3", "--max-time", "0.05", "--out", out, "--no-progress"]
    assert main(point) == 0
    assert main([*point, "--isolate"]) == 2
    assert not any(m.split(".")[0] in BLOCKED for m in sys.modules)
    print("ran without dask")
    """
)


def test_bench_imports_and_runs_without_dask():
    proc = subprocess.run([sys.executable, "-c", WITHOUT_DASK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "ran without dask" in proc.stdout
    assert "error: the Python module 'distributed' is not installed: pip install 'scale-bench[cluster]'" in proc.stderr
