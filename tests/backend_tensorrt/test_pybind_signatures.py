"""Reading pybind11 signatures: the contract tests' argument counts are only as good as this parser."""

from __future__ import annotations

from pybind_signatures import Signature, signatures

OVERLOADED = """deserialize_cuda_engine(*args, **kwargs)
Overloaded function.

1. deserialize_cuda_engine(self: m.Runtime, serialized_engine: typing_extensions.Buffer) -> m.ICudaEngine


    Deserialize.

2. deserialize_cuda_engine(self: m.Runtime, stream_reader: m.IStreamReaderV2) -> m.ICudaEngine
"""
DEFAULTS = (
    "create_execution_context(self: m.ICudaEngine, strategy: m.ExecutionContextAllocationStrategy = "
    "<ExecutionContextAllocationStrategy.STATIC: 0>) -> m.IExecutionContext\n\n    Create a context."
)


def test_overloads_are_read_and_the_generic_head_dropped() -> None:
    sigs = signatures("deserialize_cuda_engine", OVERLOADED)
    assert sigs == [Signature(2, 2, "m.ICudaEngine"), Signature(2, 2, "m.ICudaEngine")]
    assert not any(s.accepts(3) for s in sigs)


def test_defaults_with_brackets_and_commas_in_types() -> None:
    (sig,) = signatures("create_execution_context", DEFAULTS)
    assert (sig.required, sig.most, sig.returns) == (1, 2, "m.IExecutionContext")
    (typed,) = signatures("f", "f(self: X, a: typing.Dict[str, typing.List[int]], b: int = 3) -> None")
    assert (typed.required, typed.most) == (2, 3)


def test_variadic_and_absent() -> None:
    (var,) = signatures("g", "g(self: X, *args, **kwargs) -> None")
    assert var.accepts(1) and var.accepts(9)
    assert signatures("h", "A property without a signature.") == []
    assert signatures("h", None) == []
