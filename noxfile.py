"""Front doors: `nox -s bench` (the main job), `nox -s tests`, `nox -s lint`, `nox -s perf`, `nox -s gate`."""

from __future__ import annotations

import json
import re
import shutil
import time
import tomllib
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
ROOT = Path(__file__).parent


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on this machine. GPU tests skip (with the reason) where no GPU answers;
    TensorRT-RTX builds every network the harness makes, ahead of time, with no GPU; the TensorRT
    execution path is held against NVIDIA's real runtime modules (tests/backend_tensorrt/test_trt_contract.py)."""
    session.install("-e", ".[test,gpu,rtx]")
    install_trt_contract_modules(session)
    session.run("pytest", *session.posargs)


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


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


@nox.session(venv_params=["--system-site-packages"])
def gate(session: nox.Session) -> None:
    """Run the main job into a fresh folder and gate it against results/baselines/<gpu>.parquet."""
    session.install("-e", ".[gpu]")
    offer = _offer(session)
    gpu = offer["gpu_detail"] if offer.get("gpu") else "cpu"
    baseline = ROOT / "results" / "baselines" / f"{_slug(gpu)}.parquet"
    if not baseline.exists():
        session.error(
            f"no baseline for this GPU ({gpu}): expected {baseline}. Make one with `nox -s bench` on a known-good "
            f"commit and copy its parquet file there."
        )
    out = Path(session.create_tmp()) / "gate-run"
    session.run("python", "-m", "bench", "run", *_run_args(offer), "--out", str(out), "--no-progress")
    session.run(
        "python", "-m", "bench", "gate", str(baseline), str(out), "--markdown", str(out / "gate.md"), *session.posargs
    )
