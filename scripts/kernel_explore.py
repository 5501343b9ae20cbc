"""One-call exploration of the Scale kernel's launch space on a GPU (issue 11); what the tuner's
candidates and defaults were chosen from (reports/kernel-tuning/exploration.md reads its output).

Every candidate is timed with the harness's own timing core (graph replay, warm) and checked: on the
big tensors its output's checksum must equal the previous kernel's (the family computes bit for bit
the same output), and on a small twin of every problem (same axes, batch 2) against the float64
reference. Stages, most important first, under a wall-clock budget:

  memcpy and the previous kernel on every >= 64 MiB problem of the default sweep   (before)
  the access-pattern grid (block x vectors/thread x grid x cache hint) on UNIFORM
  the best patterns, and the weight-reuse grid, on every mode and channel axis
  1x3x3x3: previous kernel, new vector and direct variants, memcpy, an empty and a copy kernel
  mid sizes (1x64x56x56, 8x128x56x56), and L2 / HBM read bandwidth probes

Usage (device): PYTHONPATH=. OUT=dir python3 scripts/kernel_explore.py [--budget-s 400]
Records go to $OUT/explore.jsonl as they are made; a short table is printed last.
"""

from __future__ import annotations

import argparse
import ctypes
import itertools
import json
import math
import multiprocessing
import os
import sys
import time
import traceback
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from bench import precision as prec
from bench.gpu import kernels as K

try:  # the kernel before issue 11 (bench/gpu/kernels.py at the parent commit), copied beside this tree
    import old_kernels as OK  # type: ignore[import-not-found]
except ImportError:
    OK = None

CT = {"u64": ctypes.c_uint64, "u32": ctypes.c_uint32, "f32": ctypes.c_float}
ARCH = "sm_90"
BIG = {  # tensor label -> (shape, precision)
    "fp32-256M": ((64, 256, 64, 64), "fp32"),
    "fp16-128M": ((64, 256, 64, 64), "fp16"),
    "bf16-128M": ((64, 256, 64, 64), "bf16"),
    "int8-64M": ((64, 256, 64, 64), "int8"),
    "fp32-64M": ((16, 256, 64, 64), "fp32"),
}
MID = ((1, 64, 56, 56), (8, 128, 56, 56))
PROBLEMS = [("uniform", None)] + [(m, a) for m in ("channel", "elementwise") for a in (1, 0, 2, -1)]
STAGE1_GRID = list(
    itertools.product((128, 256, 512, 1024), (1, 2, 4, 8), ("oneshot", "persistent"), tuple(K.CACHE_HINTS))
)
AUX_SRC = r"""
extern "C" __global__ void checksum(const unsigned int* p, unsigned long long nwords, unsigned long long* out) {
    unsigned long long acc = 0;
    for (unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x; i < nwords;
         i += (unsigned long long)gridDim.x * blockDim.x)
        acc += (unsigned long long)p[i] * ((i * 0x9E3779B97F4A7C15ull) | 1ull);
    atomicAdd(out, acc);
}
extern "C" __global__ void emptyk() {}
extern "C" __global__ void copyk(const float* x, float* y, unsigned n) {
    unsigned i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) y[i] = x[i];
}
extern "C" __global__ void l2read(const uint4* p, unsigned mask, unsigned total, unsigned* out) {
    unsigned acc = 0;
    for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < total; i += gridDim.x * blockDim.x) {
        uint4 v = __ldcg(p + (i & mask)); acc ^= v.x ^ v.y ^ v.z ^ v.w;
    }
    if (acc == 0x12345678u) out[0] = acc;
}
"""


def _compile(source: str) -> bytes:
    from bench.gpu import cuda

    return cuda.compile_cubin(source, K.KERNEL_NAME, ARCH)


class Explorer:
    def __init__(self, out: Path, budget_s: float, pool: ProcessPoolExecutor) -> None:
        from bench.gpu import cuda, nvml
        from bench.timing.settings import TimingSettings

        self.cuda, self.nvml = cuda, nvml
        self.t0 = time.time()
        self.deadline = self.t0 + budget_s
        self.out = out
        self.log = open(out / "explore.jsonl", "w")  # noqa: SIM115 - closed in finish()
        self.pool = pool
        self.pending: dict[str, Future] = {}
        self.kernels: dict[str, Any] = {}
        self.dev = cuda.Device(0)
        self.stream = cuda.Stream()
        self.settings = TimingSettings(warmup_s=0.01, min_samples=10, min_time_s=0.03, max_time_s=0.15)
        aux = cuda.Kernel(cuda.compile_cubin(AUX_SRC, "checksum", ARCH), "checksum")
        self.aux_module = aux
        drv = cuda._drv()
        self.aux = {
            name: cuda._check(drv.cuModuleGetFunction(aux.module, name.encode()), name)
            for name in ("checksum", "emptyk", "copyk", "l2read")
        }
        self.sum_buf = cuda.DeviceBuffer(8)
        self.tensors: dict[str, dict] = {}
        self.weights: dict[tuple, list] = {}
        self.twins: dict[tuple, dict] = {}
        self.ref_sums: dict[tuple, int] = {}
        self.skipped = 0
        self.stage_end = self.deadline

    # --- plumbing -------------------------------------------------------------------------------------

    def left(self) -> float:
        return min(self.deadline, self.stage_end) - time.time()

    def record(self, **rec: Any) -> dict:
        rec["t"] = round(time.time() - self.t0, 2)
        self.log.write(json.dumps(rec, default=str) + "\n")
        self.log.flush()
        return rec

    def prefetch(self, specs: list[K.KernelSpec | str]) -> None:
        """Compile in the pool ahead of use (NVRTC takes ~0.1 s a source)."""
        for spec in specs:
            src = spec if isinstance(spec, str) else K.kernel_source(spec)
            if src not in self.pending and src not in self.kernels:
                self.pending[src] = self.pool.submit(_compile, src)

    def kernel(self, spec: K.KernelSpec | str) -> Any:
        src = spec if isinstance(spec, str) else K.kernel_source(spec)
        if src not in self.kernels:
            fut = self.pending.pop(src, None)
            cubin = fut.result() if fut is not None else _compile(src)
            self.kernels[src] = self.cuda.Kernel(cubin, K.KERNEL_NAME)
        return self.kernels[src]

    def raw_launch(self, fn: Any, grid: int, block: int, args: list[tuple[Any, type]]) -> Any:
        values = [ctype(value) for value, ctype in args]
        ptrs = (ctypes.c_void_p * max(len(values), 1))(*(ctypes.addressof(v) for v in values))
        drv = self.cuda._drv()
        holder = (values, ptrs)

        def launch(stream: Any) -> None:
            self.cuda._check(
                drv.cuLaunchKernel(fn, grid, 1, 1, block, 1, 1, 0, stream.cu_handle, ctypes.addressof(holder[1]), 0),
                "cuLaunchKernel",
            )

        return launch

    def time_it(self, enqueue: Any) -> dict:
        from bench.timing.device import measure

        m = measure(enqueue, self.stream, self.settings, device=self.dev, nvml_index=None)
        s = np.asarray(m.samples_us)
        return {
            "median_us": float(np.median(s)),
            "min_us": float(s.min()),
            "noise": float(m.noise),
            "n": len(s),
            "batch": m.batch,
            "method": m.timing_method,
        }

    def checksum(self, buf: Any, nbytes: int) -> int:
        cuda = self.cuda
        cuda.memset_async(self.sum_buf.ptr, 0, 8, self.stream)
        nwords = nbytes // 4
        launch = self.raw_launch(
            self.aux["checksum"],
            self.dev.sm_count * 8,
            256,
            [(buf.ptr, ctypes.c_void_p), (nwords, ctypes.c_uint64), (self.sum_buf.ptr, ctypes.c_void_p)],
        )
        launch(self.stream)
        host = np.zeros(1, dtype=np.uint64)
        self.sum_buf.download(host, self.stream)
        return int(host[0])

    # --- data -----------------------------------------------------------------------------------------

    def tensor(self, label: str) -> dict:
        if label not in self.tensors:
            shape, precision = BIG[label]
            numel = math.prod(shape)
            rng = np.random.default_rng(7)
            real = rng.standard_normal(numel, dtype=np.float32)
            in_scale = None
            if precision == "int8":
                in_scale = prec.amax_scale(real)
                host = np.clip(np.rint(real / np.float32(in_scale)), -127, 127).astype(np.int8)
            else:
                host = real.astype(prec.numpy_dtype(precision))
            x = self.cuda.DeviceBuffer(host.nbytes)
            x.upload(host)
            y = self.cuda.DeviceBuffer(host.nbytes)
            self.tensors[label] = {
                "shape": shape,
                "precision": precision,
                "x": x,
                "y": y,
                "nbytes": host.nbytes,
                "in_scale": in_scale,
                # the output's scale only sets where int8 saturates; its speed does not depend on it
                "out_scale": None if in_scale is None else 2.0 * in_scale,
            }
        return self.tensors[label]

    def weight_bufs(self, shape: tuple, mode: str, axis, precision: str, layout, power: float = 1.0):
        """Device buffers of (shift, scale, power) as `layout` reads them (None: the old kernel's)."""
        key = (shape, mode, axis, precision, power, None if layout is None else (layout.weights, layout.expand))
        if key not in self.weights:
            from bench import reference
            from bench.point import Point, WeightsSpec
            from bench.problem import _weights

            count = int(np.prod(reference.weight_shape(shape, mode, axis)))
            point = Point(shape, mode, precision, axis, "cuda", weights=WeightsSpec(power=power))
            arrays = _weights(point, count, prec.weight_dtype(precision))
            if layout is not None:
                arrays = tuple(K.expand_weights(layout, shape, axis, a) for a in arrays)
            bufs = []
            for a in arrays:
                b = self.cuda.DeviceBuffer(a.nbytes)
                b.upload(np.ascontiguousarray(a))
                bufs.append(b)
            self.weights[key] = [bufs, [float(a.reshape(-1)[0]) for a in arrays]]
        return self.weights[key]

    def twin(self, shape: tuple, mode: str, axis: int | None, precision: str, power: float = 1.0) -> dict:
        """A small problem with the same axes (batch 2, or the shape itself when small), checked
        against the float64 reference."""
        small = shape if math.prod(shape) <= 1 << 22 else (2, *shape[1:])
        key = (small, mode, axis, precision, power)
        if key not in self.twins:
            from bench.point import Point, WeightsSpec
            from bench.problem import make_problem

            problem = make_problem(Point(small, mode, precision, axis, "cuda", weights=WeightsSpec(power=power)))
            x = self.cuda.DeviceBuffer(problem.x.nbytes)
            x.upload(np.ascontiguousarray(problem.x))
            y = self.cuda.DeviceBuffer(problem.x.nbytes)
            self.twins[key] = {"problem": problem, "x": x, "y": y, "shape": small}
        return self.twins[key]

    # --- binding -----------------------------------------------------------------------------------------

    def bind(self, kind, cfg, shape, mode, axis, precision, x, y, in_scale, out_scale, power: float = 1.0):
        """(launch, description) of the new kernel with ``cfg`` (kind 'new') or the old one ('old')."""
        if kind == "old":
            lay = OK.scale_layout(shape, mode, axis, precision)
            spec = OK.kernel_spec(lay, power == 1.0)
            kern = self.kernel(OK.kernel_source(spec))
            lc = OK.launch_config(lay.nvec, spec.block, spec.unroll)
            bufs, _ = self.weight_bufs(shape, mode, axis, precision, None, power)
            scalars = OK.kernel_args(lay, in_scale, out_scale)
            desc = {"block": spec.block, "grid_blocks": lc.grid, "cache": spec.cache_hint, "weights": "old"}
            grid, block = lc.grid, lc.block
        else:
            lay = K.scale_layout(shape, mode, axis, precision, cfg.variant)
            eff = K.effective_config(lay, cfg)
            spec = K.kernel_spec(lay, eff, power_is_one=power == 1.0, nan_safe=False)
            kern = self.kernel(spec)
            lc = K.launch_config(lay, eff, self.dev.sm_count, self.dev.max_threads_per_sm)
            bufs, first = self.weight_bufs(shape, mode, axis, precision, lay, power)
            scalars = K.kernel_args(lay, lc, in_scale, out_scale, (first[0], first[1], first[2]))
            desc = {
                **eff.as_dict(),
                "weights": lay.weights,
                "expand": lay.expand,
                "grid_blocks": lc.grid,
                "stride": lc.stride,
            }
            grid, block = lc.grid, lc.block
        args = [(b.ptr, ctypes.c_void_p) for b in (x, y, *bufs)] + [(v, CT[k]) for k, v in scalars]
        return kern.bind(grid, block, args), desc

    # --- one candidate ----------------------------------------------------------------------------------------

    def candidate(self, stage: str, label: str, mode: str, axis: int | None, kind: str, cfg=None) -> dict | None:
        if self.left() < 0:
            self.skipped += 1
            return None
        t = self.tensor(label)
        shape, precision = t["shape"], t["precision"]
        base = {"stage": stage, "tensor": label, "shape": "x".join(map(str, shape)), "precision": precision}
        base |= {"mode": mode, "axis": axis, "kernel": kind, "config": None if cfg is None else cfg.label()}
        try:
            launch, desc = self.bind(
                kind, cfg, shape, mode, axis, precision, t["x"], t["y"], t["in_scale"], t["out_scale"]
            )
            self.cuda.memset_async(t["y"].ptr, 0xFF, t["nbytes"], self.stream)
            launch(self.stream)
            self.cuda.check_last_error(label)
            total = self.checksum(t["y"], t["nbytes"])
            key = (label, mode, axis)
            ref = self.ref_sums.setdefault(key, total)
            timing = self.time_it(launch)
            twin = self.twin_check(kind, cfg, shape, mode, axis, precision)
        except Exception as exc:  # a candidate that fails to build or run is data
            return self.record(**base, error=f"{type(exc).__name__}: {exc}"[:500])
        return self.record(**base, **desc, **timing, same_as_first=total == ref, **twin)

    def twin_check(self, kind, cfg, shape, mode, axis, precision) -> dict:
        tw = self.twin(shape, mode, axis, precision)
        problem = tw["problem"]
        launch, _ = self.bind(
            kind, cfg, tw["shape"], mode, axis, precision, tw["x"], tw["y"], problem.in_scale, problem.out_scale
        )
        out = self.run_once(launch, tw["y"], problem)
        v = problem.check(out)
        return {"twin": "x".join(map(str, tw["shape"])), "twin_ok": v.correct, "twin_err": v.max_abs_err}

    def run_once(self, launch: Any, y: Any, problem: Any) -> np.ndarray:
        from bench.backends.gpu_common import poison_byte

        self.cuda.memset_async(y.ptr, poison_byte(problem.point.precision), y.nbytes, self.stream)
        launch(self.stream)
        self.cuda.check_last_error("twin")
        host = np.empty(problem.x.shape, dtype=prec.numpy_dtype(problem.point.precision))
        return y.download(host, self.stream)

    def memcpy(self, stage: str, label: str) -> dict:
        t = self.tensor(label)
        x, y, nb = t["x"], t["y"], t["nbytes"]
        timing = self.time_it(lambda s: self.cuda.memcpy_dtod_async(y.ptr, x.ptr, nb, s))
        return self.record(stage=stage, tensor=label, kernel="memcpy", precision=t["precision"], bytes=nb, **timing)

    # --- tiny and mid sizes: the problem itself is small, checked directly ----------------------------------

    def small_candidate(self, stage: str, shape: tuple, mode: str, axis, precision: str, kind: str, cfg=None):
        if self.left() < 0:
            self.skipped += 1
            return None
        base = {"stage": stage, "shape": "x".join(map(str, shape)), "precision": precision, "mode": mode}
        base |= {"axis": axis, "kernel": kind, "config": None if cfg is None else cfg.label()}
        try:
            tw = self.twin(shape, mode, axis, precision)
            problem = tw["problem"]
            launch, desc = self.bind(
                kind, cfg, shape, mode, axis, precision, tw["x"], tw["y"], problem.in_scale, problem.out_scale
            )
            v = problem.check(self.run_once(launch, tw["y"], problem))
            timing = self.time_it(launch)
        except Exception as exc:
            return self.record(**base, error=f"{type(exc).__name__}: {exc}"[:500])
        return self.record(**base, **desc, **timing, ok=v.correct, err=v.max_abs_err)

    def correct(self, shape: tuple, mode: str, axis, precision: str, cfg, power: float) -> bool | None:
        """One run of a small problem, checked against the reference (int8 with a power that makes NaN:
        byte for byte against the previous kernel, whose NaN -> 0 is the rule). Not timed."""
        tw = self.twin(shape, mode, axis, precision, power)
        problem = tw["problem"]
        rec = {"stage": "correct", "shape": "x".join(map(str, shape)), "precision": precision, "mode": mode}
        rec |= {"axis": axis, "power": power, "config": cfg.label(), "expand_max": K.EXPAND_MAX}
        try:
            launch, desc = self.bind(
                "new", cfg, shape, mode, axis, precision, tw["x"], tw["y"], problem.in_scale, problem.out_scale, power
            )
            out = self.run_once(launch, tw["y"], problem).copy()
            if precision == "int8" and power != int(power) and OK is not None:
                old, _ = self.bind(
                    "old",
                    None,
                    shape,
                    mode,
                    axis,
                    precision,
                    tw["x"],
                    tw["y"],
                    problem.in_scale,
                    problem.out_scale,
                    power,
                )
                ok = bool(np.array_equal(out, self.run_once(old, tw["y"], problem)))
                err = None
            else:
                v = problem.check(out)
                ok, err = v.correct, v.max_abs_err
        except Exception as exc:
            self.record(**rec, error=f"{type(exc).__name__}: {exc}"[:500])
            return None
        if not ok:
            self.record(**rec, **desc, ok=ok, err=err)
        return ok

    def small_memcpy(self, stage: str, shape: tuple, precision: str) -> dict:
        tw = self.twin(shape, "uniform", None, precision)
        x, y, nb = tw["x"], tw["y"], tw["problem"].x.nbytes
        timing = self.time_it(lambda s: self.cuda.memcpy_dtod_async(y.ptr, x.ptr, nb, s))
        return self.record(stage=stage, shape="x".join(map(str, shape)), precision=precision, kernel="memcpy", **timing)

    def finish(self) -> None:
        self.log.close()


def specs_for(shape, modes_axes, precision, configs) -> list[K.KernelSpec]:
    out = []
    for (mode, axis), cfg in itertools.product(modes_axes, configs):
        try:
            lay = K.scale_layout(shape, mode, axis, precision, cfg.variant)
            out.append(K.kernel_spec(lay, K.effective_config(lay, cfg), True, nan_safe=False))
        except ValueError:
            pass
    return out


EXPAND_MAX = K.EXPAND_MAX
CORRECT_SHAPES = ((1, 3, 3, 3), (2, 3, 5, 7), (3, 5, 7), (7,), (4, 8, 6, 6), (2, 3, 1001), (5, 3, 56), (2, 64, 9, 9))
CORRECT_CFGS = (
    K.KernelConfig("vector", 32, 1, "oneshot", "default"),
    K.KernelConfig("vector", 64, 2, "reuse", "evict_first"),
    K.KernelConfig("direct", 32),
    K.KernelConfig("vector", 256, 3, "persistent", "streaming"),
    K.KernelConfig("vector", 128, 4, "oneshot", "prefetch"),
)


def correctness_plan() -> list[tuple]:
    """(expand_max, shape, mode, axis, precision, config, power) of the correctness stage."""
    out = []
    for shape in CORRECT_SHAPES:
        cases = [("uniform", None)]
        axes = ([None] if len(shape) >= 3 else []) + [*range(len(shape)), -1]
        cases += [(mode, a) for mode in ("channel", "elementwise") for a in axes]
        for (mode, axis), precision in itertools.product(cases, prec.PRECISIONS):
            for i, cfg in enumerate(CORRECT_CFGS):
                out.append((EXPAND_MAX, shape, mode, axis, precision, cfg, 1.0))
                if i < 3 and mode != "uniform":
                    out.append((4, shape, mode, axis, precision, cfg, 1.0))
                if i < 2:
                    out.append((EXPAND_MAX, shape, mode, axis, precision, cfg, 2.0))
                if i < 2 and mode != "uniform":
                    out.append((4, shape, mode, axis, precision, cfg, 2.0))
                if i == 0:  # NaN from negative bases: int8 must turn it into 0 as the previous kernel did
                    out.append((EXPAND_MAX, shape, mode, axis, precision, cfg, 0.5))
    return out


def old_sources() -> list[str]:
    """The previous kernel's sources for every problem the script runs it on."""
    out = []
    shapes = [BIG[lb] for lb in BIG] + [((1, 3, 3, 3), p) for p in prec.PRECISIONS]
    shapes += [(s, p) for s in MID for p in ("fp32", "int8", "fp16")]
    for (shape, precision), (mode, axis) in itertools.product(shapes, PROBLEMS):
        out.append(OK.kernel_source(OK.kernel_spec(OK.scale_layout(shape, mode, axis, precision), True)))
    return list(dict.fromkeys(out))


def pct(rec: dict | None, memcpy_us: float) -> float:
    return 100.0 * memcpy_us / rec["median_us"] if rec and "median_us" in rec else float("nan")


STAGE_ENDS = {  # seconds after the start (scaled to --budget-s / 420) by which each stage stops
    "correct": 60,
    "before": 100,
    "access": 190,
    "modes": 300,
    "tiny": 335,
    "mid": 395,
    "l2": 415,
}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--budget-s", type=float, default=420.0)
    ap.add_argument("--tables", type=Path, metavar="JSONL", help="print the markdown tables of a finished run")
    args = ap.parse_args()
    if args.tables:
        print(tables(args.tables))
        return 0
    out = Path(os.environ.get("OUT", "explore-out"))
    out.mkdir(parents=True, exist_ok=True)
    # the compile pool is forked before this process touches CUDA
    pool = ProcessPoolExecutor(max(2, (os.cpu_count() or 4) - 1), mp_context=multiprocessing.get_context("fork"))
    ex = Explorer(out, args.budget_s, pool)
    dev = ex.dev
    env = {
        "gpu": dev.name,
        "sm_count": dev.sm_count,
        "l2_bytes": dev.l2_bytes,
        "max_threads_per_sm": dev.max_threads_per_sm,
        "driver": ex.nvml.driver_version(),
        "cuda_runtime": dev.runtime_version,
        "nvml": ex.nvml.snapshot(0),
        "old_kernel": OK is not None,
    }
    (out / "env.json").write_text(json.dumps(env, indent=1, default=str))
    print(f"{dev.name}: {dev.sm_count} SMs, L2 {dev.l2_bytes >> 20} MiB, driver {env['driver']}", flush=True)
    state: dict[str, Any] = {"memcpy_us": {}, "top6": list(FALLBACK_TOP)}
    stages = [
        ("correct", stage_correct),
        ("before", stage_before),
        ("access", stage_access),
        ("modes", stage_modes),
        ("tiny", stage_tiny),
        ("mid", stage_mid),
        ("l2", stage_l2),
    ]
    prefetch_early(ex)
    scale = args.budget_s / 420.0
    for name, fn in stages:
        ex.stage_end = ex.t0 + STAGE_ENDS[name] * scale
        try:
            fn(ex, state)
        except Exception:  # a broken stage must not cost the others their data
            ex.record(stage=name, crashed=traceback.format_exc()[-3000:])
            print(traceback.format_exc(), flush=True)
        print(f"[{time.time() - ex.t0:5.0f}s] {name} done ({ex.skipped} skipped so far)", flush=True)
    ex.record(stage="end", skipped=ex.skipped, nvml=ex.nvml.snapshot(0))
    ex.finish()
    pool.shutdown(cancel_futures=True)
    summarize(out / "explore.jsonl", out / "summary.txt")
    return 0


FALLBACK_TOP = (
    K.KernelConfig("vector", 1024, 1, "oneshot", "default"),
    K.KernelConfig("vector", 512, 2, "oneshot", "default"),
    K.KernelConfig("vector", 256, 4, "oneshot", "prefetch"),
    K.KernelConfig("vector", 1024, 2, "oneshot", "streaming"),
    K.KernelConfig("vector", 512, 4, "persistent", "default"),
    K.KernelConfig("vector", 256, 8, "persistent", "prefetch"),
)
STAGE1_CFGS = [K.KernelConfig("vector", b, v, g, c) for b, v, g, c in STAGE1_GRID]
TINY = (1, 3, 3, 3)
TINY_CFGS = (K.KernelConfig("vector", 32, 1, "oneshot", "default"), K.KernelConfig("direct", 32))


def prefetch_early(ex: Explorer) -> None:
    for label in ("fp32-256M", "fp16-128M"):
        shape, precision = BIG[label]
        ex.prefetch(specs_for(shape, [("uniform", None)], precision, STAGE1_CFGS))
    for precision in prec.PRECISIONS:
        ex.prefetch(specs_for(TINY, PROBLEMS, precision, list(TINY_CFGS)))
    if OK is not None:
        ex.prefetch(old_sources())


def stage_correct(ex: Explorer, state: dict) -> None:
    """Every weight kind (lane kinds forced by a tiny EXPAND_MAX), odd sizes and tails, powers."""
    runs = correctness_plan()
    for expand_max, shape, mode, axis, precision, cfg, power in runs:
        K.EXPAND_MAX = expand_max
        try:
            lay = K.scale_layout(shape, mode, axis, precision, cfg.variant)
        except ValueError:
            continue
        ex.prefetch([K.kernel_spec(lay, K.effective_config(lay, cfg), power == 1.0, nan_safe=False)])
    K.EXPAND_MAX = EXPAND_MAX
    verdicts = []
    try:
        for expand_max, shape, mode, axis, precision, cfg, power in runs:
            if ex.left() < 0:
                break
            K.EXPAND_MAX = expand_max
            if cfg.variant == "direct" and math.prod(shape) > K.DIRECT_MAX:
                continue
            verdicts.append(ex.correct(shape, mode, axis, precision, cfg, power))
    finally:
        K.EXPAND_MAX = EXPAND_MAX
    ex.record(
        stage="correct_summary",
        planned=len(runs),
        runs=len(verdicts),
        ok=verdicts.count(True),
        wrong=verdicts.count(False),
        errors=verdicts.count(None),
    )
    print(f"correctness: {verdicts.count(True)} of {len(verdicts)} ok", flush=True)


def stage_before(ex: Explorer, state: dict) -> None:
    """memcpy and the previous kernel on every big problem."""
    for label in BIG:
        state["memcpy_us"][label] = ex.memcpy("before", label)["median_us"]
    if OK is not None:
        for label, (mode, axis) in itertools.product(BIG, PROBLEMS):
            ex.candidate("before", label, mode, axis, "old")


def stage_access(ex: Explorer, state: dict) -> None:
    """The access-pattern grid on UNIFORM fp32 256 MiB and fp16 128 MiB; the best 16 on the others."""
    memcpy_us = state["memcpy_us"]
    s1: dict[tuple, dict] = {}
    first = ("fp32-256M", "fp16-128M")
    for label, cfg in itertools.product(first, STAGE1_CFGS):
        r = ex.candidate("access", label, "uniform", None, "new", cfg)
        if r and "median_us" in r:
            s1[(label, cfg)] = r
    done = [c for c in STAGE1_CFGS if all((lb, c) in s1 for lb in first)]
    top16 = sorted(done, key=lambda c: -min(pct(s1[(lb, c)], memcpy_us[lb]) for lb in first))[:16]
    rest = ("fp32-64M", "bf16-128M", "int8-64M")
    for label in rest:
        ex.prefetch(specs_for(BIG[label][0], [("uniform", None)], BIG[label][1], top16))
    for label in rest:
        memcpy_us.setdefault(label + "-access", ex.memcpy("access", label)["median_us"])
        for cfg in top16:
            r = ex.candidate("access", label, "uniform", None, "new", cfg)
            if r and "median_us" in r:
                s1[(label, cfg)] = r
    full = [c for c in top16 if all((lb, c) in s1 for lb in BIG)]
    if full:
        ranked = sorted(full, key=lambda c: -min(pct(s1[(lb, c)], memcpy_us[lb]) for lb in BIG))
        state["top6"] = ranked[:6]
    print("top:", [c.label() for c in state["top6"]], flush=True)


def stage_modes(ex: Explorer, state: dict) -> None:
    """The best patterns on every mode and axis; the weight-reuse grid where weights cost (int8, EW axis 1)."""
    top6 = state["top6"]
    caches = list(dict.fromkeys([top6[0].cache, "streaming", "default"]))[:2]
    reuse = [K.KernelConfig("vector", b, v, "reuse", c) for b in (256, 512) for v in (2, 4, 8) for c in caches]
    plan: list[tuple[str, str, int | None, K.KernelConfig]] = []
    for label, (mode, axis) in itertools.product(BIG, PROBLEMS[1:]):
        cfgs = list(top6)
        if BIG[label][1] == "int8" or (mode, axis) == ("elementwise", 1):
            cfgs += reuse
        plan += [(label, mode, axis, c) for c in cfgs]
    # int8 and the re-read weights first: they are what the old kernel missed most
    plan.sort(key=lambda p: (BIG[p[0]][1] != "int8", p[1:3] != ("elementwise", 1)))
    for label in BIG:
        shape, precision = BIG[label]
        ex.prefetch(specs_for(shape, PROBLEMS[1:], precision, top6 + reuse))
    for i, (label, mode, axis, cfg) in enumerate(plan):
        if i % 60 == 0:
            ex.memcpy("modes", label)
        ex.candidate("modes", label, mode, axis, "new", cfg)


def stage_tiny(ex: Explorer, state: dict) -> None:
    """1x3x3x3: the previous kernel, the new vector and direct variants; memcpy, an empty and a copy kernel."""
    tw = ex.twin(TINY, "uniform", None, "fp32")
    ex.record(stage="tiny", kernel="empty", **ex.time_it(ex.raw_launch(ex.aux["emptyk"], 1, 32, [])))
    copy = ex.raw_launch(
        ex.aux["copyk"], 1, 32, [(tw["x"].ptr, ctypes.c_void_p), (tw["y"].ptr, ctypes.c_void_p), (27, ctypes.c_uint32)]
    )
    ex.record(stage="tiny", kernel="copy27", **ex.time_it(copy))
    for precision in prec.PRECISIONS:
        ex.small_memcpy("tiny", TINY, precision)
        for mode, axis in PROBLEMS:
            if OK is not None:
                ex.small_candidate("tiny", TINY, mode, axis, precision, "old")
            for cfg in TINY_CFGS:
                ex.small_candidate("tiny", TINY, mode, axis, precision, "new", cfg)
    ex.small_memcpy("tiny", TINY, "fp32")


def stage_mid(ex: Explorer, state: dict) -> None:
    """1x64x56x56 and 8x128x56x56 (under the L2's size): a few configurations each."""
    top6 = state["top6"]
    mid_cfgs = list(dict.fromkeys([*top6[:3], K.KernelConfig("vector", 256, 1), K.KernelConfig("vector", 1024, 1)]))
    mid_reuse = [K.KernelConfig("vector", 256, 4, "reuse", top6[0].cache)]
    for shape, precision in itertools.product(MID, ("fp32", "int8", "fp16")):
        ex.prefetch(specs_for(shape, PROBLEMS, precision, mid_cfgs + mid_reuse))
    for shape, precision in itertools.product(MID, ("fp32", "int8", "fp16")):
        ex.small_memcpy("mid", shape, precision)
        for mode, axis in PROBLEMS:
            if OK is not None:
                ex.small_candidate("mid", shape, mode, axis, precision, "old")
            for cfg in mid_cfgs + (mid_reuse if mode != "uniform" else []):
                ex.small_candidate("mid", shape, mode, axis, precision, "new", cfg)


def stage_l2(ex: Explorer, state: dict) -> None:
    """Read bandwidth of buffers that fit the L2 (8-32 MiB, read many times) and of one that does not."""
    for mib in (8, 16, 32, 1024):
        if ex.left() < 0:
            break
        nvec = (mib << 20) // 16
        buf = ex.cuda.DeviceBuffer(mib << 20)
        ex.cuda.memset_async(buf.ptr, 1, mib << 20, ex.stream)
        total = min(nvec * max(1, 512 // mib), 2**31)
        args = [(buf.ptr, ctypes.c_void_p), (nvec - 1, ctypes.c_uint32), (total, ctypes.c_uint32)]
        launch = ex.raw_launch(ex.aux["l2read"], ex.dev.sm_count * 8, 256, [*args, (ex.sum_buf.ptr, ctypes.c_void_p)])
        r = ex.time_it(launch)
        ex.record(stage="l2", kernel="l2read", buffer_mib=mib, bytes_read=total * 16, **r)
        buf.free()


def summarize(path: Path, dest: Path) -> None:
    """A short table: before/after % of memcpy per big problem, tiny times, probes."""
    recs = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    lines = []
    mc: dict[str, list[float]] = {}
    for r in recs:
        if r.get("kernel") == "memcpy" and "tensor" in r:
            mc.setdefault(r["tensor"], []).append(r["median_us"])
    best: dict[tuple, dict] = {}
    old: dict[tuple, dict] = {}
    bad = 0
    for r in recs:
        if "median_us" not in r or r.get("kernel") not in ("old", "new"):
            if "error" in r:
                bad += 1
            continue
        if r.get("same_as_first") is False or r.get("twin_ok") is False or r.get("ok") is False:
            bad += 1
            continue
        key = (r.get("tensor") or f"{r['shape']} {r['precision']}", r["mode"], r["axis"])
        if r["kernel"] == "old":
            old[key] = r
        elif key not in best or r["median_us"] < best[key]["median_us"]:
            best[key] = r
    lines.append(f"records {len(recs)}, failed or wrong candidates {bad}")
    lines.append(f"{'problem':38} {'old%':>7} {'best%':>7}  best config")
    for key, r in best.items():
        if key[0] in mc:
            m = float(np.median(mc[key[0]]))
            o = old.get(key)
            lines.append(
                f"{key[0]:10} {key[1]:11} {key[2]!s:>4}       {pct(o, m):7.1f} {pct(r, m):7.1f}  {r['config']}"
            )
    for r in recs:
        if r.get("stage") == "tiny" and "median_us" in r and r.get("kernel") in ("memcpy", "empty", "copy27"):
            lines.append(f"tiny {r['kernel']:8} {r.get('precision', '')!s:5} {r['median_us']:.3f} us")
    for key, r in best.items():
        if key[0].startswith("1x3x3x3"):
            o = old.get(key)
            lines.append(
                f"tiny {r['precision']:5} {key[1]:11} {key[2]!s:>4} old {o['median_us'] if o else float('nan'):.3f} "
                f"best {r['median_us']:.3f} {r['config']}"
            )
    for r in recs:
        if r.get("stage") == "l2" and "median_us" in r:
            lines.append(f"read {r['buffer_mib']:5} MiB buffer: {r['bytes_read'] / r['median_us'] / 1e3:8.1f} GB/s")
    text = "\n".join(lines)
    dest.write_text(text + "\n")
    print(text)


def tables(path: Path) -> str:
    """The markdown tables of reports/kernel-tuning/exploration.md, computed from a run's records."""
    import pandas as pd

    from bench.analysis.roofline import roofline, slope_gbps
    from bench.mdtable import table as md_table
    from bench.point import Point

    df = pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line.strip()])
    for col in ("block", "vpt", "buffer_mib", "bytes_read"):
        df[col] = df[col].astype("Int64")
    out: list[str] = []

    def md(frame: pd.DataFrame, floatfmt: str = ".1f") -> None:
        frame = frame.reset_index() if not isinstance(frame.index, pd.RangeIndex) else frame

        def cell(v: object) -> str:
            if isinstance(v, float):
                return "" if math.isnan(v) else format(v, floatfmt)
            return str(v)

        header = [" ".join(map(str, c)) if isinstance(c, tuple) else str(c) for c in frame.columns]
        out.append(md_table(header, [[cell(v) for v in row] for row in frame.itertuples(index=False)]))
        out.append("")

    corr = df[df.stage == "correct_summary"].iloc[0]
    out.append(
        f"correctness runs: {int(corr.runs)} of {int(corr.planned)} planned (the rest: the direct variant on "
        f"tensors over {K.DIRECT_MAX} elements), {int(corr.ok)} ok, {int(corr.wrong)} wrong, {int(corr.errors)} errors\n"
    )
    mc = df[(df.kernel == "memcpy") & df.tensor.notna()]
    mcs = mc.groupby("tensor").median_us.agg(["median", "min", "max", "count"])
    mcs["GB/s"] = [2 * math.prod(BIG[t][0]) * prec.info(BIG[t][1]).itemsize / m / 1e3 for t, m in mcs["median"].items()]
    out.append("### memcpy (device-to-device copy, bytes read + written)\n")
    md(mcs, ".2f")
    memcpy_us = mcs["median"]
    big = df[df.tensor.notna() & df.kernel.isin(["old", "new"]) & df.median_us.notna()].copy()
    big["pct"] = 100 * big.tensor.map(memcpy_us) / big.median_us
    big["problem"] = big["mode"] + " " + big.axis.map(lambda a: "-" if pd.isna(a) else str(int(a)))
    old = big[big.kernel == "old"].set_index(["tensor", "problem"]).pct
    new = big[big.kernel == "new"]
    best = new.loc[new.groupby(["tensor", "problem"]).pct.idxmax()].set_index(["tensor", "problem"])
    table = pd.DataFrame({"previous kernel %": old, "best candidate %": best.pct, "best candidate": best.config})
    out.append("### >= 64 MiB: % of memcpy of the best candidate\n")
    md(table.reset_index().pivot_table(index="problem", columns="tensor", values="best candidate %").round(1))
    out.append("### >= 64 MiB: % of memcpy of the previous kernel\n")
    md(table.reset_index().pivot_table(index="problem", columns="tensor", values="previous kernel %").round(1))
    out.append("### >= 64 MiB: the best candidate\n")
    md(table[["best candidate"]].reset_index().pivot(index="problem", columns="tensor", values="best candidate"), "")
    acc = big[(big.stage == "access") & (big.kernel == "new")]
    grid = acc.assign(b=acc.block, v=acc.vpt).pivot_table(
        index=["grid", "vpt", "block"], columns="tensor", values="pct"
    )
    out.append("### access patterns on UNIFORM: % of memcpy, mean over the five cache hints\n")
    md(acc.pivot_table(index=["grid", "vpt", "block"], columns="tensor", values="pct", aggfunc="mean").round(2), ".2f")
    out.append("### cache hints (one vector per thread, oneshot): % of memcpy\n")
    one = acc[(acc.grid == "oneshot") & (acc.vpt == 1)]
    md(one.pivot_table(index=["block", "cache"], columns="tensor", values="pct").round(2), ".2f")
    del grid
    int8 = big[(big.tensor == "int8-64M") & (big.kernel == "new")]
    out.append("### int8 64 MiB, every candidate: % of memcpy\n")
    md(int8.pivot_table(index="config", columns="problem", values="pct").round(1))
    ew1 = big[(big["mode"] == "elementwise") & (big.axis == 1)]
    out.append("### ELEMENTWISE axis 1 (weights re-read per batch row): % of memcpy\n")
    md(
        ew1.assign(config=ew1.config.fillna("previous"))
        .pivot_table(index="config", columns="tensor", values="pct")
        .round(1)
    )
    tiny = df[df.stage == "tiny"]
    floors = tiny[tiny.kernel.isin(["memcpy", "empty", "copy27"])][["kernel", "precision", "median_us"]]
    out.append("### 1x3x3x3 (graph replay): floors, us\n")
    md(floors.reset_index(drop=True), ".3f")
    k = tiny[tiny.kernel.isin(["old", "new"])].copy()
    k["variant"] = k.config.fillna("previous")
    k["problem"] = k["mode"] + " " + k.axis.map(lambda a: "-" if pd.isna(a) else str(int(a)))
    out.append("### 1x3x3x3: median us per call\n")
    md(k.pivot_table(index=["precision", "problem"], columns="variant", values="median_us"), ".3f")
    tmc = floors[floors.kernel == "memcpy"].groupby("precision").median_us.median()
    k["over_memcpy"] = k.median_us - k.precision.map(tmc)
    out.append("### 1x3x3x3: us over the memcpy of the same bytes, worst over modes and axes\n")
    md(k.pivot_table(index="precision", columns="variant", values="over_memcpy", aggfunc="max"), ".3f")
    mid = df[df.stage == "mid"].copy()
    mmc = mid[mid.kernel == "memcpy"].set_index(["shape", "precision"]).median_us
    mk = mid[mid.kernel.isin(["old", "new"]) & mid.median_us.notna()].copy()
    mk["pct"] = [100 * mmc[(s, p)] / u for s, p, u in zip(mk["shape"], mk.precision, mk.median_us, strict=True)]
    mk["variant"] = mk.config.fillna("previous")
    out.append("### mid sizes (in and out fit the L2): % of memcpy, worst and best over modes and axes\n")
    agg = mk.pivot_table(index=["shape", "precision"], columns="variant", values="pct", aggfunc=["min", "max"])
    md(agg.round(1))
    l2 = df[df.stage == "l2"]
    l2 = l2.assign(gbps=l2.bytes_read / l2.median_us / 1e3)[["buffer_mib", "bytes_read", "median_us", "gbps"]]
    out.append("### read bandwidth (each buffer read repeatedly; 1024 MiB does not fit the L2)\n")
    md(l2.reset_index(drop=True), ".1f")
    # the int8 ELEMENTWISE bound, with this run's numbers
    floor = float(tmc.median())
    slope = slope_gbps(2 * 64 * 256 * 64 * 64 * 4, float(memcpy_us["fp32-256M"]), floor)
    l2_gbps = float(l2[l2.buffer_mib == 8].gbps.iloc[0])
    rows = []
    for axis in (1, 2, -1, 0):
        shape = (64, 256, 64, 64)
        pt = Point(shape, "elementwise", "int8", axis, "cuda")
        for reuse in (1, 2, 4):
            r = roofline(
                "elementwise",
                "int8",
                shape,
                axis,
                pt.bytes_moved,
                50 << 20,
                slope,
                floor,
                l2_gbps=l2_gbps,
                weight_reuse=reuse,
                l1_bytes=256 << 10,  # Hopper: 256 KiB of L1 and shared memory per SM (datasheet)
            )
            got = best.loc[("int8-64M", f"elementwise {axis}")]
            rows.append(
                {
                    "axis": axis,
                    "weight reads per row": f"1/{reuse}",
                    "bound": r.bound,
                    "predicted us": r.predicted_us,
                    "bound % of memcpy time": r.copy_time_pct,
                    "measured best %": got.pct,
                    "measured / bound": got.pct / r.copy_time_pct,
                    "bound pct_of_memcpy": r.pct_of_memcpy,
                }
            )
    out.append(
        f"### int8 ELEMENTWISE 64x256x64x64: roofline (floor {floor:.3f} us, copy slope {slope:.0f} GB/s, "
        f"L2 read {l2_gbps:.0f} GB/s, L1 256 KiB)\n"
    )
    md(pd.DataFrame(rows), ".3f")
    return "\n".join(out)


if __name__ == "__main__":
    sys.exit(main())
