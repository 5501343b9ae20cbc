"""Check each run's recorded commit against the code it ran (its code digest); exit 1 if any is not verified.

python -m bench provenance [RESULTS...]      (default: results/)
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="*", help="results files or folders (default: results/)")


def run(args: argparse.Namespace) -> int:
    from bench.analysis.provenance import verify

    return 1 if verify(args.results) else 0
