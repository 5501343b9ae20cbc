"""Plain-Python pieces of the CUDA wrapper (`bench.gpu.cuda`): how CUDA's raw values read (version
integers, device UUID bytes, launch dimensions) and the close-once lifetime of the handles it owns.
Nothing here imports cuda-python, so all of it is tested without a GPU.
"""

from __future__ import annotations

import contextlib
from typing import Self


def version_str(v: int) -> str:
    """CUDA's 13000 -> '13.0', 12060 -> '12.6'."""
    return f"{v // 1000}.{(v % 1000) // 10}"


def uuid_str(raw: bytes | str) -> str:
    """16 UUID bytes as nvidia-smi writes them ('GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx'); '' if absent."""
    data = raw.encode("latin-1") if isinstance(raw, str) else bytes(raw)
    if len(data) != 16:
        return ""
    h = data.hex()
    return f"GPU-{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def dim3(d: int | tuple[int, ...]) -> tuple[int, int, int]:
    """A grid or block size as CUDA's (x, y, z), the sizes not given 1."""
    t = (d,) if isinstance(d, int) else tuple(d)
    return (int(t[0]), int(t[1]) if len(t) > 1 else 1, int(t[2]) if len(t) > 2 else 1)


class Owned:
    """A CUDA resource released by `close()`: as a context manager, and at garbage collection at the
    latest (errors there are swallowed: the interpreter may be shutting down)."""

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()
