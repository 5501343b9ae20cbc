"""Regression gate: exit 1 when a point of CAND is slower than BASE with significance (Benjamini-Hochberg
corrected) and the whole 95% CI of its ratio lies above 1 + threshold, or when a point of BASE is missing
from CAND (unless --allow-missing); else exit 0. Ambiguous points never fail; they are listed with advice
to re-run with more samples. Results from different GPUs, backends or timing methods are refused with
exit 2 unless --cross, which compares and reports but never gates.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.compare import parse_fraction
from bench.cli.console import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="BASE", help="baseline results file or folder")
    parser.add_argument("cand", metavar="CAND", help="candidate results file or folder")
    parser.add_argument("--threshold", default="5%", help="slowdown that matters, e.g. 5%% or 0.05 (default 5%%)")
    parser.add_argument("--alpha", default="0.01", help="significance after BH correction (default 0.01)")
    parser.add_argument("--allow-missing", action="store_true", help="points of BASE absent from CAND do not fail")
    parser.add_argument("--cross", action="store_true", help="compare different GPUs/backends/timing; never gates")
    parser.add_argument("--markdown", metavar="PATH", type=Path, help="write the decision and comparison as markdown")


def run(args: argparse.Namespace) -> int:

    from bench.analysis.gate import gate
    from bench.analysis.render import gate_markdown, print_gate
    from bench.results import load

    threshold = parse_fraction(args.threshold, "--threshold")
    alpha = parse_fraction(args.alpha, "--alpha", allow_zero=False)
    result = gate(
        load(args.base),
        load(args.cand),
        threshold=threshold,
        alpha=alpha,
        allow_missing=args.allow_missing,
        cross=args.cross,
    )

    print_gate(result, console)
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(gate_markdown(result))
        console.print(f"markdown: {args.markdown}")
    return result.exit_code
