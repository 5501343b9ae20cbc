"""The one decision rule that compare, gate and report all apply and all print.

A verdict answers "did this point change by more than the threshold?", and nothing else, so it needs
three things stated once: the threshold (the band of ratios that count as no change), the error rate
(alpha, controlled over the points with Benjamini-Hochberg) and the test (one-sided t tests of the runs'
log medians against the band, each point's run-to-run noise from a noise profile, never from the scatter
of the ratios being judged; bench/analysis/model.py). A report that colours its heatmap at ±5% beside a
gate that judges at ±3% gives two answers to one question; here there is one rule object, and every
command prints `describe()`.

Verdicts, for the median and for the tail (p90) alike:

- **slower** / **faster**: the data show the ratio beyond the band (the band widened by the machine's
  drift where a memcpy yardstick established one; see yardstick.py);
- **same**: the estimate is inside the threshold and the data show it inside the band;
- **undecided**: the estimate is beyond the threshold but the data do not show it beyond the band. The
  gate never passes these on the slow side (fail closed): it refuses with exit 2 and says how many runs
  would decide them;
- **ambiguous**: the estimate is inside the threshold but the data cannot show it there (noise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DEFAULT_THRESHOLD = 0.03
DEFAULT_ALPHA = 0.01
VERDICTS = ("slower", "faster", "same", "undecided", "ambiguous")
FAMILIES = ("median", "p90")  # what is judged per point; each family gets alpha / len(FAMILIES)


@dataclass(frozen=True)
class DecisionRule:
    """Threshold and error rate; the test is model.py's. Frozen: one rule per comparison."""

    threshold: float = DEFAULT_THRESHOLD
    alpha: float = DEFAULT_ALPHA

    @property
    def half(self) -> float:
        """The band's half width in log ratio: log(1 + threshold)."""
        return float(np.log1p(self.threshold))

    @property
    def family_alpha(self) -> float:
        """Alpha per family of tests (median, p90): Bonferroni over the two, so that when no point moved
        beyond the threshold the chance of any slower verdict stays at most alpha."""
        return self.alpha / len(FAMILIES)

    def describe(self) -> str:
        """One sentence every command prints beside its verdicts."""
        high = 1.0 + self.threshold
        return (
            f"Decision rule: threshold ±{self.threshold:.0%} (ratios {1 / high:.3f}-{high:.3f}); one-sided t tests of "
            f"the runs' log medians and log p90s against that band, each point's run-to-run noise from a noise "
            f"profile (never from the scatter of the ratios judged), Benjamini-Hochberg at alpha {self.alpha:g} "
            f"({self.family_alpha:g} each for medians and tails). slower/faster: shown beyond the band; same: inside "
            "the threshold and shown inside; undecided: beyond the threshold, not shown; ambiguous: inside, not shown."
        )
