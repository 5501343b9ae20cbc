"""Which greeted workers a run may use: pure decisions on what each worker's hello said.

- A worker whose backends could not start, or that runs other harness code than the client (its code
  digest differs), is not used: its rows would describe other code.
- A run is of one GPU model. Where the workers have several, the run is refused unless the user names one
  (--gpu-model, a part of the name) or allows them all (--mixed-gpus; the GPU is then a column to compare
  by). Workers of another model than the run's are left alone.
- No two workers may time on one GPU (same UUID): their points would disturb each other.
"""

from __future__ import annotations

from collections import Counter

from bench.errors import UserError

GPU_RESOURCE = "GPU"  # the Dask worker resource a GPU worker offers (dask worker ... --resources GPU=1)


def unfit(facts: dict, digest: str) -> str | None:
    """Why a worker that said ``facts`` cannot run this run's points, or None."""
    if facts.get("error"):
        return str(facts["error"])
    theirs = (facts.get("run_columns") or {}).get("code_digest")
    if theirs != digest:
        return (
            f"it runs other harness code (code digest {theirs}, this checkout's {digest}); install this checkout "
            "where the workers run (pip install -e .) and restart them"
        )
    return None


def choose_models(names: list[str | None], gpu_model: str | None, mixed: bool) -> set[str | None] | None:
    """The GPU models the run uses, from the workers' GPU names (None: any model, --mixed-gpus)."""
    counts = Counter(names)
    listed = ", ".join(f"{n or 'no GPU'} ({c} worker{'s' if c > 1 else ''})" for n, c in counts.most_common())
    if gpu_model:
        chosen = {n for n in counts if n and gpu_model.lower() in n.lower()}
        if not chosen:
            raise UserError(f"--gpu-model {gpu_model!r}: no worker has such a GPU; the workers have {listed}")
    else:
        chosen = set(counts)
    if len(chosen) > 1 and not mixed:
        raise UserError(
            f"the workers have {len(chosen)} GPU models ({listed}) and a run is of one: choose one with "
            "--gpu-model NAME, or add --mixed-gpus to time on all of them (then compare by gpu_name)"
        )
    return None if mixed and not gpu_model else chosen


def fits_model(facts: dict, models: set[str | None] | None) -> bool:
    return models is None or facts.get("gpu_name") in models


def shared_gpu(facts_by_worker: dict[str, dict]) -> str | None:
    """A message naming two workers that time on one GPU, or None when each has its own."""
    seen: dict[str, str] = {}
    for address, facts in facts_by_worker.items():
        uuid = facts.get("gpu_uuid")
        if not uuid:
            continue
        if uuid in seen:
            return (
                f"workers {seen[uuid]} and {address} both time on GPU {uuid} ({facts.get('host')}): give each worker "
                f"its own GPU (CUDA_VISIBLE_DEVICES=<i> dask worker ... --resources {GPU_RESOURCE}=1)"
            )
        seen[uuid] = address
    return None
