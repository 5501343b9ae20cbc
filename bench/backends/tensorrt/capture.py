"""TensorRT's own words: a logger that keeps its errors, so a failed point is recorded with them.

TensorRT reports bad input (a wrong weight count, an axis out of range, mismatched weight dtypes) by
logging an ERROR and returning None (add_scale_nd) or a null engine (build_serialized_network). The
harness turns those messages into a `TensorRTError` whose text is TensorRT's, which the runner stores
as the row's error while the sweep goes on. The message bookkeeping (`MessageLog`) is plain Python, so
it is tested without TensorRT; `make_logger` wraps it in the module's ILogger subclass.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

_log = logging.getLogger(__name__)

ERROR_SEVERITIES = ("INTERNAL_ERROR", "ERROR")

# Logged on a machine without a usable CUDA driver even when the ahead-of-time build succeeds
# (TensorRT-RTX on CPU, seen here): not the point's failure. Kept only when it is all there is.
HARMLESS = ("CUDA driver version is insufficient",)

# VERBOSE messages carrying the built engine's layer table: TensorRT-RTX logs "Layers:\n..." at the end
# of a build with DETAILED verbosity; 8.x/10.x log "Engine Layer Information:". They stand in for the
# engine inspector where no engine can be deserialised (ahead-of-time builds without a GPU).
LAYER_TABLE_PREFIXES = ("Layers:", "Engine Layer Information:")


class TensorRTError(RuntimeError):
    """TensorRT refused a network, a build or an engine; the message is TensorRT's own text."""


@dataclass
class MessageLog:
    """Errors and the last layer table TensorRT logged, with marks to take the messages of one step."""

    errors: list[str] = field(default_factory=list)
    harmless: list[str] = field(default_factory=list)
    layer_table: str | None = None
    # TensorRT's warnings about a timing cache: a blob it cannot read is a WARNING ("Failed to deserialize
    # timing cache. Returning an empty timing cache.", seen with TensorRT-RTX 1.7), not an error
    timing_cache_warnings: list[str] = field(default_factory=list)

    def add(self, severity: str, msg: str) -> None:
        if severity in ERROR_SEVERITIES:
            if any(h in msg for h in HARMLESS):
                self.harmless.append(msg)
            else:
                self.errors.append(msg)
        elif severity == "WARNING":
            _log.debug("TensorRT warning: %s", msg)
            if "timing cache" in msg.lower():
                self.timing_cache_warnings.append(msg)
        elif severity == "VERBOSE" and msg.startswith(LAYER_TABLE_PREFIXES):
            self.layer_table = msg

    def mark(self) -> tuple[int, int]:
        """Where the log stands now; pass it to `message_since` after one step."""
        self.layer_table = None
        return len(self.errors), len(self.harmless)

    def errors_since(self, mark: tuple[int, int]) -> list[str]:
        return self.errors[mark[0] :]

    def message_since(self, mark: tuple[int, int], fallback: str) -> str:
        """The errors logged since ``mark``, in order and without repeats (TensorRT logs a weight
        error once when the layer is added and again at build); the harmless ones only if nothing
        else was said; ``fallback`` if TensorRT said nothing at all."""
        msgs = self.errors_since(mark) or self.harmless[mark[1] :]
        unique = list(dict.fromkeys(m.strip() for m in msgs))
        return "; ".join(unique) if unique else fallback

    def raise_since(self, mark: tuple[int, int], fallback: str) -> None:
        raise TensorRTError(self.message_since(mark, fallback))


def make_logger(trt: ModuleType, log: MessageLog) -> Any:
    """An ILogger of module ``trt`` that feeds ``log`` (the class must derive from that module's ILogger).

    TensorRT calls the logger for every severity; this one keeps errors, the layer table and sends
    warnings to Python logging (DEBUG), so a sweep's console is not flooded by VERBOSE builder chatter.
    """

    class CapturingLogger(trt.ILogger):  # type: ignore[name-defined, misc]
        def __init__(self) -> None:
            trt.ILogger.__init__(self)
            self.messages = log

        def log(self, severity: Any, msg: str) -> None:
            self.messages.add(getattr(severity, "name", str(severity)), msg)

    return CapturingLogger()
