"""Write a markdown report with plots from results files or folders: one section per kind of measurement
(timing method, L2 state), each with time and bandwidth against the copy (memcpy) and the GPU's L2 size,
raw sample distributions and, with two or more sides, a time-ratio heatmap and the comparison; then the
points not timed, the runs' warnings and every run's environment.

Rows measured differently (graph vs events, cold vs warm L2) are never pooled: they land in different
sections. Rows from several GPUs are split by GPU even without --by. With --by COLUMN (gpu_name,
backend_version, git_commit, run_id, ...) each section compares the sides of that column, the oldest first;
a side that would pool two GPUs, or sides that never meet in one section, are refused with the mix named.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.common import side_column
from bench.cli.console import console
from bench.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", nargs="+", help="results files or folders")
    parser.add_argument("--out", metavar="DIR", type=Path, required=True, help="output folder, e.g. /tmp/my-report/")
    parser.add_argument(
        "--by", metavar="COLUMN", type=side_column, help="compare sides split by this column (e.g. gpu_name)"
    )


def run(args: argparse.Namespace) -> int:
    from bench.report.markdown import report
    from bench.results import load

    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: is a file; give a folder for report.md and its PNGs")
    path = report(load(args.results), args.out, sides_by=args.by)
    console.print(f"report: {path}")
    return 0
