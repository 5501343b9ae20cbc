"""Backend `cuda`: the Scale op as an NVRTC-compiled kernel (bench.gpu.kernels), the "what a user would
write instead" baseline. Every mode, channel axis and precision, int8 included (int8 codes in and out)."""

from __future__ import annotations

import ctypes
import time
from typing import TYPE_CHECKING, ClassVar

from bench.backends.base import BackendInfo
from bench.backends.gpu_common import GpuBackend, GpuPreparedPoint, gpu_device, gpu_info
from bench.gpu import kernels
from bench.point import Point
from bench.precision import numpy_dtype

if TYPE_CHECKING:
    from bench.gpu.cuda import Device, Stream
    from bench.problem import Problem

_CTYPES = {"u64": ctypes.c_uint64, "u32": ctypes.c_uint32, "f32": ctypes.c_float}


class CudaScalePoint(GpuPreparedPoint):
    """Input and weights uploaded once, the kernel compiled (cached) and its launch packed once."""

    def __init__(self, problem: Problem, device: Device) -> None:
        super().__init__(problem, device)
        from bench.gpu import cuda

        p = problem.point
        try:
            layout = kernels.scale_layout(p.shape, p.mode, p.channel_axis, p.precision)
            for name in ("shift", "scale", "power"):
                got = getattr(problem, name).size
                if got != layout.weight_count:
                    raise ValueError(
                        f"{name} has {got} values, {p.mode} mode on {p.shape_str} expects {layout.weight_count}"
                    )
            spec = kernels.kernel_spec(layout, problem.power_is_one)
            t0 = time.perf_counter()
            kernel = cuda.compile_kernel(kernels.kernel_source(spec), kernels.KERNEL_NAME, device.arch)
            self.build.build_s = time.perf_counter() - t0
            x = self.upload(problem.x)
            self.out_dtype = numpy_dtype(p.precision)
            self.out_shape = tuple(p.shape)
            self.out = self.alloc(problem.x.nbytes)
            w = [self.upload(getattr(problem, name)) for name in ("shift", "scale", "power")]
            cfg = kernels.launch_config(layout.nvec, spec.block, spec.unroll)
            args = [(b.ptr, ctypes.c_void_p) for b in (x, self.out, *w)]
            args += [(v, _CTYPES[kind]) for kind, v in kernels.kernel_args(layout, problem.in_scale, problem.out_scale)]
            self._launch = kernel.bind(cfg.grid, cfg.block, args)
        except BaseException:
            self.close()
            raise
        self.build.builder_settings = {
            "kernel": kernels.KERNEL_NAME,
            "arch": device.arch,
            "block": spec.block,
            "grid": cfg.grid,
            "unroll": spec.unroll,
            "vector_elems": layout.vec,
            "vector_weights": layout.vector_weights,
            "index64": layout.index64,
            "power_is_one": spec.power_is_one,
            "cache_hint": spec.cache_hint,
        }

    def enqueue(self, stream: Stream) -> None:
        self._launch(stream)


class CudaBackend(GpuBackend):
    name: ClassVar[str] = "cuda"
    precisions: ClassVar[tuple[str, ...]] = ("fp32", "fp16", "bf16", "int8")

    def info(self) -> BackendInfo:
        from bench.gpu import cuda

        dev = gpu_device(self.options.device)
        version = f"cuda-runtime {dev.runtime_version} / nvrtc {cuda.nvrtc_version()}"
        return gpu_info(
            self.name, version, dev, {"kernel_block": kernels.DEFAULT_BLOCK, "kernel_unroll": kernels.DEFAULT_UNROLL}
        )

    def prepare(self, point: Point, problem: Problem) -> CudaScalePoint:
        return CudaScalePoint(problem, gpu_device(self.options.device))
