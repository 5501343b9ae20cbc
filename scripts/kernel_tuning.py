"""Show or export the `cuda` kernel's tuning records (bench/gpu/tuning.py), e.g. to commit them.

The `cuda` backend tunes itself on first use of each tuning class on a GPU and stores one JSON record
per decision under <cache-dir>/kernel-tuning/. This script reads them back:

  PYTHONPATH=. python3 scripts/kernel_tuning.py show [--cache-dir .cache/bench] [--gpu H200]
  PYTHONPATH=. python3 scripts/kernel_tuning.py export --out reports/kernel-tuning/h200-records.json [--gpu H200]

`show` prints one line per decision (the class, the winner and its median, the default's median, how
many candidates); `export` writes every record, candidate tables included, into one JSON list.
To tune again, delete the GPU's folder under <cache-dir>/kernel-tuning/ (or run with another --cache-dir).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from bench.gpu import tuning


def _records(cache_dir: Path, gpu: str | None) -> list[tuple[Path, tuning.TuningRecord]]:
    found = tuning.all_records(cache_dir)
    return [(p, r) for p, r in found if gpu is None or gpu.lower() in str(r.gpu.get("name", "")).lower()]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("command", choices=("show", "export"))
    ap.add_argument("--cache-dir", type=Path, default=Path(".cache/bench"))
    ap.add_argument("--gpu", help="only records of GPUs whose name contains this")
    ap.add_argument("--out", type=Path, help="export: the JSON file to write")
    args = ap.parse_args(argv)
    records = _records(args.cache_dir, args.gpu)
    if not records:
        print(f"no tuning records under {args.cache_dir / 'kernel-tuning'}", file=sys.stderr)
        return 1
    if args.command == "show":
        for _, record in records:
            print(tuning.describe(record, "cached"))
        return 0
    if args.out is None:
        ap.error("export needs --out FILE")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([json.loads(r.to_json()) for _, r in records], indent=1) + "\n")
    print(f"{len(records)} records -> {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
