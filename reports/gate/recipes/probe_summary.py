"""Tables of the L2 placement probe's output (`git show e6bcf38:scripts/l2_placement_probe.py`; removed since) (TSV, as committed under reports/gate/):
`python reports/gate/recipes/probe_summary.py FILE.tsv`.

For a file of several processes (lines `# prime MODE` start each): the first timing of each point in each
process, by priming mode and by what the process timed first (`--before`). For one process: each point's median µs by pass and padding blocks, and the
series of one prepared point timed again and again.
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path


def main(path: str) -> int:
    runs: list[tuple[str, list[list[str]]]] = []
    mode = "none"
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        line = line.rstrip("\n")
        if line.startswith("# prime "):
            mode = line.split()[-1]
            runs.append((mode, []))
        elif line.startswith("# before: ") and runs:  # "# before: 88 points of 1x3x3x3, 1x64x56x56"
            what = line.split(" of ", 1)[-1]
            runs[-1] = (f"{runs[-1][0]}; before: {what}", runs[-1][1])
        elif line and not line.startswith(("#", "pass", "kernel tuning")):
            if not runs:
                runs.append((mode, []))
            runs[-1][1].append(line.split("\t"))
    if len(runs) > 1:
        first: dict[tuple[str, str], list[str]] = defaultdict(list)
        for mode, rows in runs:
            seen = set()
            for _, _, point, us in rows:
                if point not in seen:
                    seen.add(point)
                    first[(point.split(":", 2)[2], mode)].append(us)
        print("| point | priming; points timed first | first timing in each process, µs |")
        print("|---|---|---|")
        for (point, mode), values in first.items():
            print(f"| {point} | {mode} | {', '.join(values)} |")
        return 0
    rows = runs[0][1]
    grid = [r for r in rows if r[0] != "series"]
    passes = sorted({r[0] for r in grid})
    pads = list(dict.fromkeys(r[1] for r in grid))
    print("| point | " + " | ".join(f"pass {p}, {n} pads" for p in passes for n in pads) + " |")
    print("|---|" + "---|" * (len(passes) * len(pads)))
    table: dict[str, dict[tuple[str, str], str]] = defaultdict(dict)
    for rep, n, point, us in grid:
        table[point.split(":", 2)[2]][(rep, n)] = us
    for point, cells in table.items():
        print(f"| {point} | " + " | ".join(cells.get((p, n), "") for p in passes for n in pads) + " |")
    series = [r[3] for r in rows if r[0] == "series"]
    if series:
        print()
        print(f"one prepared point timed {len(series)} times in a row, µs: {', '.join(series)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
