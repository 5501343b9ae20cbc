"""What the kernel's tuner chose, against what it could have chosen: a report recipe.

  python reports/tuning/recipes/tuning_report.py --scan SCAN.jsonl --runs RUN.parquet [RUN.parquet ...]

For every cuda point of the runs: the launch each run ran (`kernel_config`), and from the scan (`bench
tuning scan`: every candidate timed on that point, same GPU model, same timing) that launch's median
against the fastest candidate's. Prints:
- per pair of runs: on how many points they ran the same launch, and where not, both launches and
  their scan medians (how much the choice costs);
- per run: the chosen launch's excess over the best candidate, its distribution, and every point over
  1% with both launches.
"""

from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from bench.gpu.launch_sets import config_of_row
from bench.results import load
from bench.what_ran import launch_label


def _scan(path: Path) -> dict[str, dict]:
    out = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        out[row["point_key"]] = row
    return out


def _median_of(scan_row: dict, config: dict) -> float | None:
    for cand in scan_row["candidates"]:
        if cand["effective"] == config and cand["median_us"] is not None:
            return float(cand["median_us"])
    return None


def _store_points(tarball: Path) -> dict[str, dict[str, dict]]:
    """side -> point key -> point record, from packed tuning stores laid out as
    .../SIDE/GPU/DRIVER/GENERATOR/TIMING/points/KEY.json (as `scripts/device/tuning_ab.sh` packs them)."""
    import tarfile

    out: dict[str, dict[str, dict]] = {}
    with tarfile.open(tarball) as tar:
        for member in tar.getmembers():
            if member.isfile() and "/points/" in member.name and member.name.endswith(".json"):
                record = json.load(tar.extractfile(member))  # type: ignore[arg-type]
                parts = member.name.split("/")
                out.setdefault(parts[parts.index("points") - 5], {})[record["point_key"]] = record
    return out


def same_launch_twice(tarball: Path) -> None:
    """The same launch on the same point as two fresh stores timed it while tuning: how far apart."""
    sides = _store_points(tarball)
    (a, pa), (b, pb) = sorted(sides.items())
    gaps = []
    for key in sorted(set(pa) & set(pb)):
        ma = {c["label"]: c["median_us"] for c in pa[key]["candidates"] if c["median_us"]}
        mb = {c["label"]: c["median_us"] for c in pb[key]["candidates"] if c["median_us"]}
        gaps += [(np.log(ma[x] / mb[x]), pa[key]["tuned_on"]["label"], x, ma[x], mb[x]) for x in set(ma) & set(mb)]
    d = np.array([g[0] for g in gaps])
    print(f"{tarball.name}: {len(d)} (point, launch) pairs timed by both stores ({a}, {b}): |log ratio| median "
          f"{np.median(abs(d)):.2%}, 95th percentile {np.quantile(abs(d), 0.95):.2%}, max {abs(d).max():.2%}")  # fmt: skip
    for g in sorted(gaps, key=lambda g: -abs(g[0]))[:3]:
        print(f"  - {g[1]} {g[2]}: {g[3]:.3f} us vs {g[4]:.3f} us")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scan", type=Path, required=True)
    ap.add_argument("--runs", nargs="+", required=True)
    ap.add_argument("--brief", action="store_true", help="summary lines only, no per-point lists")
    ap.add_argument("--stores", type=Path, help="a packed pair of tuning stores: the same launch timed twice")
    args = ap.parse_args(argv)
    if args.stores:
        same_launch_twice(args.stores)
    scan = _scan(args.scan)
    rows = load(args.runs)
    cuda = rows[(rows["backend"] == "cuda") & (rows["status"] == "ok")]
    ran: dict[str, dict[str, dict]] = {}  # run -> point -> effective config
    labels: dict[str, str] = {}
    for rec in cuda.to_dict("records"):
        ran.setdefault(rec["run_id"], {})[rec["point_key"]] = config_of_row(rec["kernel_config"]).as_dict()
        labels[rec["point_key"]] = f"{rec['mode']} {rec['precision']} {rec['shape']} axis={rec['channel_axis']}"
    runs = sorted(ran)
    print(f"scan {args.scan.name}: {len(scan)} points; runs: {', '.join(runs)}\n")
    print("Same launch in two runs:\n")
    for a, b in itertools.combinations(runs, 2):
        common = sorted(set(ran[a]) & set(ran[b]))
        differ = [k for k in common if ran[a][k] != ran[b][k]]
        lines, gaps = [], []
        for k in differ:
            ma, mb = (_median_of(scan[k], ran[r][k]) if k in scan else None for r in (a, b))
            if ma and mb:
                gaps.append(abs(ma / mb - 1))
            gap = f"{abs(ma / mb - 1):.2%}" if ma and mb else "not in the scan"
            lines.append(f"  - {labels[k]}: {launch_label(ran[a][k])} ({ma:.3f} us) vs {launch_label(ran[b][k])} "
                         f"({mb:.3f} us): {gap}")  # fmt: skip
        where = (f"; where they differ, the scan times the two launches {np.median(gaps):.2%} apart (median), "
                 f"at most {max(gaps):.2%}, over 1% on {sum(g > 0.01 for g in gaps)}") if gaps else ""  # fmt: skip
        print(f"- {a} vs {b}: same launch on {len(common) - len(differ)} of {len(common)} points "
              f"({(len(common) - len(differ)) / max(1, len(common)):.1%}){where}")  # fmt: skip
        if not args.brief:
            print("\n".join(lines))
    print("\nThe chosen launch against the best candidate (scan medians):\n")
    for r in runs:
        excess, over = [], []
        for k, config in sorted(ran[r].items()):
            if k not in scan:
                continue
            chosen = _median_of(scan[k], config)
            timed = [c for c in scan[k]["candidates"] if c["median_us"] is not None]
            best = min(timed, key=lambda c: c["median_us"])
            if chosen is None:
                over.append(f"  - {labels[k]}: ran {launch_label(config)}, which the scan did not time")
                continue
            x = chosen / best["median_us"] - 1
            excess.append(x)
            if x > 0.01:
                over.append(f"  - {labels[k]}: {launch_label(config)} {chosen:.3f} us vs best "
                            f"{launch_label(best['effective'])} {best['median_us']:.3f} us (+{x:.2%})")  # fmt: skip
        e = np.asarray(excess)
        print(f"- {r}: {len(e)} points; excess over the best: median {np.median(e):.3%}, 90th percentile "
              f"{np.quantile(e, 0.9):.3%}, max {e.max():.3%}; over 1%: {int((e > 0.01).sum())}")  # fmt: skip
        if over:
            print("\n".join(over))
    return 0


if __name__ == "__main__":
    sys.exit(main())
