"""Run a sweep: verify and time every point, write one parquet file, print a summary.

Finished points go to a journal as they finish; a killed run keeps them and `--resume` completes it
without redoing them.
"""

from __future__ import annotations

import argparse
import re
import secrets
from datetime import UTC, datetime
from pathlib import Path

from bench.backends.base import Backend, BackendInfo
from bench.cli.common import add_point_arguments, planned_points
from bench.cli.console import RunProgress, built_table, console, problems_table, status_table, summary_table
from bench.env import host_facts
from bench.errors import UserError
from bench.results.store import RunWriter, journal_header, latest_journal, read_journal
from bench.runner import RunContext
from bench.runner import run as run_points


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_point_arguments(parser)
    parser.add_argument("--out", default="results", metavar="DIR", help="results folder (default: %(default)s)")
    parser.add_argument("--resume", nargs="?", const="latest", metavar="RUN_ID",
                        help="finish an interrupted run (the latest in --out, or RUN_ID) without redoing its points")  # fmt: skip
    parser.add_argument(
        "--build-only", action="store_true", help="build engines without executing (TensorRT; no GPU needed)"
    )
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def new_run_id() -> str:
    host = re.sub(r"[^A-Za-z0-9-]", "-", host_facts()["host"])[:24]
    return f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}-{host}-{secrets.token_hex(2)}"


def resolve_resume(out: Path, resume: str) -> str:
    if resume == "latest":
        journal = latest_journal(out)
        if journal is None:
            raise UserError(
                f"--resume: no interrupted run in {out} (no *.journal.jsonl); start a new run without --resume"
            )
        return journal_header(journal)["run_id"]
    if not (out / f"{resume}.journal.jsonl").exists():
        raise UserError(f"--resume {resume}: no journal {resume}.journal.jsonl in {out}")
    return resume


def backend_infos(backends: dict[str, Backend], needed: set[str]) -> dict[str, BackendInfo]:
    """Start each backend that has points to run, before any point: a missing package or GPU stops here."""
    infos = {}
    for name in sorted(needed):
        try:
            infos[name] = backends[name].info()
        except UserError:
            raise
        except Exception as exc:
            raise UserError(f"backend {name} cannot start on this machine: {exc}") from exc
    return infos


def run(args: argparse.Namespace) -> int:
    sweep, planned, backends, timing = planned_points(args)
    out = Path(args.out)
    run_id = resolve_resume(out, args.resume) if args.resume else new_run_id()
    needed = {pp.point.backend for pp in planned if pp.runs}
    infos = backend_infos(backends, needed)
    ctx = RunContext(run_id=run_id, sweep=sweep.name, timing=timing, build_only=args.build_only, host=host_facts())
    writer = RunWriter(out, run_id, header={"sweep": sweep.source, "build_only": args.build_only})
    already = len(writer.finished())
    if already:
        console.print(f"resuming {run_id}: {already} points already done")
    methods = (
        "build only"
        if args.build_only
        else (f"{timing.method} (falls back to events where capture fails)" if needed - {"numpy"} else "host clock")
    )
    console.print(f"run {run_id}: {len(planned)} points from sweep '{sweep.name}', timing: {methods}")  # fmt: skip
    progress = RunProgress(len(planned) - already, enabled=not args.no_progress)
    try:
        summary = run_points(ctx, planned, backends, infos, writer, on_row=progress)
    except KeyboardInterrupt:
        progress.close()
        writer.close()
        kept = len(read_journal(writer.journal_path))
        console.print(f"\ninterrupted: {kept} finished points kept in {writer.journal_path}; "
                      f"finish with the same command and --resume {run_id}")  # fmt: skip
        return 130
    finally:
        progress.close()
        for b in backends.values():
            b.close()
    path = writer.finalize()
    from bench.results.store import load

    rows = load(path).to_dict("records")
    console.print(status_table(summary.counts, rows))
    for table in (built_table(rows) if args.build_only else summary_table(rows), problems_table(rows)):
        if table is not None:
            console.print(table)
    console.print(f"results: {path}")
    return 0
