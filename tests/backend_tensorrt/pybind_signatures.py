"""Call signatures from pybind11 docstrings: what TensorRT's Python bindings say each method accepts.

pybind11 starts a function's docstring with its signature, e.g.

    execute_async_v3(self: tensorrt_lean_bindings.tensorrt_lean.IExecutionContext, stream_handle: typing.SupportsInt) -> bool

and an overloaded one with "Overloaded function." followed by "1. name(...)", "2. name(...)".
"""

from __future__ import annotations

import re
from dataclasses import dataclass

_OPEN, _CLOSE = "([{<", ")]}>"


@dataclass(frozen=True)
class Signature:
    required: int  # positional parameters without a default, `self` included
    most: int | None  # all parameters (None: *args, accepts any number)
    returns: str  # the return annotation as written

    def accepts(self, nargs: int) -> bool:
        return self.required <= nargs and (self.most is None or nargs <= self.most)


def _split_top(text: str) -> list[str]:
    """Split at commas outside brackets (types such as typing.List[int], defaults such as <Enum.X: 0>)."""
    parts, depth, cur = [], 0, []
    for ch in text:
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur))
    return [p.strip() for p in parts]


def _one(params: str, returns: str) -> Signature:
    items = _split_top(params)
    if any(p.startswith("*") for p in items):
        fixed = [p for p in items if not p.startswith("*")]
        return Signature(sum("=" not in p for p in fixed), None, returns)
    return Signature(sum("=" not in p for p in items), len(items), returns)


def signatures(name: str, doc: str | None) -> list[Signature]:
    """Every overload of ``name`` that ``doc`` states; [] if it states none."""
    found: list[Signature] = []
    head = re.compile(rf"^(?:\d+\.\s+)?{re.escape(name)}\(", re.M)
    for m in head.finditer(doc or ""):
        depth, i = 1, m.end()
        while i < len(doc) and depth:
            depth += (doc[i] == "(") - (doc[i] == ")")
            i += 1
        params = doc[m.end() : i - 1]
        ret = re.match(r"\s*->\s*(\S+)", doc[i:])
        found.append(_one(params, ret.group(1) if ret else ""))
    numbered = [s for s in found if not (s.most is None and s.required == 0)]
    return numbered if len(found) > 1 else found  # "name(*args, **kwargs)" heads an overloaded docstring
