"""How a worker process ended, in words, from what its nanny saw.

The nanny (the worker's parent process) is the one that learns the exit status: when its process ends
it logs "Worker process PID was killed by signal N" or "... exited with status N" (distributed.nanny,
`WorkerProcess._death_message`) before starting a replacement. Those lines are kept in the nanny's
in-memory log, which its `get_logs` handler returns; this module reads them and names the signal.
"""

from __future__ import annotations

import re
import signal
from dataclasses import dataclass

_LINE = re.compile(
    r"Worker process (\d+) (?:was killed by signal (\d+)|exited with status (\d+)|was killed by unknown signal)"
)

# What a reader should think of, for the signals a point can die of.
_HINTS = {
    signal.SIGKILL: "killed from outside: kill -9, or the kernel's OOM killer",
    signal.SIGSEGV: "a segmentation fault",
    signal.SIGABRT: "aborted",
    signal.SIGBUS: "a bus error",
    signal.SIGFPE: "an arithmetic fault",
    signal.SIGILL: "an illegal instruction",
}


@dataclass(frozen=True)
class Exit:
    """A worker process's end: a signal, an exit status, or neither known."""

    signal: int | None = None
    status: int | None = None

    def describe(self) -> str:
        if self.signal is not None:
            try:
                sig = signal.Signals(self.signal)
            except ValueError:
                return f"signal {self.signal}"
            hint = _HINTS.get(sig)
            return f"signal {self.signal} ({sig.name}{': ' + hint if hint else ''})"
        if self.status is not None:
            return f"exit status {self.status}"
        return "no exit status known (its nanny did not report one)"


def exit_from_logs(lines: list[str], pid: int) -> Exit | None:
    """The exit of process ``pid`` in a nanny's log lines (newest first or last), or None if not there."""
    for line in lines:
        m = _LINE.search(line)
        if m is None or int(m.group(1)) != pid:
            continue
        if m.group(2) is not None:
            return Exit(signal=int(m.group(2)))
        if m.group(3) is not None:
            return Exit(status=int(m.group(3)))
        return Exit()
    return None
