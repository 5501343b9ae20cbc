"""Every command in the README's "Use" section runs as written on a fresh clone: on this machine (no GPU)
the CPU ones succeed, and the GPU-only ones are refused with exit 2 and one line saying why (issue 12).
They run in a copy of the repository's committed results, so `results/` means the committed layout."""

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
    return where


@pytest.mark.parametrize("command", use_commands())
def test_each_use_command_runs_as_written(clone, command):
    argv = shlex.split(command)
    argv[0] = sys.executable
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(argv, cwd=clone, capture_output=True, text=True, env=env, timeout=600)
    if any(flag in command for flag in GPU_ONLY):
        err = proc.stderr.strip()
        assert proc.returncode == 2, (proc.returncode, proc.stdout[-500:], err[-500:])
        assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
        assert "GPU" in err or "CUDA" in err or "cluster" in err, err
    else:
        assert proc.returncode == 0, (proc.returncode, proc.stdout[-800:], proc.stderr[-800:])
