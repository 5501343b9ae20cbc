"""Summary statistics of raw samples; pure functions shared by the timing loop and the analysis."""

from __future__ import annotations

import numpy as np


def rel_mad(samples: np.ndarray) -> float:
    """Median absolute deviation over the median: a noise measure that outliers barely move."""
    s = np.asarray(samples, dtype=np.float64)
    if s.size == 0:
        return float("nan")
    med = float(np.median(s))
    if med == 0:
        return float("inf")
    return float(np.median(np.abs(s - med)) / med)


def summarize(samples: np.ndarray) -> dict[str, float | int]:
    """median/mean/min/p90/p99 (us), cv (std/mean) and n of a sample array."""
    s = np.asarray(samples, dtype=np.float64)
    if s.size == 0:
        nan = float("nan")
        return {
            "median_us": nan,
            "mean_us": nan,
            "min_us": nan,
            "p90_us": nan,
            "p99_us": nan,
            "cv": nan,
            "n_samples": 0,
        }
    mean = float(np.mean(s))
    return {
        "median_us": float(np.median(s)),
        "mean_us": mean,
        "min_us": float(np.min(s)),
        "p90_us": float(np.percentile(s, 90)),
        "p99_us": float(np.percentile(s, 99)),
        "cv": float(np.std(s, ddof=1) / mean) if s.size > 1 and mean else 0.0,
        "n_samples": int(s.size),
    }
