"""Compare two result sets point by point: ratio of medians with a bootstrap 95% CI, Mann-Whitney p,
and a verdict (faster, slower, same, ambiguous).

BASE and CAND are parquet files or folders of them. With --by COLUMN (e.g. gpu_name, backend_version,
git_commit) all inputs are loaded together and split into two sides by that column, the side with the
earliest timestamp as base; CAND may then be omitted.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.cli.console import console
from bench.errors import UserError


def parse_fraction(text: str | float, flag: str, *, allow_zero: bool = True) -> float:
    """'5%' or '0.05' -> 0.05; anything else is a UserError naming the flag and the allowed form."""
    raw = str(text).strip()
    try:
        value = float(raw[:-1]) / 100.0 if raw.endswith("%") else float(raw)
    except ValueError:
        raise UserError(f"{flag} {text!r}: write a percentage like 5% or a fraction like 0.05") from None
    low_ok = value >= 0 if allow_zero else value > 0
    if not (low_ok and value < 1):
        bound = "0 <= value < 1" if allow_zero else "0 < value < 1"
        raise UserError(f"{flag} {text!r}: must be {bound} (e.g. 5% or 0.05), got {value:g}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("base", metavar="BASE", help="results file or folder (the reference side)")
    parser.add_argument("cand", metavar="CAND", nargs="?", help="results file or folder (omit with --by)")
    parser.add_argument("--by", metavar="COLUMN", help="split the inputs into two sides by this column")
    parser.add_argument("--markdown", metavar="PATH", type=Path, help="also write the full comparison as markdown")
    parser.add_argument("--threshold", default="5%", help="band of 'same' around 1, e.g. 5%% or 0.05 (default 5%%)")
    parser.add_argument("--alpha", default="0.01", help="significance after BH correction (default 0.01)")


def load_sides(args: argparse.Namespace):  # -> tuple[DataFrame, DataFrame, str, str]
    """(base, cand, base_label, cand_label) from BASE/CAND or from --by."""
    from bench.analysis.compare import side_labels, split_by
    from bench.results import load

    paths = [p for p in (args.base, args.cand) if p]
    if getattr(args, "by", None):
        df = load(paths)
        base, cand = split_by(df, args.by)
        return (base, cand, *side_labels(df, args.by))
    if not args.cand:
        raise UserError("compare needs BASE and CAND, or one input with --by COLUMN to split it")
    return load(args.base), load(args.cand), Path(args.base).stem, Path(args.cand).stem


def run(args: argparse.Namespace) -> int:

    from bench.analysis.compare import compare
    from bench.analysis.render import comparison_markdown, comparison_table

    threshold = parse_fraction(args.threshold, "--threshold")
    alpha = parse_fraction(args.alpha, "--alpha", allow_zero=False)
    base, cand, base_label, cand_label = load_sides(args)
    comp = compare(
        base, cand, threshold=threshold, alpha=alpha, by=args.by, base_label=base_label, cand_label=cand_label
    )
    console.print(comparison_table(comp))
    if args.markdown:
        args.markdown.parent.mkdir(parents=True, exist_ok=True)
        args.markdown.write_text(comparison_markdown(comp))
        console.print(f"markdown: {args.markdown}")
    return 0
