"""`lint`, `render`, `schema`: Genome sequences from the command line (no Airflow server)."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from airgenome.cli.output import fail
from airgenome.errors import AirgenomeError

PREVIEW_RUN_ID = "preview"
SCHEMA_FILE = Path(__file__).resolve().parent.parent / "sequence" / "sequence.schema.json"


def register(subparsers: Any) -> None:
    lint = subparsers.add_parser("lint", help="validate sequence JSON files; every error with its path")
    lint.add_argument("files", nargs="+", metavar="FILE")
    lint.add_argument("--mode", choices=("local", "kubernetes"), default=None,
                      help="execution mode to validate for (default: AIRGENOME_EXECUTION_MODE or local)")
    lint.set_defaults(func=cmd_lint)

    render = subparsers.add_parser("render", help="print the DAG a sequence becomes, as JSON")
    render.add_argument("file", metavar="FILE")
    render.add_argument("--mode", choices=("local", "kubernetes"), default=None)
    render.add_argument("--pods", action="store_true",
                        help="include each step's pod manifest (kubernetes mode)")
    render.set_defaults(func=cmd_render)

    schema = subparsers.add_parser("schema", help="write the sequence JSON Schema")
    schema.add_argument("--output", "-o", default=None, help="file to write (default: stdout)")
    schema.set_defaults(func=cmd_schema)


def _read(path: str) -> bytes:
    return sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()


def cmd_lint(args: argparse.Namespace) -> int:
    from airgenome.sequence.plan import dag_id_for
    from airgenome.sequence.validate import parse_sequence

    failed = 0
    for name in args.files:
        try:
            seq = parse_sequence(_read(name), mode=args.mode)
        except OSError as error:
            failed += 1
            print(f"{name}: $: cannot read ({error.strerror})")
            continue
        except AirgenomeError as error:
            failed += 1
            details = error.details or [{"loc": "$", "msg": error.message}]
            for item in details:
                print(f"{name}: {item.get('loc', '$')}: {item.get('msg', error.message)}")
            continue
        print(f"{name}: ok (dag {dag_id_for(seq)!r}, mode {seq.mode})")
    if failed:
        print(f"{failed} of {len(args.files)} file(s) invalid", file=sys.stderr)
    return 1 if failed else 0


def render_document(raw: bytes, *, mode: str | None = None, pods: bool = False) -> dict[str, Any]:
    """The JSON `airgenome render` prints, read back from the real Airflow DAG."""
    from airgenome.build.render import build_dag
    from airgenome.sequence.contract import step_environment
    from airgenome.sequence.plan import plan_sequence
    from airgenome.sequence.validate import parse_sequence
    from airgenome.settings import redact_environment

    plan = plan_sequence(parse_sequence(raw, mode=mode))
    if pods and plan.mode != "kubernetes":
        raise AirgenomeError("--pods needs --mode kubernetes (local steps run no pods)")
    render_pod: Callable[[Any], dict[str, Any]] | None = None
    if pods:
        try:
            from airgenome.operators.pod import render_pod_manifest
        except ImportError as error:
            raise AirgenomeError(f"--pods is not available: {error}") from error
        render_pod = render_pod_manifest
    dag = build_dag(plan, fileloc="<airgenome render>")
    tasks = []
    for planned in plan.tasks:
        operator = dag.get_task(planned.task_id)
        timeout = operator.execution_timeout
        entry: dict[str, Any] = {
            "task_id": operator.task_id,
            "step_name": planned.step_name,
            "group": planned.group,
            "upstream": sorted(operator.upstream_task_ids),
            "mode": planned.mode,
            "image": planned.image,
            "component": planned.component,
            "command": list(planned.command) if planned.command is not None else None,
            "args": list(planned.args) if planned.args is not None else None,
            "pool": operator.pool,
            "pool_slots": operator.pool_slots,
            "retries": operator.retries,
            "execution_timeout_seconds": int(timeout.total_seconds()) if timeout else None,
            # Store URIs may carry passwords: printed masked (pods get secret references).
            "env": redact_environment(step_environment(planned.contract, PREVIEW_RUN_ID)),
            "resources": planned.resources.to_dict(),
        }
        if render_pod is not None and getattr(planned, "approval", None) is None:
            # A component step runs its pod from inside its category operator; an approval
            # step is Airflow's own task and has no pod.
            pod_of = getattr(operator, "pod_operator", None)
            entry["pod"] = render_pod(pod_of() if pod_of is not None else operator)
        tasks.append(entry)
    return {
        "dag_id": dag.dag_id,
        "display_name": plan.display_name,
        "schedule": plan.schedule.text if plan.schedule else None,
        "start_date": plan.start_date.isoformat(),
        "catchup": dag.catchup,
        "tags": sorted(dag.tags),
        "tasks": tasks,
    }


def cmd_render(args: argparse.Namespace) -> int:
    try:
        # Airflow's loggers write to stdout; keep stdout for the JSON document only.
        with contextlib.redirect_stdout(sys.stderr):
            document = render_document(_read(args.file), mode=args.mode, pods=args.pods)
    except OSError as error:
        return fail(f"{args.file}: cannot read ({error.strerror})")
    except AirgenomeError as error:
        return fail(f"{args.file}: {error.message}")
    print(json.dumps(document, indent=2, sort_keys=True))
    return 0


def schema_text() -> str:
    from airgenome.sequence.spec import json_schema

    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"


def cmd_schema(args: argparse.Namespace) -> int:
    text = schema_text()
    if args.output:
        Path(args.output).write_text(text)
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0
