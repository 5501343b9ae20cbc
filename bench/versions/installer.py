"""pip, run as a subprocess of the invoking interpreter, with its failure as one line."""

from __future__ import annotations

import subprocess
import sys

from bench.errors import UserError

TIMEOUT_S = 1800  # a TensorRT wheel is hundreds of MB; a hung index must not hang the command forever


class InstallError(UserError):
    """pip could not install something; the message is one line with pip's own reason."""


def reason(stderr: str) -> str:
    """pip's reason in one line: its last ERROR line (pip ends with the one that matters), else the last line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    errors = [line for line in lines if line.startswith("ERROR:")]
    if errors:
        text = errors[-1].removeprefix("ERROR:").strip()
        if text.startswith("ResolutionImpossible") and len(errors) > 1:
            text = errors[-2].removeprefix("ERROR:").strip()
        return text
    return lines[-1] if lines else "pip failed without saying why"


def pip(args: list[str], what: str, python: str | None = None) -> None:
    """`python -m pip ARGS` (quiet, no prompts); with ``python``, pip installs into that interpreter's
    environment (`pip --python`). InstallError naming ``what`` with pip's reason if it fails."""
    cmd = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    if python:
        cmd += ["--python", python]
    cmd += [*args[:1], "--quiet", *args[1:]]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise InstallError(f"{what}: pip did not finish in {TIMEOUT_S} s") from None
    if done.returncode != 0:
        raise InstallError(f"{what} does not install: {reason(done.stderr)}")
