"""`python -m bench` (or the `scale-bench` console script): plan, run, env, compare, gate, report, selfcheck,
tuning, versions, phases, provenance, baseline, noise.

Each command is argument setup plus a plain `run(args) -> exit code` that tests call directly. User
errors (UserError, a flag argparse refuses, a disk that fills up) become one `error:` line and exit code
2 here, and only here; anything else is a harness bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys
from pathlib import Path

from bench import __version__
from bench.errors import UserError
from bench.files import FULL

COMMANDS = {
    "plan": "bench.cli.plan",
    "run": "bench.cli.run",
    "env": "bench.cli.env",
    "compare": "bench.cli.compare",
    "gate": "bench.cli.gate",
    "report": "bench.cli.report",
    "selfcheck": "bench.cli.selfcheck",
    "tuning": "bench.cli.tuning",
    "phases": "bench.cli.phases",
    "provenance": "bench.cli.provenance",
    "versions": "bench.cli.versions",
    "baseline": "bench.cli.baseline",
    "noise": "bench.cli.noise",
}


class OneLineParser(argparse.ArgumentParser):
    """argparse's refusals as one line, like every other refusal (its default is usage, then the error)."""

    def error(self, message: str) -> None:  # type: ignore[override]
        text = " ".join(message.split())
        print(f"error: {self.prog}: {text}; see {self.prog} --help", file=sys.stderr)
        sys.exit(2)


def program_name() -> str:
    """How the user called us: the console script by its name, anything else as `python -m bench`."""
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else ""
    return name if name == "scale-bench" else "python -m bench"


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command; with ``only``, that command's in full and the others as names (a command's
    module imports what it needs, from pandas to SciPy: a command line imports only its own)."""
    parser = OneLineParser(
        prog=program_name(),
        description="Benchmark TensorRT's Scale layer (y = (x*scale + shift)^power) against a CUDA kernel and memcpy.",
    )
    parser.add_argument("--version", action="version", version=f"scale-bench {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        if only is not None and name != only:
            sub.add_parser(name)
            continue
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip()
        first = " ".join(doc.split("\n\n")[0].split())  # the first paragraph, as one line
        sentence = re.split(r"\.\s+(?=[A-Z])", first)[0].rstrip(".") + "."
        summary = sentence.replace("%", "%%") if doc else None  # argparse %-formats help
        p = sub.add_parser(name, help=summary, description=doc)
        module.add_arguments(p)
        p.set_defaults(_module=module, _parser=p)
    return parser


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(words[0] if words and words[0] in COMMANDS else None)
    args, unknown = parser.parse_known_args(argv)
    if unknown:  # named by the command's own parser, whose --help lists what it takes
        args._parser.error(f"unrecognized arguments: {' '.join(unknown)}")
    try:
        return int(args._module.run(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`| head`): what it wanted was written, the rest is not asked for
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error when Python flushes
        return 0
    except OSError as exc:  # a full disk or quota, or a file size limit: the user's to fix, whoever was writing
        if exc.errno not in FULL:
            raise
        where = f" {exc.filename}" if exc.filename else ""
        print(
            f"error: a write{where} failed: {exc.strerror or exc} (the disk or a quota is full, or a file size limit "
            "was reached); free space and run the command again",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
