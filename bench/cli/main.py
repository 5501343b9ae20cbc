"""`python -m bench`: plan, run, env, compare, gate, report, selfcheck, tuning.

Each command is argument setup plus a plain `run(args) -> exit code` that tests call directly. User
errors (UserError) become one message and exit code 2 here, and only here.
"""

from __future__ import annotations

import argparse
import importlib
import re
import sys

from bench.errors import UserError

COMMANDS = {
    "plan": "bench.cli.plan",
    "run": "bench.cli.run",
    "env": "bench.cli.env",
    "compare": "bench.cli.compare",
    "gate": "bench.cli.gate",
    "report": "bench.cli.report",
    "selfcheck": "bench.cli.selfcheck",
    "tuning": "bench.cli.tuning",
    "versions": "bench.cli.versions",
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark TensorRT's Scale layer (y = (x*scale + shift)^power) against a CUDA kernel and memcpy.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        doc = (module.__doc__ or "").strip()
        first = " ".join(doc.split("\n\n")[0].split())  # the first paragraph, as one line
        sentence = re.split(r"\.\s+(?=[A-Z])", first)[0].rstrip(".") + "."
        summary = sentence.replace("%", "%%") if doc else None  # argparse %-formats help
        p = sub.add_parser(name, help=summary, description=doc)
        module.add_arguments(p)
        p.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._module.run(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
