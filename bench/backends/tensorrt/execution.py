"""Running a deserialised engine through the shared GPU layer: TensorRT only says how to enqueue one call.

`GpuPreparedPoint` (bench.backends.gpu_common) owns the stream, the buffers, the poisoned-output
verification run and `measure`, which hands `enqueue` to the shared timing core
(bench.timing.device) in 'graph' or 'events' mode; this module has no timing loop. TensorRT's part:
- v3 (8.5 and later, the only API on 10+): `set_tensor_address(name, ptr)` once per I/O tensor, then
  `execute_async_v3(stream)` per call;
- v2 (8.x, the seed's API): `execute_async_v2(bindings, stream)` with a bindings list ordered by the
  engine's binding indices.
Rotated buffers (bench.timing.device): a copy of the input and output per set; v3 sets both addresses
before each call (a captured graph keeps the addresses each call was enqueued with), v2 passes the set's
bindings. The engine's own weights (ELEMENTWISE's scale and shift) are one copy, as TensorRT holds them.
Imported only when a point is executed, so build-only runs never reach cuda-python through it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from bench.backends.gpu_common import GpuPreparedPoint
from bench.backends.tensorrt.build import BuiltEngine
from bench.backends.tensorrt.capture import MessageLog, TensorRTError
from bench.precision import numpy_dtype

if TYPE_CHECKING:
    from bench.gpu.cuda import Device, DeviceBuffer, Stream
    from bench.problem import Problem


def _engine_shape(engine: Any, name: str, query: str) -> tuple[int, ...]:
    """An I/O tensor's shape by name: 'tensor' API (8.5+) or 'bindings' API (8.x), as features.shape_query says."""
    if query == "tensor":
        return tuple(engine.get_tensor_shape(name))
    return tuple(engine.get_binding_shape(engine.get_binding_index(name)))


class TrtPreparedPoint(GpuPreparedPoint):
    """One engine and its execution context; `enqueue` is one inference."""

    def __init__(
        self,
        engine: Any,
        built: BuiltEngine,
        problem: Problem,
        api: str,
        shape_query: str,
        messages: MessageLog,
        device: Device,
    ) -> None:
        super().__init__(problem, device)
        self.build = built.info
        self.api = api
        self.messages = messages
        self.engine = engine
        try:
            mark = messages.mark()
            self.context = engine.create_execution_context()
            if self.context is None:
                messages.raise_since(mark, "create_execution_context returned None")
            shape = tuple(problem.point.shape)
            for name in (built.input_name, built.output_name):
                got = _engine_shape(engine, name, shape_query)
                if got != shape:  # TensorRT keeps the network's shapes: a mismatch is a harness bug
                    raise TensorRTError(f"engine tensor {name!r} has shape {got}, expected {shape}")
            src = self.input_buffer()  # input and output primed: see GpuPreparedPoint.prime
            self.src = src
            # the output has the input's storage dtype and shape (int8 codes for int8, bf16 via ml_dtypes)
            self.out_dtype = numpy_dtype(problem.point.precision)
            self.out_shape = shape
            self.out = self.alloc(problem.input_nbytes)
            self._names = (built.input_name, built.output_name)
            self._bindings: list[int] = self._bind(src.ptr, self.out.ptr)
        except BaseException:
            self.close()
            raise
        self._moved = False  # v3: the context's addresses are a copy's (set back before the point's own call)
        self._mark = messages.mark()  # errors after this are the calls' own
        self.build.builder_settings = {**self.build.builder_settings, "trt_api": api}

    def _bind(self, src: int, dst: int) -> list[int]:
        """v3: set the I/O addresses on the context (returns []); v2: the bindings list for them."""
        if self.api == "v3":
            self.context.set_tensor_address(self._names[0], src)
            self.context.set_tensor_address(self._names[1], dst)
            return []
        bindings = [0] * int(self.engine.num_bindings)
        bindings[self.engine.get_binding_index(self._names[0])] = src
        bindings[self.engine.get_binding_index(self._names[1])] = dst
        return bindings

    def enqueue(self, stream: Stream) -> None:
        """Enqueue one inference on ``stream`` (the shared timing core calls this)."""
        self._execute(stream, self._bindings, None)

    def _execute(self, stream: Stream, bindings: list[int], addresses: tuple[int, int] | None) -> None:
        handle = int(stream.handle)
        if self.api == "v3":
            if addresses is not None or self._moved:
                self._bind(*(addresses or (self.src.ptr, self.out.ptr)))
                self._moved = addresses is not None
            ok = self.context.execute_async_v3(handle)
        else:
            ok = self.context.execute_async_v2(bindings, handle)
        if not ok:
            raise TensorRTError(self.messages.message_since(self._mark, f"execute_async_{self.api} returned False"))

    def call_buffers(self) -> list[DeviceBuffer]:
        return [self.src, self.out]

    def enqueue_on(self, moved: dict[int, int]) -> Callable[[Stream], None]:
        src, dst = moved.get(self.src.ptr, self.src.ptr), moved.get(self.out.ptr, self.out.ptr)
        bindings = self._bind(src, dst) if self.api == "v2" else []
        return lambda stream: self._execute(stream, bindings, (src, dst))

    def close(self) -> None:
        super().close()
        self.context = None  # after the stream's work is done, with the buffers it pointed at
        self.engine = None
