"""How many cuda points ran different kernel launches in different runs of a results folder (a re-tuned
kernel): `python reports/gate/recipes/launch_differences.py RESULTS...`. Launch = the row's `kernel_config` without
how it was chosen (`source`)."""

from __future__ import annotations

import sys

from bench.results import load


def main(paths: list[str]) -> int:
    df = load(paths)
    cuda = df[(df["backend"] == "cuda") & (df["status"] == "ok")]
    launch = [str(sorted((k, v) for k, v in (c or {}).items() if k != "source")) for c in cuda["kernel_config"]]
    per_point = cuda.assign(launch=launch).groupby("point_key")["launch"].nunique()
    runs = cuda["run_id"].nunique()
    print(
        f"{int((per_point > 1).sum())} of {len(per_point)} cuda points ran more than one launch configuration over {runs} runs"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
