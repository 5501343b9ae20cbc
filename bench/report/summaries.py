"""Every summary the report prints, defined once: the report's numbers all come through here.

A report that averages ratios one way in a heatmap and another way in a sentence ends up printing two
"geometric means" of the same comparison; one that quotes noise from one population beside a percentile
from another reads as a contradiction. So each summary has exactly one definition below, and each
returns the size of the population it summarized, so the sentence that quotes it can name it.

- Averages of ratios are geometric means over points (one point = one workload on one backend; a point
  measured in several runs of one side is one point, see bench.analysis.compare).
- Noise is the stored `noise` column (MAD / median of a row's samples: the measure the sampler's stopping
  rule uses), summarized over rows by its median, 90th percentile and maximum.
- A line in a plot is the median of the row medians at that size.
- The copy's bandwidth at a size (the roofline) is the median of the memcpy rows' GB/s at that size.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bench.analysis.stats import geometric_mean


def finite(values: Iterable[float] | pd.Series | np.ndarray) -> np.ndarray:
    v = np.asarray(list(values) if not isinstance(values, (pd.Series, np.ndarray)) else values, dtype=np.float64)
    return v[np.isfinite(v)]


def geomean(values: Iterable[float] | pd.Series | np.ndarray) -> float:
    """Geometric mean of the positive finite values (the average of ratios; the one definition is
    bench.analysis.stats.geometric_mean, which compare and gate use too); nan when there are none."""
    return geometric_mean(finite(values))


def line_value(medians: pd.Series) -> float:
    """The value a plotted line takes at one size: the median of the row medians there."""
    v = finite(medians)
    return float(np.median(v)) if v.size else float("nan")


@dataclass(frozen=True)
class Spread:
    """Median, 90th percentile, min and max of a set of values, with their count."""

    n: int
    median: float
    p90: float
    low: float
    high: float


def spread(values: Iterable[float] | pd.Series | np.ndarray) -> Spread:
    v = finite(values)
    if not v.size:
        nan = float("nan")
        return Spread(0, nan, nan, nan, nan)
    return Spread(int(v.size), float(np.median(v)), float(np.percentile(v, 90)), float(v.min()), float(v.max()))


def noise(rows: pd.DataFrame) -> Spread:
    """Noise of a set of timed rows: the spread of their `noise` (MAD/median of each row's samples)."""
    return spread(rows["noise"]) if "noise" in rows.columns else spread([])


def noise_text(rows: pd.DataFrame, population: str) -> str:
    """'H100 · cuda (660 rows): median 0.08%, 90th percentile 0.19%, max 0.72%' of `noise`."""
    s = noise(rows)
    if not s.n:
        return f"{population}: not recorded"
    return f"{population} ({count(s.n, 'row')}): median {s.median:.2%}, 90th percentile {s.p90:.2%}, max {s.high:.2%}"


NOISE_DEFINITION = "noise (MAD/median of each row's samples) over the rows of each series"


def us(x: float) -> str:
    """A time in µs as text: three significant digits, no powers of ten (49,200 rather than 4.92e+04)."""
    return "n/a" if not np.isfinite(x) else (f"{x:,.0f}" if abs(x) >= 1000 else f"{x:.3g}")


def gbps(x: float) -> str:
    """GB/s as text: whole numbers from 100 up, three significant digits below (a 27-element call moves 0.2)."""
    return "n/a" if not np.isfinite(x) else (f"{x:,.0f}" if abs(x) >= 100 else f"{x:.3g}")


def count(n: int, noun: str, plural: str | None = None) -> str:
    """'1 row', '2,400 rows'."""
    return f"{n:,} {noun if n == 1 else (plural or noun + 's')}"


def human_bytes(n: float) -> str:
    """Binary units, as GPU memory and L2 sizes are quoted: 50 MiB, 4 KiB, 1 GiB."""
    if not np.isfinite(n):
        return "n/a"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)} B"


def human_count(n: float) -> str:
    """Element counts for tick labels and cells: 27, 65.5K, 3.21M, 1.07G."""
    for unit, size in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= size:
            return f"{n / size:.3g}{unit}"
    return f"{int(n)}"
