"""One `bench versions` invocation: environments, what each can run, selfcheck, the runs, the manifest.

Order of work, every refusal before any run:
1. the shared harness folder and code snapshot (harness.py), then each SPEC's environment (envs.py):
   a SPEC that does not install is one line naming it;
2. the probe in each environment (probe.py): a SPEC whose environment holds no TensorRT flavour the
   adapter knows, whose flavour cannot even build here, or whose environment differs from the others in
   anything but the SPEC (Python, the harness code it imports) is refused;
3. one line per version: what it can run here (timed, or built only and why) and its selfcheck summary;
4. the sweep, `builds` times per version, interleaved (build 1 of every version, then build 2, ...) so
   what the machine does meanwhile hits every version alike; timing cache off (each build times its
   tactics afresh) and a fresh engine cache per run (every engine is built, never read back). Each run
   is a plain `bench run` in the version's environment, with the snapshot's code, into one folder;
5. the manifest (_versions.json in that folder), rewritten after every run, says which run is which SPEC.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import UserError
from bench.versions import envs, harness, installer
from bench.versions.spec import Spec

# Everything but the runs starts with '_': the folder is under results/, and dataset readers (pyarrow,
# pandas) skip names starting with '_' or '.', so the folder still reads as runs alone.
MANIFEST = "_versions.json"
SUMMARY = "_versions.md"


@dataclass
class Version:
    """One SPEC in this invocation: its environment, what it can run here, its runs."""

    env: envs.Environment
    probe: dict
    flavour: dict  # the probe's entry for the flavour the environment holds
    build_only: bool
    why_built_only: str | None
    selfcheck: str | None = None
    selfcheck_file: str | None = None
    runs: list[dict] = field(default_factory=list)  # {"run_id", "file", "build", "seconds", "exit"}

    @property
    def spec(self) -> Spec:
        return self.env.spec

    @property
    def backend(self) -> str:
        return str(self.flavour["backend"])

    def line(self) -> str:
        """What this version can run here, in one line."""
        head = f"{self.spec.text}: {self.flavour['module']} {self.flavour['version']}"
        runs = "timed on this GPU" if not self.build_only else f"built only ({self.why_built_only})"
        check = f"; selfcheck {self.selfcheck}" if self.selfcheck else ""
        return f"{head}: {runs}{check}"

    def record(self) -> dict:
        return {
            "spec": self.spec.text,
            "requirement": self.spec.requirement,
            "label": self.spec.label,
            "environment": str(self.env.path),
            "distributions": self.env.distributions,
            "installed_s": self.env.first_installed_s,
            "backend": self.backend,
            "module": self.flavour["module"],
            "version": self.flavour["version"],
            "build_only": self.build_only,
            "why_built_only": self.why_built_only,
            "selfcheck": self.selfcheck,
            "selfcheck_file": self.selfcheck_file,
            "runs": self.runs,
        }


def _in_env(v_env: envs.Environment, h: harness.Harness) -> dict[str, str]:
    """The environment variables of a process in a version's environment: the snapshot's code first."""
    env = {k: val for k, val in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONPATH"] = str(h.code)
    env["VIRTUAL_ENV"] = str(v_env.path)
    # The rows' provenance is the snapshot's: git must not answer for the checkout around the cache folder
    # (edited or committed while the sweep runs, it no longer holds the code that runs). The checkout's
    # commit is passed where it was clean when the snapshot was taken; the code digest says the rest.
    env["GIT_CEILING_DIRECTORIES"] = str(h.code.parent)
    env.pop("BENCH_GIT_COMMIT", None)
    if _COMMIT.get(h.code_digest):
        env["BENCH_GIT_COMMIT"] = _COMMIT[h.code_digest]
    return env


_COMMIT: dict[str, str] = {}  # code digest -> the clean checkout's commit it was copied from


def _clean_commit() -> str | None:
    """The invoking checkout's commit where its tracked files are unchanged (so it names the snapshot's code)."""
    from bench.env import provenance

    p = provenance()
    return str(p["git_commit"]) if p.get("commit_source") == "git" and p.get("git_dirty") is False else None


def probe(v_env: envs.Environment, h: harness.Harness, scratch: Path) -> dict:
    out = scratch / f"probe-{v_env.spec.label}.json"
    done = subprocess.run([str(v_env.python), "-m", "bench.versions.probe", str(out)], cwd=h.code,
                          env=_in_env(v_env, h), capture_output=True, text=True, timeout=600)  # fmt: skip
    if done.returncode != 0 or not out.exists():
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise UserError(f"SPEC {v_env.spec.text}: its environment cannot start the harness: {last}")
    return json.loads(out.read_text())


def check(v_env: envs.Environment, found: dict, h: harness.Harness, force_build_only: bool) -> Version:
    """The version this environment offers, or UserError naming the SPEC and what is wrong."""
    text = v_env.spec.text
    if found["code_digest"] != h.code_digest or not Path(found["bench"]).is_relative_to(h.code):
        raise UserError(f"SPEC {text}: its environment imports other harness code ({found['bench']}, digest "
                        f"{found['code_digest']}) than the snapshot ({h.code_digest}): environments would differ")  # fmt: skip
    if found["python_tag"] != harness.python_tag():
        raise UserError(f"SPEC {text}: its environment runs Python {found['python_tag']}, the others "
                        f"{harness.python_tag()}: environments would differ in Python")  # fmt: skip
    flavours = found["flavours"]
    if not flavours:
        runtimes = ", ".join(found["runtimes"])
        got = f"only {runtimes}, a runtime that builds nothing" if runtimes else "no TensorRT module"
        raise UserError(f"SPEC {text} installs no TensorRT flavour the harness builds with ({got}); give a "
                        "tensorrt-cuXX or tensorrt-rtx-cuXX version")  # fmt: skip
    if len(flavours) > 1:
        raise UserError(f"SPEC {text} installs {len(flavours)} TensorRT flavours "
                        f"({', '.join(f['module'] for f in flavours)}); give one per SPEC")  # fmt: skip
    (flavour,) = flavours
    if "error" in flavour:
        raise UserError(f"SPEC {text}: {flavour['module']} does not import: {flavour['error']}")
    if not flavour["in_environment"]:
        raise UserError(f"SPEC {text}: {flavour['module']} imports from {flavour['file']}, outside its environment")
    runs = flavour["runs"]
    if not runs["build"]:
        raise UserError(f"SPEC {text}: {flavour['module']} {flavour['version']} cannot build here: {runs['reason']}")
    build_only = force_build_only or not runs["execute"]
    why = "--build-only" if force_build_only else runs["reason"]
    return Version(v_env, found, flavour, build_only, why if build_only else None)


def selfcheck(version: Version, h: harness.Harness, out: Path) -> None:
    """`bench selfcheck` in the version's environment; its summary line ('10 passed, 0 failed, 27 not run')."""
    path = out / "_selfcheck" / f"{version.spec.label}.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run([str(version.env.python), "-m", "bench", "selfcheck", "--out", str(path)], cwd=h.code,
                          env=_in_env(version.env, h), capture_output=True, text=True, timeout=1800)  # fmt: skip
    lines = [x for x in done.stdout.splitlines() if " passed, " in x and " failed, " in x]
    summary = lines[-1].split(" in ")[0] if lines else f"did not finish (exit {done.returncode})"
    version.selfcheck = summary
    version.selfcheck_file = str(path)


def one_run(version: Version, h: harness.Harness, sweep: str, out: Path, scratch: Path, build: int) -> dict:
    """`bench run` of the sweep in the version's environment, timing cache off, a fresh engine cache."""
    logs = out / "_logs"
    logs.mkdir(parents=True, exist_ok=True)
    log = logs / f"{version.spec.label}-build{build}.log"
    before = set(out.glob("*.parquet"))
    with tempfile.TemporaryDirectory(prefix="engines-", dir=scratch) as cache:
        cmd = [str(version.env.python), "-m", "bench", "run", "--sweep", sweep, "--backend", version.backend,
               "--no-timing-cache", "--cache-dir", cache, "--out", str(out), "--no-progress"]  # fmt: skip
        if version.build_only:
            cmd.append("--build-only")
        t0 = time.perf_counter()
        with log.open("w") as f:
            f.write(f"$ {shlex.join(cmd)}\n")
            f.flush()
            done = subprocess.run(cmd, cwd=h.code, env=_in_env(version.env, h), stdout=f, stderr=subprocess.STDOUT)
        seconds = time.perf_counter() - t0
    new = sorted(set(out.glob("*.parquet")) - before)
    if done.returncode != 0 or len(new) != 1:
        last = (log.read_text().strip().splitlines() or [""])[-1]
        raise UserError(f"SPEC {version.spec.text}, build {build}: `bench run` exited {done.returncode} ({last}); "
                        f"log: {log}")  # fmt: skip
    return {"run_id": new[0].stem, "file": new[0].name, "build": build, "seconds": round(seconds, 2),
            "log": str(log.relative_to(out))}  # fmt: skip


def write_manifest(out: Path, content: dict) -> None:
    from bench.files import write_atomic

    write_atomic(out / MANIFEST, (json.dumps(content, indent=1, sort_keys=True) + "\n").encode())


# What a manifest's report reads, and the type of each (the manifest of a folder may have been edited, or
# cut short by a kill between runs: it is read again by `bench versions --report-from`).
_TOP = {"command": str, "sweep": str, "builds": int, "harness": dict, "python": str, "versions": list}
_VERSION = {"spec": str, "version": str, "module": str, "backend": str, "build_only": bool, "distributions": dict,
            "installed_s": (int, float), "runs": list}  # fmt: skip


def check_manifest(content: object, where: str) -> dict:
    """A manifest read back, checked for what the report reads: UserError naming the field."""
    fields = [(content, _TOP, "")]
    if isinstance(content, dict) and isinstance(content.get("versions"), list):
        fields += [(v, _VERSION, f"versions[{i}].") for i, v in enumerate(content["versions"])]
    for value, types, prefix in fields:
        if not isinstance(value, dict):
            raise UserError(f"{where}: {prefix.rstrip('.') or 'the manifest'} must be a JSON object; is it one "
                            "`bench versions` wrote?")  # fmt: skip
        for name, kind in types.items():
            if not isinstance(value.get(name), kind):
                raise UserError(f"{where}: {prefix}{name} is missing or not a {getattr(kind, '__name__', 'number')}")
        runs = value.get("runs", [])
        if not all(isinstance(r, dict) and isinstance(r.get("run_id"), str) for r in runs):
            raise UserError(f"{where}: {prefix}runs must be a list of objects with a run_id")
    if not content["versions"]:  # type: ignore[index]
        raise UserError(f"{where}: names no version")
    return content  # type: ignore[return-value]


def check_out(out: Path) -> None:
    """A new or empty folder: runs of another invocation in it would be mixed into this report."""
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(
            f"--out {out}: already exists and is not an empty folder; name a new folder for this comparison"
        )


Print = Callable[[str], None]


def run(
    specs: list[Spec],
    *,
    sweep: str,
    builds: int,
    out: Path,
    root: Path,
    force_build_only: bool,
    command: str,
    say: Print = print,
) -> dict:
    """Everything up to the manifest (see the module docstring); returns the manifest's content."""
    check_out(out)
    out, root = out.absolute(), root.absolute()  # the runs work in the code snapshot's folder
    t_start = time.perf_counter()
    h = harness.prepare(root)
    commit = _clean_commit()
    if commit:
        from bench.env import commit_digest

        if commit_digest(commit) == h.code_digest:  # the snapshot is that commit's code
            _COMMIT[h.code_digest] = commit
    state = f"installed in {h.installed_s:.1f} s" if h.installed_s is not None else "reused"
    say(f"harness: code {h.code_digest}, packages {h.packages_digest} ({state})")
    environments, failed = [], []
    for spec in specs:  # every SPEC is tried, so one invocation names every SPEC that does not install
        try:
            e = envs.prepare(spec, h, root)
        except installer.InstallError as exc:
            say(f"environment {spec.text}: {exc}")
            failed.append(exc)
            continue
        state = f"installed in {e.installed_s:.1f} s" if e.installed_s is not None else (
            f"reused, no install (it took {e.first_installed_s:.1f} s when made)")  # fmt: skip
        say(f"environment {spec.text}: {state}")
        environments.append(e)
    if failed:
        more = f" (and {len(failed) - 1} more SPEC(s), above)" if len(failed) > 1 else ""
        raise UserError(f"{failed[0]}{more}")
    t_ready = time.perf_counter()
    out.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".scratch-", dir=root))
    try:
        versions = [check(e, probe(e, h, scratch), h, force_build_only) for e in environments]
        for v in versions:
            selfcheck(v, h, out)
            say(v.line())
        manifest = {
            "command": command,
            "sweep": sweep,
            "builds": builds,
            "harness": h.describe(),
            "python": versions[0].probe["python"],
            "versions": [v.record() for v in versions],
        }
        write_manifest(out, manifest)
        t_runs = time.perf_counter()
        for b in range(1, builds + 1):
            for v in versions:
                run_record = one_run(v, h, sweep, out, scratch, b)
                v.runs.append(run_record)
                say(f"build {b}/{builds} {v.spec.text}: {run_record['seconds']:.1f} s, run {run_record['run_id']}")
                manifest["versions"] = [x.record() for x in versions]
                write_manifest(out, manifest)
        manifest["seconds"] = {
            "environments": round(t_ready - t_start, 2),
            "probe_and_selfcheck": round(t_runs - t_ready, 2),
            "runs": round(time.perf_counter() - t_runs, 2),
            "installs": sum(1 for e in environments if e.installed_s is not None) + (h.installed_s is not None),
        }
        write_manifest(out, manifest)
        return manifest
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
