"""Terminal output: the progress bar (points done, failures, ETA) and the end-of-run summary table."""

from __future__ import annotations

import sys
import time
from collections import Counter

import pandas as pd
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table
from rich.text import Text

from bench import copy_yardstick

# Piped (a log, a file, CI), tables fit PIPED_WIDTH columns, folding their text: a log keeps every value whole
# at a width a reader's window shows. (Not $COLUMNS: test runners and CI set it to what their own terminal was.)
PIPED_WIDTH = 100


def _width() -> int | None:
    return None if sys.stdout.isatty() else PIPED_WIDTH  # None: the terminal's


# markup=False: text from users and from TensorRT (sweep names, error messages, "pip install '.[gpu]'")
# is printed as written; rich would otherwise read "[gpu]" or "[/]" as markup and eat or reject it.
console = Console(width=_width(), markup=False, highlight=False)
err_console = Console(stderr=True, markup=False, highlight=False)


def say(text: str) -> None:
    """One line of text, whole whatever the width (a log keeps a line a reader can search for)."""
    console.print(text, soft_wrap=True)


class RunProgress:
    """A rich bar on a terminal; on a log (CI, the device) a line every ~5% of the points."""

    def __init__(self, total: int, enabled: bool = True) -> None:
        self.total = total
        self.failures = 0
        self.done = 0
        self.start = time.monotonic()
        self.live = enabled and sys.stderr.isatty()
        self.every = max(1, total // 20)
        self._bar: Progress | None = None
        if self.live:
            self._bar = Progress(
                TextColumn("{task.description}", markup=False),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("failures: {task.fields[failures]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=err_console,
            )
            self._task = self._bar.add_task("points", total=total, failures=0)
            self._bar.start()

    def __call__(self, row: dict) -> None:
        self.done += 1
        if row["status"] in ("failed", "mismatch"):
            self.failures += 1
        if self._bar is not None:
            self._bar.update(self._task, advance=1, failures=self.failures, description=row["shape"])
        elif self.done % self.every == 0 or self.done == self.total:
            elapsed = time.monotonic() - self.start
            eta = elapsed / self.done * (self.total - self.done)
            print(
                f"[{self.done}/{self.total}] failures {self.failures}  elapsed {elapsed:.0f}s  ETA {eta:.0f}s",
                flush=True,
            )

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()


def _fmt(v: object, spec: str) -> str:
    try:
        if v is None or v != v:  # None or NaN
            return "-"
        return format(int(v) if spec.endswith("d") else v, spec)
    except (TypeError, ValueError):
        return str(v)


def summary_table(rows: list[dict], limit: int = 40) -> Table | None:
    """One line per timed point (the first ``limit``), what was measured and how noisy; None without any."""
    if not any(r["status"] == "ok" for r in rows):
        return None
    table = Table(title="timed points", show_lines=False, collapse_padding=True)
    for col in ("backend", "shape", "mode", "prec", "axis", "method", "median us", "noise", "GB/s", "vs copy"):
        right = col in ("median us", "noise", "GB/s", "vs copy")
        table.add_column(col, justify="right" if right else "left", overflow="fold")  # fold: never cut a value
    ok = [r for r in rows if r["status"] == "ok"]
    versus = copy_yardstick.time_over_copy(pd.DataFrame(ok))
    for r, ratio, bound in zip(ok[:limit], versus["time_over_copy"], versus["launch_bound"], strict=False):
        table.add_row(
            r["backend"], r["shape"], r["mode"], r["precision"], r["channel_axis"], r.get("timing_method") or "-",
            _fmt(r.get("median_us"), ".2f"), _fmt(r.get("noise"), ".1%") + ("" if r.get("noise_target_met") is not False else " !"),
            _fmt(r.get("gbps"), ".0f"),
            copy_yardstick.versus_copy(r.get("pct_of_memcpy"), ratio, bound).replace("n/a", "-"),
        )  # fmt: skip
    caption = ["vs copy: % of the copy's bandwidth, or its time over the copy's (x1.23) where launches set it"]
    if len(ok) > limit:
        caption.append(f"... and {len(ok) - limit} more timed points in the parquet file")
    if any(r.get("noise_target_met") is False for r in ok[:limit]):
        caption.append("'!': the noise target was not reached")
    table.caption = "; ".join(caption) or None
    return table


def noise_line(rows: list[dict]) -> str | None:
    """How many timed points stopped without reaching the noise target, and what stopped them."""
    timed = [r for r in rows if r["status"] == "ok"]
    missed = [r for r in timed if r.get("noise_target_met") is False]
    if not missed:
        return None
    by = Counter(str(r.get("stop_reason")) for r in missed)
    causes = ", ".join(f"{reason.replace('_', ' ')}: {n}" for reason, n in by.most_common())
    return (
        f"noise target missed on {len(missed)} of {len(timed)} timed points ({causes}); their rows say "
        "noise_target_met = false and carry a warning"
    )


def built_table(rows: list[dict], limit: int = 40) -> Table | None:
    """--build-only: what each build cost."""
    built = [r for r in rows if r["status"] == "built"]
    if not built:
        return None
    table = Table(title="built engines (not executed)", collapse_padding=True)
    for col in ("backend", "shape", "mode", "prec", "axis", "build s", "engine bytes", "cached"):
        table.add_column(col, justify="right" if col in ("build s", "engine bytes") else "left", overflow="fold")
    for r in built[:limit]:
        table.add_row(
            r["backend"], r["shape"], r["mode"], r["precision"], r["channel_axis"], _fmt(r.get("build_s"), ".3f"),
            _fmt(r.get("engine_bytes"), "d"), str(r.get("engine_cached")),
        )  # fmt: skip
    if len(built) > limit:
        table.caption = f"... and {len(built) - limit} more built points in the parquet file"
    return table


def status_table(counts: Counter, rows: list[dict]) -> Table:
    table = Table(title="points by backend and status")
    statuses = ("ok", "built", "mismatch", "failed", "skipped")
    table.add_column("backend")
    for s in statuses:
        table.add_column(s, justify="right")
    per: dict[str, Counter] = {}
    for r in rows:
        per.setdefault(r["backend"], Counter())[r["status"]] += 1
    for backend, c in sorted(per.items()):
        table.add_row(backend, *(str(c.get(s, 0)) for s in statuses))
    return table


def problems_table(rows: list[dict], limit: int = 20) -> Table | None:
    bad = [r for r in rows if r["status"] in ("failed", "mismatch")]
    if not bad:
        return None
    table = Table(title=f"failed and mismatched points ({len(bad)})")
    for col in ("backend", "shape", "mode", "prec", "axis", "status", "error"):
        table.add_column(col, overflow="fold")
    if len(bad) > limit:
        table.caption = f"... and {len(bad) - limit} more in the parquet file"
    for r in bad[:limit]:
        table.add_row(
            r["backend"], r["shape"], r["mode"], r["precision"], r["channel_axis"], r["status"],
            Text(r["error"] or ""),  # Text, not str: rich would eat "[...]" in TensorRT's messages as markup
        )  # fmt: skip
    return table
