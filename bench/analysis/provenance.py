"""Check every run's recorded commit against its code: the digest of bench/ at `git_commit` must equal the
`code_digest` the run recorded. A mismatch means the row's commit is not the code that ran (a stale
BENCH_GIT_COMMIT, uncommitted changes, or a commit written in by hand after the fact). Where a run's
label is wrong but its code is a commit's exactly (a mistyped commit, a tree copied with a stale .git),
the verdict says which commit.
"""

from __future__ import annotations

import subprocess

from bench.env import commit_digest
from bench.results import load


def _near_miss(commit: str, digest: str) -> str:
    """Where the recorded commit does not exist but a commit it nearly names (a prefix of at least 7 of
    its characters) has exactly the run's code: say so. The run stays unverified: its label is wrong."""
    for n in range(len(commit) - 1, 6, -1):
        out = subprocess.run(["git", "rev-parse", "--verify", "--quiet", f"{commit[:n]}^{{commit}}"],
                             capture_output=True, text=True)  # fmt: skip
        if out.returncode == 0 and out.stdout.strip():
            sha = out.stdout.strip()
            if commit_digest(sha) == digest:
                return f"; its code digest is that of commit {sha[:12]} (the recorded commit is mistyped)"
            return ""
    return ""


def _code_of_later_commit(commit: str, digest: str, most: int = 100) -> str:
    """A dirty run's code may be exactly a later commit's (a tree copied with a stale .git whose HEAD is
    an older commit): search the commits after the recorded one, up to HEAD, for the run's code digest."""
    out = subprocess.run(["git", "rev-list", "--reverse", f"{commit}..HEAD"], capture_output=True, text=True)
    for sha in out.stdout.split()[:most] if out.returncode == 0 else []:
        if commit_digest(sha) == digest:
            return f"; its code is exactly that of commit {sha[:12]}"
    return ""


def verify(paths: list[str]) -> int:
    """One line per run with its verdict, then the count; the number of runs not verified."""
    df = load(paths or ["results"])
    bad = 0
    runs = df.groupby("run_id", sort=True).agg(
        commit=("git_commit", "first"), digest=("code_digest", "first"), source=("commit_source", "first"),
        dirty=("git_dirty", "first"), commits=("git_commit", "nunique"), digests=("code_digest", "nunique"),
    )  # fmt: skip
    for run_id, r in runs.iterrows():
        expected = commit_digest(str(r.commit)) if r.commit and r.commit != "unknown" else None
        if r.commits != 1 or r.digests != 1:
            verdict = "MIXED: rows of one run name several commits or code digests"
        elif expected is None:
            verdict = "UNKNOWN: git cannot show that commit here" + _near_miss(str(r.commit), str(r.digest))
        elif r.dirty is True:
            verdict = "DIRTY: the tree had uncommitted changes" + _code_of_later_commit(str(r.commit), str(r.digest))
        elif expected == r.digest:
            verdict = "ok"
        else:
            verdict = f"MISMATCH: the commit's code digest is {expected}"
        bad += verdict != "ok"
        print(f"{run_id}  {str(r.commit)[:12]} ({r.source})  digest {r.digest}  {verdict}")
    print(f"{len(runs)} run(s), {bad} not verified")
    return bad
