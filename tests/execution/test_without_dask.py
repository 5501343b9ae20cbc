"""The single-process path needs no Dask: with dask and distributed unimportable, every module imports,
a run in this process works, and asking for workers names the extra to install."""

from __future__ import annotations

from without_modules import run_without

WITHOUT_DASK = """
import tempfile
from bench.cli.main import main
out = tempfile.mkdtemp()
point = ["run", "--backend", "numpy", "--shape", "1x3x3x3", "--max-time", "0.05", "--out", out, "--no-progress"]
assert main(point) == 0
assert main([*point, "--isolate"]) == 2
assert not any(m.split(".")[0] in BLOCKED for m in sys.modules)
print("ran without dask")
"""


def test_bench_imports_and_runs_without_dask():
    proc = run_without({"dask", "distributed"}, WITHOUT_DASK)
    assert proc.returncode == 0, proc.stderr
    assert "ran without dask" in proc.stdout
    assert "error: the Python module 'distributed' is not installed: pip install 'scale-bench[cluster]'" in proc.stderr
