"""Is an L2-resident point's time a property of where its buffers land, or of when it is timed?

    PYTHONPATH=. python3 scripts/l2_placement_probe.py [--shape 8x128x56x56] [--precision fp32] [--pads 0,1,...]

On the H100, fp32 points of 8x128x56x56 (input and output 25.7 MB together, about half the L2) time
either ~5.2 us (from L2) or ~7.5 us (about the copy's rate from HBM), and which one differs from run to
run and with the harness's own allocations (reports/gate/README.md). For each count of padding blocks
(2 MiB each, allocated and held before the point's buffers, so the point's buffers land elsewhere), this
prepares the default sweep's cuda points of the shape and precision afresh (the kernel's tuning comes
from the cache) and times them with the sweep's settings; each pad count is visited twice, in two
passes, so a placement effect repeats and a time effect does not. Then one prepared point is timed 20
times in a row (time dependence alone). Prints TSV: pass, pads, point, median_us.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np

from bench.backends import create
from bench.backends.base import BackendOptions
from bench.gpu.cuda import DeviceBuffer, Stream, memset_async
from bench.planning import expand
from bench.problem import make_problem
from bench.sweepfile import load_sweep

PAD = 2 << 20


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--shape", default="8x128x56x56")
    ap.add_argument("--precision", default="fp32")
    ap.add_argument("--pads", default="0,1,2,3,5,8,13,21,34,55")
    ap.add_argument("--passes", type=int, default=2)
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument(
        "--prime",
        choices=("none", "same", "reserve"),
        default="none",
        help="before anything is timed: nothing; allocate, fill and free a buffer of the point's input size "
        "first (same); or allocate, fill and free 2 GiB once (reserve)",
    )
    ap.add_argument(
        "--before",
        default="",
        help="comma-separated shapes whose default-sweep cuda points (every precision) are prepared and "
        "timed first, as a run does before this shape (their times are not printed)",
    )
    args = ap.parse_args(argv)
    sweep = load_sweep("default")
    points = [
        p
        for p in expand(sweep)
        if p.backend == "cuda" and p.shape_str == args.shape and p.precision == args.precision
        if not (p.mode == "uniform" and p.channel_axis is not None)  # UNIFORM is timed once, as in a run
    ]
    backend = create("cuda", BackendOptions())
    backend.info()
    timing = sweep.measure
    problems = {p.key: make_problem(p) for p in points}
    print(f"# prime {args.prime}", flush=True)
    print("pass\tpads\tpoint\tmedian_us", flush=True)
    t0 = time.perf_counter()
    if args.prime != "none":
        size = (2 << 30) if args.prime == "reserve" else problems[points[0].key].x.nbytes
        first = [DeviceBuffer(size) for _ in range(1 if args.prime == "reserve" else 2)]
        stream = Stream()
        for b in first:
            memset_async(b.ptr, 0, b.nbytes, stream)
        stream.synchronize()
        stream.close()
        for b in first:
            b.free()
    before = [s for s in args.before.split(",") if s]
    earlier = [
        p
        for p in expand(sweep)
        if p.backend == "cuda" and p.shape_str in before and not (p.mode == "uniform" and p.channel_axis is not None)
    ]
    for p in earlier:
        prepared = backend.prepare(p, make_problem(p))
        try:
            prepared.measure(timing)
        finally:
            prepared.close()
    print(f"# before: {len(earlier)} points of {', '.join(before) or 'nothing'}", flush=True)
    for rep in range(args.passes):
        for pads in [int(x) for x in args.pads.split(",")]:
            held = [DeviceBuffer(PAD) for _ in range(pads)]
            try:
                for p in points:
                    prepared = backend.prepare(p, problems[p.key])
                    try:
                        m = prepared.measure(timing)
                    finally:
                        prepared.close()
                    print(f"{rep}\t{pads}\t{p.label()}\t{np.median(m.samples_us):.3f}", flush=True)
            finally:
                for b in held:
                    b.free()
    first = points[0]
    prepared = backend.prepare(first, problems[first.key])
    try:
        for i in range(args.series):
            m = prepared.measure(timing)
            print(f"series\t{i}\t{first.label()}\t{np.median(m.samples_us):.3f}", flush=True)
    finally:
        prepared.close()
    print(f"# {time.perf_counter() - t0:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
