"""What launch each point of the `cuda` backend runs: the tuner (decisions by bench.gpu.tuning, records
in bench.gpu.tuning_store, carried launches from bench.gpu.launch_sets) and the timing of candidates.

The tuner times candidates with the shared timing core on the point's own buffers, rotated as the
point's own calls will be, with the run's timing method; `time_launches` is also what `bench tuning
scan` uses to time every candidate on every point.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from bench.backends.base import BackendOptions
from bench.gpu import kernel_layout, nvml, tuning
from bench.gpu import tuning_store as store
from bench.gpu.launch_sets import LaunchSet
from bench.timing.settings import TimingSettings

if TYPE_CHECKING:
    from bench.backends.cuda_backend import CudaScalePoint
    from bench.backends.gpu_common import GpuPreparedPoint
    from bench.gpu.cuda import Device


@dataclass(frozen=True)
class Choice:
    config: kernel_layout.KernelConfig
    source: str  # one of tuning.SOURCES
    key: str


def tuning_settings(run: TimingSettings) -> TimingSettings:
    """How a candidate is timed: the run's method and L2 state (a launch must win the way points are
    timed), with a short budget: a decision needs the ordering of launches that differ by a few tenths of
    a percent, which ~0.01 s of samples gives (medians of 50 or more samples), not a publishable time."""
    return replace(run, warmup_s=0.005, min_samples=5, min_time_s=0.01, max_time_s=0.05, target_noise=0.005, rounds=1)


INTERLEAVED_BUDGET_S = 0.004  # seconds of samples per launch and round, timed interleaved in one graph
INTERLEAVED_REPLAYS = (12, 200)  # replays per round at least, at most


def time_launches(
    point: CudaScalePoint, configs: list[kernel_layout.KernelConfig], rounds: int, run_timing: TimingSettings
) -> list[list[float] | str]:
    """Each configuration timed on the point's own (rotated) buffers with the run's timing method, in
    ``rounds`` rounds: its samples (pooled over the rounds), or the error that stopped it. A
    configuration that does not compile or run is a candidate with its error, not the end of the
    tuning."""
    from bench.gpu.cuda import CudaError

    out: list[list[float] | str] = [[] for _ in configs]
    try:
        point.bind_many(configs)  # compiled together, on a thread per core
    except (CudaError, ValueError):
        for i, cfg in enumerate(configs):
            try:
                point.bind(cfg)
            except (CudaError, ValueError) as one:
                out[i] = f"{type(one).__name__}: {one}"
    return time_each(point, lambda i: point.select(configs[i]), out, rounds, run_timing)


def time_each(
    point: GpuPreparedPoint,
    select: Callable[[int], object],
    out: list[list[float] | str],
    rounds: int,
    run_timing: TimingSettings,
) -> list[list[float] | str]:
    """Contender ``i`` (``select(i)`` makes the point run it) timed on the point's own (rotated) buffers
    with the run's timing method, for every ``i`` of ``out`` that holds samples (an error string is a
    contender that cannot run), in ``rounds`` rounds; samples are appended to ``out``. Shared by the
    kernel's tuner and the copy's choice between cudaMemcpyAsync and the copy kernel.

    Graph timing (warm or rotated L2) times them all interleaved in one graph (bench.timing.
    interleaved); event timing, a flushed L2, or a graph that cannot be captured time each one with the
    point's own loop."""
    from bench.gpu.cuda import CudaError

    interleave = run_timing.method == "graph" and not run_timing.l2_flush
    if interleave:
        _launch_each_once(point, select, out)
    runnable = [i for i, o in enumerate(out) if not isinstance(o, str)]
    if interleave and runnable:
        try:
            samples = _interleaved(point, select, runnable, rounds, run_timing)
        except (CudaError, RuntimeError) as exc:
            store.announce(f"timing contenders interleaved failed ({type(exc).__name__}: {exc}); one by one")
            point.stream.synchronize()
        else:
            for i, got in zip(runnable, samples, strict=True):
                out[i].extend(got)  # type: ignore[union-attr]
            return out
    return _one_by_one(point, select, out, rounds, run_timing)


def _launch_each_once(point: GpuPreparedPoint, select: Callable[[int], object], out: list[list[float] | str]) -> None:
    """Each contender that may run launched once, eagerly, before any capture: one that cannot launch
    (too many resources for its block, say) becomes its error string here, instead of invalidating the
    capture of the graph that times the others (which would send every contender to one-by-one timing)."""
    from bench.gpu import cuda
    from bench.gpu.cuda import CudaError

    for i, o in enumerate(out):
        if isinstance(o, str):
            continue
        try:
            select(i)
            point.enqueue(point.stream)
            point.stream.synchronize()
            cuda.check_last_error("a contender's first launch")
        except (CudaError, RuntimeError) as exc:
            out[i] = f"{type(exc).__name__}: {exc}"
            with contextlib.suppress(CudaError):  # a sticky error fails the point at its own timing
                point.stream.synchronize()


def _interleaved(
    point: GpuPreparedPoint,
    select: Callable[[int], object],
    runnable: list[int],
    rounds: int,
    run_timing: TimingSettings,
) -> list[list[float]]:
    from bench.timing.interleaved import time_interleaved

    launches = []
    for i in runnable:
        select(i)
        # the buffer sets after the selection, as `_one_by_one` and the point's own timing count them: a
        # launch's buffers are the selected one's (a cuda point has none selected before its first)
        sets = point.buffer_sets(run_timing)
        # set 0 of a rotation is `point.enqueue`, which runs whatever is selected when it is called (at
        # capture: the last contender); each contender's own set 0 is bound to it here
        launches.append([point.enqueue_on({}), *point.rotation(sets).enqueues[1:]])
    least, most = INTERLEAVED_REPLAYS
    return time_interleaved(
        launches,
        point.stream,
        floor_us=run_timing.sample_floor_us,
        budget_s=INTERLEAVED_BUDGET_S * len(runnable) * rounds,
        min_replays=least * rounds,
        max_replays=most * rounds,
    )


def _one_by_one(
    point: GpuPreparedPoint,
    select: Callable[[int], object],
    out: list[list[float] | str],
    rounds: int,
    run_timing: TimingSettings,
) -> list[list[float] | str]:
    from bench.gpu.cuda import CudaError
    from bench.timing.device import measure

    settings = tuning_settings(run_timing)
    for _ in range(rounds):
        for i, samples in enumerate(out):
            if isinstance(samples, str):
                continue
            try:
                select(i)
                rotation = point.rotation(point.buffer_sets(run_timing))
                m = measure(rotation.enqueues, point.stream, settings, device=point.device, nvml_index=None)
                samples.extend(float(v) for v in m.samples_us)
            except (CudaError, RuntimeError) as exc:
                out[i] = f"{type(exc).__name__}: {exc}"
                point.stream.synchronize()
    return out


class KernelTuner:
    """What each point runs: pinned, default, imported (--tuning-from), a stored decision, or decided now
    (bench.gpu.tuning: the class's candidates on its first point, its shortlist on every other)."""

    def __init__(self, options: BackendOptions) -> None:
        self.pin = tuning.parse_kernel_config(options.kernel_config)
        self.cache_dir = options.cache_dir
        self.run_timing = options.timing or TimingSettings()
        self.imported: LaunchSet | None = options.launches
        self._classes: dict[str, store.TuningRecord] = {}
        self._identity: store.GpuIdentity | None = None

    def identity(self, device: Device) -> store.GpuIdentity:
        if self._identity is None:
            driver = nvml.driver_version() or f"cuda-{device.driver_version}"
            timing = f"{self.run_timing.method}-{self.run_timing.l2_mode}"
            self._identity = store.GpuIdentity(
                device.name, device.uuid or f"index-{device.index}", driver, timing=timing
            )
            self._check_imported(self._identity)
        return self._identity

    def _check_imported(self, identity: store.GpuIdentity) -> None:
        """Say once what the imported launches are, and drop them where they cannot stand for this GPU."""
        if self.imported is None:
            return
        why = self.imported.refusal(identity.name, identity.generator)
        if why:
            store.announce(f"kernel tuning: not using the launches of {self.imported.origin}: {why}; tuning here")
            self.imported = None
            return
        store.announce(
            f"kernel tuning: {len(self.imported.launches)} launches from {self.imported.origin}"
            + (f" (decided with {self.imported.timing})" if self.imported.timing else "")
        )
        for note in self.imported.notes:
            store.announce(f"kernel tuning: {note}")

    def choose(self, point: CudaScalePoint) -> Choice:
        p, device = point.problem.point, point.device
        vector = point.layouts["vector"]
        size = tuning.size_class(p.numel, p.tensor_bytes, device.l2_bytes)
        key = tuning.tuning_key(vector, size, point.problem.power_is_one)
        base = tuning.default_config(vector, size)
        if self.pin is not None:
            return (
                Choice(base, "default", key) if self.pin.defaults_only else Choice(self.pin.apply(base), "pinned", key)
            )
        identity = self.identity(device)
        if self.imported is not None:
            config = self.imported.lookup(p.key)
            if config is not None:
                return Choice(config, "imported", key)
            store.announce(f"kernel tuning: {p.label()} is not among the imported launches; deciding it here")
        record = store.load_point(identity, self.cache_dir, key, p.key)
        if record is not None:
            return Choice(record.config, "cached", key)
        cls = self._class(point, key, size, identity)
        if cls.tuned_on.get("point_key") == p.key:  # the class was tuned on this point just now
            record = replace(cls, point_key=p.key, shortlist=[])
        else:
            record = self._check(point, cls, identity)
        self._save(identity, record)
        return Choice(record.config, record.source, key)

    def _class(self, point: CudaScalePoint, key: str, size: str, identity: store.GpuIdentity) -> store.TuningRecord:
        """The class's record: from this process, from the store, or tuned now on ``point``, under the
        class's lock so that workers of one host tune a class once."""
        if key not in self._classes:
            with store.class_lock(identity, self.cache_dir, key):
                record = store.load_class(identity, self.cache_dir, key)
                if record is None:
                    record = self._tune(point, key, size, identity)
                    self._save(identity, record)
                else:
                    store.announce(store.describe(record, "cached"))
            self._classes[key] = record
        return self._classes[key]

    def _tune(self, point: CudaScalePoint, key: str, size: str, identity: store.GpuIdentity) -> store.TuningRecord:
        """Every candidate once, the finalists again (interleaved), then the rule (bench.gpu.tuning)."""
        configs = tuning.candidates(point.layouts["vector"], size, point.layouts.get("direct"))
        store.announce(
            f"kernel tuning [{point.device.name}] {key}: timing {len(configs)} launch configurations on "
            f"{point.problem.point.label()}"
        )
        t0 = time.perf_counter()
        timed = time_launches(point, configs, 1, self.run_timing)
        final = tuning.finalists(_candidates(configs, timed, 1))
        again = time_launches(point, [configs[i] for i in final], tuning.FINALIST_ROUNDS, self.run_timing)
        for i, more in zip(final, again, strict=True):
            timed[i] = more if isinstance(more, str) else timed[i] + more  # type: ignore[operator]
        cands = _candidates(configs, timed, 1)
        for i in final:
            cands[i].rounds += tuning.FINALIST_ROUNDS
        chosen = final[tuning.decide([cands[i] for i in final])]
        keep = tuning.shortlist(cands, chosen)
        record = self._record(point, key, identity, cands, chosen, time.perf_counter() - t0, "tuned")
        record.shortlist = [configs[i].as_dict() for i in keep]
        store.announce(store.describe(record, "tuned"))
        return record

    def _check(self, point: CudaScalePoint, cls: store.TuningRecord, identity: store.GpuIdentity) -> store.TuningRecord:
        """The class's shortlist timed on this point, interleaved; the rule picks (the class's own pick
        where only it is listed)."""
        configs = cls.shortlist_configs
        t0 = time.perf_counter()
        if len(configs) == 1:
            cands = [tuning.Candidate(configs[0].as_dict(), configs[0].label())]
            return self._record(point, cls.key, identity, cands, 0, 0.0, "checked", for_point=True, untimed_ok=True)
        cands = _candidates(
            configs, time_launches(point, configs, tuning.CHECK_ROUNDS, self.run_timing), tuning.CHECK_ROUNDS
        )
        chosen = tuning.decide(cands)
        return self._record(
            point, cls.key, identity, cands, chosen, time.perf_counter() - t0, "checked", for_point=True
        )

    def _record(
        self,
        point: CudaScalePoint,
        key: str,
        identity: store.GpuIdentity,
        cands: list[tuning.Candidate],
        chosen: int,
        seconds: float,
        source: str,
        *,
        for_point: bool = False,
        untimed_ok: bool = False,
    ) -> store.TuningRecord:
        """The record of a decision: the class's (``for_point`` False) or this point's."""
        p, device = point.problem.point, point.device
        if not untimed_ok and not cands[chosen].timed:
            raise ValueError(f"kernel tuning chose an untimed candidate for {p.label()}")
        return store.TuningRecord(
            key=key,
            gpu={
                "name": device.name,
                "uuid": identity.uuid,
                "sm_count": device.sm_count,
                "l2_bytes": device.l2_bytes,
                "compute_capability": device.compute_capability,
            },
            driver=identity.driver,
            generator=identity.generator,
            timing=identity.timing,
            tuned_on={
                "shape": p.shape_str,
                "mode": p.mode,
                "precision": p.precision,
                "channel_axis": p.axis_label,
                "point_key": p.key,
                "label": p.label(),
            },
            settings=tuning_settings(self.run_timing).to_dict(),
            candidates=cands,
            chosen=cands[chosen].config,
            source=source,
            tuning_s=seconds,
            point_key=p.key if for_point else None,
        )

    def _save(self, identity: store.GpuIdentity, record: store.TuningRecord) -> None:
        try:
            store.save_record(identity, self.cache_dir, record)
        except OSError as exc:  # a read-only cache costs a re-tune next run, not this run
            store.announce(f"kernel tuning: could not store the record under {self.cache_dir}: {exc}")


def _candidates(
    configs: list[kernel_layout.KernelConfig], timed: list[list[float] | str], rounds: int
) -> list[tuning.Candidate]:
    """Candidates from `time_launches`'s samples (`tuning.timed_candidate`)."""
    return [
        tuning.timed_candidate(cfg.as_dict(), cfg.label(), samples, rounds)
        for cfg, samples in zip(configs, timed, strict=True)
    ]
