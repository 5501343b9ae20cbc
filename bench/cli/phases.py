"""Where a run spends its time: seconds per phase (data, build, reference, verify, timing), per run.

  python -m bench phases RESULTS... [--by shape]

See bench/analysis/phases.py for what each figure counts.
"""

from __future__ import annotations

import argparse
from pathlib import Path


def group_column(name: str) -> str:
    """`--by COLUMN`: a results column of one value per row (text, a number, a flag), checked before any
    file is read; a list, map or struct column (samples_us, phase_s) cannot group rows."""
    import pyarrow as pa

    from bench.results.schema import COLUMNS

    dtype = COLUMNS.get(name)
    if dtype is None:
        raise argparse.ArgumentTypeError(f"{name!r} is not a results column; e.g. shape, precision, backend, mode")
    if pa.types.is_nested(dtype):
        raise argparse.ArgumentTypeError(f"{name} holds a {dtype} per row, which cannot group rows; e.g. shape")
    return name


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("results", nargs="+", type=Path, help="results files or folders")
    parser.add_argument("--by", type=group_column,
                        help="also split each run by this column (e.g. shape, precision, backend)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from bench.analysis.phases import report
    from bench.results import load

    print(report(load(args.results), args.by))
    return 0
