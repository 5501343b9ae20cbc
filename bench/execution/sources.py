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
    connect_timeout_s: float = 20.0
    outlives_run: bool = True

    @property
    def where(self) -> str:
        return f"the cluster at {self.address}"

    def start(self) -> Any:
        from distributed import Client

        try:
            return Client(self.address, timeout=self.connect_timeout_s, set_as_default=False)
        except (OSError, TimeoutError, ValueError, TypeError) as exc:
            raise UserError(
                f"--scheduler {self.address}: no Dask scheduler answered ({type(exc).__name__}: {exc}); start one "
                "with `dask scheduler` and give its address (tcp://HOST:PORT)"
            ) from None

    def close(self) -> None:
        pass
