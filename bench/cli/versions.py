"""Compare TensorRT versions: the same sweep in one environment per SPEC, one report.

Each SPEC is a pip requirement (tensorrt-cu12==10.16.1.11, tensorrt-rtx-cu13==1.4.0.76) or a wheel file.
Each gets a cached environment under --envs (made once, reused after) that differs from the others in
the SPEC alone; the sweep runs --builds times in each (timing cache off, every engine built afresh),
timed where its engines can run here and built only where they cannot; all runs go into one folder with
a manifest, and one markdown report compares every version with the first: per point, build time with
its spread, engine size, the layers and tactics each version chose, and run times with verdicts where
the engines ran. A SPEC that does not install, or installs no TensorRT flavour the harness knows, is
refused with one line before any run.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import UserError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("specs", metavar="SPEC", nargs="*",
                        help="a requirement (tensorrt-cu12==10.16.1.11) or a wheel path; the first is the base")  # fmt: skip
    parser.add_argument("--sweep", default="default", metavar="NAME|PATH",
                        help="the sweep whose points every version builds (its backend axis is replaced by each "
                             "version's flavour; default: %(default)s)")  # fmt: skip
    parser.add_argument("--builds", type=int, default=3, metavar="N",
                        help="runs of the sweep per version, each building every engine afresh (>= 2: build-time "
                             "noise needs repeats; default %(default)s)")  # fmt: skip
    parser.add_argument("--out", metavar="DIR",
                        help="a new folder for every run and the manifest (default: results/versions/<UTC time>)")  # fmt: skip
    parser.add_argument("--report", metavar="PATH", type=Path,
                        help="also write the report here (it is always written to DIR/_versions.md)")  # fmt: skip
    parser.add_argument("--envs", default=".cache/bench/versions", metavar="DIR",
                        help="where environments are cached (default: %(default)s)")  # fmt: skip
    parser.add_argument("--build-only", action="store_true",
                        help="build without executing, even where a version's engines could run here")  # fmt: skip
    parser.add_argument("--report-from", metavar="DIR", type=Path,
                        help="write the report of an existing versions folder (its runs and _versions.json) again, "
                             "installing and running nothing")  # fmt: skip
    parser.add_argument("--build-threshold", default="10%",
                        help="a build-time change smaller than this is never called slower or faster (default %(default)s)")  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from bench.cli.compare import check_writable, parse_fraction
    from bench.sweepfile import load_sweep
    from bench.versions import session
    from bench.versions.spec import parse_all

    if args.report_from is not None:
        return rerender(args)
    if args.builds < 2:
        raise UserError(f"--builds {args.builds}: build-time noise needs at least 2 builds per version")
    threshold = parse_fraction(args.build_threshold, "--build-threshold")
    sweep_path = Path(args.sweep)
    sweep = load_sweep(args.sweep)  # a bad sweep stops here, before any install
    sweep_arg = str(sweep_path.resolve()) if sweep_path.suffix == ".toml" or sweep_path.exists() else args.sweep
    specs = parse_all(args.specs)
    out = Path(args.out or f"results/versions/{datetime.now(UTC):%Y%m%dT%H%M%SZ}")
    check_writable(args.report, "--report")
    session.check_out(out)
    command = "python -m bench versions " + shlex.join(sys.argv[2:] if sys.argv[1:2] == ["versions"] else args.specs)
    try:
        manifest = session.run(specs, sweep=sweep_arg, builds=args.builds, out=out, root=Path(args.envs),
                               force_build_only=args.build_only, command=command)  # fmt: skip
    except KeyboardInterrupt:
        done = out / session.MANIFEST
        tail = f"; the report of the runs that finished: --report-from {out}" if done.exists() else ""
        print(f"\ninterrupted: finished runs are kept in {out}{tail}")
        return 130
    del sweep
    _report(out, manifest, threshold, args.report)
    s = manifest["seconds"]
    print(f"took {s['environments']:.1f} s for environments ({s['installs']} installs), "
          f"{s['probe_and_selfcheck']:.1f} s to probe and selfcheck, {s['runs']:.1f} s for the runs")  # fmt: skip
    return 0


def rerender(args: argparse.Namespace) -> int:
    """The report of a finished (or interrupted) versions folder, from its manifest and runs alone."""
    from bench.cli.compare import check_writable, parse_fraction
    from bench.files import read_json
    from bench.versions import session

    if args.specs:
        raise UserError("--report-from reads the SPECs from the folder's _versions.json: give no SPEC with it")
    threshold = parse_fraction(args.build_threshold, "--build-threshold")
    check_writable(args.report, "--report")
    folder = args.report_from
    try:
        content = read_json(folder / session.MANIFEST)
    except ValueError as exc:
        raise UserError(f"--report-from {folder}: no readable {session.MANIFEST} there: it {exc}") from None
    manifest = session.check_manifest(content, f"--report-from {folder / session.MANIFEST}")
    if not all(v["runs"] for v in manifest["versions"]):
        raise UserError(f"--report-from {folder}: some version has no finished run yet; nothing to compare")
    _report(folder, manifest, threshold, args.report)
    return 0


def _report(folder: Path, manifest: dict, threshold: float, copy_to: Path | None) -> None:
    """The folder's report (its _versions.md), and a copy at --report where one was asked for."""
    from bench.files import save
    from bench.versions import report, session

    path = report.write(folder, manifest, folder / session.SUMMARY, threshold)
    print(f"report: {path}")
    if copy_to:
        save(copy_to, path.read_text(), f"--report {copy_to}")
        print(f"report: {copy_to}")
