"""Wall time of the default sweep on one GPU and on every GPU of a host, from the device's own clock.

    python reports/multi-gpu/recipes/multi_gpu_walls.py WALLS.tsv RESULTS...

WALLS.tsv is what scripts/device_cluster.sh wrote as each command ran (name, exit code, start and end
in seconds since the epoch); RESULTS are the runs those commands wrote. Per run: the whole command's
wall time (cluster start-up and the results file included), the span from its first point's start to
its last point's end, the points' own summed time and the GPUs that ran them; then the speed-up of
every all-GPU run over the one-GPU run (`gpu0`), by the command and by the span.
"""

from __future__ import annotations

import sys

from bench.results import load


def main(argv: list[str]) -> int:
    walls_path, *paths = argv
    walls = {}
    with open(walls_path) as fh:
        lines = fh.read().splitlines()
    for line in lines:
        name, rc, t0, t1 = line.split("\t")
        walls[name] = (int(rc), float(t0), float(t1))
    df = load(paths)
    rows = []
    for run_id, g in df.groupby("run_id"):
        start, end = g["started_at"].min().timestamp(), g["timestamp"].max().timestamp()
        name = next((n for n, (_, t0, t1) in walls.items() if t0 <= start and end <= t1), None)
        if name is None:
            continue
        own = sum(sum(v or 0.0 for v in (p or {}).values()) for p in g["phase_s"])
        gpus = sorted(g["gpu_index"].dropna().astype(int).unique().tolist())
        rows.append((name, run_id, walls[name][2] - walls[name][1], end - start, own, gpus, len(g)))
    print("| run | run id | GPUs | points | command wall s | first start to last end s | points' own s |")
    print("|---|---|---|---:|---:|---:|---:|")
    for name, run_id, wall, span, own, gpus, n in sorted(rows, key=lambda r: walls[r[0]][1]):
        print(f"| {name} | {run_id} | {gpus} | {n} | {wall:.1f} | {span:.1f} | {own:.1f} |")
    by = {r[0]: r for r in rows}
    if "gpu0" in by:
        print()
        for name in sorted(n for n in by if n.startswith("all")):
            one, many = by["gpu0"], by[name]
            print(f"- {name} against gpu0: {one[2] / many[2]:.2f}x by the command's wall time "
                  f"({one[2]:.1f} s -> {many[2]:.1f} s), {one[3] / many[3]:.2f}x from first start to last end "
                  f"({one[3]:.1f} s -> {many[3]:.1f} s); the points' own time grew {many[4] / one[4] - 1:+.1%} "
                  f"({one[4]:.1f} s -> {many[4]:.1f} s)")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
