"""Compare two result sets point by point: ratio of medians with a 95% CI from the run-to-run noise, and a
verdict (faster, slower, same, ambiguous) per point, never pooling unlike timings.

Each side is one or more runs: BASE and CAND are results files or folders (a folder of several runs
is several runs), or repeat --base PATH and --cand PATH. A side's runs must be repeats of one thing (one
GPU, driver, version, commit); the comparison combines them and says so. With --by COLUMN (e.g.
gpu_name, backend_version, git_commit) all inputs are loaded together and split into two sides by that
column, the side with the earliest timestamp as base. Output: the summary first, then a compact table
per comparable group (timing method, L2 state, backend) with the largest changes both ways;
--markdown PATH writes every point; --format md|csv|json prints the whole comparison for a machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from bench.cli.common import side_column
from bench.cli.console import console
from bench.errors import UserError

FORMATS = ("md", "csv", "json")
WIDTH = 100  # compare and gate print within 100 columns


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


def add_side_arguments(parser: argparse.ArgumentParser, positional_help: str) -> None:
    parser.add_argument("paths", metavar="PATH", nargs="*", help=positional_help)
    parser.add_argument(
        "--base", metavar="PATH", action="append", default=[], help="a base results file or folder (repeatable)"
    )
    parser.add_argument(
        "--cand", metavar="PATH", action="append", default=[], help="a candidate results file or folder (repeatable)"
    )


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.analysis.compare import DEFAULT_ALPHA, DEFAULT_THRESHOLD

    parser.add_argument(
        "--threshold",
        default=f"{DEFAULT_THRESHOLD:.0%}",
        help="the change that matters, e.g. 3%% or 0.03: slower means the data show a ratio above 1 + it "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--alpha",
        default=f"{DEFAULT_ALPHA:g}",
        help="error rate, Benjamini-Hochberg over the points (default %(default)s)",
    )
    parser.add_argument(
        "--markdown", metavar="PATH", type=Path, help="also write every point as markdown (checked before any work)"
    )
    parser.add_argument(
        "--format",
        choices=FORMATS,
        help="print the whole result as md, csv (the per-point table) or json instead of tables",
    )
    parser.add_argument(
        "--rows", type=int, default=20, metavar="N", help="rows per comparable group on the terminal (default 20)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_side_arguments(
        parser, "BASE CAND (one each), or CAND... with --base, or BASE... with --cand, or anything with --by"
    )
    parser.add_argument(
        "--by",
        metavar="COLUMN",
        type=side_column,
        help="load every input together and split it into two sides by this column",
    )
    add_output_arguments(parser)


def resolve_sides(args: argparse.Namespace, base_extra: list[str] | None = None) -> tuple[list[str], list[str]]:
    """(base paths, cand paths) from positionals, --base/--cand and paths a baseline manifest named."""
    base = [*(base_extra or []), *args.base]
    cand = list(args.cand)
    if base:
        cand = [*args.paths, *cand]
    elif cand:
        base = list(args.paths)
    elif len(args.paths) == 2:
        base, cand = [args.paths[0]], [args.paths[1]]
    else:
        raise UserError(
            f"give BASE and CAND (got {len(args.paths)} path(s)): `BASE CAND`, or `--base PATH... --cand PATH...`, "
            "or `--baseline NAME CAND...` (gate), or one or more paths with --by COLUMN (compare)"
        )
    if not base or not cand:
        raise UserError(
            f"no {'base' if not base else 'candidate'} results given: name at least one file or folder per side"
        )
    return base, cand


def check_writable(path: Path | None, flag: str = "--markdown") -> None:
    """Refuse an unwritable output path before any work or verdict is printed."""
    if path is None:
        return
    if path.is_dir():
        raise UserError(f"{flag} {path}: is a folder; name a file, e.g. {path / 'comparison.md'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot create its folder ({exc.strerror or exc})") from None
    existed = path.exists()
    try:
        with open(path, "a"):
            pass
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None
    if not existed:
        os.unlink(path)


def write_text(path: Path, text: str, flag: str = "--markdown") -> None:
    try:
        path.write_text(text)
    except OSError as exc:
        raise UserError(f"{flag} {path}: cannot write there ({exc.strerror or exc})") from None


def emit(text: str) -> None:
    """Machine output (--format) on stdout, unwrapped and unstyled."""
    sys.stdout.write(text)
    sys.stdout.flush()


def load_sides(args: argparse.Namespace):  # -> tuple[DataFrame, DataFrame, str, str]
    """(base, cand, base_label, cand_label) from the side arguments or from --by."""
    from bench.analysis.compare import side_labels, split_by
    from bench.results import load

    if getattr(args, "by", None):
        paths = [*args.paths, *args.base, *args.cand]
        if not paths:
            raise UserError("--by: name the results files or folders to split")
        df = load(paths)
        base, cand = split_by(df, args.by)
        return (base, cand, *side_labels(df, args.by))
    base, cand = resolve_sides(args)
    return load(base), load(cand), side_label(base), side_label(cand)


def side_label(paths: list[str]) -> str:
    """A short name for a side: its one file's or folder's name, else the first with a count."""
    name = Path(paths[0]).stem or str(paths[0])
    return name if len(paths) == 1 else f"{name} +{len(paths) - 1}"


def run(args: argparse.Namespace) -> int:
    from bench.analysis.compare import compare
    from bench.analysis.render import comparison_markdown, comparison_renderable, comparison_text

    threshold = parse_fraction(args.threshold, "--threshold")
    alpha = parse_fraction(args.alpha, "--alpha", allow_zero=False)
    check_writable(args.markdown)
    base, cand, base_label, cand_label = load_sides(args)
    comp = compare(
        base, cand, threshold=threshold, alpha=alpha, by=args.by, base_label=base_label, cand_label=cand_label
    )
    if args.markdown:
        write_text(args.markdown, comparison_markdown(comp))
    if args.format:
        emit(comparison_text(comp, args.format))
        return 0
    console.print(comparison_renderable(comp, max(args.rows, 2)), width=min(console.width, WIDTH))
    if args.markdown:
        console.print(f"markdown: {args.markdown}", markup=False, highlight=False)
    return 0
