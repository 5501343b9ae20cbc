"""Commit a baseline for a GPU: a manifest naming runs in results/, and the noise profile beside it.

  python -m bench baseline make NAME RESULTS... [--note TEXT]   results/_baselines/NAME.json and NAME.noise.json
  python -m bench baseline profile NAME                         rebuild NAME.noise.json from the manifest's runs

`nox -s baseline` runs the sweep and calls this; see bench/analysis/baseline.py for what a manifest is.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.analysis.baseline import DEFAULT_RESULTS


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    make = sub.add_parser("make", help="the manifest naming these runs, and its noise profile")
    make.add_argument("name", help="manifest name: the GPU's slug, e.g. nvidia-h100-80gb-hbm3, or its name")
    make.add_argument("paths", nargs="+", help="results files or folders under results/ holding the baseline runs")
    make.add_argument("--note", default="", help="why these runs (commit, machine, date)")
    make.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="the results folder (default: results)")
    profile = sub.add_parser("profile", help="rebuild NAME.noise.json from the runs the manifest names")
    profile.add_argument("name", help="manifest name or path")
    profile.add_argument("--results", type=Path, default=DEFAULT_RESULTS, help="the results folder (default: results)")


def run(args: argparse.Namespace) -> int:
    from bench.analysis import baseline

    if args.action == "profile":
        print(baseline.write_profile(baseline.manifest_path(args.name, args.results)))
        return 0
    out = baseline.write(args.name, args.paths, args.note, args.results)
    print(out)
    print(out.parent / f"{out.stem}.noise.json")
    return 0
