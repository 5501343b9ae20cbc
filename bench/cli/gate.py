"""Regression gate: exit 1 when a point of CAND is slower than BASE beyond the threshold (shown by the
data: a one-sided test on the runs' medians, Benjamini-Hochberg over the points), or cannot be judged
(no, too few, NaN/inf or non-positive samples; failed, mismatch or skipped; absent unless
--allow-missing), or when nothing could be judged; exit 0 otherwise. Exit 2 refuses: an unusable
baseline, different GPUs (unless --cross, which compares but never gates), no comparable group in
common, or a machine that drifted beyond the threshold (the memcpy yardstick).

Sides: `gate BASE CAND` (a file or folder each; a folder of several runs is several runs), or
`gate --base PATH... --cand PATH...` (repeat the flags), or `gate --baseline NAME CAND...` with a
committed baseline manifest results/_baselines/NAME.json (e.g. nvidia-h100-80gb-hbm3) naming runs in
results/. Several runs per side let the gate see each point's run-to-run noise; with one run a side
it falls back to the scatter across points, with heavier tails, and says so; `--noise-from PATH` (earlier
runs of the base's machine) then gives each point its own run-to-run noise. memcpy points measure the
machine and are not gated unless --gate-yardstick.
"""

from __future__ import annotations

import argparse

from bench.cli.compare import (
    WIDTH,
    add_output_arguments,
    add_side_arguments,
    check_writable,
    emit,
    parse_fraction,
    resolve_sides,
    side_label,
    write_text,
)
from bench.cli.console import console


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_side_arguments(parser, "BASE CAND (one each), or CAND... with --base or --baseline, or BASE... with --cand")
    parser.add_argument(
        "--baseline", metavar="NAME|FILE", help="base = the runs a manifest in results/_baselines/ names"
    )
    parser.add_argument("--allow-missing", action="store_true", help="points of BASE absent from CAND do not fail")
    parser.add_argument("--cross", action="store_true", help="compare different GPUs; reports, never gates (exit 0)")
    parser.add_argument("--gate-yardstick", action="store_true", help="gate the memcpy points too (no drift control)")
    parser.add_argument(
        "--noise-from",
        metavar="PATH",
        action="append",
        default=[],
        help="earlier runs of the base's machine (files or folders, repeatable), used only to learn each "
        "point's run-to-run noise: the fallback for a baseline of one run",
    )
    add_output_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from bench.analysis import baseline
    from bench.analysis.gate import gate
    from bench.analysis.render import gate_markdown, gate_renderable, gate_text
    from bench.results import load

    threshold = parse_fraction(args.threshold, "--threshold")
    alpha = parse_fraction(args.alpha, "--alpha", allow_zero=False)
    check_writable(args.markdown)
    manifest = [str(f) for f in baseline.run_files(baseline.manifest_path(args.baseline))] if args.baseline else []
    base_paths, cand_paths = resolve_sides(args, manifest)
    base, cand = load(base_paths), load(cand_paths)
    history = load(args.noise_from) if args.noise_from else None
    result = gate(
        base,
        cand,
        threshold=threshold,
        alpha=alpha,
        allow_missing=args.allow_missing,
        cross=args.cross,
        gate_yardstick=args.gate_yardstick,
        history=history,
    )
    if result.comparison is not None:
        result.comparison.base_label = args.baseline or side_label(base_paths)
        result.comparison.cand_label = side_label(cand_paths)
    if args.markdown:
        write_text(args.markdown, gate_markdown(result))
    if args.format:
        emit(gate_text(result, args.format))
        return result.exit_code
    console.print(gate_renderable(result, max(args.rows, 2)), width=min(console.width, WIDTH))
    if args.markdown:
        console.print(f"markdown: {args.markdown}", markup=False, highlight=False)
    return result.exit_code
