"""What the kernel's tuner chose, against what it could have chosen: a report recipe.

  python scripts/tuning_report.py --scan SCAN.jsonl --runs RUN.parquet [RUN.parquet ...]

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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scan", type=Path, required=True)
    ap.add_argument("--runs", nargs="+", required=True)
    args = ap.parse_args(argv)
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
    print("## Same launch in two runs\n")
    for a, b in itertools.combinations(runs, 2):
        common = sorted(set(ran[a]) & set(ran[b]))
        differ = [k for k in common if ran[a][k] != ran[b][k]]
        print(f"- {a} vs {b}: same launch on {len(common) - len(differ)} of {len(common)} points "
              f"({(len(common) - len(differ)) / max(1, len(common)):.1%})")  # fmt: skip
        for k in differ:
            ma, mb = (_median_of(scan[k], ran[r][k]) if k in scan else None for r in (a, b))
            gap = f"{abs(ma / mb - 1):.2%}" if ma and mb else "not in the scan"
            print(f"  - {labels[k]}: {launch_label(ran[a][k])} ({ma} us) vs {launch_label(ran[b][k])} ({mb} us): {gap}")
    print("\n## The chosen launch against the best candidate (scan medians)\n")
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
        print("\n".join(over))
    return 0


if __name__ == "__main__":
    sys.exit(main())
