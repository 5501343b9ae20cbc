"""Tune and check the `cuda` Scale kernel against a device-to-device copy of the same bytes (GPU only).

For each precision and size it times cudaMemcpyAsync and each kernel variant (block, unroll, grid
policy, cache hint) with the harness's own timing core (graph replay, warm), and prints GB/s (bytes
read + written) and percent of memcpy. The kernel's default shape in bench/gpu/kernels.py comes from
this table. Usage: PYTHONPATH=. python scripts/kernel_tuning.py [--sizes-mb 64 256] [--out tuning.json] [--quick]
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
from pathlib import Path

import numpy as np

from bench.gpu import cuda, kernels
from bench.precision import numpy_dtype
from bench.timing.device import measure
from bench.timing.settings import TimingSettings

_CT = {"u64": ctypes.c_uint64, "u32": ctypes.c_uint32, "f32": ctypes.c_float}
SETTINGS = TimingSettings(warmup_s=0.05, min_samples=10, min_time_s=0.05, max_time_s=0.4, sample_floor_us=200)


def run(sizes_mb: list[int], quick: bool, full: bool, modes: list[str]) -> list[dict]:
    dev = cuda.Device(0)
    stream = cuda.Stream()
    rows: list[dict] = []
    default = [(kernels.DEFAULT_BLOCK, kernels.DEFAULT_UNROLL, "oneshot", hint) for hint in kernels.CACHE_HINTS]
    if full:  # every combination, CHANNEL only (what the defaults were chosen from)
        grid_search = list(itertools.product([256, 512], [1, 2, 4, 8], ["oneshot", "persistent"], kernels.CACHE_HINTS))
    else:  # the default and its neighbours, every mode
        grid_search = default + [(b, u, "oneshot", "default") for b, u in ((256, 1), (1024, 1), (256, 4))]
    for prec, mb in itertools.product(("fp32", "fp16", "bf16"), sizes_mb):
        dtype = numpy_dtype(prec)
        c, h, w = 256, 64, 64
        n = max(1, mb * 2**20 // (c * h * w * dtype.itemsize))
        shape = (n, c, h, w)
        nbytes = int(np.prod(shape)) * dtype.itemsize
        rng = np.random.default_rng(0)
        x_host = rng.standard_normal(shape, dtype=np.float32).astype(dtype)
        with cuda.DeviceBuffer(nbytes) as x, cuda.DeviceBuffer(nbytes) as y:
            x.upload(x_host)
            m = measure(lambda s, x=x, y=y, nb=nbytes: cuda.memcpy_dtod_async(y.ptr, x.ptr, nb, s), stream, SETTINGS)
            memcpy_us = float(np.median(m.samples_us))
            base = {"precision": prec, "size_mb": nbytes / 2**20, "shape": list(shape)}
            rows.append(
                {**base, "variant": "memcpy", "us": memcpy_us, "gbps": 2 * nbytes / memcpy_us / 1e3, "pct": 100.0}
            )
            for mode in modes:
                layout = kernels.scale_layout(shape, mode, None, prec)
                count = layout.weight_count
                wts = [rng.uniform(0.5, 1.5, count).astype(dtype) for _ in range(3)]
                wbufs = [cuda.DeviceBuffer(a.nbytes) for a in wts]
                for b, a in zip(wbufs, wts, strict=True):
                    b.upload(a)
                variants = default if quick else (grid_search if mode == "channel" or not full else default)
                for block, unroll, grid_policy, hint in variants:
                    spec = kernels.kernel_spec(layout, True, block=block, unroll=unroll, cache_hint=hint)
                    kern = cuda.compile_kernel(kernels.kernel_source(spec), kernels.KERNEL_NAME, dev.arch)
                    cap = dev.sm_count * (dev.max_threads_per_sm // block) if grid_policy == "persistent" else None
                    cfg = kernels.launch_config(layout.nvec, block, unroll, cap)
                    args = [(b.ptr, ctypes.c_void_p) for b in (x, y, *wbufs)]
                    args += [(v, _CT[k]) for k, v in kernels.kernel_args(layout, None, None)]
                    launch = kern.bind(cfg.grid, cfg.block, args)
                    m = measure(launch, stream, SETTINGS)
                    us = float(np.median(m.samples_us))
                    rows.append(
                        {
                            **base,
                            "variant": f"{mode} b{block} u{unroll} {grid_policy} {hint}",
                            "us": us,
                            "gbps": 2 * nbytes / us / 1e3,
                            "pct": 100.0 * memcpy_us / us,
                            "noise": m.noise,
                        }
                    )
                for b in wbufs:
                    b.free()
    stream.close()
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes-mb", type=int, nargs="+", default=[64, 256])
    ap.add_argument("--modes", nargs="+", default=["channel", "uniform", "elementwise"])
    ap.add_argument("--quick", action="store_true", help="only the default launch shape, with each cache hint")
    ap.add_argument("--full", action="store_true", help="every block/unroll/grid/hint combination (CHANNEL)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    rows = run(args.sizes_mb, args.quick, args.full, args.modes)
    best: dict[tuple, dict] = {}
    for r in rows:
        print(
            f"{r['precision']:5} {r['size_mb']:7.1f} MB  {r['variant']:40} {r['us']:9.2f} us {r['gbps']:8.1f} GB/s {r['pct']:6.1f}%"
        )
    for r in rows:
        key = (r["precision"], r["size_mb"], r["variant"].split()[0])
        if r["variant"] != "memcpy" and (key not in best or r["pct"] > best[key]["pct"]):
            best[key] = r
    print("best variant per precision, size and mode:")
    for r in best.values():
        print(f"  {r['precision']:5} {r['size_mb']:7.1f} MB  {r['variant']:40} {r['pct']:6.1f}% of memcpy")
    if args.out:
        args.out.write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
