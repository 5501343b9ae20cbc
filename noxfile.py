"""Front doors: `nox -s bench` (the main job), `nox -s tests`, `nox -s lint`, `nox -s perf`, `nox -s gate`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nox

nox.options.sessions = ["tests", "lint"]
nox.options.reuse_existing_virtualenvs = True
ROOT = Path(__file__).parent


@nox.session
def tests(session: nox.Session) -> None:
    """The test suite on this machine. GPU tests skip (with the reason) where no GPU answers;
    TensorRT-RTX builds every network the harness makes, ahead of time, with no GPU; Dask workers on
    127.0.0.1 run sweeps and crash on purpose (the cluster extra)."""
    session.install("-e", ".[test,gpu,rtx,cluster]")
    session.run("pytest", *session.posargs)


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
