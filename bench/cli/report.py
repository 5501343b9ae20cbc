"""Write a markdown report with plots from results files or folders: one section per kind of measurement
(timing method, L2 state), each with time and bandwidth against the copy (memcpy) and the GPU's L2 size,
raw sample distributions and, with two or more sides, a time-ratio heatmap and the comparison; then the
points not timed, the runs' warnings and every run's environment.

Rows measured differently (graph vs events, cold vs warm L2) are never pooled: they land in different
sections. Rows from several GPUs are split by GPU even without --by. With --by COLUMN (gpu_name,
backend_version, git_commit, run_id, ...) each section compares the sides of that column, the oldest first;
a side that would pool two GPUs, or sides that never meet in one section, are refused with the mix named.
Comparisons apply the decision rule compare and gate apply (--threshold, --alpha; printed in the report),
with each machine's noise profile (--profiles, --noise-from), so the three give the same verdicts.
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
    from bench.analysis.rule import DEFAULT_ALPHA, DEFAULT_THRESHOLD
    from bench.cli.compare import add_noise_arguments

    parser.add_argument(
        "--threshold", default=f"{DEFAULT_THRESHOLD:.0%}", help="as compare and gate (default %(default)s)"
    )
    parser.add_argument("--alpha", default=f"{DEFAULT_ALPHA:g}", help="as compare and gate (default %(default)s)")
    add_noise_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bench.analysis.rule import DecisionRule
    from bench.cli.compare import noise_sources, parse_fraction
    from bench.report.markdown import report
    from bench.results import load

    decision = DecisionRule(
        parse_fraction(args.threshold, "--threshold"), parse_fraction(args.alpha, "--alpha", allow_zero=False)
    )
    if args.out.exists() and not args.out.is_dir():
        raise UserError(f"--out {args.out}: is a file; give a folder for report.md and its PNGs")
    try:  # before the results are read and the plots drawn
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"--out {args.out}: cannot make this folder ({exc.strerror or exc}); give a folder you can write"
        ) from None
    path = report(load(args.results), args.out, sides_by=args.by, decision=decision, sources=noise_sources(args))
    console.print(f"report: {path}")
    return 0
