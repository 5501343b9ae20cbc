"""Points on a real Dask cluster of worker processes on this host (CPU workers, the numpy backend): the
same points as in this process, a journal and run file written here only, and no point lost when a
worker is killed."""

from __future__ import annotations

import pytest
from run_helpers import FAST, run_planned, run_through, spec_for

from bench.execution import affinity, local_cluster
from bench.execution.cluster import ClusterExecutor
from bench.execution.sources import LocalSource, RemoteSource
from bench.planning import expand, plan
from bench.sweepfile import load_sweep
from bench.timing.settings import TimingSettings

pytest.importorskip("distributed")
pytestmark = pytest.mark.cluster


def _cpu_slots(count: int) -> list[local_cluster.LocalSlot]:
    """``count`` workers without a GPU, each with its share of the cores (the CPU backends run here)."""
    shares = affinity.split(affinity.available(), count)
    return [local_cluster.LocalSlot(f"cpu{i}", {affinity.ENV: affinity.format_cpus(s)}) for i, s in enumerate(shares)]


def smoke_points():
    points = expand(load_sweep("smoke"))
    from bench.backends.base import BackendOptions
    from bench.planning import make_backends

    return plan(points, make_backends({p.backend for p in points}, BackendOptions()))


def test_two_workers_give_exactly_the_points_of_one_process(tmp_path):
    planned = smoke_points()
    alone, _ = run_planned(tmp_path / "alone", planned, FAST)
    spec = spec_for(planned, FAST, run_id="cluster")
    notes: list[str] = []
    executor = ClusterExecutor(spec, LocalSource(_cpu_slots(2)), notice=notes.append)
    together, summary = run_through(executor, spec, planned, tmp_path / "cluster")
    key = ["point_key", "backend"]
    a = alone.set_index(key).sort_index()
    b = together.set_index(key).sort_index()
    assert list(a.index) == list(b.index) and b.index.is_unique
    assert (a["status"] == b["status"]).all() and (a["error"].fillna("") == b["error"].fillna("")).all()
    ok = a["status"] == "ok"
    assert (b.loc[ok, "correct"]).all() and (a.loc[ok, "max_abs_err"] == b.loc[ok, "max_abs_err"]).all()
    assert b.loc[ok, "worker"].nunique() == 2  # both workers ran points
    assert b["worker"].str.startswith("dask tcp://127.0.0.1:").all() and (b["attempts"] == 1).all()
    assert sum(summary.counts.values()) == len(planned) and notes == []
    assert sorted(p.name for p in (tmp_path / "cluster").iterdir() if p.is_file()) == ["cluster.parquet"]


class Watched:
    """An executor as the runner sees it, with every answer it gives kept (one per point, or per round)."""

    def __init__(self, inner):
        self.inner, self.rows = inner, []

    def start(self):
        return self.inner.start()

    def map(self, tasks):
        for result in self.inner.map(tasks):
            self.rows.append(result.row)
            yield result

    def close(self):
        self.inner.close()


def test_the_rounds_of_a_point_stay_on_one_worker(tmp_path):
    planned = smoke_points()[:24]
    # a cap no round comes near (a busy machine must not end a point's rounds early): rounds end at the target
    timing = TimingSettings(warmup_s=0.001, min_samples=6, min_time_s=0.003, max_time_s=0.3, target_noise=0.5, rounds=3)
    spec = spec_for(planned, timing, run_id="rounds")
    executor = Watched(ClusterExecutor(spec, LocalSource(_cpu_slots(2))))
    df, _ = run_through(executor, spec, planned, tmp_path)
    ran = df[df["status"] == "ok"]
    assert len(ran) > 0 and (ran["round_sizes"].map(len) == 3).all()
    workers: dict = {}
    for row in executor.rows:
        workers.setdefault(row["point_key"], set()).add(row["worker"])
    assert len({w for ws in workers.values() for w in ws}) == 2  # both workers ran rounds
    assert all(len(ws) == 1 for ws in workers.values())


def test_a_scheduler_that_does_not_answer_is_one_message(tmp_path):
    from bench.errors import UserError

    spec = spec_for(smoke_points()[:1], FAST)
    executor = ClusterExecutor(spec, RemoteSource("tcp://127.0.0.1:9", connect_timeout_s=1))
    with pytest.raises(UserError, match=r"--scheduler tcp://127.0.0.1:9: no Dask scheduler answered"):
        executor.start()
    executor.close()
