"""Noise profiles: how much each kind of point moves from run to run on one machine.

  python -m bench noise build RESULTS... --out FILE.noise.json   a profile from repeated runs of one machine
  python -m bench noise default SOURCES... --out MODULE          the default profile (bench/analysis/noise_default.py)
  python -m bench noise show FILE.noise.json                     a profile's classes as a markdown table

See bench/analysis/noise.py (what a profile holds) and noise_sources.py (where a comparison takes it from).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from bench.analysis.noise_sources import DEFAULT_FACTOR

    sub = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    one = sub.add_parser("build", help="a profile from repeated runs of one machine")
    one.add_argument("results", nargs="+", help="results files or folders: runs of one machine and commit")
    one.add_argument("--out", type=Path, required=True, help="the profile file to write (*.noise.json)")
    default = sub.add_parser("default", help="the default profile module from committed profiles and run sets")
    default.add_argument("sources", nargs="+", help="*.noise.json files, or results folders of one set of runs each")
    default.add_argument(
        "--out", type=Path, required=True, help="the module to write (bench/analysis/noise_default.py)"
    )
    default.add_argument("--factor", type=float, default=DEFAULT_FACTOR)
    show = sub.add_parser("show", help="a profile's classes as a markdown table")
    show.add_argument("profile", type=Path, help="a *.noise.json file")


def run(args: argparse.Namespace) -> int:
    from bench.analysis import noise, noise_sources
    from bench.errors import UserError

    if args.action == "show":
        print(noise_sources.table(noise_sources.read(args.profile)))
        return 0
    if args.action == "build":
        from bench.results import load

        built = noise_sources.build([load(args.results)], ", ".join(args.results))
        if built is None:
            raise UserError("no point has two runs in these results; a profile needs repeated runs")
        print(noise.write(built, args.out, f"--out {args.out}"))
        return 0
    command = "python -m bench noise default " + " ".join(args.sources) + f" --out {args.out}"
    print(noise_sources.write_default(args.sources, args.factor, args.out, command))
    return 0
