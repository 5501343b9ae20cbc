"""Where a run spends its time: seconds per phase (data, build, reference, verify, timing), per run.

  python -m bench phases RESULTS... [--by shape]

See bench/analysis/phases.py for what each figure counts.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, help="results files or folders")
    parser.add_argument("--by", help="also split each run by this column (e.g. shape, precision, backend)")


def run(args: argparse.Namespace) -> int:
    from bench.analysis.phases import report
    from bench.results import load

    print(report(load(args.results), args.by))
    return 0
