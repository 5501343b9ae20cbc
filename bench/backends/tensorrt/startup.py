"""What the TensorRT adapter checks before any point, so a run that cannot work stops at once with exit 2
and one line, instead of recording a row of failures (or building a sweep it can never run).

- The cache folder (--cache-dir) takes files: every engine and timing cache is written there.
- A GPU answers, unless --build-only; and without one, --build-only needs a module that builds ahead of
  time (TensorRT-RTX): full TensorRT's builder times kernels on the GPU it builds for.
- The runtime accepts this GPU. TensorRT-RTX builds for a list of compute capabilities and its runtime
  refuses every other GPU (Hopper among them). The only place that list is stated is TensorRT-RTX's
  own refusal, so the adapter builds the smallest engine (one 1-element UNIFORM scale layer, kept in the
  engine cache like any other) and deserialises it: the refusal, with TensorRT-RTX's words, is the line
  the user sees.

The messages are built here, from pure functions, so they are tested without a GPU.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from bench.point import DataSpec, Point, WeightsSpec

# TensorRT-RTX 1.7's runtime says "... which has compute capability 9.0 ... Supported compute capabilities:
# 8.0 8.6 ..." (the fragments are strings of libtensorrt_rtx.so.1). Read the list from whatever it says.
_SUPPORTED = re.compile(r"[Ss]upported compute capabilit(?:y|ies)(?:\s+are)?\s*:?\s*((?:\d+\.\d+[\s,;]*)+)")


def check_cache_dir(path: Path) -> None:
    """UserError naming --cache-dir unless a file can be created in ``path`` (made if missing)."""
    from bench.errors import UserError

    probe = Path(path) / f".write-test-{os.getpid()}"
    try:
        Path(path).mkdir(parents=True, exist_ok=True)
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        why = exc.strerror or type(exc).__name__
        raise UserError(
            f"--cache-dir {path}: cannot write there ({why}); engines and timing caches are kept in it: pass a "
            "folder you can write, e.g. --cache-dir /tmp/scale-bench-cache"
        ) from None


def no_gpu_line(backend: str, gpu_reason: str | None, build_without_gpu_reason: str | None) -> str:
    """The refusal of a run that executes engines on a machine where no GPU answers."""
    head = f"--backend {backend} executes engines on a CUDA GPU, and none answers here ({gpu_reason or 'no GPU'})"
    if build_without_gpu_reason is None:
        return f"{head}: add --build-only to build them ahead of time, or use --backend numpy to time the op on the CPU"
    return f"{head}; {build_without_gpu_reason}; or use --backend numpy to time the op on the CPU"


def supported_compute_capabilities(message: str) -> list[str]:
    """The compute capabilities a TensorRT-RTX refusal lists ("8.0 8.6 ..."), in its order; [] if none."""
    m = _SUPPORTED.search(message)
    return re.findall(r"\d+\.\d+", m.group(1)) if m else []


def gpu_refused_line(backend: str, module: str, gpu: str, compute_capability: str, message: str) -> str:
    """One line for a runtime that refuses this GPU: the compute capabilities it supports (from its own
    message, when it lists them), what to do instead, and TensorRT's message in full."""
    text = " ".join(message.split())  # one line, whatever TensorRT put in it
    ccs = supported_compute_capabilities(text)
    supports = f"; it runs engines on compute capabilities {', '.join(ccs)} only" if ccs else ""
    return (
        f"--backend {backend}: {module} cannot run engines on this GPU ({gpu}, compute capability "
        f"{compute_capability}){supports}. Build ahead of time with --build-only, or time this GPU with "
        f"--backend cuda. TensorRT said: {text}"
    )


def probe_point(backend: str) -> Point:
    """The smallest engine there is: one UNIFORM scale layer on a 1-element fp32 tensor."""
    return Point((1, 1, 1, 1), "uniform", "fp32", None, backend, WeightsSpec("constant", 0.0, 1.0), DataSpec("zeros"))
