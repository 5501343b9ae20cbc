"""Do points timed side by side on several GPUs of one host time as they do alone?

    python scripts/interference.py ALONE_RUN MULTI_RUN [--floor-us 50]

ALONE_RUN: the sweep on one GPU (e.g. `--gpus 0`); MULTI_RUN: the same sweep on all GPUs (`--gpus all`),
same commit, same host. Per point, the ratio of medians multi / alone; printed: the median |ratio - 1|
over points whose median is at least the floor in both runs (the issue's bar: at most 1%), over all
points, and split by the GPU that ran the point in the multi-GPU run (the alone run's GPU compared with
itself isolates interference; another GPU adds the card-to-card difference).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from proof_figures import repeatability  # scripts/, first on the path of `python scripts/interference.py`

from bench.results import load


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("alone", type=Path)
    ap.add_argument("multi", type=Path)
    ap.add_argument("--floor-us", type=float, default=50.0)
    args = ap.parse_args()
    alone, multi = load(args.alone), load(args.multi)
    gpu_alone = sorted(alone["gpu_index"].dropna().astype(int).unique().tolist())
    med, n, p90 = repeatability(alone, multi, args.floor_us)
    print(f"alone on GPU {gpu_alone}, multi on GPU {sorted(multi['gpu_index'].dropna().astype(int).unique().tolist())}")
    print(f"all points: median |multi/alone - 1| over {n} points with median >= {args.floor_us:g} us: {med:.3%} "
          f"(90th percentile {p90:.3%}); bar: <= 1%: {'met' if n and med <= 0.01 else 'NOT met'}")  # fmt: skip
    for gpu, part in multi.groupby("gpu_index"):
        med, n, p90 = repeatability(alone, part, args.floor_us)
        print(f"points the multi-GPU run timed on GPU {int(gpu)}: median |ratio - 1| over {n} points: {med:.3%} "
              f"(90th percentile {p90:.3%})")  # fmt: skip


if __name__ == "__main__":
    main()
