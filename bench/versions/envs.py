"""One cached venv per SPEC: the SPEC and what it pulls in, over the shared harness folder.

The venv is made with the invoking interpreter's own Python (`python -m venv --without-pip`), reads the
shared harness folder through a .pth file, and gets the SPEC from the invoking interpreter's pip
(`pip --python`), constrained to the harness's versions: a SPEC that needs another numpy does not
install, rather than installing a second one. After the install, the venv's own distributions are
checked against the shared folder: a SPEC that brings its own copy of a shared package is refused, as
the environments would then differ in more than the SPEC.

The venv is keyed by the SPEC (a wheel by its content), the Python and the harness's packages, and marked
complete by a stamp written last, under a lock: a later invocation reuses it without installing, and a
venv a killed install left half made is made again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import UserError
from bench.versions import harness as shared
from bench.versions import installer
from bench.versions.spec import Spec

PTH = "_scale_bench_harness.pth"


@dataclass(frozen=True)
class Environment:
    spec: Spec
    path: Path
    installed_s: float | None  # seconds the install took in this invocation; None: reused
    first_installed_s: float  # what the install took when the environment was made
    distributions: dict[str, str]  # what the SPEC installed: canonical name -> version

    @property
    def python(self) -> Path:
        return self.path / "bin" / "python"

    @property
    def site(self) -> Path:
        return site_packages(self.path)


def site_packages(env: Path) -> Path:
    return env / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"


def key(spec: Spec, h: shared.Harness) -> str:
    blob = json.dumps({"spec": spec.key(), "python": shared.python_tag(), "packages": h.packages_digest})
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def prepare(spec: Spec, h: shared.Harness, root: Path) -> Environment:
    """The SPEC's environment under ``root``: reused if complete, else made and installed (InstallError,
    one line naming the SPEC, if pip cannot install it)."""
    path = root / "envs" / f"{spec.label}-{key(spec, h)}"
    stamp = path / shared.STAMP
    with shared.locked(root / "envs" / f".{path.name}.lock"):
        if stamp.exists():
            meta = json.loads(stamp.read_text())
            pth = site_packages(path) / PTH
            if pth.read_text().strip() != str(h.packages):  # the cache folder was moved: point at it again
                pth.write_text(f"{h.packages}\n")
            return Environment(spec, path, None, meta["installed_s"], meta["distributions"])
        shutil.rmtree(path, ignore_errors=True)  # a half-made environment of a killed install
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True, capture_output=True)
        site = site_packages(path)
        if not site.is_dir():
            raise UserError(f"SPEC {spec.text}: the new venv has no {site.relative_to(path)}")
        (site / PTH).write_text(f"{h.packages}\n")
        python = str(path / "bin" / "python")
        try:
            installer.pip(["install", "-c", str(h.constraints), spec.requirement], f"SPEC {spec.text}", python=python)
            own = shared.distributions(site)
            common = {n: v for n, v in own.items() if n in shared.distributions(h.packages)}
            if common:
                theirs = shared.distributions(h.packages)
                what = ", ".join(f"{n} {v} over the harness's {theirs[n]}" for n, v in common.items())
                raise UserError(f"SPEC {spec.text} brings its own {what}: the environments would differ in more than "
                                "the SPEC; pin a version whose requirements the harness's packages meet")  # fmt: skip
        except BaseException:
            shutil.rmtree(path, ignore_errors=True)
            raise
        took = time.perf_counter() - t0
        meta = {"spec": spec.text, "requirement": spec.requirement, "installed_s": took,
                "installed_at": datetime.now(UTC).isoformat(timespec="seconds"), "distributions": own}  # fmt: skip
        stamp.write_text(json.dumps(meta, indent=1, sort_keys=True))
        return Environment(spec, path, took, took, own)
