"""The self-check's checks, grouped by what they need. Each one is passed, failed or not run (with why).

- GPU timing core (a GPU and cuda-python): the `cuda` backend reproduces the cookbook page's outputs
  exactly; one mid-size point is verified and timed on `cuda` and `memcpy`, in `graph` and `events` modes.
- Each TensorRT flavour that imports (`tensorrt`, `tensorrt-rtx`): its start-up (what it refuses on this
  machine, with TensorRT's words), building the page's four networks (ahead of time where there is no
  GPU), TensorRT's own refusal of the two invalid seed points, the engine cache; and where its engines
  run here: the page's outputs exactly through every execute API the generation has, graph and events,
  the mid-size point beside `cuda` and `memcpy`, the timing cache and the engine inspector's JSON.
  Where its engines cannot run here, `python -m bench run` must refuse with exit 2 and one line.
- The lean runtime (`tensorrt_lean_bindings`): its execution API, a Runtime on the GPU (and, without
  one, the refusal that keeps the harness from using a Runtime that would crash), and a damaged engine
  turned into a failure carrying TensorRT's own message.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

import bench
from bench import copy_yardstick
from bench.backends import create
from bench.backends.base import Backend, BackendOptions
from bench.backends.tensorrt import features as feat
from bench.backends.tensorrt.build import created, deserialize
from bench.backends.tensorrt.capture import MessageLog, TensorRTError, make_logger
from bench.errors import UserError
from bench.point import Point
from bench.problem import make_problem
from bench.selfcheck.cookbook import SeedPoint, seed_points
from bench.selfcheck.machine import Machine
from bench.selfcheck.report import FAILED, NOT_RUN, PASSED, Failed, NotRun, Outcome, Report, describe
from bench.timing.measurement import Measurement
from bench.timing.settings import TIMING_METHODS, TimingSettings

GPU_CORE = "GPU timing core: cuda and memcpy"
SECTIONS = {"tensorrt": "TensorRT (tensorrt)", "tensorrt-rtx": "TensorRT-RTX (tensorrt_rtx)"}
LEAN = "TensorRT lean runtime (tensorrt_lean_bindings)"

# One mid-size point: 8x64x128x128 fp32 is 32 MiB, past the L2 of current GPUs (50 MiB holds in + out
# of 16 MiB, not of 32), and takes tens of microseconds a call on an H100.
MID_SHAPE = (8, 64, 128, 128)
MID_TIMING = TimingSettings(max_time_s=0.5)
SEED_TIMING = TimingSettings(min_time_s=0.02, max_time_s=0.2)
DAMAGED_ENGINE = bytes(4096)  # an engine blob whose header (magic tag, version) is gone
FALLBACKS = ("returned None", "returned False")  # the adapter's words when TensorRT said nothing


def mid_point(backend: str) -> Point:
    mode = "uniform" if copy_yardstick.is_copy(backend) else "channel"  # memcpy moves the same bytes in every mode
    return Point(MID_SHAPE, mode, "fp32", None, backend)


class Checks:
    def __init__(self, report: Report, machine: Machine, cache_dir: Path) -> None:
        self.report = report
        self.machine = machine
        self.cache_dir = cache_dir
        self.memcpy: dict[str, Measurement] = {}  # method -> the mid-size copy's measurement

    # -- running one check ------------------------------------------------------------------------
    def check(self, section: str, name: str, fn: Callable[[], str]) -> bool:
        """Run ``fn`` (returns what was seen; raises Failed / NotRun) and record its outcome."""
        t0 = time.perf_counter()
        try:
            status, detail = PASSED, fn()
        except NotRun as exc:
            status, detail = NOT_RUN, str(exc)
        except Failed as exc:
            status, detail = FAILED, str(exc)
        except TensorRTError as exc:
            status, detail = FAILED, f"TensorRT said: {exc}"
        except Exception as exc:
            status, detail = FAILED, describe(exc)
        self.report.add(Outcome(section, name, status, detail, time.perf_counter() - t0))
        return status == PASSED

    def backend(self, name: str, **options: Any) -> Backend:
        return create(name, BackendOptions(cache_dir=self.cache_dir, **options))

    # -- shared pieces ----------------------------------------------------------------------------
    @staticmethod
    def exact(seed: SeedPoint, out: np.ndarray) -> str:
        want = seed.expected
        got = np.asarray(out, dtype=np.float32).reshape(want.shape) if out.size == want.size else out
        if got.shape != want.shape or not np.array_equal(got, want):
            diff = np.abs(got.astype(np.float64) - want) if got.shape == want.shape else None
            worst = f"max |diff| {np.nanmax(diff):.3g}; " if diff is not None else f"shape {got.shape}; "
            raise Failed(f"not the page's output: {worst}got {np.ravel(got)[:6].tolist()}..., "
                         f"page {want.ravel()[:6].tolist()}...")  # fmt: skip
        return f"the page's {want.size} values, exactly"

    def timed(self, prepared: Any, method: str, settings: TimingSettings, point: Point) -> tuple[str, Measurement]:
        m = prepared.measure(replace(settings, method=method))
        if method == "graph" and m.timing_method != "graph":
            raise Failed(f"graph capture fell back to {m.timing_method}: {m.fallback_reason}")
        samples = np.asarray(m.samples_us, dtype=np.float64)
        if samples.size == 0 or not np.all(np.isfinite(samples)) or np.any(samples <= 0):
            raise Failed(f"{samples.size} samples, not all finite and positive: {samples[:5].tolist()}")
        median = float(np.median(samples))
        bytes_moved = 2 * point.tensor_bytes if copy_yardstick.is_copy(point.backend) else point.bytes_moved
        gbps = bytes_moved / (median * 1e-6) / 1e9
        text = (f"median {median:.2f} us ({m.timing_method}), {gbps:.0f} GB/s, noise {m.noise:.1%}, "
                f"{samples.size} samples of {m.batch} calls")  # fmt: skip
        copy = self.memcpy.get(method)
        if copy is not None and not copy_yardstick.is_copy(point.backend):
            copy_gbps = 2 * point.tensor_bytes / (float(np.median(copy.samples_us)) * 1e-6) / 1e9
            text += f"; {100 * gbps / copy_gbps:.0f}% of memcpy's {copy_gbps:.0f} GB/s"
        if m.hit_time_cap:
            text += " (hit the time cap before the noise target)"
        return text, m

    def verified(self, backend: Backend, prepared: Any, point: Point, problem: Any) -> str:
        out = prepared.output()  # memcpy's own output() checks the copy byte for byte
        if not getattr(backend, "verifies_scale", True):
            return "the copy equals the input"
        v = problem.check(out)
        if not v.correct:
            raise Failed(f"output differs from the reference: max |err| {v.max_abs_err:.3g} > {v.tolerance:.3g}")
        return f"matches the float64 reference (max |err| {v.max_abs_err:.2g})"

    def mid_size(self, section: str, backend: Backend, methods: tuple[str, ...] = TIMING_METHODS) -> None:
        """Verify the mid-size point on ``backend``, then time it in each method."""
        point = mid_point(backend.name)
        problem = make_problem(point)
        label = f"{backend.name} {point.shape_str} {point.mode} fp32"
        with backend.prepare(point, problem) as prepared:
            if not self.check(section, f"{label}: output", lambda: self.verified(backend, prepared, point, problem)):
                self.report.not_run(section, [f"{label}: {m}" for m in methods], "its output was wrong")
                return
            for method in methods:

                def run(method: str = method) -> str:
                    text, m = self.timed(prepared, method, MID_TIMING, point)
                    if copy_yardstick.is_copy(backend.name):
                        self.memcpy[method] = m
                    return text

                self.check(section, f"{label}: {method}", run)

    # -- GPU timing core --------------------------------------------------------------------------
    def gpu_core(self) -> None:
        seeds = [s for s in seed_points() if s.valid]
        names = [f"cuda: {s.label} as the page prints it" for s in seeds]
        mids = [f"{b} {'x'.join(map(str, MID_SHAPE))} {mid_point(b).mode} fp32: {what}" for b in (copy_yardstick.BACKEND, "cuda")
                for what in ("output", *TIMING_METHODS)]  # fmt: skip
        if self.machine.gpu is None:
            self.report.not_run(GPU_CORE, names + mids, f"no GPU: {self.machine.gpu_reason}")
            return
        cuda = self.backend("cuda")
        for seed, name in zip(seeds, names, strict=True):

            def run(seed: SeedPoint = seed) -> str:
                point = seed.on("cuda")
                with cuda.prepare(point, make_problem(point)) as prepared:
                    return self.exact(seed, prepared.output())

            self.check(GPU_CORE, name, run)
        for backend in (self.backend(copy_yardstick.BACKEND), cuda):  # memcpy first: the others are read against it
            try:
                self.mid_size(GPU_CORE, backend)
            except Exception as exc:
                self.report.add(Outcome(GPU_CORE, f"{backend.name}: mid-size point", FAILED, describe(exc)))

    # -- a TensorRT flavour -----------------------------------------------------------------------
    def flavour(self, name: str) -> None:
        section = SECTIONS[name]
        module = self.machine.modules.get(name)
        if module is None:
            self.report.not_run(section, ["import"], self.machine.missing.get(name, "not installed"))
            return
        f = feat.detect(module, name)
        self.report.facts[f"{module.__name__} generation"] = feat.generation(f)
        runner = self.backend(name)
        refusal: list[str] = []

        def start() -> str:
            try:
                runner.info()
            except UserError as exc:
                refusal.append(str(exc))
                return self._judge_refusal(f, str(exc))
            return f"its engines run on this GPU ({self.machine.gpu.name})"

        self.check(section, "start-up (python -m bench run refuses here what cannot work)", start)
        seeds = seed_points()
        self.builds(section, name, f, seeds)
        execution = [f"{s.label} via execute_async_{api}: as the page prints it" for api in self._apis(f)
                     for s in seeds if s.valid]  # fmt: skip
        execution += [f"uniform via execute_async_{feat.run_api(f, None)}: {m}" for m in TIMING_METHODS]
        execution += [f"{name} {'x'.join(map(str, MID_SHAPE))} channel fp32: {w}" for w in ("output", *TIMING_METHODS)]
        execution += ["timing cache", "engine inspector JSON"]
        if refusal:
            self.report.not_run(section, execution, f"its engines cannot run here: {refusal[0]}")
            self.check(section, "python -m bench run refuses with exit 2 and one line", lambda: self.cli_refusal(name))
            return
        self.execute(section, name, f, [s for s in seeds if s.valid])

    def _judge_refusal(self, f: feat.TrtFeatures, line: str) -> str:
        """A start-up refusal is right where this machine cannot run the flavour's engines, and says why."""
        if self.machine.gpu is None:
            if "GPU" not in line:
                raise Failed(f"refused for another reason than the missing GPU: {line}")
            return f"refused, as it must without a GPU: {line}"
        if feat.runtime_may_refuse_gpu(f) and "compute capabilit" in line:
            return f"refused this GPU before any build, naming what it supports: {line}"
        raise Failed(f"refused on a GPU: {line}")

    @staticmethod
    def _apis(f: feat.TrtFeatures) -> list[str]:
        return [api for api in feat.TRT_APIS if feat.run_api_skip_reason(f, api) is None]

    def builds(self, section: str, name: str, f: feat.TrtFeatures, seeds: list[SeedPoint]) -> None:
        """Build the page's networks (for this GPU, or ahead of time), the invalid points, the engine cache."""
        valid = [s for s in seeds if s.valid]
        names = [f"build {s.label}" for s in valid] + [f"TensorRT refuses {s.label}" for s in seeds if not s.valid]
        names.append("engine cache: a second backend loads every engine")
        names.append("engine digest: one network built twice, one digest")
        builder = self.backend(name, build_only=True)
        try:
            builder.info()
        except UserError as exc:
            self.report.not_run(section, names, str(exc))
            return
        sizes: dict[str, int] = {}
        for seed in seeds:
            point = seed.on(name)

            def build(seed: SeedPoint = seed, point: Point = point) -> str:
                b = builder.prepare(point, make_problem(point)).build
                sizes[seed.label] = b.engine_bytes or 0
                where = b.builder_settings.get("target")
                return f"{b.engine_bytes} bytes in {b.build_s:.3f} s (for {where}), {b.builder_settings['layer_call']}"

            def refused(point: Point = point) -> str:
                try:
                    builder.prepare(point, make_problem(point))
                except TensorRTError as exc:
                    if any(fb in str(exc) for fb in FALLBACKS):
                        raise Failed(f"refused, but without a message of TensorRT's: {exc}") from None
                    return f"TensorRT said: {exc}"
                raise Failed("built: TensorRT must refuse this point")

            self.check(section, f"build {seed.label}" if seed.valid else f"TensorRT refuses {seed.label}",
                       build if seed.valid else refused)  # fmt: skip

        def cache() -> str:
            again = self.backend(name, build_only=True)
            loaded = 0
            for seed in valid:
                point = seed.on(name)
                b = again.prepare(point, make_problem(point)).build
                if not b.cached or b.engine_bytes != sizes.get(seed.label):
                    raise Failed(f"{seed.label}: built again (cached={b.cached}, {b.engine_bytes} bytes)")
                loaded += 1
            return f"{loaded} of {len(valid)} engines from {self.cache_dir}, none built again"

        self.check(section, names[-2], cache)
        self.check(section, names[-1], lambda: self.engine_digest(name, valid[0].on(name)))

    def engine_digest(self, name: str, point: Point, **options: Any) -> str:
        """Build ``point`` twice, each time with a fresh engine cache (so both are real builds): the engine
        digests (layers and tactics) must agree. Full TensorRT times tactics on the GPU and may choose
        others in a second build: that is reported as a failure of reproducibility, with both digests."""
        import tempfile

        from bench.backends.tensorrt import layers

        digests, source, labels = [], None, ""
        for _ in range(2):
            with tempfile.TemporaryDirectory(prefix="selfcheck-digest-", dir=self.cache_dir) as tmp:
                b = create(name, BackendOptions(build_only=True, cache_dir=Path(tmp), **options))
                built = b.prepare(point, make_problem(point)).build
            digests.append(built.builder_settings.get("engine_digest"))
            source = built.builder_settings.get("engine_digest_from")
            found = layers.from_layer_info(built.layer_info)
            labels = ", ".join(x.label() for x in found.layers) if found else "?"
        if digests[0] is None:
            raise Failed(f"no layer named in the build's layer information (from {source})")
        if digests[0] != digests[1]:
            raise Failed(f"two builds, two digests: {digests[0]} and {digests[1]}")
        return f"{digests[0]} both times (from the {source}): {labels[:160]}"

    def execute(self, section: str, name: str, f: feat.TrtFeatures, seeds: list[SeedPoint]) -> None:
        """The page's outputs through every API, graph and events, mid-size beside cuda and memcpy, caches."""
        layer_info: list[str | None] = []
        for api in self._apis(f):
            backend = self.backend(name, trt_api=api)
            for seed in seeds:

                def run(seed: SeedPoint = seed, backend: Backend = backend) -> str:
                    point = seed.on(name)
                    with backend.prepare(point, make_problem(point)) as prepared:
                        layer_info.append(prepared.build.layer_info)
                        return self.exact(seed, prepared.output())

                self.check(section, f"{seed.label} via execute_async_{api}: as the page prints it", run)
        api = feat.run_api(f, None)
        uniform = next(s for s in seeds if s.case == "uniform")
        point = uniform.on(name)
        with self.backend(name, trt_api=api).prepare(point, make_problem(point)) as prepared:
            for method in TIMING_METHODS:
                self.check(section, f"uniform via execute_async_{api}: {method}",
                           lambda m=method: self.timed(prepared, m, SEED_TIMING, point)[0])  # fmt: skip
        try:
            self.mid_size(section, self.backend(name))
        except Exception as exc:
            self.report.add(Outcome(section, f"{name}: mid-size point", FAILED, describe(exc)))
        self.check(section, "timing cache", lambda: self.timing_cache(f))
        self.check(section, "engine inspector JSON", lambda: self.inspector(f, layer_info))

    def timing_cache(self, f: feat.TrtFeatures) -> str:
        gpu = self.machine.gpu.name if self.machine.gpu is not None else None
        if not feat.use_timing_cache(f, gpu):
            raise NotRun(f"{f.flavour} {f.version} keeps no timing cache here (TensorRT-RTX's is a no-op)")
        caches = sorted((self.cache_dir / "timing").glob("*.cache"))
        if not caches or caches[0].stat().st_size == 0:
            raise Failed(f"no timing cache written under {self.cache_dir / 'timing'}")
        return f"{caches[0].name}: {caches[0].stat().st_size} bytes; {self.shared_timing_cache(f)}"

    def shared_timing_cache(self, f: feat.TrtFeatures) -> str:
        """A --timing-cache file exported by one run and imported by the next: the second build starts from
        the exported cache (its timing_cache_digest is the file's) and chooses the same tactics."""
        import tempfile

        from bench.backends.tensorrt import timing_cache

        shared = self.cache_dir / "shared-timing.cache"
        point = mid_point(f.flavour)
        seen = []
        for _ in range(2):
            with tempfile.TemporaryDirectory(prefix="selfcheck-tc-", dir=self.cache_dir) as tmp:
                before = shared.read_bytes() if shared.exists() else b""
                b = create(f.flavour, BackendOptions(cache_dir=Path(tmp), timing_cache=str(shared)))
                b.info()
                with b.prepare(point, make_problem(point)) as prepared:
                    settings = prepared.build.builder_settings
                seen.append(
                    (timing_cache.digest(before), settings.get("timing_cache_digest"), settings["engine_digest"])
                )
        (file_1, started_1, engine_1), (file_2, started_2, engine_2) = seen
        if started_1 != file_1 or started_2 != file_2 or file_2 == file_1:
            raise Failed(f"the second build started from {started_2}, the exported file is {file_2} (first: {file_1})")
        if engine_1 != engine_2:
            raise Failed(f"the same timings chose other tactics: {engine_1} then {engine_2}")
        return f"a shared file exported ({shared.stat().st_size} bytes) and imported: same tactics ({engine_2})"

    def inspector(self, f: feat.TrtFeatures, layer_info: list[str | None]) -> str:
        if not feat.can_inspect_built_engine(f, self.machine.gpu.name):
            raise NotRun(f"{f.flavour} {f.version} has no engine inspector")
        if not layer_info or layer_info[0] is None:
            raise Failed("no layer information recorded")
        info = json.loads(layer_info[0])
        layers = info.get("Layers") if isinstance(info, dict) else None
        if not layers:
            raise Failed(f"the inspector's JSON has no 'Layers': {layer_info[0][:200]}")
        names = [x.get("Name", "?") if isinstance(x, dict) else str(x) for x in layers]
        return f"{len(layers)} layer(s): {', '.join(names)[:200]}"

    def cli_refusal(self, name: str) -> str:
        """`python -m bench run --backend NAME --sweep seed` where its engines cannot run: exit 2, one line,
        nothing written. Run as a subprocess, so it is the command a user types."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="selfcheck-cli-") as tmp:
            out = Path(tmp) / "results"
            cmd = [sys.executable, "-m", "bench", "run", "--backend", name, "--sweep", "seed", "--out", str(out),
                   "--cache-dir", str(self.cache_dir), "--no-progress"]  # fmt: skip
            root = str(Path(bench.__file__).resolve().parent.parent)
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
            done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
            err = done.stderr.strip()
            if done.returncode != 2 or "\n" in err or not err.startswith("error: "):
                raise Failed(f"exit {done.returncode}; stderr: {err[-500:]!r}")
            if out.exists() and any(out.iterdir()):
                raise Failed(f"exit 2, but it wrote {sorted(p.name for p in out.iterdir())}")
            return f"exit 2: {err}"

    # -- the lean runtime -------------------------------------------------------------------------
    def lean(self) -> None:
        names = ["execution API", "a Runtime", "a damaged engine fails with TensorRT's own message"]
        module = self.machine.modules.get("tensorrt-lean")
        if module is None:
            self.report.not_run(LEAN, names, self.machine.missing.get("tensorrt-lean", "not installed"))
            return
        f = feat.detect(module, "tensorrt")

        def api() -> str:
            if not f.has_execute_v3:
                raise Failed(f"{module.__version__} has no execute_async_v3 / set_tensor_address")
            return (f"{module.__version__}: execute_async_v3 and set_tensor_address yes, execute_async_v2 "
                    f"{'yes' if f.has_execute_v2 else 'no'}, usable engine inspector "
                    f"{'yes' if f.has_inspector else 'no'}, builder {'yes' if hasattr(module, 'Builder') else 'no'}")  # fmt: skip

        self.check(LEAN, names[0], api)
        messages = MessageLog()
        runtime: list[Any] = []

        def make() -> str:
            try:
                runtime.append(created(lambda: module.Runtime(make_logger(module, messages)), messages, "Runtime"))
            except TensorRTError as exc:
                if self.machine.gpu is None:
                    return f"refused without a GPU (the harness never uses such a Runtime: it would crash): {exc}"
                raise
            if self.machine.gpu is None:
                raise Failed("a Runtime was created without a GPU and no error was logged")
            return f"created on {self.machine.gpu.name}"

        self.check(LEAN, names[1], make)
        if not runtime:
            self.report.not_run(LEAN, names[2:], "no Runtime (a GPU is needed to create one)")
            return

        def damaged() -> str:
            try:
                deserialize(runtime[0], DAMAGED_ENGINE, messages)
            except TensorRTError as exc:
                if any(fb in str(exc) for fb in FALLBACKS):
                    raise Failed(f"refused without a message of TensorRT's: {exc}") from None
                return f"failed with TensorRT's message: {exc}"
            raise Failed(f"a {len(DAMAGED_ENGINE)}-byte blob of zeros was accepted as an engine")

        self.check(LEAN, names[2], damaged)


def run_all(report: Report, machine: Machine, cache_dir: Path) -> None:
    checks = Checks(report, machine, cache_dir)
    for step in (checks.gpu_core, lambda: checks.flavour("tensorrt"), lambda: checks.flavour("tensorrt-rtx"),
                 checks.lean):  # fmt: skip
        try:
            step()
        except Exception as exc:  # a harness bug in one group must not hide the others
            report.add(Outcome("selfcheck", getattr(step, "__name__", "a group"), FAILED, describe(exc)))
