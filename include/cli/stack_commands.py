"""`up`, `down`, `status`, `token`, `demo`: the embedded Airflow stack."""

from __future__ import annotations

import argparse
import json
from typing import Any

from airgenome import settings
from airgenome.cli.arguments import port as port_argument
from airgenome.cli.output import fail, progress
from airgenome.embedded import http
from airgenome.embedded.stack import EmbeddedStack, StackError


def register(subparsers: Any) -> None:
    up = subparsers.add_parser("up", help="start the embedded Airflow (idempotent)")
    up.add_argument("--port", type=port_argument, default=None, help="API server port (default 28080)")
    up.set_defaults(func=cmd_up)

    down = subparsers.add_parser("down", help="stop every process `up` started")
    down.set_defaults(func=cmd_down)

    status = subparsers.add_parser("status", help="url, pids and health of the stack")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.set_defaults(func=cmd_status)

    token = subparsers.add_parser("token", help="print a bearer token for the embedded admin")
    token.add_argument("--user", default="admin", help="embedded user (admin or viewer)")
    token.set_defaults(func=cmd_token)

    demo = subparsers.add_parser("demo", help="`up`, then run CLAIMED's CT demo (or --genome) end to end")
    demo.add_argument("--port", type=port_argument, default=None)
    demo.add_argument(
        "--genome", action="store_true", help="run Genome's tabular demo (forest + SHAP) instead of CLAIMED's CT demo"
    )
    demo.add_argument(
        "--biased-only", action="store_true", help="CT demo: skip the twin run with the bias switched off"
    )
    demo.set_defaults(func=cmd_demo)


def _stack() -> EmbeddedStack:
    return EmbeddedStack(settings.airgenome_home(), progress=progress)


def cmd_up(args: argparse.Namespace) -> int:
    stack = _stack()
    try:
        state = stack.up(port=args.port)
    except StackError as error:
        return fail(str(error))
    print(f"Airflow is up at {state.url}")
    print(f"  sign in as 'admin'; passwords are in {stack.paths.passwords_file}")
    print(f"  airgenome pages: {state.url}/airgenome/")
    print('  API token:       curl -H "Authorization: Bearer $(airgenome token)" ...')
    return 0


def cmd_down(args: argparse.Namespace) -> int:
    stopped = _stack().down()
    print("stopped: " + ", ".join(stopped) if stopped else "nothing was running")
    return 0


def cmd_status(args: argparse.Namespace) -> int:
    status = _stack().status()
    if args.json:
        print(json.dumps(status, indent=2, sort_keys=True))
    elif not status["running"]:
        print("not running")
    else:
        print(f"url:     {status['url']}")
        print(f"healthy: {status['healthy']}")
        pids = status["pids"]
        assert isinstance(pids, dict)
        for name, pid in sorted(pids.items()):
            print(f"{name:14s} pid {pid}")
    return 0 if status["running"] else 3


def admin_token(stack: EmbeddedStack, user: str = "admin") -> str:
    state = stack.load_state()
    if state is None:
        raise StackError("the stack is not running; start it with `airgenome up`")
    passwords = json.loads(stack.paths.passwords_file.read_text())
    if user not in passwords:
        raise StackError(f"--user: unknown embedded user {user!r} (known: {sorted(passwords)})")
    return http.fetch_token(state.url, user, passwords[user])


def cmd_token(args: argparse.Namespace) -> int:
    try:
        print(admin_token(_stack(), args.user))
    except (StackError, http.AirflowError) as error:
        return fail(str(error))
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from airgenome.embedded.ct_demo import run_ct_demo
    from airgenome.embedded.demo import run_demo

    stack = _stack()
    try:
        stack.up(port=args.port)
        if args.genome:
            return run_demo(stack, admin_token(stack))
        return run_ct_demo(stack, admin_token(stack), unbiased=not args.biased_only)
    except (StackError, http.AirflowError) as error:
        return fail(str(error))
