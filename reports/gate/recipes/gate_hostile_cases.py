"""Replay the cases where a gate or comparison used to give the wrong answer, through the real CLI.

    python reports/gate/recipes/gate_hostile_cases.py --h100 RUNS --h200 RUNS --cpu RUNS --events RUNS --two-gpu RUN \
        [--work DIR] > reports/gate/hostile-cases.md

Each case is built from committed runs (the paths are arguments: the one-buffer-set folders move to
archive/results-v2/): rows are copied into new results files in --work with `samples_us` scaled for the
points the case names (and median, mean, min, p90, p99, cv, noise and GB/s recomputed from the scaled
samples, as the harness would have written them), or a column changed (a driver version, a launch).
Then `python -m bench gate|compare|report` runs on those files as a user would run it, from the
repository root (so the committed noise profiles in results/_baselines/ apply as they would), and the
table says what each case must give, what it gave, and the headline. Deterministic (seeded).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))

from bench.results.store import read_table, results_files  # noqa: E402
from bench.stats import rel_mad, summarize  # noqa: E402

DECISIONS = ("PASS", "FAIL", "REFUSED", "UNDECIDED", "CROSS", "error:")
SCALED = ("median_us", "mean_us", "min_us", "p90_us", "p99_us", "cv", "noise", "gbps")


@dataclass
class Case:
    name: str
    setup: str
    expect: str  # "pass", "not pass", "refuse" (exit 2), "fail" (exit 1)
    argv: list[str]
    exit_code: int = -1
    headline: str = ""
    seconds: float = 0.0
    extra: list[str] = field(default_factory=list)

    @property
    def right(self) -> bool:
        want = {"pass": {0}, "not pass": {1, 2}, "refuse": {2}, "fail": {1}, "not fail": {0, 2}}[self.expect]
        return self.exit_code in want


def runs_of(path: str) -> list[Path]:
    """The run files of a folder, in time order (run ids start with their UTC start)."""
    return sorted(results_files([path]), key=lambda p: p.name)


def rows_where(table: pa.Table, **match: object) -> np.ndarray:
    """Boolean mask of the ok rows whose columns equal (or, for callables, satisfy) `match`."""
    mask = np.array([s == "ok" for s in table.column("status").to_pylist()])
    for column, want in match.items():
        values = table.column(column).to_pylist()
        mask &= np.array([want(v) if callable(want) else v == want for v in values])
    return mask


def rewrite(src: Path, dst: Path, mask: np.ndarray | None = None, factor: float = 1.0, *, tail_share: float = 0.0,
            set_column: dict | None = None, seed: int = 0) -> Path:  # fmt: skip
    """`src` as a new results file `dst`: the masked rows' samples times `factor` (or, with `tail_share`,
    that share of their samples times `factor`) with every statistic recomputed; `set_column` replaces
    whole columns' values ({name: function(old value, row index) -> new value})."""
    table = read_table(src)
    mask = np.zeros(table.num_rows, bool) if mask is None else mask
    rng = np.random.default_rng(seed)
    samples = table.column("samples_us").to_pylist()
    stats = {c: table.column(c).to_pylist() for c in SCALED}
    moved = table.column("bytes_moved").to_pylist()
    for i in np.flatnonzero(mask):
        x = np.asarray(samples[i], dtype=np.float64)
        if tail_share:
            pick = rng.random(x.size) < tail_share
            x = np.where(pick, x * factor, x)
        else:
            x = x * factor
        samples[i] = x.tolist()
        new = summarize(x)
        for c in ("median_us", "mean_us", "min_us", "p90_us", "p99_us", "cv"):
            stats[c][i] = new[c]
        stats["noise"][i] = rel_mad(x)
        if moved[i]:
            stats["gbps"][i] = moved[i] / (new["median_us"] * 1e3)
    columns = {"samples_us": samples, **stats}
    for name, fn in (set_column or {}).items():
        columns[name] = [fn(v, i) for i, v in enumerate(table.column(name).to_pylist())]
    for name, values in columns.items():
        index = table.schema.get_field_index(name)
        table = table.set_column(
            index, table.schema.field(index), pa.array(values, type=table.schema.field(index).type)
        )
    dst.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, dst)
    return dst


def cli(argv: list[str]) -> tuple[int, str, float]:
    """`python -m bench ARGV` from the repository root: exit code, output, seconds."""
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "bench", *argv], cwd=ROOT, capture_output=True, text=True,
                          env={"COLUMNS": "200", "PATH": "/usr/bin:/bin"})  # fmt: skip
    return done.returncode, done.stdout + done.stderr, time.perf_counter() - start


def headline(output: str) -> str:
    """The decision (its lines joined: the terminal wraps at 100 columns), and the first point it names."""
    lines = output.splitlines()
    start = next((i for i, line in enumerate(lines) if line.startswith(DECISIONS)), None)
    if start is None:
        return output.strip().splitlines()[0] if output.strip() else ""
    end = next(
        (i for i in range(start + 1, len(lines)) if lines[i].startswith("  ") or not lines[i].strip()), len(lines)
    )
    first = " ".join(line.strip() for line in lines[start:end])
    named = next(
        (i for i, line in enumerate(lines) if line.startswith(("  slower", "  undecided", "  not judged"))), None
    )
    if named is None:
        return first
    after = next(
        (i for i in range(named + 1, len(lines)) if lines[i].startswith("  ") or not lines[i].strip()), len(lines)
    )
    return f"{first} — {' '.join(line.strip() for line in lines[named:after])}"


def kernel(v) -> bool:
    return v == "cuda"


def gate_case(name: str, setup: str, expect: str, base: list[Path], cand: list[Path], *extra: str) -> Case:
    argv = [
        "gate",
        *(a for p in base for a in ("--base", str(p))),
        *(a for p in cand for a in ("--cand", str(p))),
        *extra,
    ]
    return Case(name, setup, expect, argv)


def scaled_sets(
    work: Path, tag: str, runs: list[Path], n_base: int, n_cand: int, **where
) -> tuple[list[Path], list[Path]]:
    """Base: the first n_base runs as they are; cand: the next n_cand with the rows `where` selects
    scaled (where: factor, and per-column matches or a `mask` function of the table)."""
    factor = where.pop("factor")
    select = where.pop("mask", None)
    cand = []
    for i, src in enumerate(runs[n_base : n_base + n_cand]):
        table = read_table(src)
        mask = select(table) if select else rows_where(table, **where)
        cand.append(rewrite(src, work / tag / f"cand-{i}" / src.name, mask, factor))
    return runs[:n_base], cand


def gpu_cases(work: Path, h100: list[Path]) -> list[Case]:
    cases = []
    no_copy = work / "no-copy"
    strip = [
        rewrite_filtered(
            src, no_copy / src.name, lambda t: np.array([b != "memcpy" for b in t.column("backend").to_pylist()])
        )
        for src in h100[:2]
    ]
    b, c = (
        strip[:1],
        [
            rewrite(
                strip[1], work / "nocopy-x1.30" / strip[1].name, rows_where(read_table(strip[1]), backend="cuda"), 1.30
            )
        ],
    )
    cases.append(gate_case("no copy, every kernel x1.30", "H100, 1 vs 1, memcpy rows removed", "not pass", b, c))
    channel = lambda t: _first_n(rows_where(t, backend="cuda", mode="channel"), 100)  # noqa: E731
    c = [rewrite(strip[1], work / "nocopy-100ch" / strip[1].name, channel(read_table(strip[1])), 1.08)]
    cases.append(gate_case("100 channel points x1.08, no copy", "H100, 1 vs 1, memcpy rows removed", "not pass", b, c))
    b, c = scaled_sets(work, "100ch", h100, 1, 1, factor=1.08, mask=channel)
    cases.append(gate_case("100 channel points x1.08", "H100, 1 vs 1, with memcpy", "not pass", b, c))
    for tag, n_base, n_cand in (("4v1", 4, 1), ("2v2", 2, 2), ("1v1", 1, 1)):
        b, c = scaled_sets(work, f"int8-{tag}", h100, n_base, n_cand, factor=1.20, precision="int8")
        cases.append(gate_case(f"int8 kernels and copies x1.20 ({tag})", f"H100, {tag}", "not pass", b, c))
        b, c = scaled_sets(work, f"fp32-{tag}", h100, n_base, n_cand, factor=1.5, precision="fp32")
        cases.append(gate_case(f"fp32 kernels and copies x1.5 ({tag})", f"H100, {tag}", "not pass", b, c))
        b, c = scaled_sets(work, f"big-{tag}", h100, n_base, n_cand, factor=1.25, shape="64x256x64x64")
        cases.append(gate_case(f"64x256x64x64 kernels and copies x1.25 ({tag})", f"H100, {tag}", "not pass", b, c))
    for tag, n_base in (("4v1", 4), ("1v1", 1)):
        src = h100[n_base]
        t = read_table(src)
        step = rewrite(src, work / f"both-{tag}" / "step" / src.name, rows_where(t, backend="cuda"), 1.059)
        c = [rewrite(step, work / f"both-{tag}" / src.name, rows_where(read_table(step), backend="memcpy"), 1.029)]
        cases.append(gate_case(f"kernels x1.059, copies x1.029 ({tag})", f"H100, {tag}", "not pass", h100[:n_base], c))
    b, c = scaled_sets(work, "all-x1.05", h100, 1, 1, factor=1.05, mask=lambda t: rows_where(t))
    cases.append(gate_case("every kernel and copy x1.05", "H100, 1 vs 1", "not pass", b, c))
    return cases


def _first_n(mask: np.ndarray, n: int) -> np.ndarray:
    out = np.zeros_like(mask)
    out[np.flatnonzero(mask)[:n]] = True
    return out


def rewrite_filtered(src: Path, dst: Path, keep) -> Path:
    table = read_table(src)
    dst.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table.filter(pa.array(keep(table))), dst)
    return dst


def noisy_point(table: pa.Table) -> np.ndarray:
    return rows_where(
        table, backend="cuda", mode="elementwise", precision="fp16", shape="8x128x56x56", channel_axis="1"
    )


def small_cases(work: Path, h100: list[Path]) -> list[Case]:
    """Changes below the threshold, a driver change, a tail, a launch change."""
    cases = []
    for i, src in enumerate(h100):  # every leave-one-out split of the five runs; run 2 is the one the
        base = [p for p in h100 if p != src]  # other four agree against for this point (sd 0.82%)
        c = [rewrite(src, work / f"x1.025-{i}" / src.name, noisy_point(read_table(src)), 1.025)]
        cases.append(
            gate_case(
                f"one point x1.025, cand run {i + 1}",
                "H100, 4 vs 1, elementwise fp16 8x128x56x56 axis=1",
                "pass",
                base,
                c,
            )
        )
    src = h100[1]
    c = [rewrite(src, work / "driver" / src.name, set_column={"driver_version": lambda v, i: "590.10.01"})]
    cases.append(gate_case("another driver", "H100, 1 vs 1, cand's driver_version 590.10.01", "refuse", h100[:1], c))
    t = read_table(src)
    point = rows_where(t, backend="cuda", mode="channel", precision="fp32", shape="64x256x64x64", channel_axis="1")
    c = [rewrite(src, work / "tail" / src.name, point, 2.0, tail_share=0.45, seed=1)]
    cases.append(
        gate_case("45% of one point's calls x2", "H100, 1 vs 1, channel fp32 64x256x64x64 axis=1", "fail", h100[:1], c)
    )
    configs = t.column("kernel_config").to_pylist()
    first = int(np.flatnonzero(point)[0])

    def launch(value, i):
        if i != first:
            return value
        d = dict(value)
        d["block"] = "512" if d.get("block") != "512" else "256"
        return list(d.items())

    c = [rewrite(src, work / "launch" / src.name, set_column={"kernel_config": launch})]
    case = gate_case(
        "one point ran another launch", "H100, 1 vs 1, cand's block changed on one point", "pass", h100[:1], c
    )
    old, new = dict(configs[first]), dict(launch(configs[first], first))
    case.extra = [f"b{old['block']} v{old['vectors_per_thread']}", f"b{new['block']} v{new['vectors_per_thread']}"]
    cases.append(case)
    return cases


def cpu_cases(work: Path, cpu: list[Path]) -> list[Case]:
    cases = []
    for factor in (2.0, 1.5):
        b, c = scaled_sets(work, f"cpu-x{factor}", cpu, 1, 1, factor=factor, mask=lambda t: rows_where(t))
        cases.append(gate_case(f"every CPU point x{factor:g}", "CPU smoke, 1 vs 1 (no copy)", "not pass", b, c))
    half = lambda t: _first_n(rows_where(t), int(rows_where(t).sum()) // 2)  # noqa: E731
    b, c = scaled_sets(work, "cpu-half", cpu, 1, 1, factor=1.5, mask=half)
    cases.append(gate_case("half the CPU points x1.5", "CPU smoke, 1 vs 1", "not pass", b, c))
    b, c = scaled_sets(work, "cpu-aa", cpu, 1, 1, factor=1.0, mask=lambda t: rows_where(t))
    cases.append(gate_case("CPU A/A", "CPU smoke, 1 vs 1, nothing changed", "not fail", b, c))
    return cases


def events_cases(work: Path, events: list[Path]) -> list[Case]:
    one = lambda t: _first_n(rows_where(t, backend="cuda"), 1)  # noqa: E731
    b, c = scaled_sets(work, "ev-one", events, 1, 1, factor=1.10, mask=one)
    cases = [gate_case("events: one point x1.10", "H100 events, 1 vs 1", "refuse", b, c)]
    b, c = scaled_sets(work, "ev-all", events, len(events) - 1, 1, factor=1.05, backend="cuda")
    cases.append(gate_case("events: every point x1.05", f"H100 events, {len(events) - 1} vs 1", "refuse", b, c))
    return cases


def run_cases(cases: list[Case]) -> None:
    for case in cases:
        case.exit_code, out, case.seconds = cli(case.argv)
        case.headline = headline(out)
        if case.extra:  # strings the output must show
            shown = all(s in out for s in case.extra)
            case.headline += f" [shows {' and '.join(case.extra)}: {'yes' if shown else 'NO'}]"
            if not shown:
                case.exit_code = -1


def csv_verdicts(argv: list[str]) -> dict[tuple[str, str], str]:
    import io

    import pandas as pd

    code, out, _ = cli([*argv, "--format", "csv"])
    if code != 0:
        raise SystemExit(f"{' '.join(argv)}: exit {code}: {out[-400:]}")
    frame = pd.read_csv(io.StringIO(out))
    return {(k, b): v for k, b, v in zip(frame["point_key"], frame["backend"], frame["verdict"], strict=True)}


def gpus_section(h100: list[Path], h200: list[Path]) -> list[str]:
    """H100 against H200: one run each, and four each; verdict counts, points without one, agreement."""
    one = csv_verdicts(["compare", str(h100[0]), str(h200[0])])
    four = csv_verdicts(
        [
            "compare",
            *(a for p in h100[:4] for a in ("--base", str(p))),
            *(a for p in h200[:4] for a in ("--cand", str(p))),
        ]
    )
    counts = {v: sum(1 for x in one.values() if x == v) for v in ("slower", "faster", "same", "undecided", "ambiguous")}
    none = counts["undecided"] + counts["ambiguous"]
    shared = [k for k in one if k in four]
    agree = sum(one[k] == four[k] for k in shared)
    return [
        f"- H100 ({h100[0].stem}) vs H200 ({h200[0].stem}), one run each: {len(one)} points: "
        + ", ".join(f"{v} {n}" for v, n in counts.items())
        + f"; without a verdict: {none} ({none / len(one):.1%}; goal <= 10%)",
        f"- the same one-run verdicts against {min(4, len(h100))} vs {min(4, len(h200))} runs: {agree} of {len(shared)} "
        f"points agree ({agree / len(shared):.1%}; goal >= 95%)",
    ]


def counts_section(work: Path, h200: list[Path]) -> list[str]:
    """compare, gate and report on the same files: the verdict counts of each."""
    import pandas as pd

    base = h200[:2]
    cand = [
        rewrite(
            src,
            work / "counts" / src.name,
            _first_n(rows_where(read_table(src), backend="cuda", mode="channel"), 40),
            1.06,
            set_column={"git_commit": lambda v, i: "0" * 40},
        )
        for src in h200[2:4]
    ]
    sides = [*(a for p in base for a in ("--base", str(p))), *(a for p in cand for a in ("--cand", str(p)))]
    compared = csv_verdicts(["compare", *sides])
    code, out, _ = cli(["gate", *sides, "--format", "csv"])
    import io

    gated = pd.read_csv(io.StringIO(out))
    report_dir = work / "counts-report"
    shutil.rmtree(report_dir, ignore_errors=True)
    rcode, rout, _ = cli(["report", *map(str, [*base, *cand]), "--by", "git_commit", "--out", str(report_dir)])
    text = (report_dir / "report.md").read_text() if rcode == 0 else rout
    found = re.findall(
        r"Over the (\d+) points of (\w+) timed on both sides.*?verdicts \(the decision rule above\): ([^;.]+)", text
    )

    def fmt(values) -> str:
        return ", ".join(
            f"{v} {sum(1 for x in values if x == v)}" for v in ("slower", "faster", "same", "undecided", "ambiguous")
        )

    cuda_compare = [v for (k, b), v in compared.items() if b == "cuda"]
    cuda_gate = list(gated.loc[gated["backend"] == "cuda", "verdict"])
    report_line = next((f"{n} points: {v}" for n, b, v in dict.fromkeys(found) if b == "cuda"), "not found")
    return [
        f"- 2 vs 2 H200 runs, 40 channel points x1.06 in the candidate; cuda points' verdicts (gate exit {code}):",
        f"  - compare: {fmt(cuda_compare)}",
        f"  - gate: {fmt(cuda_gate)}",
        f"  - report (--by git_commit): {report_line}",
    ]


def by_gpu_section(two_gpu: str) -> list[str]:
    code, out, _ = cli(["compare", two_gpu, "--by", "gpu_index"])
    return [f"- `compare {two_gpu} --by gpu_index`: exit {code}: {out.strip().splitlines()[-1] if out.strip() else ''}"]


def runtime_section(baseline_run: Path) -> list[str]:
    times = []
    for _ in range(3):
        code, _, seconds = cli(["gate", "--baseline", "nvidia-h100-80gb-hbm3", str(baseline_run)])
        times.append(seconds)
    return [
        f"- `python -m bench gate --baseline nvidia-h100-80gb-hbm3 {baseline_run}` (220 gated points, 4 base runs): "
        f"exit {code}, wall {min(times):.2f}-{max(times):.2f} s over 3 runs (process start included; goal < 2 s)"
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--h100", required=True, help="5 rotated-buffer runs of one H100 card (not the baseline's)")
    ap.add_argument("--h200", required=True, help="4 rotated-buffer runs of an H200 (the H200 baseline's)")
    ap.add_argument("--cpu", required=True, help="CPU smoke runs")
    ap.add_argument("--events", required=True, help="events-timed runs of one H100 card")
    ap.add_argument("--two-gpu", required=True, help="one run spread over two GPUs (--gpus all)")
    ap.add_argument("--work", type=Path, help="where the case files go (default: a temporary folder, removed)")
    args = ap.parse_args(argv)
    work = args.work or Path(tempfile.mkdtemp(prefix="hostile-"))
    h100, h200 = runs_of(args.h100), runs_of(args.h200)
    cases = [*gpu_cases(work, h100), *small_cases(work, h100), *cpu_cases(work, runs_of(args.cpu)),
             *events_cases(work, runs_of(args.events))]  # fmt: skip
    run_cases(cases)
    print("| case | setup | must | exit | right | headline |\n|---|---|---|---:|---|---|")
    for c in cases:
        print(
            f"| {c.name} | {c.setup} | {c.expect} | {c.exit_code} | {'yes' if c.right else 'NO'} | {c.headline.replace('|', '/')} |"
        )
    right = sum(c.right for c in cases)
    print(f"\n{right} of {len(cases)} cases give the answer they must.\n")
    print("Comparisons:\n")
    print("\n".join([*gpus_section(h100, h200), *counts_section(work, h200), *by_gpu_section(args.two_gpu),
                     *runtime_section(h100[-1])]))  # fmt: skip
    print(f"\nCase files under {work}" if args.work else "")
    if not args.work:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
