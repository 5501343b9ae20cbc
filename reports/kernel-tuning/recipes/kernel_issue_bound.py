"""How close a kernel point is to the SMs' instruction-issue limit: the bound bench/analysis/roofline.py
does not model, and the one that stops int8 on a GPU whose memory outruns its arithmetic.

For each cuda point of a run at or above --min-mib (default 64), this builds the kernel source that this
checkout's generator writes for the launch the row's `kernel_config` names, compiles it to PTX with NVRTC
(no GPU needed), and counts the instructions of its largest basic block: the per-vector body, what one
thread executes for one 16-byte vector. Where the generator changed since the run (the first line
names both), the counts are today's kernel's against the run's times: what the change should buy. The
issue time is then

    ceil(vectors / 32) warps x instructions per vector / (SMs x 4 schedulers x SM clock)

(one instruction per scheduler per clock, Hopper's peak issue), beside the copy's time for the same
tensor (the memcpy row of the run) and the point's own time. An estimate: PTX is not SASS (ptxas adds
and removes instructions), and memory and issue overlap imperfectly as their times approach each
other, so a kernel whose issue time is a large share of the copy's time falls short of the copy
although neither bound alone says so.

Usage: python reports/kernel-tuning/recipes/kernel_issue_bound.py RUN.parquet [--precision int8] [--min-mib 64]
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys

from bench.gpu import kernel_cache, kernel_generator, kernel_layout, kernel_source
from bench.results import load

SCHEDULERS_PER_SM = 4


def body_instructions(ptx: str) -> int:
    """Instructions in the largest basic block of the kernel's PTX (labels, directives, braces excluded)."""
    entry = ptx[ptx.index(".entry") :]
    blocks = re.split(r"\n\$L__BB\d+_\d+:", entry)

    def count(block: str) -> int:
        lines = (line.strip() for line in block.splitlines())
        return sum(
            1 for line in lines if line and not line.startswith(("//", ".", "{", "}", "(", ")")) and line.endswith(";")
        )

    return max(count(b) for b in blocks)


def config_of(row: dict) -> kernel_layout.KernelConfig:
    k = row["kernel_config"]
    return kernel_layout.KernelConfig(
        k["variant"], int(k["block"]), int(k["vectors_per_thread"]), k["grid"], k["cache_hint"]
    )


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("run")
    ap.add_argument("--precision", default="int8")
    ap.add_argument("--min-mib", type=float, default=64)
    args = ap.parse_args(argv)
    df = load(args.run)
    ok = df[df["status"] == "ok"]
    copies = ok[ok["backend"] == "memcpy"].set_index(["numel", "precision"])["median_us"]
    rows = ok[(ok["backend"] == "cuda") & (ok["precision"] == args.precision)]
    first = ok.iloc[0]
    env = json.loads(first["environment"])
    sms = int(env["sm_count"])
    clock = max(float((r or {}).get("after", {}).get("max_sm_clock_mhz") or 0) for r in ok["clocks"]) * 1e6
    issue_rate = sms * SCHEDULERS_PER_SM * clock  # warp-instructions per second
    print(f"{first['gpu_name']}: {sms} SMs x {SCHEDULERS_PER_SM} schedulers at {clock / 1e6:.0f} MHz = "
          f"{issue_rate / 1e12:.3f}e12 warp-instructions/s; {args.precision} points >= {args.min_mib:g} MiB")  # fmt: skip
    ran = sorted({str(k.get("kernel_generator")) for k in rows["kernel_config"] if k.get("kernel_generator")})
    print(f"kernel source: this checkout's generator {kernel_generator.generator_hash()}; the run's rows name "
          f"{', '.join(ran) if ran else 'no generator (recorded from 2026-12 on)'}")  # fmt: skip
    print()
    print("| point | config | PTX instr/vector | issue us | copy us | point us | issue/copy | point/copy |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    cache: dict[tuple, int] = {}
    for _, r in rows.sort_values(["mode", "channel_axis"]).iterrows():
        item = kernel_layout.vector_width(r["precision"])
        if r["numel"] * 16 / item < args.min_mib * 2**20:
            continue
        shape = tuple(int(d) for d in r["dims"])
        axis = None if r["channel_axis"] == "default" else int(r["channel_axis"])
        layout = kernel_layout.scale_layout(shape, r["mode"], axis, r["precision"])
        cfg = config_of(r)
        spec = kernel_source.kernel_spec(layout, kernel_layout.effective_config(layout, cfg), True)
        key = (spec,)
        if key not in cache:
            cache[key] = body_instructions(
                kernel_cache.compile_ptx(kernel_source.kernel_source(spec), "k", "compute_90")
            )
        instr = cache[key]
        vectors = math.ceil(r["numel"] / item)
        issue_us = math.ceil(vectors / 32) * instr / issue_rate * 1e6
        copy_us = float(copies.get((r["numel"], r["precision"]), float("nan")))
        label = f"{r['mode']} {r['precision']} {r['shape']} axis={r['channel_axis']}"
        conf = f"{cfg.variant} b{cfg.block} v{cfg.vpt} {cfg.grid}"
        print(f"| {label} | {conf} | {instr} | {issue_us:.1f} | {copy_us:.1f} | {r['median_us']:.1f} | "
              f"{issue_us / copy_us:.0%} | {r['median_us'] / copy_us:.0%} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
