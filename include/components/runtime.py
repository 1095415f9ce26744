"""The ONE entrypoint of every component: ``python -m airgenome.components.runtime NAME``.

Used by the local step operator, by the pod of every component step and as the command of
the component images (`ENTRYPOINT`). It resolves the context from the step environment,
validates the parameters (exit 2 naming each field, before any side effect), runs the
component, writes the result manifest as JSON and maps the outcome to an exit code:

    0  success          1  failure (Airflow retries)
    2  bad parameters   99 skip (downstream skipped, not retried)

Installs and runs without Airflow: this module and everything it imports are Airflow-free.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any, NoReturn

from airgenome.components.context import (
    CONNECTION_PREFIX,
    ComponentContext,
    ComponentFailed,
    InputRef,
    Result,
    SkipStep,
    StepInfo,
)
from airgenome.components.registry import REGISTRY, ComponentSpec, get
from airgenome.errors import AirgenomeError, InvalidInput

ENTRYPOINT: tuple[str, ...] = ("python", "-m", "airgenome.components.runtime")
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2
EXIT_SKIP = 99
# Where a pod's manifest goes: the KubernetesPodOperator's xcom sidecar reads this file.
POD_RESULT_PATH = "/airflow/xcom/return.json"

# Variables of the step environment the runtime reads (on top of the Genome contract).
INPUTS_VARIABLE = "AIRGENOME_INPUTS"
OUTPUT_VARIABLE = "AIRGENOME_OUTPUT_URI"
LAKE_VARIABLE = "AIRGENOME_LAKE_ROOT"
RESULT_VARIABLE = "AIRGENOME_RESULT_PATH"
GPUS_VARIABLE = "AIRGENOME_GPUS"
# Set for a Genome image step run locally: parameters written for the image that the
# component does not declare are ignored instead of refused.
LENIENT_VARIABLE = "AIRGENOME_IGNORE_UNKNOWN_PARAMETERS"


def _json(environ: Mapping[str, str], name: str, default: Any) -> Any:
    raw = environ.get(name)
    if not raw:
        return default
    try:
        return json.loads(raw)
    except json.JSONDecodeError as error:
        raise InvalidInput(f"{name}: not valid JSON ({error.msg})") from None


def context_from_environment(component: str, environ: Mapping[str, str]) -> tuple[ComponentContext, dict[str, Any]]:
    """The context and the raw parameters of a step, from its environment."""
    from airgenome.components.lake import run_output_uri
    from airgenome.settings import StoreLocations, lake_root, store_locations

    parameters = _json(environ, "PARAMETERS", {})
    if not isinstance(parameters, dict):
        raise InvalidInput("PARAMETERS: must be a JSON object")
    datasets = _json(environ, "DATASETS", [])
    raw_inputs = _json(environ, INPUTS_VARIABLE, {})
    if not isinstance(raw_inputs, dict):
        raise InvalidInput(f"{INPUTS_VARIABLE}: must be a JSON object of name -> {{uri, kind}}")
    inputs = {str(name): InputRef.from_dict(value) for name, value in raw_inputs.items()}
    step = StepInfo(
        pipeline_name=environ.get("PIPELINE_NAME") or "adhoc",
        run_id=environ.get("PIPELINE_RUNID") or "adhoc",
        step_name=environ.get("STEP_NAME") or component.replace(".", "-"),
        step_type=environ.get("STEP_TYPE") or "model",
        application=environ.get("APPLICATION") or "airgenome",
        canonical_name=environ.get("CANONICAL_NAME") or None,
        deployment=environ.get("DEPLOYMENT") or None,
        deployment_parameters=_json(environ, "DEPLOYMENT_PARAMETERS", None),
        datasets=datasets if isinstance(datasets, list) else [],
    )
    root = environ.get(LAKE_VARIABLE) or lake_root()
    step = replace(step, datasets=resolve_datasets(step.datasets, root))
    # The step environment carries the store locations (pods: from the store secret).
    defaults = store_locations()
    stores = StoreLocations(
        model_store_uri=environ.get("AIRGENOME_MODEL_STORE_URI") or defaults.model_store_uri,
        model_artifacts=environ.get("AIRGENOME_MODEL_ARTIFACTS") or defaults.model_artifacts,
        evaluation_store_uri=environ.get("AIRGENOME_EVALUATION_STORE_URI") or defaults.evaluation_store_uri,
        model_registry_uri=environ.get("AIRGENOME_MODEL_REGISTRY_URI") or defaults.model_registry_uri,
    )
    gpus_text = environ.get(GPUS_VARIABLE) or "0"
    context = ComponentContext(
        component=component,
        step=step,
        inputs=inputs,
        output_uri=environ.get(OUTPUT_VARIABLE)
        or run_output_uri(root, step.pipeline_name, step.run_id, step.step_name),
        stores=stores,
        lake_root=root,
        gpus=int(gpus_text) if gpus_text.isdigit() else 0,
        connections={k: v for k, v in environ.items() if k.startswith(CONNECTION_PREFIX) and v},
    )
    return context, parameters


def resolve_datasets(datasets: list[Any], root: str) -> list[Any]:
    """Genome's dataRefs: ``{"ref": "mllake://<path>"}`` gains ``"uri": "<lake>/<path>"``."""
    from airgenome.components.lake import LAKE_SCHEME, resolve_ref

    resolved: list[Any] = []
    for index, item in enumerate(datasets):
        ref = item.get("ref") if isinstance(item, dict) else None
        if isinstance(ref, str) and ref.startswith(LAKE_SCHEME):
            try:
                item = {**item, "uri": resolve_ref(root, ref)}
            except ValueError as error:
                raise InvalidInput(f"DATASETS[{index}].ref: {error}") from None
        resolved.append(item)
    return resolved


def check_inputs(spec: ComponentSpec, context: ComponentContext) -> None:
    """Every required input is wired and has the declared kind (by name, all at once)."""
    problems = []
    for name, port in spec.inputs.items():
        given = context.inputs.get(name)
        if given is None:
            if port.required:
                problems.append({"loc": f"inputs.{name}", "msg": f"required input of kind {port.kind} is missing"})
        elif given.kind != port.kind:
            problems.append({"loc": f"inputs.{name}", "msg": f"is a {given.kind}, {spec.name} needs a {port.kind}"})
    for name in context.inputs:
        if name not in spec.inputs:
            problems.append({"loc": f"inputs.{name}", "msg": f"{spec.name} has no input {name!r}"})
    if problems:
        lines = "\n".join(f"  {p['loc']}: {p['msg']}" for p in problems)
        raise InvalidInput(f"invalid inputs for {spec.name}:\n{lines}", details=problems)


def run_component(spec: ComponentSpec, context: ComponentContext, parameters: Mapping[str, Any]) -> Result:
    """Validate, then run one component in this process. Raises InvalidInput before any
    side effect; a `SkipStep` becomes a result with outcome ``skip``."""
    params = spec.parse_parameters(parameters)
    check_inputs(spec, context)
    run = spec.load()
    try:
        result = run(context, params)
    except SkipStep as skip:
        result = Result(outcome="skip", message=str(skip) or "nothing to do")
    if not isinstance(result, Result):
        raise ComponentFailed(f"{spec.name} returned {type(result).__name__}, not a Result")
    result.component = spec.name
    undeclared = sorted(set(result.outputs) - set(spec.outputs))
    if undeclared:
        raise ComponentFailed(f"{spec.name} produced undeclared output(s): {', '.join(undeclared)}")
    if result.outcome == "success":
        missing = sorted(n for n, p in spec.outputs.items() if p.required and n not in result.outputs)
        if missing:
            raise ComponentFailed(f"{spec.name} did not produce its output(s): {', '.join(missing)}")
    return result


def write_manifest(result: Result, path: str) -> None:
    """Atomically: a reader never sees half a manifest."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp")
    temporary.write_text(result.to_json())
    os.replace(temporary, target)


def main(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    env = os.environ if environ is None else environ
    if len(args) != 1:
        print("usage: python -m airgenome.components.runtime COMPONENT", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        # A step forked from the warm runtime inherits its registry: reused unless the step's
        # import path or descriptor folder differs.
        REGISTRY.refresh()
        spec = get(args[0])
        context, parameters = context_from_environment(spec.name, env)
    except AirgenomeError as error:
        print(f"airgenome: {error.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    # In a pod the xcom sidecar's volume is mounted at /airflow/xcom; elsewhere, unless asked
    # for a file, the manifest is not written (the exit code still tells the outcome).
    result_path = env.get(RESULT_VARIABLE) or (POD_RESULT_PATH if Path(POD_RESULT_PATH).parent.is_dir() else None)
    if env.get(LENIENT_VARIABLE) == "1":
        ignored = sorted(set(parameters) - set(spec.known_parameters(parameters)))
        if ignored:
            print(f"airgenome: {spec.name} ignores parameters it does not declare: {', '.join(ignored)}")
        parameters = spec.known_parameters(parameters)
    try:
        result = run_component(spec, context, parameters)
    except InvalidInput as error:
        print(f"airgenome: {error.message}", file=sys.stderr)
        return EXIT_BAD_INPUT
    except ComponentFailed as error:
        print(f"airgenome: {spec.name} failed: {error}", file=sys.stderr)
        return error.exit_code
    except Exception as error:  # the component's own error: its traceback is the most useful log
        traceback.print_exc()
        # The last line names the cause too: it is what a failed task's error quotes.
        print(f"airgenome: {spec.name} failed: {type(error).__name__}: {error}", file=sys.stderr)
        return EXIT_FAILED
    if result_path:
        write_manifest(result, result_path)
    if result.outcome == "skip":
        print(f"airgenome: {spec.name} skipped: {result.message}", file=sys.stderr)
        return EXIT_SKIP
    print(f"airgenome: {spec.name} succeeded")
    return EXIT_OK


def exit_with(code: int) -> NoReturn:
    """End the step's process with its outcome, without the interpreter's teardown.

    Python's exit handlers still run (logging's flush, a library's end-of-run hook). The
    teardown after them is skipped: that is where native thread pools can abort a process whose
    outcome is already written (Arrow's parquet threads, apache/arrow#34314: "terminate called
    without an active exception", exit -6, seen in CI after "succeeded"), and where a library's
    non-daemon thread would keep a finished step alive. The warm runtime's children end the same
    way (`flush_and_exit`, without the server's exit handlers)."""
    import atexit

    try:
        atexit._run_exitfuncs()
    finally:
        flush_and_exit(code)


def flush_and_exit(code: int) -> NoReturn:
    """What the step wrote reaches its pipes, then the process ends at once."""
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


if __name__ == "__main__":
    exit_with(main())
