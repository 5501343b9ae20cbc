"""Check what this machine can run of the harness, run all of it, and write a markdown summary for a bug report.

It probes for a GPU, cuda-python, TensorRT, TensorRT-RTX and TensorRT's lean runtime, then runs every
check the machine allows (bench/selfcheck/checks.py) and says for each: passed, failed (with TensorRT's
own message), or not run (and why). Exit 0 only when nothing it could run failed. Engines go to a fresh
temporary folder unless --cache-dir is given; the summary goes to --out (default: selfcheck.md in the
current folder).
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench.errors import UserError
from bench.selfcheck.report import FAILED, NOT_RUN, PASSED, Outcome, Report, markdown, summary_line

MARKS = {PASSED: "[ ok ]", FAILED: "[FAIL]", NOT_RUN: "[ -- ]"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="selfcheck.md", metavar="PATH",
                        help="markdown summary to write (default: %(default)s in the current folder)")  # fmt: skip
    parser.add_argument("--cache-dir", metavar="DIR",
                        help="engine and timing caches (default: a fresh temporary folder, removed afterwards)")  # fmt: skip


class _Console:
    """One line per outcome; a not-run reason is printed once for a run of checks that share it."""

    def __init__(self) -> None:
        self.last_reason: tuple[str, str] | None = None

    def __call__(self, o: Outcome) -> None:
        reason = (o.section, o.detail) if o.status == NOT_RUN else None
        detail = "(as above)" if reason is not None and reason == self.last_reason else o.detail
        self.last_reason = reason
        print(f"{MARKS[o.status]} {o.section} | {o.name}: {detail}", flush=True)


def _writable_out(path: Path) -> None:
    """Refuse an --out that cannot be written before spending a minute on checks."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a"):
            pass
    except OSError as exc:
        raise UserError(f"--out {path}: cannot write there ({exc.strerror}); pass a file path you can write") from None


def run(args: argparse.Namespace) -> int:
    from bench.selfcheck import checks, machine

    out = Path(args.out)
    _writable_out(out)
    t0 = time.perf_counter()
    print("probing this machine ...", flush=True)
    m = machine.probe()
    report = Report(facts=dict(m.facts), on_outcome=_Console())
    for k, v in m.facts.items():
        print(f"  {k}: {v}")
    cache_dir = Path(args.cache_dir) if args.cache_dir else Path(tempfile.mkdtemp(prefix="scale-bench-selfcheck-"))
    try:
        checks.run_all(report, m, cache_dir)
    finally:
        if not args.cache_dir:
            shutil.rmtree(cache_dir, ignore_errors=True)
    report.facts["selfcheck took"] = f"{time.perf_counter() - t0:.1f} s"
    command = "python -m bench " + " ".join(shlex.quote(a) for a in sys.argv[1:]) if sys.argv[1:] else "selfcheck"
    out.write_text(markdown(report, command))
    not_run = [o for o in report.outcomes if o.status == NOT_RUN]
    if not_run:
        print("could not run here:")
        for why in dict.fromkeys(f"{o.section}: {o.detail}" for o in not_run):
            print(f"  {why}")
    print(f"{summary_line(report)} in {time.perf_counter() - t0:.1f} s; summary: {out}")
    return report.exit_code
