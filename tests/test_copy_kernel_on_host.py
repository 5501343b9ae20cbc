"""The copy kernel's generated source, run on the CPU: compiled by the host's g++ with CUDA's built-in
indices as plain variables, and called once per (block, thread) of its launch, it must reproduce the
source byte for byte and write nothing past the end, for every launch the contest tries, sizes with and
without a tail, and a grid smaller than the launch asks for (the grid-stride loop covers the rest).

`bench.gpu.copy_kernel.written` replays the kernel's index arithmetic in NumPy; this runs the text itself.
Threads run one after another, which a copy whose threads touch disjoint bytes cannot tell from parallel."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from bench.gpu import copy_kernel as C

CXX = shutil.which("g++") or shutil.which("c++")
pytestmark = pytest.mark.skipif(CXX is None, reason="no host C++ compiler (g++) to build the copy kernel for the CPU")

_SHIM = r"""
#include <cstdio>
#include <cstdlib>
#include <cstring>
#define __global__
#define __launch_bounds__(n)
#define __align__(n) alignas(n)
struct dim { unsigned x, y, z; };
static dim blockIdx, threadIdx, gridDim;
"""
_MAIN = r"""
int main(int argc, char** argv) {
    const unsigned long long nbytes = std::strtoull(argv[1], nullptr, 10);
    const unsigned grid = (unsigned)std::strtoul(argv[2], nullptr, 10);
    const unsigned long long guard = 64, room = (nbytes + guard + 15) / 16 * 16;
    unsigned char* src = (unsigned char*)std::aligned_alloc(16, room);
    unsigned char* dst = (unsigned char*)std::aligned_alloc(16, room);
    for (unsigned long long i = 0; i < room; ++i) { src[i] = (unsigned char)(i * 131 + 7); dst[i] = 0xA5; }
    gridDim.x = grid;
    for (unsigned b = 0; b < grid; ++b)
        for (unsigned t = 0; t < BLOCK; ++t) {
            blockIdx.x = b; threadIdx.x = t;
            copy_kernel((const vec16*)src, (vec16*)dst, nbytes / 16, nbytes % 16);
        }
    for (unsigned long long i = 0; i < room; ++i) {
        const unsigned char want = i < nbytes ? src[i] : 0xA5;
        if (dst[i] != want) { std::printf("byte %llu: %u, expected %u\n", i, dst[i], want); return 1; }
    }
    std::printf("ok\n");
    return 0;
}
"""
SIZES = (0, 1, 15, 16, 17, 4095, 4096, 65536 * 3 + 7)


@pytest.fixture(scope="module")
def programs(tmp_path_factory) -> dict[C.CopyConfig, str]:
    folder = tmp_path_factory.mktemp("copy_kernel")
    out = {}
    for config in C.CANDIDATES:
        name = f"b{config.block}v{config.vpt}"
        (folder / f"{name}.cpp").write_text(_SHIM + C.source(config) + _MAIN)
        cmd = [CXX, "-O1", "-std=c++17", str(folder / f"{name}.cpp"), "-o", str(folder / name)]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
        out[config] = str(folder / name)
    return out


def _copy(program: str, nbytes: int, grid: int) -> str:
    done = subprocess.run([program, str(nbytes), str(grid)], capture_output=True, text=True, check=False)
    return done.stdout.strip()


@pytest.mark.parametrize("config", C.CANDIDATES, ids=lambda c: f"b{c.block}v{c.vpt}")
def test_every_launch_copies_every_byte_once_and_nothing_past_the_end(programs, config) -> None:
    for nbytes in SIZES:
        lau = C.launch(nbytes, config)
        assert _copy(programs[config], nbytes, lau.grid) == "ok", (config, nbytes, lau)
        assert _copy(programs[config], nbytes, max(1, lau.grid // 3)) == "ok", (config, nbytes, "a third of the grid")


def test_a_kernel_that_skips_its_tail_is_seen(programs, tmp_path) -> None:
    """The check can fail: the same kernel without its tail statement leaves the last bytes unwritten."""
    config = C.CANDIDATES[0]
    text = C.source(config)
    start = text.index("    if (blockIdx.x == 0 && threadIdx.x < tail)")
    broken = text[:start] + "}\n"
    (tmp_path / "broken.cpp").write_text(_SHIM + broken + _MAIN)
    subprocess.run([CXX, "-O1", str(tmp_path / "broken.cpp"), "-o", str(tmp_path / "broken")], check=True)
    assert _copy(str(tmp_path / "broken"), 17, 1).startswith("byte 16:")
