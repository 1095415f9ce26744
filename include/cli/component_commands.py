"""``airgenome components`` (the catalogue) and ``airgenome component run`` (one component,
in-process, outside Airflow)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from airgenome.cli.output import fail


def register(subparsers: Any) -> None:
    listing = subparsers.add_parser("components", help="list the component catalogue")
    listing.add_argument("--json", action="store_true", help="the full catalogue as JSON")
    listing.set_defaults(func=cmd_components)

    single = subparsers.add_parser("component", help="run one component outside Airflow")
    actions = single.add_subparsers(dest="action", required=True, metavar="ACTION")
    run = actions.add_parser("run", help="run a component in this process; print its result manifest")
    run.add_argument("name", help="component name, e.g. input.sklearn-dataset")
    run.add_argument("--params", default="{}", help="parameters as a JSON object")
    run.add_argument(
        "--input", action="append", default=[], metavar="NAME=URI",
        help="an input (repeatable): NAME=URI, or NAME=KIND:URI to state its kind",
    )
    run.add_argument("--out", required=True, type=Path, help="folder for the outputs")
    run.set_defaults(func=cmd_component_run)


def cmd_components(args: argparse.Namespace) -> int:
    from airgenome.components import registry

    specs = registry.specs()
    if args.json:
        print(json.dumps([spec.to_dict() for spec in specs], indent=2, sort_keys=True))
    else:
        width = max(len(spec.name) for spec in specs)
        for spec in specs:
            ports = ", ".join(
                [f"in {n}:{p.kind}" for n, p in spec.inputs.items()]
                + [f"out {n}:{p.kind}" for n, p in spec.outputs.items()]
            )
            print(f"{spec.name:<{width}}  {spec.summary}" + (f"  [{ports}]" if ports else ""))
    for problem in registry.REGISTRY.problems:
        print(f"airgenome: warning: {problem}", file=sys.stderr)
    return 0


def _inputs(values: list[str], spec: Any) -> dict[str, Any]:
    from airgenome.components.context import InputRef
    from airgenome.components.lake import normalise_root

    inputs: dict[str, InputRef] = {}
    for item in values:
        name, sep, target = item.partition("=")
        if not sep or not name or not target:
            raise ValueError(f"--input {item!r}: expected NAME=URI")
        port = spec.inputs.get(name)
        kind, colon, rest = target.partition(":")
        if colon and not rest.startswith("//") and kind.isalpha() and kind not in ("file", "s3", "gs"):
            uri = rest
        else:
            kind, uri = (port.kind if port else "file"), target
        if uri.startswith("/") or "://" not in uri:
            uri = normalise_root(str(Path(uri).resolve()))
        inputs[name] = InputRef(uri=uri, kind=kind)
    return inputs


def cmd_component_run(args: argparse.Namespace) -> int:
    from airgenome.components import registry
    from airgenome.components.context import ComponentContext, StepInfo
    from airgenome.components.lake import normalise_root
    from airgenome.components.runtime import EXIT_BAD_INPUT, run_component
    from airgenome.errors import AirgenomeError, InvalidInput
    from airgenome.settings import store_locations

    try:
        spec = registry.get(args.name)
        try:
            params = json.loads(args.params)
        except json.JSONDecodeError as error:
            raise InvalidInput(f"--params: not valid JSON ({error.msg})") from None
        if not isinstance(params, dict):
            raise InvalidInput("--params: must be a JSON object")
        spec.parse_parameters(params)  # before any side effect, every field named
        inputs = _inputs(args.input, spec)
    except (AirgenomeError, ValueError) as error:
        return fail(getattr(error, "message", str(error)), EXIT_BAD_INPUT)
    out = args.out.resolve()
    context = ComponentContext(
        component=spec.name,
        step=StepInfo(step_name=spec.name.replace(".", "-"), step_type=spec.category),
        inputs=inputs,
        output_uri=normalise_root(str(out)),
        stores=store_locations(),
        lake_root=normalise_root(str(out)),
    )
    try:
        result = run_component(spec, context, params)
    except AirgenomeError as error:
        return fail(error.message, EXIT_BAD_INPUT if error.status_code < 500 else 1)
    except Exception as error:  # the component failed: say why, exit 1
        return fail(f"{spec.name} failed: {type(error).__name__}: {error}", 1)
    print(result.to_json())
    return 0  # a skip is an outcome, not an error: the manifest says so
