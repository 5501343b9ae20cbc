"""Run Python code in a fresh interpreter where some top-level modules cannot be imported (as on a machine
without those packages), after importing every bench module: what `import bench` must survive."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

_PRELUDE = """
import importlib, importlib.abc, pkgutil, sys
BLOCKED = {blocked!r}
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}} (blocked by the test)")
sys.meta_path.insert(0, Block())
import bench
names = [m.name for m in pkgutil.walk_packages(bench.__path__, "bench.") if m.name != "bench.__main__"]
for name in names:
    importlib.import_module(name)
"""


def run_without(blocked: set[str], body: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """``body`` (after every bench module is imported, with ``names`` listing them) with ``blocked`` unimportable."""
    code = _PRELUDE.format(blocked=sorted(blocked)) + textwrap.dedent(body)
    return subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
