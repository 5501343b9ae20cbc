"""Compare result sets point by point: each side's time with its CI, the ratio to the first side with a
verdict (slower, faster, same, undecided, ambiguous), the tail (p90), % of the copy and what ran, never
pooling unlike timings.

Sides: `compare A B [C ...]` (each a results file or folder; a folder of several runs is several runs;
every later side is compared with the first), or repeat --base PATH and --cand PATH. A side's runs must be
repeats of one thing (one GPU, driver, version, commit); the comparison combines them and says so. With
--by COLUMN (e.g. gpu_name, gpu_index, backend_version, git_commit) all inputs are loaded together and
split by that column, the side with the earliest timestamp first. Each point's run-to-run noise comes from
the noise profile of the machine it ran on (results/_baselines/<gpu>.noise.json, --noise-from, the
sides' own repeated runs, else a conservative default), never from the spread of the ratios, so one run
per GPU gives verdicts. Output: the decision rule and summary first, then a compact table per comparable
group with the largest changes both ways; --markdown PATH writes every point; --format md|csv|json
prints the whole comparison for a machine.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bench.cli.common import side_column
from bench.cli.console import console
from bench.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

FORMATS = ("md", "csv", "json")
WIDTH = 100  # compare and gate print within 100 columns
PROFILES = Path("results/_baselines")  # committed noise profiles, found by GPU name


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


def add_noise_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--noise-from",
        metavar="PATH",
        action="append",
        default=[],
        help="a noise profile (*.noise.json) or earlier runs of a side's machine (files or folders, repeatable): "
        "each point's run-to-run noise, nothing else",
    )
    parser.add_argument(
        "--profiles",
        metavar="DIR",
        type=Path,
        help="where committed noise profiles are found by GPU name (default: beside the --baseline manifest, "
        f"else {PROFILES})",
    )


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.analysis.rule import DEFAULT_ALPHA, DEFAULT_THRESHOLD

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
        parser,
        "A B [C ...] (each a side, compared with the first), or CAND... with --base, or BASE... with --cand, "
        "or anything with --by",
    )
    parser.add_argument(
        "--by",
        metavar="COLUMN",
        type=side_column,
        help="load every input together and split it into sides by this column",
    )
    add_noise_arguments(parser)
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


def load_sides(args: argparse.Namespace) -> list[tuple[str, pd.DataFrame]]:
    """[(label, rows), ...]: the sides in order, the first the base, from the arguments or from --by."""
    from bench.analysis.sides import sides
    from bench.results import load

    if getattr(args, "by", None):
        paths = [*args.paths, *args.base, *args.cand]
        if not paths:
            raise UserError("--by: name the results files or folders to split")
        parts = sides(load(paths), args.by)
        if len(parts) < 2:
            raise UserError(
                f"--by {args.by}: needs at least two distinct values to compare, found {len(parts)}: "
                f"{', '.join(map(repr, parts)) or 'none'}; filter the inputs or choose another column"
            )
        return list(parts.items())
    if not args.base and not args.cand and len(args.paths) >= 2:
        return [(side_label([p]), load([p])) for p in args.paths]
    base, cand = resolve_sides(args)
    return [(side_label(base), load(base)), (side_label(cand), load(cand))]


def side_label(paths: list[str]) -> str:
    """A short name for a side: its one file's or folder's name, else the first with a count."""
    name = Path(paths[0]).stem or str(paths[0])
    return name if len(paths) == 1 else f"{name} +{len(paths) - 1}"


def noise_sources(args: argparse.Namespace, exclude_runs: set[str] | None = None):
    from bench.analysis import noise_sources

    folder = Path(args.profiles or PROFILES)
    if args.profiles is not None and not folder.is_dir():
        raise UserError(f"--profiles {folder}: no such folder; name the folder holding <gpu>.noise.json files")
    return noise_sources.Sources(
        folder if folder.is_dir() else None,
        noise_sources.from_paths(args.noise_from, exclude_runs) if args.noise_from else [],
    )


def run(args: argparse.Namespace) -> int:
    from bench.analysis.compare import compare
    from bench.analysis.rule import DecisionRule
    from bench.report.render import comparison_markdown, comparison_renderable, sides_markdown

    decision = DecisionRule(
        parse_fraction(args.threshold, "--threshold"), parse_fraction(args.alpha, "--alpha", allow_zero=False)
    )
    check_writable(args.markdown)
    parts = load_sides(args)
    sources = noise_sources(args)
    (first_label, first), rest = parts[0], parts[1:]
    comps = [
        compare(first, rows, decision=decision, by=args.by, base_label=first_label, cand_label=label, sources=sources)
        for label, rows in rest
    ]
    if args.markdown:
        write_text(args.markdown, comparison_markdown(comps[0]) if len(comps) == 1 else sides_markdown(comps))
    if args.format:
        emit(_machine_text(comps, args.format))
        return 0
    for comp in comps:
        console.print(comparison_renderable(comp, max(args.rows, 2)), width=min(console.width, WIDTH))
    if args.markdown:
        console.print(f"markdown: {args.markdown}", markup=False, highlight=False)
    return 0


def _machine_text(comps: list, fmt: str) -> str:
    from bench.report.render import comparison_dict, comparison_text, sides_frame, sides_markdown, strict_json

    if len(comps) == 1:
        return comparison_text(comps[0], fmt)
    if fmt == "md":
        return sides_markdown(comps)
    if fmt == "csv":
        return sides_frame(comps).to_csv(index=False)
    return strict_json({"comparisons": [comparison_dict(c) for c in comps]})
