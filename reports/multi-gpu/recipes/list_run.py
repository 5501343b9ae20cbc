"""A run's rows in the order they ran: backend, point, status, where a failure came from, attempts, the
worker (process) that ran it, and the error. `python reports/multi-gpu/recipes/list_run.py RUN.parquet`"""

from __future__ import annotations

import sys

from bench.results import load


def main(path: str) -> int:
    df = load(path).sort_values("started_at")
    for r in df.itertuples():
        origin = r.error_origin if isinstance(r.error_origin, str) else "-"
        print(f"{r.backend:21} {r.shape:13} {r.mode:8} {r.precision:5} {r.status:7} origin={origin:8} "
              f"attempts={int(r.attempts)} worker={r.worker}" + (f"\n    {r.error}" if isinstance(r.error, str) else ""))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
