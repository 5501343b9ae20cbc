"""Which code generated a kernel launch, as one hash: the tuning store and launch sets key their decisions
on it, and every cuda row records it (`kernel_generator`), since a decision is valid only for the code
that generated the launches it timed.

The modules hashed are those whose code decides what runs: the launch arithmetic
(`bench.gpu.kernel_layout`: layout, grid, arguments) and the CUDA source written for it
(`bench.gpu.kernel_elements`, the shared pieces, and `bench.gpu.kernel_source`, their assembly). Their code is hashed without comments, docstrings, blank lines and
trailing spaces, so an edit that only explains the code keeps every decision and baseline made before
it, and a comparison does not report every launch as changed. Any other edit, even one that changes
nothing that runs, gives a new hash: it costs a re-tune, never a stale decision. The text kept is the
tokenizer's and the parser's view of the file, the same under every Python this project supports.
"""

from __future__ import annotations

import ast
import hashlib
import io
import tokenize
from functools import cache
from pathlib import Path

from bench.gpu import kernel_elements, kernel_layout, kernel_source

GENERATOR_MODULES = (Path(kernel_layout.__file__), Path(kernel_elements.__file__), Path(kernel_source.__file__))


@cache
def generator_hash() -> str:
    """The hash of `GENERATOR_MODULES` as they are in this process."""
    return modules_hash(GENERATOR_MODULES)


def modules_hash(paths: tuple[Path, ...]) -> str:
    """16 hex digits of the SHA-256 of the files' names and code (`code_only`), in order."""
    digest = hashlib.sha256()
    for path in paths:
        code = code_only(path.read_text(encoding="utf-8")).encode()
        digest.update(f"{path.name}\0{len(code)}\0".encode())
        digest.update(code)
    return digest.hexdigest()[:16]


def code_only(text: str) -> str:
    """Python source without its comments, docstrings (module, class, function), blank lines and
    trailing spaces; everything else, string literals included, kept as written."""
    lines = text.split("\n")
    for (row0, col0), (row1, col1) in [*_docstring_spans(text), *_comment_spans(text)]:
        for row in range(row0, row1 + 1):
            line = lines[row - 1]
            start = col0 if row == row0 else 0
            end = col1 if row == row1 else len(line)
            lines[row - 1] = line[:start] + " " * (end - start) + line[end:]
    return "\n".join(line.rstrip() for line in lines if line.strip())


def _comment_spans(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    tokens = tokenize.generate_tokens(io.StringIO(text).readline)
    return [(tok.start, tok.end) for tok in tokens if tok.type == tokenize.COMMENT]


def _docstring_spans(text: str) -> list[tuple[tuple[int, int], tuple[int, int]]]:
    """(row, column) spans, columns in characters (the parser counts UTF-8 bytes)."""
    lines = text.split("\n")

    def chars(row: int, byte_col: int) -> int:
        return len(lines[row - 1].encode("utf-8")[:byte_col].decode("utf-8"))

    spans = []
    for node in ast.walk(ast.parse(text)):
        if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        first = node.body[0] if node.body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
            end_row, end_col = first.end_lineno or first.lineno, first.end_col_offset or 0
            spans.append(((first.lineno, chars(first.lineno, first.col_offset)), (end_row, chars(end_row, end_col))))
    return spans
