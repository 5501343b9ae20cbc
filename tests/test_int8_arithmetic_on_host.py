"""The Scale kernel's int8 arithmetic, run on the CPU: its fold macros, `op`, `quant` (the element path)
and `quant_bits` (the vector path), cut from the generated source and compiled by the host's C++
compiler, must round every input code to within half a step of the exact result (plus float32's few
units in the last place), for folded and unfolded kernels alike, and the two paths must agree code for
code. The check (bench.precision.tolerance) accepts one step; folding the scales into the weights
(bench.gpu.kernel_source.folds) must not spend that margin.

Only the CUDA intrinsics get host stand-ins, each the IEEE operation it names: `__float2int_rn` (round
to nearest even, saturating, NaN to 0), `__fmul_rn`, `__fadd_rn`, `__float_as_uint`. tests/gpu/
test_cuda_backends.py checks the same outputs on the device against the float64 reference."""

from __future__ import annotations

import re
import shutil
import subprocess

import numpy as np
import pytest

from bench.gpu import kernel_source as KS

CXX = shutil.which("g++") or shutil.which("c++")
pytestmark = pytest.mark.skipif(
    CXX is None, reason="no host C++ compiler (g++) to build the int8 arithmetic for the CPU"
)

_SHIM = r"""
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <climits>
typedef unsigned int u32;
using std::max; using std::min;
#define __device__
#define __forceinline__ inline
static inline int __float2int_rn(float y) {
    if (std::isnan(y)) return 0;
    if (y >= 2147483647.0f) return INT_MAX;
    if (y <= -2147483648.0f) return INT_MIN;
    return (int)std::nearbyint(y);
}
static inline float __fmul_rn(float a, float b) { return a * b; }
static inline float __fadd_rn(float a, float b) { return a + b; }
static inline u32 __float_as_uint(float f) { u32 u; std::memcpy(&u, &f, 4); return u; }
"""
_MAIN = r"""
int main() {
    float in_scale, scale, shift, inv_out_scale;
    while (std::scanf("%a %a %a %a", &in_scale, &scale, &shift, &inv_out_scale) == 4) {
        for (int c = -128; c < 128; ++c) {
            const float y = op((float)c * X_SCALE, FOLD_S(scale), FOLD_B(shift), 1.0f);
            std::printf("%d %d\n", quant(y, inv_out_scale), (int)(signed char)(quant_bits(y, inv_out_scale) & 0xffu));
        }
    }
    return 0;
}
"""


def _cut(source: str, name: str) -> str:
    """The generated definition of device function ``name`` (to its closing brace at the line start)."""
    match = re.search(r"__device__ __forceinline__ \w+ " + name + r"\(.*?\n}\n", source, flags=re.DOTALL)
    assert match, name
    return match.group(0)


def _program(tmp_path, fold: bool):
    spec = KS.KernelSpec("int8", "channel", True, nan_safe=True, fold=fold)
    source = KS.kernel_source(spec)
    macros = "".join(line + "\n" for line in source.splitlines() if line.startswith("#define FOLD_"))
    text = _SHIM + "".join(_cut(source, f) for f in ("quant", "quant_bits", "op"))
    x_scale = "1.0f" if fold else "in_scale"  # what the element path's to_f multiplies a code by
    body = _MAIN.replace("X_SCALE", x_scale)
    path = tmp_path / f"int8_{fold}.cpp"
    path.write_text(text + macros + body)
    exe = tmp_path / f"int8_{fold}"
    subprocess.run([CXX, "-O2", "-std=c++17", "-ffp-contract=off", str(path), "-o", str(exe)], check=True)

    def run(cases: list[tuple[float, float, float, float]]) -> np.ndarray:
        lines = "".join(" ".join(float(v).hex() for v in case) + "\n" for case in cases)
        done = subprocess.run([str(exe)], input=lines, capture_output=True, text=True, check=True)
        return np.array(done.stdout.split(), dtype=np.int64).reshape(len(cases), 256, 2)

    return run


def _cases(n: int) -> list[tuple[float, float, float, float]]:
    """(in_scale, scale, shift, 1 / out_scale) as a run makes them: float32, the output's scale from
    its amax over the codes."""
    rng = np.random.default_rng(1)
    out = []
    codes = np.arange(-128, 128, dtype=np.float64)
    for _ in range(n):
        in_scale = np.float32(rng.uniform(0.001, 0.1))
        scale, shift = np.float32(rng.uniform(-3, 3)), np.float32(rng.uniform(-2, 2))
        amax = np.abs(codes * np.float64(in_scale) * np.float64(scale) + np.float64(shift)).max()
        out.append((in_scale, scale, shift, np.float32(1.0 / np.float32(amax / 127))))
    return out


@pytest.mark.parametrize("fold", [False, True])
def test_every_code_rounds_to_within_half_a_step_of_the_exact_result(tmp_path, fold: bool) -> None:
    cases = _cases(400)
    got = _program(tmp_path, fold)(cases)
    quant, bits = got[..., 0], got[..., 1]
    assert (quant == bits).all()  # the element path and the vector path give one code
    codes = np.arange(-128, 128, dtype=np.float64)
    worst = 0.0
    for k, (in_scale, scale, shift, inv_out) in enumerate(cases):
        exact = (codes * np.float64(in_scale) * np.float64(scale) + np.float64(shift)) * np.float64(inv_out)
        inside = np.abs(exact) <= 127  # beyond, both clamp to 127
        worst = max(worst, float(np.abs(quant[k][inside] - exact[inside]).max()))
        assert (quant[k][~inside] == np.sign(exact[~inside]) * 127).all()
    assert worst <= 0.5 + 1e-4, worst  # half a step, and float32's last places: far inside the one step allowed


def test_folding_changes_a_code_only_where_the_exact_result_sits_on_a_half(tmp_path) -> None:
    cases = _cases(400)
    plain, folded = _program(tmp_path, False)(cases)[..., 0], _program(tmp_path, True)(cases)[..., 0]
    codes = np.arange(-128, 128, dtype=np.float64)
    exact = np.array([(codes * np.float64(i) * np.float64(s) + np.float64(b)) * np.float64(v) for i, s, b, v in cases])
    moved = plain != folded
    assert (np.abs(plain - folded) <= 1).all()
    distance_to_half = np.abs(np.abs(exact - np.floor(exact)) - 0.5)
    assert (distance_to_half[moved] < 1e-4).all()
    assert moved.mean() < 0.01
