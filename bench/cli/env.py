"""What this machine offers: GPU, CUDA, TensorRT flavours, and what `nox -s bench` would run."""

from __future__ import annotations

import argparse
import json

from bench.cli.console import console
from bench.env import host_facts, probe


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print machine-readable JSON")
    parser.add_argument("--recommend", action="store_true", help="print only '<sweep> <backend,...>' for scripts")


def run(args: argparse.Namespace) -> int:
    offer = probe()
    sweep, backends, why = offer.recommendation()
    if args.recommend:
        print(sweep, ",".join(backends))
        return 0
    facts = host_facts()
    if args.json:
        print(json.dumps({**facts, "gpu": offer.gpu, "gpu_detail": offer.gpu_reason, "cuda_python": offer.cuda_python,
                          "tensorrt": offer.tensorrt, "tensorrt_rtx": offer.tensorrt_rtx, **offer.details,
                          "recommended_sweep": sweep, "recommended_backends": backends}, indent=2))  # fmt: skip
        return 0
    console.print(f"host: {facts['host']}  python {facts['python_version']}  commit {facts['git_commit']}")
    console.print(f"GPU: {'yes, ' if offer.gpu else 'no: '}{offer.gpu_reason}")
    for k, v in offer.details.items():
        console.print(f"  {k}: {v}")

    def missing(extra: str) -> str:
        return f'not installed (pip install "scale-bench[{extra}]")'

    console.print(f"cuda-python: {offer.cuda_python or missing('gpu')}")
    console.print(f"tensorrt: {offer.tensorrt or missing('tensorrt')}")
    console.print(
        f"tensorrt_rtx: {offer.tensorrt_rtx or missing('rtx')}"
        + ("  (builds ahead of time; executes on Ampere/Ada/Blackwell, not Hopper)" if offer.tensorrt_rtx else "")
    )
    console.print(f"main job would run: sweep '{sweep}' on {', '.join(backends)} ({why})")
    return 0
