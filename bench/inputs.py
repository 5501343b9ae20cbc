"""The input tensors a point is fed, defined so that NumPy and a CUDA kernel make the same float32 bits.

A point's input is a pure function of (data spec, element index): the GPU makes it in place (bench.gpu.
data_kernels) instead of the host making and uploading it, and the host path (the numpy backend, `--verify
host`) makes it here. Both follow the rules below, so the two paths feed a backend identical bits.

- ``random``: an Irwin-Hall approximation of a standard normal. Element ``i`` hashes its index six times
  (murmur3's 32-bit finalizer, keyed by the seed and the draw), takes the two 16-bit halves of each hash
  as twelve uniform integers in [0, 65535] and sums them in integers: the sum's mean is 12 * 65535 / 2 =
  393210 and its variance 65536**2 - 1, so ``(sum - 393210) * 2**-16`` has mean 0 and standard deviation
  1 - 2**-33. The centred sum is below 2**24 in magnitude, so its one conversion to float32 is exact and
  the power-of-two scale is exact too: no rounding anywhere that two implementations could do differently.
  Values lie in [-6, 6] (a normal's tails beyond that are cut, which a benchmark's data does not miss).
- ``arange``: element ``i`` is ``float32(float32(i) + 1)``, each step rounded to nearest even: exactly
  what NumPy's ``np.arange(1, n + 1, dtype=np.float32)`` computes (it fills ``start + i * delta`` in
  float32), which past 2**24 is not ``float32(i + 1)``.
- ``zeros``: 0.0.
"""

from __future__ import annotations

import numpy as np

from bench.parallel import map_spans

DRAWS = 6  # 32-bit hashes per element: twelve 16-bit uniforms
HALF_MASK = 0xFFFF
CENTRE = 12 * HALF_MASK // 2  # 393210: the mean of twelve uniforms in [0, 65535]
SCALE_LOG2 = 16  # the centred sum's standard deviation is 2**16 (to 2**-17 relative)
INDEX_MUL = 0x9E3779B1  # spreads consecutive indices over all 32 bits before they are hashed
DRAW_STEP = 0x9E3779B9
HIGH_MUL = 0x85EBCA77
SEED_SALT = 0x5EED0DA7
MASK32 = 0xFFFFFFFF
CHUNK = 1 << 20  # elements hashed at a time: temporaries stay in the cache


def fmix32(h: int) -> int:
    """murmur3's 32-bit finalizer on one Python int (a bijection of [0, 2**32) with full avalanche)."""
    h &= MASK32
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & MASK32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & MASK32
    h ^= h >> 16
    return h


def seed_key(seed: int) -> int:
    """The 32-bit key of a data seed (0 <= seed < 2**63): both halves of the seed reach it."""
    return fmix32(fmix32((seed & MASK32) ^ SEED_SALT) ^ ((seed >> 32) & MASK32))


def draw_key(key: int, draw: int, high: int) -> int:
    """The key of draw ``draw`` for elements whose index has ``high`` as its upper 32 bits."""
    return fmix32((key + (draw + 1) * DRAW_STEP + high * HIGH_MUL) & MASK32)


def _fmix32_array(h: np.ndarray) -> np.ndarray:
    """`fmix32` over a uint32 array, in place (uint32 products wrap, as in C)."""
    h ^= h >> np.uint32(16)
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def _random_span(out: np.ndarray, start: int, key: int) -> None:
    """Fill ``out`` with the random values of elements start, start + 1, ... (one upper half of the index)."""
    high = start >> 32
    low = np.arange(start & MASK32, (start & MASK32) + out.size, dtype=np.uint64).astype(np.uint32)
    low *= np.uint32(INDEX_MUL)
    total = np.zeros(out.size, dtype=np.int32)
    h = np.empty_like(low)
    for draw in range(DRAWS):
        np.bitwise_xor(low, np.uint32(draw_key(key, draw, high)), out=h)
        _fmix32_array(h)
        total += (h & np.uint32(HALF_MASK)).view(np.int32)
        total += (h >> np.uint32(16)).view(np.int32)
    total -= CENTRE
    np.multiply(total.astype(np.float32), np.float32(2.0**-SCALE_LOG2), out=out)


def random_values(numel: int, seed: int, start: int = 0) -> np.ndarray:
    """float32 values of elements [start, start + numel) of the ``random`` input of ``seed``."""
    out = np.empty(numel, dtype=np.float32)
    key = seed_key(seed)

    def part(a: int, b: int) -> None:
        pos = a
        while pos < b:  # chunks never straddle a change of the index's upper 32 bits
            first = start + pos
            stop = min(b, pos + CHUNK, ((first >> 32) + 1 << 32) - start)
            _random_span(out[pos:stop], first, key)
            pos = stop

    map_spans(numel, numel * DRAWS, part)
    return out


def arange_values(numel: int) -> np.ndarray:
    """1, 2, 3, ... as float32, each ``float32(float32(i) + 1)`` (see the module docstring)."""
    out = np.empty(numel, dtype=np.float32)

    def part(a: int, b: int) -> None:
        np.add(np.arange(a, b, dtype=np.int64).astype(np.float32), np.float32(1.0), out=out[a:b])

    map_spans(numel, numel, part)
    return out


def input_values(kind: str, seed: int, shape: tuple[int, ...]) -> np.ndarray:
    """The input of a data spec, float32 in real units, shaped ``shape``."""
    numel = int(np.prod(shape, dtype=np.int64))
    if kind == "arange":
        return arange_values(numel).reshape(shape)
    if kind == "zeros":
        return np.zeros(shape, dtype=np.float32)
    if kind == "random":
        return random_values(numel, seed).reshape(shape)
    raise ValueError(f"data.kind must be 'random', 'arange' or 'zeros', got {kind!r}")
