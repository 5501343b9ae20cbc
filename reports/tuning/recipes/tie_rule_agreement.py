"""How often two fresh tuning stores would agree under other tie widths, from their own records.

  python reports/tuning/recipes/tie_rule_agreement.py --stores STORES.tgz [--scan SCAN.jsonl]

A packed pair of tuning stores (two trees of one commit, each tuned from empty on one GPU) holds, per
point, every candidate each store timed and its median. On the candidates both stores timed, this
applies the tuner's own rule (`bench.gpu.tuning.decide`) to each store's medians, as a plain tie (the
earliest candidate, in the class's fixed order, within the tie of the fastest) at several widths and
as chained ties (the earliest of the fastest's group, linked in steps of at most the link, capped at
1%: the tuner's rule since these stores were made), and counts the points where the two picks agree. With a scan (`bench tuning scan` on the same GPU model), it also says
what a disagreement costs (the two picks' scan medians apart) and how far each pick is from the best
candidate the two stores shared.

Then it asks why they disagree: for every pair of candidates both stores timed on a point, the
difference between the stores' log ratios (a launch against the point's fastest), against the spread
that the medians' sampling error alone would give (each median's standard error taken as
1.253 * 1.4826 * MAD / sqrt(n)); and whether what sampling cannot explain is one shift shared by all
points of a store's process or each point's own.
"""

from __future__ import annotations

import argparse
import math
import sys
from pathlib import Path

import numpy as np
from tuning_report import _scan, _store_points

from bench.gpu.tuning import Candidate, decide

TIES = (0.0025, 0.005, 0.0075, 0.01, 0.015, 0.02)
LINKS = (0.005, 0.0075)
CHAIN_CAP = 0.01


def _timed(record: dict) -> dict[str, dict]:
    return {c["label"]: c for c in record["candidates"] if c.get("median_us") and not c.get("error")}


def _shared(a: dict, b: dict) -> list[str]:
    """Labels both stores timed on a point, in the class's fixed order (the first store's)."""
    ta, tb = _timed(a), _timed(b)
    return [c["label"] for c in a["candidates"] if c["label"] in ta and c["label"] in tb]


def _pick(record: dict, labels: list[str], link: float, cap: float) -> str:
    timed = _timed(record)
    cands = [Candidate(timed[x]["config"], x, median_us=timed[x]["median_us"]) for x in labels]
    return labels[decide(cands, link=link, cap=cap)]


def agreement(pa: dict, pb: dict, scan: dict, tie: float, chained: bool = False) -> str:
    """One line: how often the rule at ``tie`` (or the chained rule with links of ``tie``) picks the
    same launch from the two stores' medians."""
    same = total = 0
    apart, excess = [], []
    for key in sorted(set(pa) & set(pb)):
        labels = _shared(pa[key], pb[key])
        if len(labels) < 2:
            continue
        link, cap = (tie, CHAIN_CAP) if chained else (tie, tie)  # a plain tie: every link within the cap
        x, y = _pick(pa[key], labels, link, cap), _pick(pb[key], labels, link, cap)
        total += 1
        same += x == y
        med = {c["label"]: c["median_us"] for c in scan.get(key, {}).get("candidates", []) if c["median_us"]}
        if x != y and x in med and y in med:
            apart.append(abs(math.log(med[x] / med[y])))
        if x in med and all(v in med for v in labels):
            excess.append(med[x] / min(med[v] for v in labels) - 1)
    rule = f"chained ties, links of {tie:.2%} up to 1%" if chained else f"tie {tie:.2%}"
    line = f"{rule}: same pick on {same} of {total} points ({same / total:.1%})"
    if apart:
        line += f"; where not, the scan times the picks {np.median(apart):.2%} apart (median), max {max(apart):.2%}"
    if excess:
        e = np.array(excess)
        line += f"; pick over the best shared candidate: 90th percentile {np.quantile(e, 0.9):.2%}, over 1% on {int((e > 0.01).sum())}"
    return line


def _median_se(c: dict) -> float:
    return 1.253 * 1.4826 * float(c["noise"] or 0.0) / math.sqrt(max(int(c["samples"] or 1), 1))


def ratio_spread(pa: dict, pb: dict) -> str:
    """Observed store-to-store spread of launch-to-fastest log ratios against sampling error alone."""
    diffs, sds = [], []
    for key in sorted(set(pa) & set(pb)):
        ta, tb = _timed(pa[key]), _timed(pb[key])
        labels = _shared(pa[key], pb[key])
        if len(labels) < 2:
            continue
        ref = min(labels, key=lambda x: ta[x]["median_us"])
        for x in labels:
            if x == ref:
                continue
            ra = math.log(ta[x]["median_us"] / ta[ref]["median_us"])
            rb = math.log(tb[x]["median_us"] / tb[ref]["median_us"])
            diffs.append(abs(ra - rb))
            sds.append(math.sqrt(sum(_median_se(c) ** 2 for c in (ta[x], ta[ref], tb[x], tb[ref]))))
    d, s = np.array(diffs), np.median(sds)
    observed_sd = np.median(d) / 0.6745  # |N(0, sd)| has median 0.6745 sd
    extra = math.sqrt(max(observed_sd**2 - s**2, 0.0))
    return (
        f"{len(d)} (point, launch) ratios timed by both stores: they differ by {np.median(d):.3%} (median) "
        f"and {np.quantile(d, 0.9):.3%} (90th percentile); sampling alone would give a median of "
        f"{0.6745 * s:.3%} (sd {s:.3%}), so about {extra:.3%} (sd) is not sampling error"
    )


def shared_shift(pa: dict, pb: dict) -> str:
    """Whether the stores' disagreement is one shift shared by a process's points or each point's own:
    per launch, the mean over points of the difference of its log ratio to one reference launch (the
    launch both stores timed on the most points), against that difference's spread over points."""
    counts: dict[str, int] = {}
    for key in set(pa) & set(pb):
        for x in _shared(pa[key], pb[key]):
            counts[x] = counts.get(x, 0) + 1
    ref = max(sorted(counts), key=lambda x: counts[x])
    diffs: dict[str, list[float]] = {}
    for key in sorted(set(pa) & set(pb)):
        ta, tb = _timed(pa[key]), _timed(pb[key])
        labels = _shared(pa[key], pb[key])
        if ref not in labels:
            continue
        for x in labels:
            if x != ref:
                d = math.log(ta[x]["median_us"] / ta[ref]["median_us"]) - math.log(
                    tb[x]["median_us"] / tb[ref]["median_us"]
                )
                diffs.setdefault(x, []).append(d)
    rows = [(abs(np.mean(v)), np.std(v, ddof=1)) for v in diffs.values() if len(v) >= 20]
    means, sds = np.array([r[0] for r in rows]), np.array([r[1] for r in rows])
    return (
        f"against {ref}, over {len(rows)} launches timed on 20 or more points: the shift shared by a "
        f"store's points is at most {means.max():.3%} (median {np.median(means):.3%}), each point's own "
        f"spread {np.median(sds):.3%} (median sd): the disagreement is mostly each point's, not the process's"
    )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--stores", type=Path, required=True, help="a packed pair of tuning stores")
    ap.add_argument("--scan", type=Path, help="every candidate on every point (bench tuning scan)")
    args = ap.parse_args(argv)
    sides = _store_points(args.stores)
    if len(sides) != 2:
        print(f"{args.stores}: expected two stores, found {sorted(sides)}", file=sys.stderr)
        return 2
    (a, pa), (b, pb) = sorted(sides.items())
    scan = _scan(args.scan) if args.scan else {}
    stored = sum(pa[k]["chosen"] == pb[k]["chosen"] for k in set(pa) & set(pb))
    print(
        f"{args.stores.name} ({a}, {b}): the stores chose the same launch on {stored} of {len(set(pa) & set(pb))} points"
    )
    print()
    for tie in TIES:
        print(f"- {agreement(pa, pb, scan, tie)}")
    for link in LINKS:
        print(f"- {agreement(pa, pb, scan, link, chained=True)}")
    print()
    print(ratio_spread(pa, pb))
    print(shared_shift(pa, pb))
    return 0


if __name__ == "__main__":
    sys.exit(main())
