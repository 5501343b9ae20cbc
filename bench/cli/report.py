"""Write a markdown report with seaborn plots from results files: time vs numel, bandwidth against the
memcpy roofline, sample distributions, failed/skipped points, the environment of every run, and with
--by COLUMN (e.g. gpu_name) a speedup heatmap and comparison table across the sides.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.console import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", metavar="RESULTS", nargs="+", help="results files or folders")
    parser.add_argument("--out", metavar="DIR", type=Path, required=True, help="output folder, e.g. reports/NAME/")
    parser.add_argument("--by", metavar="COLUMN", help="compare sides split by this column (e.g. gpu_name)")


def run(args: argparse.Namespace) -> int:

    from bench.report.markdown import report
    from bench.results import load

    path = report(load(args.results), args.out, sides_by=args.by)
    console.print(f"report: {path}")
    return 0
