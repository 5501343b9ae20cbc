"""The command line as a user meets it: `python -m bench` in a fresh process, real signals, journals left
by killed runs. Shared by the hostile, kill and journal tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from bench.results.journal import decode
from bench.results.store import pending_runs

ROOT = Path(__file__).resolve().parent.parent
# Points small enough that a run of a few dozen takes about a second, each with enough samples to be judged.
QUICK = ["--warmup", "0.0005", "--min-time", "0.001", "--max-time", "0.003", "--no-progress"]


def env(**extra: str) -> dict[str, str]:
    """This process's environment with the tree under test first on the path, and no terminal width."""
    out = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return {**out, "PYTHONPATH": str(ROOT), **extra}


def bench(*args: str, timeout: float = 120, extra_env: dict | None = None, **kw) -> subprocess.CompletedProcess:
    """`python -m bench ARGS` in a fresh process, text output captured."""
    return subprocess.run(
        [sys.executable, "-m", "bench", *args], capture_output=True, text=True, env=env(**(extra_env or {})),
        timeout=timeout, **kw,
    )  # fmt: skip


def start(*args: str, **kw) -> subprocess.Popen:
    """`python -m bench ARGS` started in the background (stdout and stderr to pipes)."""
    return subprocess.Popen(
        [sys.executable, "-m", "bench", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env(),
        **kw,
    )  # fmt: skip


def refused(proc: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2 with one `error:` line holding every needle, and no traceback; the line."""
    err = proc.stderr.strip()
    assert proc.returncode == 2, (proc.returncode, proc.stdout[-1500:], err[-1500:])
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err, err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def records(journal: Path) -> list[dict]:
    """The intact records of a journal after its header, in order (a torn or damaged line is left out)."""
    data = journal.read_bytes()
    lines = data[: data.rfind(b"\n") + 1].split(b"\n")[1:-1]
    return [r for r in (decode(line) for line in lines) if r is not None]


def wait_for_records(proc: subprocess.Popen, out: Path, count: int, timeout: float = 60) -> Path | None:
    """Wait until the run writing into ``out`` has ``count`` records in its journal (0: the journal exists);
    its journal, or None if the process ended first. Reads only what was appended since the last look, so
    that waiting costs the run being watched next to nothing."""
    deadline = time.monotonic() + timeout
    journal: Path | None = None
    seen, lines = 0, 0
    while time.monotonic() < deadline and proc.poll() is None:
        if journal is None:
            journals = pending_runs(out) if out.is_dir() else []
            journal = journals[0] if journals else None
        if journal is not None:
            try:
                with journal.open("rb") as fh:
                    if os.fstat(fh.fileno()).st_size < seen:  # a resume cut a torn tail off: count again
                        seen, lines = 0, 0
                    fh.seek(seen)
                    new = fh.read()
            except OSError:
                new = b""
            seen, lines = seen + len(new), lines + new.count(b"\n")
            if count == 0 or lines - 1 >= count:
                return journal
        time.sleep(0.002)
    if proc.poll() is None:
        raise AssertionError(f"no {count} records in {out} within {timeout} s")
    return None


def stop(proc: subprocess.Popen, sig: int = signal.SIGKILL) -> tuple[int, str, str]:
    """Send ``sig`` and wait: (exit status, stdout, stderr)."""
    if proc.poll() is None:
        proc.send_signal(sig)
    out, err = proc.communicate(timeout=60)
    return proc.returncode, out, err


def finish(proc: subprocess.Popen, timeout: float = 120) -> tuple[int, str, str]:
    """Wait for ``proc`` to end on its own: (exit status, stdout, stderr)."""
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def run_id_of(journal: Path) -> str:
    return journal.name.split(".")[0]
