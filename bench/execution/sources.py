"""Where a run's Dask workers come from: a cluster this run starts on its host (--gpus, --isolate; closed with
the run), or an existing cluster reached through its scheduler (--scheduler; left running)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from bench.errors import UserError


class Source(Protocol):
    """Where the workers come from: a cluster started here, or an existing one."""

    where: str
    outlives_run: bool  # its workers go on after the run (the run's state on them is released at the end)

    def start(self) -> Any: ...  # a connected distributed.Client
    def close(self) -> None: ...


@dataclass
class LocalSource:
    """A cluster of this host's processes (bench.execution.local_cluster), closed with the run."""

    slots: list
    where: str = "this host"
    outlives_run: bool = False
    _cluster: Any = None

    def start(self) -> Any:
        from bench.execution import local_cluster

        self._cluster, client = local_cluster.start(self.slots)
        return client

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None


@dataclass
class RemoteSource:
    """An existing cluster, reached through its scheduler; left running after the run."""

    address: str
    connect_timeout_s: float | None = None  # None: Dask's own (distributed.comm.timeouts.connect, 30 s)
    outlives_run: bool = True

    def __post_init__(self) -> None:
        if self.connect_timeout_s is None:
            import dask
            from dask.utils import parse_timedelta

            self.connect_timeout_s = float(parse_timedelta(dask.config.get("distributed.comm.timeouts.connect")))

    @property
    def where(self) -> str:
        return f"the cluster at {self.address}"

    def start(self) -> Any:
        from distributed import Client

        self._probe()
        try:
            return Client(self.address, timeout=self.connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise self._no_scheduler(exc) from None

    def _probe(self) -> None:
        """Ask the address who it is, within the timeout, before a Client is made: a Client pointed at something
        that is not a scheduler waits forever (an HTTP port), fails on what it reads (a peer sending junk, which
        it may try to allocate exabytes for), and, once it failed, blocks for 40 s in its finalizer."""
        import asyncio

        from distributed.core import rpc

        async def identity() -> dict:
            async with rpc(self.address, timeout=self.connect_timeout_s) as scheduler:
                return await scheduler.identity()

        try:
            answer = asyncio.run(asyncio.wait_for(identity(), self.connect_timeout_s))
        except Exception as exc:  # whatever a wrong address or a foreign peer makes Dask's comm raise
            raise self._no_scheduler(exc) from None
        if not isinstance(answer, dict) or answer.get("type") != "Scheduler":
            kind = answer.get("type") if isinstance(answer, dict) else type(answer).__name__
            raise UserError(
                f"--scheduler {self.address}: a Dask {kind}, not a scheduler, answered there; give the scheduler's "
                "address (tcp://HOST:PORT, printed by `dask scheduler`)"
            )

    def _no_scheduler(self, exc: BaseException) -> UserError:
        why = (
            f"{type(exc).__name__}: {exc}" if str(exc) else f"{type(exc).__name__}, within {self.connect_timeout_s:g} s"
        )
        return UserError(
            f"--scheduler {self.address}: no Dask scheduler answered ({why[:200]}); start one with `dask scheduler` "
            "and give its address (tcp://HOST:PORT)"
        )

    def close(self) -> None:
        pass
