"""Markdown pipe tables: one function for every table the harness writes (reports, comparisons, gates)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def cell(value: object, width: int | None = None) -> str:
    """One table cell: one line, `|` escaped, missing values empty, long text cut with an ellipsis."""
    if (
        value is None
        or (isinstance(value, float) and math.isnan(value))
        or type(value).__name__ in ("NAType", "NaTType")
    ):
        return ""
    s = str(value).replace("\n", " ").replace("|", "\\|")
    return s if width is None or len(s) <= width else s[: width - 1] + "…"


def table(
    header: Sequence[str], rows: Iterable[Sequence[object]], right: Sequence[str] = (), width: int | None = None
) -> str:
    """A pipe table; columns named in `right` (counts, figures) are right-aligned; cells cut at `width`."""
    align = ["---:" if h in right else "---" for h in header]
    lines = ["| " + " | ".join(cell(h) for h in header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(cell(c, width) for c in r) + " |" for r in rows]
    return "\n".join(lines)
