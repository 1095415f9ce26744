"""`airgenome explainer --port N`: the explain API as its own service (scale-out).

It accepts the same Airflow tokens as the plugin: it validates them with Airflow's auth
manager and JWT settings, taken from the environment (production: the same
``AIRFLOW__API_AUTH__*`` settings as the API server) or, when none are set, from the
embedded stack under ``$AIRGENOME_HOME``.
"""

from __future__ import annotations

import argparse
import os
from typing import Any

from airgenome.cli.arguments import port as port_argument
from airgenome.cli.output import fail, progress


def _positive(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} must be greater than 0")
    return number


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "explainer", help="serve the explain API on its own (same Airflow tokens as the plugin)"
    )
    parser.add_argument("--port", type=port_argument, required=True, help="port to listen on")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--workers", type=int, default=None, help="explanations run at once")
    parser.add_argument("--timeout", type=_positive, default=None, help="seconds per request (503 after)")
    parser.set_defaults(func=cmd_explainer)


def cmd_explainer(args: argparse.Namespace) -> int:
    if args.workers is not None:
        if args.workers < 1:
            return fail("--workers: must be at least 1")
        os.environ["AIRGENOME_EXPLAIN_WORKERS"] = str(args.workers)
    if args.timeout is not None:
        os.environ["AIRGENOME_EXPLAIN_TIMEOUT_S"] = str(args.timeout)
    from airgenome.embedded.explainer import serve

    serve(args.host, args.port, progress)
    return 0
