"""`airgenome` command line: one module per command family, registered here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airgenome.cli import component_commands, explainer_command, sequence_commands, stack_commands

# Each module exposes register(subparsers); its commands set `func` returning an exit code.
COMMAND_MODULES = [stack_commands, sequence_commands, component_commands, explainer_command]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="airgenome", description="Trusted-AI pipelines on Apache Airflow 3."
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in COMMAND_MODULES:
        module.register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
