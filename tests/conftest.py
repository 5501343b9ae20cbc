"""Shared fixtures; GPU tests are skipped with the reason where no GPU answers."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not any("gpu" in item.keywords for item in items):
        return
    from bench.gpu.cuda import gpu_available

    ok, reason = gpu_available()
    if ok:
        return
    skip = pytest.mark.skip(
        reason=f"needs an NVIDIA GPU: {reason}; run on the device with: PYTHONPATH=. python3 -m pytest -m gpu"
    )
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def no_hang():
    """A test that would otherwise wait forever (a FIFO opened with no writer) fails after 20 s instead."""
    import signal

    def expired(signum, frame):
        raise AssertionError("still waiting after 20 s: the code under test blocked")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)
