"""Every command in the README's "Use" section runs as written on a fresh clone: on this machine (no GPU)
the CPU ones succeed, and the GPU-only ones are refused with exit 2 and one line saying why, with or without
the gpu extra (cuda-python, NVML) installed. They run in a copy of the repository's committed results and
archive, so `results/` and `archive/` mean the committed layout."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GPU_ONLY = ("--backend cuda", "--gpus")


def use_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Use") :]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip().startswith("python -m bench")]


def test_the_use_section_lists_commands():
    assert len(use_commands()) >= 8


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("fresh")
    shutil.copytree(ROOT / "results", where / "results")
    shutil.copytree(ROOT / "archive", where / "archive", ignore=shutil.ignore_patterns("reports-*"))
    return where


# Runs `python -m bench` as if the gpu extra were not installed: its modules cannot be imported.
WITHOUT_GPU_EXTRA = """
import importlib.abc, sys
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in ("cuda", "cuda_bindings", "pynvml"):
            raise ModuleNotFoundError(f"No module named {name!r} (the gpu extra is not installed)")
sys.meta_path.insert(0, Block())
from bench.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


def _run(command: str, where: Path, gpu_extra: bool = True) -> subprocess.CompletedProcess:
    argv = shlex.split(command)
    argv[:3] = [sys.executable, "-m", "bench"] if gpu_extra else [sys.executable, "-c", WITHOUT_GPU_EXTRA]
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(argv, cwd=where, capture_output=True, text=True, env=env, timeout=600)


def _refused_for_the_gpu(proc: subprocess.CompletedProcess) -> None:
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], err[-500:])
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    assert any(why in err for why in ("GPU", "CUDA", "cluster", "scale-bench[gpu]")), err


@pytest.mark.parametrize("command", use_commands())
def test_each_use_command_runs_as_written(clone, command):
    proc = _run(command, clone)
    if any(flag in command for flag in GPU_ONLY):
        _refused_for_the_gpu(proc)
    else:
        assert proc.returncode == 0, (proc.returncode, proc.stdout[-800:], proc.stderr[-800:])


@pytest.mark.parametrize("command", [c for c in use_commands() if any(flag in c for flag in GPU_ONLY)])
def test_gpu_commands_without_the_gpu_extra_say_what_to_install(clone, command):
    _refused_for_the_gpu(_run(command, clone, gpu_extra=False))
