"""What every version's environment shares: one snapshot of the harness's code and one folder of its packages.

The packages are the harness's requirements (pyproject: the core and the `gpu` extra) at the versions
the invoking environment has (its installed distributions, TensorRT's left out, as constraints), installed
once with `pip install --target` into a folder named by their digest and the Python they are for. Every
version's venv reads that folder through a .pth file, so no two environments can differ in a package the
SPEC did not bring. The code is a copy of `bench/` (named by bench.env.code_digest), which the runs
import first (PYTHONPATH, and their working directory): a file edited while the sweep runs changes
no run, and every run reports the same code_digest.

Both folders are made under a temporary name and renamed when complete, with a lock held meanwhile, so
a killed install leaves nothing a later invocation would take for finished.
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib.metadata
import json
import re
import shutil
import sys
import sysconfig
import time
import tomllib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import bench
from bench.env import code_digest
from bench.errors import UserError
from bench.versions import installer

EXTRAS = ("gpu",)  # the harness's extras every environment has: timing on a GPU needs cuda-python
STAMP = "complete.json"


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def is_tensorrt(name: str) -> bool:
    """A distribution of a TensorRT flavour or its libraries: what a SPEC brings, never the shared folder."""
    return canonical(name).startswith("tensorrt")


def python_tag() -> str:
    return f"cp{sys.version_info.major}{sys.version_info.minor}-{sysconfig.get_platform()}"


@dataclass(frozen=True)
class Harness:
    code: Path  # the folder holding the snapshot's bench/ (a run's working directory and PYTHONPATH)
    code_digest: str
    packages: Path  # the shared site folder
    packages_digest: str
    constraints: Path  # name==version of the invoking environment, TensorRT left out
    installed_s: float | None  # seconds the shared folder took to install now; None: reused

    def describe(self) -> dict[str, object]:
        return {"python": python_tag(), "code_digest": self.code_digest, "packages_digest": self.packages_digest,
                "packages": str(self.packages)}  # fmt: skip


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` (made if missing): a second invocation waits instead of building the
    same folder at the same time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def requirements(root: Path | None = None) -> list[str]:
    """The harness's requirements: [project] dependencies and the EXTRAS of the pyproject.toml beside bench/
    (the code being snapshot), else of the installed scale-bench's metadata."""
    pyproject = (root or Path(bench.__file__).resolve().parent.parent) / "pyproject.toml"
    if pyproject.is_file():
        project = tomllib.loads(pyproject.read_text())["project"]
        extras = project.get("optional-dependencies", {})
        return [*project.get("dependencies", []), *(r for e in EXTRAS for r in extras.get(e, []))]
    try:
        reqs = importlib.metadata.requires("scale-bench") or []
    except importlib.metadata.PackageNotFoundError:
        raise UserError("cannot find the harness's requirements (no pyproject.toml beside bench/, scale-bench not "
                        "installed): run from a checkout") from None  # fmt: skip
    from packaging.requirements import Requirement

    keep = []
    for text in reqs:
        req = Requirement(text)
        if req.marker is None or any(req.marker.evaluate({"extra": e}) for e in EXTRAS):
            keep.append(f"{req.name}{req.specifier}")
    return keep


def constraints() -> list[str]:
    """name==version of every distribution of the invoking environment but TensorRT's and the harness."""
    pins = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata.get("Name")
        if not name or is_tensorrt(name) or canonical(name) == "scale-bench":
            continue
        pins.setdefault(canonical(name), f"{canonical(name)}=={dist.version}")
    return sorted(pins.values())


def snapshot_code(root: Path) -> tuple[Path, str]:
    """The folder holding a copy of bench/ as it is now (made once per code digest)."""
    source = Path(bench.__file__).resolve().parent
    digest = code_digest(source)
    folder = root / "code" / digest
    if (folder / STAMP).exists():
        return folder, digest
    with locked(root / "code" / f".{digest}.lock"):
        if not (folder / STAMP).exists():
            tmp = folder.with_name(f".{digest}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            shutil.copytree(source, tmp / "bench", ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
            if code_digest(tmp / "bench") != digest:
                shutil.rmtree(tmp, ignore_errors=True)
                raise UserError(f"bench/ changed while it was copied (code digest {digest}): run again")
            (tmp / STAMP).write_text(json.dumps({"code_digest": digest}))
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
    return folder, digest


def prepare(root: Path) -> Harness:
    """The shared code snapshot and package folder under ``root`` (installed once, then reused)."""
    root = root.absolute()  # environments name the package folder in a .pth file, read from anywhere
    code, digest = snapshot_code(root)
    reqs, pins = requirements(), constraints()
    blob = json.dumps({"python": python_tag(), "requirements": reqs, "constraints": pins}, sort_keys=True)
    packages_digest = hashlib.sha256(blob.encode()).hexdigest()[:16]
    folder = root / "packages" / f"{python_tag()}-{packages_digest}"
    cons = root / "packages" / f"{python_tag()}-{packages_digest}.constraints.txt"
    installed_s = None
    with locked(root / "packages" / f".{packages_digest}.lock"):
        if not (folder / STAMP).exists():
            t0 = time.perf_counter()
            cons.write_text("\n".join(pins) + "\n")
            req_file = folder.with_name(f".{folder.name}.requirements.txt")
            req_file.write_text("\n".join(reqs) + "\n")
            tmp = folder.with_name(f".{folder.name}.tmp")
            shutil.rmtree(tmp, ignore_errors=True)
            installer.pip(["install", "--target", str(tmp), "-c", str(cons), "-r", str(req_file)],
                          what="the harness's packages (" + ", ".join(reqs) + ")")  # fmt: skip
            installed_s = time.perf_counter() - t0
            (tmp / STAMP).write_text(json.dumps({"requirements": reqs, "installed_s": installed_s}))
            shutil.rmtree(folder, ignore_errors=True)
            tmp.rename(folder)
    return Harness(code, digest, folder, packages_digest, cons, installed_s)


def distributions(site: Path) -> dict[str, str]:
    """canonical name -> version of the distributions installed in one folder."""
    found = {}
    for dist in importlib.metadata.distributions(path=[str(site)]):
        name = dist.metadata.get("Name")
        if name:
            found[canonical(name)] = dist.version
    return dict(sorted(found.items()))
