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

from airgenome import settings
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


def _use_embedded_settings() -> None:
    """Without Airflow auth settings in the environment, trust the embedded stack's."""
    if os.environ.get("AIRFLOW__API_AUTH__JWT_SECRET"):
        return
    from airgenome.embedded.config import DEFAULT_PORT, EmbeddedPaths, airflow_env
    from airgenome.embedded.stack import EmbeddedStack

    home = settings.airgenome_home()
    paths = EmbeddedPaths(home)
    if not paths.secrets_file.exists():
        return
    state = EmbeddedStack(home).load_state()
    env = airflow_env(paths, state.port if state else DEFAULT_PORT)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("AIRFLOW", "AIRGENOME"))})


def cmd_explainer(args: argparse.Namespace) -> int:
    if args.workers is not None:
        if args.workers < 1:
            return fail("--workers: must be at least 1")
        os.environ["AIRGENOME_EXPLAIN_WORKERS"] = str(args.workers)
    if args.timeout is not None:
        os.environ["AIRGENOME_EXPLAIN_TIMEOUT_S"] = str(args.timeout)
    _use_embedded_settings()
    import uvicorn
    from airflow.api_fastapi.app import init_auth_manager

    from airgenome.explain.service import get_service
    from airgenome.plugins.routers.explain import standalone_app

    init_auth_manager()
    get_service().preload()
    progress(f"explainer listening on http://{args.host}:{args.port}/api/v1/explain")
    uvicorn.run(standalone_app(), host=args.host, port=args.port, log_level="warning")
    return 0
