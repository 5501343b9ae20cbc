"""Outcomes of the self-check and the markdown that carries them into a bug report.

A check is passed, failed (with what was seen: TensorRT's own message where TensorRT refused) or not run
(with why: what this machine lacks). The self-check exits 0 only when nothing failed.
"""

from __future__ import annotations

import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

PASSED, FAILED, NOT_RUN = "passed", "failed", "not run"


class Failed(Exception):
    """The check ran and what it saw is wrong; the message says what."""


class NotRun(Exception):
    """The check cannot run on this machine; the message says why."""


@dataclass
class Outcome:
    section: str
    name: str
    status: str
    detail: str
    seconds: float = 0.0


@dataclass
class Report:
    facts: dict[str, str] = field(default_factory=dict)  # what this machine is and has
    outcomes: list[Outcome] = field(default_factory=list)
    on_outcome: Callable[[Outcome], None] | None = None

    def add(self, outcome: Outcome) -> Outcome:
        self.outcomes.append(outcome)
        if self.on_outcome:
            self.on_outcome(outcome)
        return outcome

    def not_run(self, section: str, names: list[str], why: str) -> None:
        for name in names:
            self.add(Outcome(section, name, NOT_RUN, why))

    def counts(self) -> Counter:
        return Counter(o.status for o in self.outcomes)

    @property
    def exit_code(self) -> int:
        return 1 if self.counts()[FAILED] else 0


def describe(exc: BaseException) -> str:
    """An unexpected exception as one line, with where it was raised (a harness bug shows its place)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    tb = traceback.extract_tb(exc.__traceback__)
    where = f" (at {tb[-1].filename.split('/bench/')[-1]}:{tb[-1].lineno})" if tb else ""
    return f"{type(exc).__name__}: {text}{where}"


def summary_line(report: Report) -> str:
    c = report.counts()
    return f"{c[PASSED]} passed, {c[FAILED]} failed, {c[NOT_RUN]} not run"


def _cell(text: str) -> str:
    return " ".join(str(text).split()).replace("|", "\\|")


def markdown(report: Report, command: str) -> str:
    """The whole self-check as markdown: machine, every check with its result, and the summary."""
    lines = [
        "# scale-bench selfcheck",
        "",
        f"`{command}` on {datetime.now(UTC):%Y-%m-%d %H:%M} UTC: **{summary_line(report)}**"
        + (" (exit 0)" if report.exit_code == 0 else " (exit 1)"),
        "",
        "## This machine",
        "",
        "| | |",
        "|---|---|",
        *[f"| {_cell(k)} | {_cell(v)} |" for k, v in report.facts.items()],
    ]
    sections = list(dict.fromkeys(o.section for o in report.outcomes))
    for section in sections:
        lines += ["", f"## {section}", "", "| check | result | seconds | what was seen |", "|---|---|---|---|"]
        previous = None
        for o in (o for o in report.outcomes if o.section == section):
            mark = {PASSED: "passed", FAILED: "**FAILED**", NOT_RUN: "not run"}[o.status]
            detail = "as above" if o.status == NOT_RUN and o.detail == previous else _cell(o.detail)
            previous = o.detail if o.status == NOT_RUN else None
            lines.append(f"| {_cell(o.name)} | {mark} | {o.seconds:.2f} | {detail} |")
    failed = [o for o in report.outcomes if o.status == FAILED]
    if failed:
        lines += ["", "## Failed, in full", ""]
        lines += [f"- **{o.section}: {o.name}**: {o.detail}" for o in failed]
    lines += ["", "Messages in quotes or after 'TensorRT said' are TensorRT's own.", ""]
    return "\n".join(lines)
