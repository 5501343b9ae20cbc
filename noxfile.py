"""Front doors: `nox -s bench` (the main job), `nox -s tests`, `nox -s lint`, `nox -s perf`, `nox -s gate`
(same-machine A/B against the merge base, or --committed against results/_baselines/), `nox -s baseline`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import tomllib
from datetime import date
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
ROOT = Path(__file__).parent


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on this machine. GPU tests skip (with the reason) where no GPU answers;
    TensorRT-RTX builds every network the harness makes, ahead of time, with no GPU; the TensorRT
    execution path is held against NVIDIA's real runtime modules (tests/backend_tensorrt/test_trt_contract.py);
    Dask workers on 127.0.0.1 run sweeps and crash on purpose (the cluster extra)."""
    session.install("-e", ".[test,gpu,rtx,cluster]")
    install_trt_contract_modules(session)
    session.run("pytest", "-n", "auto", "--dist", "worksteal", *session.posargs)  # pytest-xdist: a worker per core


def install_trt_contract_modules(session: nox.Session) -> None:
    """NVIDIA's real TensorRT runtime modules for the contract tests, into .cache/trt-contract/<group>.

    Each `install` group goes into a folder of its own (`pip install --target`): the lean runtimes 10.x and
    11.x install the same module name, tensorrt_lean_bindings, and the tests import each in a subprocess.
    `download` wheels are only downloaded: TensorRT 8.6's bindings cannot import without libnvinfer.so.8,
    so the tests read its extension module from the wheel (cp311, the newest Python it was built for).
    A folder whose stamp names the same requirements is reused.
    """
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["scale-bench"]["trt-contract"]
    base = ROOT / ".cache" / "trt-contract"
    steps = [(g, r, ["install", "--no-compile", "--target"]) for g, r in config["install"].items()]
    steps += [(g, r, ["download", "--only-binary=:all:", "--python-version", "3.11", "--implementation", "cp",
                      "--platform", "manylinux_2_17_x86_64", "-d"]) for g, r in config["download"].items()]  # fmt: skip
    for group, requirements, how in steps:
        folder, stamp = base / group, base / f"{group}.stamp"
        if folder.is_dir() and stamp.exists() and stamp.read_text() == "\n".join(requirements):
            continue
        shutil.rmtree(folder, ignore_errors=True)
        stamp.unlink(missing_ok=True)
        t0 = time.perf_counter()
        session.run("python", "-m", "pip", how[0], "--quiet", "--no-deps", *how[1:], str(folder), *requirements)
        mib = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file()) / 2**20
        session.log(f"{group}: {' '.join(requirements)}: {mib:.0f} MiB in {time.perf_counter() - t0:.1f} s")
        stamp.write_text("\n".join(requirements))


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", ".")
    session.run("ruff", "format", "--check", ".")


@nox.session
def perf(session: nox.Session) -> None:
    """The harness's own host-side costs (sweep expansion, result writing, report rendering)."""
    session.install("-e", ".[test]")
    session.run(
        "pytest", "tests/perf", "--benchmark-only", "--benchmark-columns=min,median,max,rounds", *session.posargs
    )


def _run_args(offer: dict) -> list[str]:
    args = ["--sweep", offer["recommended_sweep"]]
    for backend in offer["recommended_backends"]:
        args += ["--backend", backend]
    return args


def _offer(session: nox.Session) -> dict:
    out = session.run("python", "-m", "bench", "env", "--json", silent=True)
    return json.loads(out)


# System site packages: a TensorRT or cuda-python installed on the machine is found and used.
@nox.session(venv_params=["--system-site-packages"])
def bench(session: nox.Session) -> None:
    """The main job: find what this machine offers, say what was chosen and why, run it, print where the
    parquet went. Extra arguments go to `python -m bench run` (e.g. `nox -s bench -- --backend cuda`)."""
    session.install("-e", ".[gpu]")
    offer = _offer(session)
    sweep, backends = offer["recommended_sweep"], offer["recommended_backends"]
    why = "GPU: " + (offer["gpu_detail"] if offer["gpu"] else f"none ({offer['gpu_detail']})")
    why += f"; TensorRT: {offer['tensorrt'] or 'not installed'}; cuda-python: {offer['cuda_python'] or 'not installed'}"
    session.log(f"this machine offers {why}")
    session.log(f"chose: sweep '{sweep}' on backends {', '.join(backends)}")
    session.run("python", "-m", "bench", "run", *_run_args(offer), "--out", "results", *session.posargs)


GATE_USAGE = "nox -s gate -- [--runs N] [--base-ref REF [--no-base-install] | --committed] [bench gate flags, e.g. --threshold 3%]"


def _gate_options(posargs: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The session's own flags; everything else goes to `python -m bench gate`."""
    ap = argparse.ArgumentParser(prog="nox -s gate --", usage=GATE_USAGE, add_help=False)
    ap.add_argument("--runs", type=int, default=None)
    ap.add_argument("--base-ref", default=os.environ.get("BENCH_GATE_BASE_REF", "origin/main"))
    ap.add_argument("--committed", action="store_true")
    ap.add_argument("--no-base-install", action="store_true")
    ap.add_argument("--cache-dir", default=".cache/bench")
    return ap.parse_known_args(posargs)


def _bench_run(session: nox.Session, python: str, args: list[str], out: Path, source: Path | None = None) -> None:
    """One run of the main job's sweep into `out`: head's, or with `source` the base worktree's code (its
    bench package first on the path, whichever interpreter runs it)."""
    command = [python, "-m", "bench", "run", *args, "--out", str(out), "--no-progress"]
    if source is None:
        session.run(*command)
    else:
        with session.chdir(source):
            session.run(*command, external=True, env={"PYTHONPATH": str(source)})


# System site packages: a TensorRT or cuda-python installed on the machine is found and used.
@nox.session(venv_params=["--system-site-packages"])
def gate(session: nox.Session) -> None:
    """Is this checkout slower than its merge base? By default, same-machine A/B: the merge base (a git
    worktree in its own venv) and this checkout are each timed --runs times (default 3) on this machine,
    interleaved base, head, base, head, ..., so what the machine does in the meantime hits both alike,
    then `bench gate --base BASE_RUNS --cand HEAD_RUNS`. Both sides share one cache folder (this
    checkout's --cache-dir, default .cache/bench): the kernel's tuning store and TensorRT's timing cache,
    so where the kernel generator and TensorRT version are the same, both sides run the same launches
    and tactics (decided by the first run that meets a point); a head that changed the generator finds
    no decision of its own there and tunes anew, and the gate says what ran differently.
    With --committed (runners without the time for both): --runs runs of head (default 1) against the
    committed baseline manifest for this GPU, results/_baselines/<gpu>.json, running the launches saved
    beside it (<gpu>.launches.json) where there is one. --no-base-install runs the base's code with this
    venv's packages (PYTHONPATH=worktree) where no package index answers. Writes
    .nox/gate/tmp/gate-run/{base,head,gate.md}."""
    session.install("-e", ".[gpu]")
    opts, gate_args = _gate_options(session.posargs)
    offer = _offer(session)
    run_args = _run_args(offer)
    out = Path(session.create_tmp()).resolve() / "gate-run"
    shutil.rmtree(out, ignore_errors=True)
    head = out / "head"
    report = ["--markdown", str(out / "gate.md"), *gate_args]
    if opts.committed:
        name = offer["gpu_detail"] if offer.get("gpu") else "cpu"
        manifest, launches = _baseline_files(session, name)
        if not manifest.exists():  # before any run: a missing baseline is known now, not after the sweep
            session.error(f"no baseline for {name}: {manifest} does not exist (make one with nox -s baseline)")
        carried = ["--tuning-from", str(launches)] if launches.exists() else []
        tactics = manifest.with_suffix(".timing-cache")
        if tactics.exists():  # a copy: the run exports into the file it shares, and the committed one stays as is
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(tactics, out / "baseline.timing-cache")
            carried += ["--timing-cache", str(out / "baseline.timing-cache")]
        for _ in range(opts.runs or 1):
            _bench_run(session, "python", [*run_args, *carried], head)
        session.run("python", "-m", "bench", "gate", "--baseline", name, str(head), *report)
        return
    base_sha = _git(session, "merge-base", "HEAD", opts.base_ref)
    source, venv = out / "base-src", out / "base-venv"
    shared = ["--cache-dir", str((ROOT / opts.cache_dir).resolve())]
    session.log(f"A/B on this machine: base {base_sha[:10]} (merge base with {opts.base_ref}) vs head, interleaved")
    session.log(f"both sides use the caches in {shared[1]} (tuning records, TensorRT timing cache)")
    _git(session, "worktree", "add", "--detach", str(source), base_sha)
    try:
        if opts.no_base_install:  # no package index (an offline GPU host): base's code on this venv's packages
            base_python = str(Path(session.virtualenv.location) / "bin" / "python")
        else:
            session.run("python", "-m", "venv", "--system-site-packages", str(venv))
            base_python = str(venv / "bin" / "python")
            session.run(base_python, "-m", "pip", "install", "-q", "-e", f"{source}[gpu]", external=True)
        for i in range(opts.runs or 3):
            session.log(f"round {i + 1}: base, then head")
            _bench_run(session, base_python, [*run_args, *shared], out / "base", source)
            _bench_run(session, "python", [*run_args, *shared], head)
    finally:
        _git(session, "worktree", "remove", "--force", str(source))
    session.run("python", "-m", "bench", "gate", "--base", str(out / "base"), "--cand", str(head), *report)


def _baseline_files(session: nox.Session, name: str) -> tuple[Path, Path]:
    """results/_baselines/<slug>.json (the manifest) and <slug>.launches.json (the launches its runs ran);
    <slug>.timing-cache (TensorRT's, where the baseline ran TensorRT) is `manifest.with_suffix(".timing-cache")`."""
    slug = str(
        session.run("python", "-c", f"from bench.analysis.baseline import slug; print(slug({name!r}))", silent=True)
    ).strip()
    folder = ROOT / "results" / "_baselines"
    return folder / f"{slug}.json", folder / f"{slug}.launches.json"


def _git(session: nox.Session, *args: str) -> str:
    return str(session.run("git", *args, external=True, silent=True)).strip()


@nox.session(venv_params=["--system-site-packages"])
def baseline(session: nox.Session) -> None:
    """Commit-ready baseline for this GPU: --runs runs (default 5) of the main job into
    results/<gpu>-<date>/, the manifest results/_baselines/<gpu>.json naming them, and beside it
    <gpu>.noise.json (each point's run-to-run noise, what one run a side is judged with) and
    <gpu>.launches.json (the kernel launches those runs ran, what `nox -s gate -- --committed` runs on a
    runner that never saw this card) and, where TensorRT ran, <gpu>.timing-cache (the tactics its builds
    timed, which the committed gate's builds import). Commit the runs and these files. Run it on a known-good commit:
    nox -s baseline -- [--runs N]."""
    session.install("-e", ".[gpu]")
    opts, rest = _gate_options(session.posargs)
    if rest:
        session.error(f"unknown arguments {rest}: nox -s baseline -- [--runs N]")
    offer = _offer(session)
    name = offer["gpu_detail"] if offer.get("gpu") else "cpu"
    manifest, launches = _baseline_files(session, name)
    folder = ROOT / "results" / f"{manifest.stem}-{date.today():%Y-%m-%d}"
    tactics = ["--timing-cache", str(manifest.with_suffix(".timing-cache"))] if offer.get("tensorrt") else []
    for _ in range(opts.runs or 5):
        _bench_run(session, "python", [*_run_args(offer), "--cache-dir", opts.cache_dir, *tactics], folder)
    session.run(
        "python",
        "-m",
        "bench",
        "baseline",
        "make",
        manifest.stem,
        str(folder),
        "--note",
        f"nox -s baseline, {date.today()}",
    )
    if "cuda" in offer["recommended_backends"]:
        session.run("python", "-m", "bench", "tuning", "export", "--results", str(folder), "--out", str(launches))


@nox.session
def versions(session: nox.Session) -> None:
    """Compare TensorRT versions: `nox -s versions -- SPEC SPEC ... [bench versions flags]`, e.g.
    `nox -s versions -- tensorrt-cu12==10.16.1.11 tensorrt-cu12==11.4.0.106`. Each SPEC gets a cached
    environment under .cache/bench/versions (the same harness code and packages in each, the SPEC alone
    differing); the sweep (default: the default sweep's points) runs in each, timed where the engines can
    run here and built only where they cannot; the runs go into one folder under results/versions/ and
    one report beside them (`python -m bench versions --help`)."""
    if not session.posargs:
        session.error(
            "give the versions to compare: nox -s versions -- SPEC SPEC ... (python -m bench versions --help)"
        )
    session.install("-e", ".[gpu]")
    session.run("python", "-m", "bench", "versions", *session.posargs)
