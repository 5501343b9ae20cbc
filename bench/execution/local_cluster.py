"""A Dask cluster on this host: one worker process per GPU (`--gpus`), or one for this host's device
(`--isolate`), each under a nanny that replaces it when it dies.

Each worker is a `distributed.Nanny` with one thread, no Dask memory limit (the harness checks a point's
footprint itself; Dask's limit would kill a worker holding a big point), its own environment and its
share of the host's cores:
- CUDA_VISIBLE_DEVICES=<the GPU>, so the worker's device 0 is its GPU. GPUs are named as nvidia-smi
  numbers them (CUDA_DEVICE_ORDER=PCI_BUS_ID makes CUDA agree), or, where this process already has
  CUDA_VISIBLE_DEVICES, by position in that list;
- BENCH_CPUS=<its share of the cores> (bench.execution.affinity);
- DASK_LOGGING__DISTRIBUTED=error, so worker processes do not fill the terminal with Dask's start-up lines.
GPU workers offer the resource GPU=1, as workers of a shared cluster do (bench.execution.cluster asks for it).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from typing import Any

from bench.errors import UserError
from bench.execution import affinity
from bench.execution.admission import GPU_RESOURCE
from bench.execution.on_worker import LOCAL_WORKER_ENV

# Worker processes: only errors on the terminal; no sampling profiler or GIL monitor (each takes the GIL
# from the thread that times points, every 10 ms and every 1 ms).
QUIET_WORKER_ENV = {
    "DASK_LOGGING__DISTRIBUTED": "error",
    "DASK_DISTRIBUTED__WORKER__PROFILE__ENABLED": "False",
    "DASK_DISTRIBUTED__ADMIN__SYSTEM_MONITOR__GIL__ENABLED": "False",
}
START_TIMEOUT_S = 120


@dataclass(frozen=True)
class LocalSlot:
    """One worker process to start."""

    name: str
    env: dict[str, str] = field(default_factory=dict)
    resources: dict[str, float] = field(default_factory=dict)


def _visible_from_env() -> list[str] | None:
    """This process's CUDA_VISIBLE_DEVICES entries, or None where it is not set."""
    text = os.environ.get("CUDA_VISIBLE_DEVICES")
    if text is None:
        return None
    return [e.strip() for e in text.split(",") if e.strip() and e.strip() != "-1"]


def host_gpus() -> list[str]:
    """The GPUs a worker can be given, as CUDA_VISIBLE_DEVICES values, in order."""
    visible = _visible_from_env()
    if visible is not None:
        if not visible:
            raise UserError(
                "--gpus: CUDA_VISIBLE_DEVICES hides every GPU from this process; unset it or name GPUs in it"
            )
        return visible
    from bench.gpu import nvml

    count = nvml.device_count()
    if count is None:
        _, why = nvml.available()
        fix = (
            "install the gpu extra (pip install 'scale-bench[gpu]')"
            if "not installed" in why  # NVML's package is missing; else it is there and the driver is not
            else "run on a host with NVIDIA GPUs and their driver"
        )
        raise UserError(
            f"--gpus: cannot count this host's GPUs ({why}); {fix}, or list the GPUs in CUDA_VISIBLE_DEVICES"
        )
    if count == 0:
        raise UserError("--gpus: the driver shows no GPU on this host; run without --gpus")
    return [str(i) for i in range(count)]


def parse_gpus(text: str, available: int) -> list[int]:
    """'all', '0,2,3' or '0-3' -> positions among the ``available`` GPUs, each once, in the order given."""
    text = text.strip().lower()
    if text == "all":
        return list(range(available))
    try:
        chosen: list[int] = []
        for part in text.split(","):
            lo, sep, hi = part.strip().partition("-")
            chosen.extend(range(int(lo), int(hi) + 1) if sep else [int(lo)])
    except ValueError:
        raise UserError(f"--gpus {text!r}: expected 'all' or GPU indices such as 0,2,3 or 0-3") from None
    if not chosen:
        raise UserError(f"--gpus {text!r}: expected 'all' or GPU indices such as 0,2,3 or 0-3")
    dupes = sorted({i for i in chosen if chosen.count(i) > 1})
    if dupes:
        raise UserError(f"--gpus {text!r}: GPU {dupes[0]} is named twice; each GPU gets one worker")
    bad = [i for i in chosen if not 0 <= i < available]
    if bad:
        raise UserError(
            f"--gpus {text!r}: GPU {bad[0]} does not exist here; this host shows {available} (0-{available - 1})"
        )
    return chosen


def gpu_slots(text: str) -> list[LocalSlot]:
    """One worker per GPU named by ``--gpus``, each with its GPU and its share of this process's cores."""
    gpus = host_gpus()
    chosen = parse_gpus(text, len(gpus))
    shares = affinity.split(affinity.available(), len(chosen))
    order = {} if _visible_from_env() is not None else {"CUDA_DEVICE_ORDER": "PCI_BUS_ID"}
    return [
        LocalSlot(
            f"gpu{gpus[i]}",
            {"CUDA_VISIBLE_DEVICES": gpus[i], affinity.ENV: affinity.format_cpus(share), **order},
            {GPU_RESOURCE: 1},
        )
        for i, share in zip(chosen, shares, strict=True)
    ]


def isolated_slot() -> LocalSlot:
    """One worker for this process's device (the backends' --device) with every core this process has."""
    return LocalSlot("isolated", {affinity.ENV: affinity.format_cpus(affinity.available())}, {GPU_RESOURCE: 1})


def start(slots: list[LocalSlot]) -> tuple[Any, Any]:
    """Start a scheduler on 127.0.0.1 and a nanny per slot; (cluster, client) once every worker is up."""
    from distributed import Client, Nanny, Scheduler, SpecCluster

    workers = {
        slot.name: {
            "cls": Nanny,
            "options": {
                "nthreads": 1,
                "memory_limit": 0,
                "resources": dict(slot.resources),
                "env": {LOCAL_WORKER_ENV: "1", **slot.env},
            },
        }
        for slot in slots
    }
    scheduler = {
        "cls": Scheduler,
        "options": {"dashboard": False, "dashboard_address": ":0", "host": "127.0.0.1", "port": 0},
    }
    import dask

    # Set in the environment the worker processes are spawned with (Dask's own knob for what must be there
    # before the worker imports anything): their logging is configured at import.
    pre_spawn = {**dask.config.get("distributed.nanny.pre-spawn-environ", {}), **QUIET_WORKER_ENV}
    with dask.config.set({"distributed.nanny.pre-spawn-environ": pre_spawn}):
        cluster = SpecCluster(workers=workers, scheduler=scheduler, silence_logs=logging.ERROR, name="scale-bench")
    try:
        client = Client(cluster, set_as_default=False)
        client.wait_for_workers(len(slots), timeout=START_TIMEOUT_S)
    except BaseException:
        cluster.close()
        raise
    return cluster, client
