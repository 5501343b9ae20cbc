"""Run a sweep: verify and time every point, write one parquet file, print a summary.

Finished points (and finished rounds) go to a checksummed journal as they finish; an interruption loses
at most the work in flight, and `--resume RUN_ID` completes the run without redoing anything, after
checking that it plans the same run.
"""

from __future__ import annotations

import argparse
import re
import secrets
import signal
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.cli.common import add_point_arguments, backend_options, planned_points
from bench.cli.console import (
    RunProgress,
    built_table,
    console,
    noise_line,
    problems_table,
    say,
    status_table,
    summary_table,
)
from bench.env import provenance
from bench.errors import UserError
from bench.execution import Placement, add_placement_arguments, executor_for
from bench.execution.task import RunSpec
from bench.planning import identity_differences, plan_id, plan_identity
from bench.results.journal import Contents
from bench.results.store import JOURNAL_SUFFIX, RunWriter, check_run_id, load, pending_runs
from bench.runner import ContextLost
from bench.runner import run as run_points


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_point_arguments(parser)
    parser.add_argument("--out", default="results", metavar="DIR", help="results folder (default: %(default)s)")
    parser.add_argument("--resume", nargs="?", const="latest", metavar="RUN_ID",
                        help="finish an interrupted run in --out (its run id; alone: the only unfinished one) "
                             "without redoing its points; the command must plan the same run")  # fmt: skip
    parser.add_argument(
        "--build-only", action="store_true", help="build engines without executing (TensorRT; no GPU needed)"
    )
    parser.add_argument(
        "--verify",
        choices=("device", "host"),
        default="host",
        help="where the cuda and memcpy backends' inputs are made and outputs judged: 'host' (NumPy; default) "
        "or 'device' (on the GPU: bit-identical inputs, float64 reference; not yet the default: its GPU tests, "
        "tests/gpu/test_device_data.py, have not run on a GPU); other backends: always the host",
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_placement_arguments(parser)


def new_run_id() -> str:
    """Time, host and 48 random bits: two runs started in the same second on one host do not collide."""
    host = re.sub(r"[^A-Za-z0-9-]", "-", socket.gethostname())[:24].strip("-") or "host"
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{host}-{secrets.token_hex(6)}"


def resolve_resume(out: Path, resume: str) -> str:
    if resume != "latest":
        return check_run_id(resume)
    pending = [p.name.removesuffix(JOURNAL_SUFFIX) for p in pending_runs(out)]
    if not pending:
        raise UserError(f"--resume: no unfinished run in {out}; start a new run without --resume")
    if len(pending) > 1:
        raise UserError(
            f"--resume: {len(pending)} unfinished runs in {out} ({', '.join(pending)}); name one: --resume RUN_ID"
        )
    return pending[0]


# What a run's rows say about the code that measured them: all of them must say the same, so a run stopped and
# resumed after a tracked file changed is refused instead of mixing two versions in one file.
CODE_FIELDS = ("code_digest", "git_commit", "git_dirty")


def provenance_differences(contents: Contents, now: dict) -> list[str]:
    """How this checkout's code differs from the code the run started with (its journal's header; a journal
    written before headers carried it: the code digest of its rows)."""
    then = contents.header.get("code")
    if not isinstance(then, dict):
        digests = {r.get("row", {}).get("code_digest") for r in contents.records if isinstance(r.get("row"), dict)}
        then = {"code_digest": digests.pop()} if len(digests) == 1 else {}
    return [
        f"{key}: the run has {then[key]!r}, this checkout {now.get(key)!r}"
        for key in CODE_FIELDS
        if key in then and then[key] != now.get(key)
    ]


class Terminated(KeyboardInterrupt):
    """SIGTERM (a CI job cancelled, `kill`, a scheduler's time limit): stops the run as Ctrl-C does, with the
    journal closed and the command to finish it printed."""


def _stop_on_sigterm() -> Any:
    """Raise Terminated on SIGTERM while the run goes; the previous handler (None: not the main thread, where
    Python cannot set one)."""

    def handler(_signum: int, _frame: object) -> None:
        raise Terminated()

    if threading.current_thread() is not threading.main_thread():
        return None
    return signal.signal(signal.SIGTERM, handler)


def placement(args: argparse.Namespace) -> Placement:
    return Placement(
        gpus=getattr(args, "gpus", None),
        scheduler=getattr(args, "scheduler", None),
        isolate=bool(getattr(args, "isolate", False)),
        point_timeout_s=getattr(args, "point_timeout", None),
        gpu_model=getattr(args, "gpu_model", None),
        mixed_gpus=bool(getattr(args, "mixed_gpus", False)),
    )


def run(args: argparse.Namespace) -> int:
    sweep, planned, _backends, timing = planned_points(args)
    out = Path(args.out)
    options = backend_options(args, timing)
    identity = plan_identity(
        sweep, planned, timing, {"build_only": bool(args.build_only), **options.identity()}, args.shard
    )
    needed = tuple(sorted({pp.point.backend for pp in planned if pp.runs}))
    resuming = args.resume is not None  # `--resume ''` is a resume of no run, refused by its id check
    run_id = resolve_resume(out, args.resume) if resuming else new_run_id()
    spec = RunSpec(
        run_id, sweep.name, plan_id(identity), timing, bool(args.build_only), options, needed, verify=args.verify
    )
    executor = executor_for(spec, placement(args))
    code = {k: v for k, v in provenance().items() if k in CODE_FIELDS}
    writer: RunWriter | None = None
    progress: RunProgress | None = None
    previous_term = _stop_on_sigterm()
    try:
        executor.start()  # a missing GPU or package stops here, before a journal exists
        if resuming:
            writer, contents = RunWriter.resume(out, run_id)
            differs = identity_differences(contents.header.get("identity") or {}, identity)
            differs += provenance_differences(contents, code)
            if differs:
                more = f" (and {len(differs) - 1} more difference(s))" if len(differs) > 1 else ""
                raise UserError(f"--resume {run_id}: this command plans a different run: {differs[0]}{more}; "
                                "resume with the run's own sweep, settings and code, or start a new run")  # fmt: skip
            for problem in contents.problems():
                say(f"journal {contents.path!s}: {problem}: its point runs again")
            if writer.duplicates:
                say(f"journal held {len(writer.duplicates)} duplicate row(s); the first of each is kept")
            say(f"resuming {run_id}: {len(writer.finished())} of {len(planned)} points already done")
        else:
            writer = RunWriter.start(
                out, run_id, {"sweep": sweep.source, "plan_id": spec.plan_id, "identity": identity, "code": code}
            )
        method = "build only" if args.build_only else (
            f"{timing.method} (falls back to events where capture fails)" if set(needed) - {"numpy"} else "host clock"
        )  # fmt: skip
        say(f"run {run_id}: {len(planned)} points from sweep '{sweep.name}', timing: {method}")
        progress = RunProgress(len(planned) - len(writer.finished()), enabled=not args.no_progress)
        summary = run_points(spec, planned, executor, writer, on_row=progress)
        progress.close()
        path = writer.finalize((pp.point.key, pp.point.backend) for pp in planned)
        if writer.leftover:
            say(f"note: {writer.leftover}; the run is complete in {path}: delete the journal")
    except KeyboardInterrupt as exc:
        if progress:
            progress.close()
        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        if writer is None:
            say(f"\n{how} before the run's journal existed: nothing was measured")
        else:
            say(f"\n{how}: {writer.kept()} finished points kept in run {run_id}'s journal; finish with the same "
                f"command and --resume {run_id}")  # fmt: skip
        return 128 + (signal.SIGTERM if isinstance(exc, Terminated) else signal.SIGINT)
    except ContextLost as exc:
        if progress:
            progress.close()
        say(f"\nstopped: {exc!s}")
        return 1
    finally:
        if previous_term is not None:
            signal.signal(signal.SIGTERM, previous_term)
        if progress:
            progress.close()
        if writer is not None:
            writer.close()
        executor.close()
    rows = load(path).to_dict("records")
    console.print(status_table(summary.counts, rows))
    line = noise_line(rows)
    if line:
        say(line)
    for table in (built_table(rows) if args.build_only else summary_table(rows), problems_table(rows)):
        if table is not None:
            console.print(table)
    say(f"results: {path!s}")
    return 0
