"""Run a catalogued component as an Airflow task: in the worker or as a pod, same code.

`ComponentOperator` is the Airflow face of `airgenome.components`: typed arguments checked at
construction (the component exists and belongs to the operator's category, parameters match
its schema, inputs name its declared inputs), cheap (the registry only; no I/O, no client).
At run time it resolves each input from the upstream task's result manifest (XCom), runs the
component — ``local``: ``python -m airgenome.components.runtime NAME`` in a subprocess of the
worker; ``kubernetes``: a `GenomePodOperator` pod from the component's image, whose xcom
sidecar returns the manifest — then announces each output as an Airflow Asset event (extra:
the run's URI, kind, bytes, sha256, rows, schema) and returns the manifest as its XCom.

The execution mode is a setting (``AIRGENOME_EXECUTION_MODE``) or chosen per task (``mode=``);
there is one class per category (see `airgenome.operators.categories`), not one per mode.
Nothing a user wrote is rendered by Jinja: the operator declares no template fields.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException
from pydantic import BaseModel

from airgenome.components import lake, registry
from airgenome.components.context import Result
from airgenome.components.runtime import (
    ENTRYPOINT,
    EXIT_BAD_INPUT,
    EXIT_SKIP,
    GPUS_VARIABLE,
    INPUTS_VARIABLE,
    LAKE_VARIABLE,
    LENIENT_VARIABLE,
    OUTPUT_VARIABLE,
    RESULT_VARIABLE,
)
from airgenome.errors import InvalidInput, NotFound
from airgenome.operators.step import StepFailed, StepProcess, base_environment
from airgenome.sequence.contract import StepContract, step_environment

if TYPE_CHECKING:
    from airflow.sdk import Context

MODES = ("local", "kubernetes")


class ComponentOperator(BaseOperator):
    """One component step. Use a category's class (`FilterOperator`, `TrainOperator`, ...)."""

    category: ClassVar[str | None] = None  # the category a subclass accepts (None: any)
    template_fields = ()
    ui_color = "#eaf0fb"

    def __init__(
        self,
        *,
        task_id: str,
        component: str,
        parameters: Mapping[str, Any] | BaseModel | None = None,
        inputs: Mapping[str, str] | None = None,
        mode: str | None = None,
        image: str | None = None,
        cpu: str | None = None,
        memory: str | None = None,
        gpu: int = 0,
        contract: StepContract | None = None,
        lenient_parameters: bool = False,
        lake_root: str | None = None,
        **kwargs: Any,
    ) -> None:
        spec = self._spec(task_id, component)
        values = parameters.model_dump(exclude_none=True) if isinstance(parameters, BaseModel) else dict(parameters or {})
        spec.parse_parameters(spec.known_parameters(values) if lenient_parameters else values, where=f"{task_id}.parameters")
        wired = self._check_inputs(task_id, spec, inputs or {})
        if mode is not None and mode not in MODES:
            raise InvalidInput(f"{task_id}.mode: {mode!r} is not one of {', '.join(MODES)}")
        if isinstance(gpu, bool) or not isinstance(gpu, int) or gpu < 0:
            raise InvalidInput(f"{task_id}.gpu: {gpu!r} is not a whole number >= 0")
        if gpu > 0 and "pool" not in kwargs:
            from airgenome.operators.pod_settings import gpu_pool_name

            kwargs["pool"] = gpu_pool_name()
            kwargs.setdefault("pool_slots", gpu)
        kwargs.setdefault("doc_md", spec.summary)
        super().__init__(task_id=task_id, **kwargs)
        self._step: StepProcess | None = None
        self.component = spec.name
        self.parameters = values
        self.lenient_parameters = lenient_parameters
        # Read once per DAG file by the renderer (a setting read costs ~1 ms inside Airflow).
        self.lake_root = lake_root
        self.inputs = wired  # input name -> (upstream task id, output name)
        self.mode = mode
        self.image = image
        self.cpu, self.memory, self.gpu = cpu, memory, gpu
        if contract is None:  # a Python DAG: the contract follows the DAG it belongs to
            dag_id = self.dag_id if self.has_dag() else "adhoc"
            contract = StepContract(
                pipeline_name=dag_id,
                application=dag_id,
                step_name=task_id,
                step_type=spec.category,
                parameters=values,
            )
        self.contract = contract
        self.outlets = self._assets(spec)
        if self.has_dag():  # wiring implies order: an input's producer runs first
            for upstream, _ in wired.values():
                if upstream in self.dag.task_dict and upstream not in self.upstream_task_ids:
                    self.set_upstream(self.dag.task_dict[upstream])

    @classmethod
    def _spec(cls, task_id: str, component: str) -> registry.ComponentSpec:
        try:
            spec = registry.get(component)
        except NotFound as error:
            raise InvalidInput(f"{task_id}.component: {error.message}") from None
        if cls.category is not None and spec.category != cls.category:
            raise InvalidInput(
                f"{task_id}.component: {spec.name} is a {spec.category} component; "
                f"{cls.__name__} runs {cls.category} components"
            )
        return spec

    @staticmethod
    def _check_inputs(task_id: str, spec: registry.ComponentSpec, inputs: Mapping[str, str]) -> dict[str, tuple[str, str]]:
        problems: list[dict[str, str]] = []
        wired: dict[str, tuple[str, str]] = {}
        for name, ref in inputs.items():
            loc = f"{task_id}.inputs.{name}"
            if name not in spec.inputs:
                problems.append({"loc": loc, "msg": f"{spec.name} has no input {name!r}"})
                continue
            upstream, dot, output = str(ref).rpartition(".")
            if not dot or not upstream or not output:
                problems.append({"loc": loc, "msg": f"{ref!r} is not a reference like \"<task_id>.<output>\""})
                continue
            wired[name] = (upstream, output)
        for name, port in spec.inputs.items():
            if port.required and name not in inputs:
                problems.append({"loc": f"{task_id}.inputs.{name}", "msg": f"required input (a {port.kind}) is not wired"})
        if problems:
            lines = "\n".join(f"  {p['loc']}: {p['msg']}" for p in problems)
            raise InvalidInput(f"invalid inputs for {spec.name}:\n{lines}", details=problems)
        return wired

    def _assets(self, spec: registry.ComponentSpec) -> list[Any]:
        if not spec.outputs:
            return []
        from airflow.sdk import Asset

        root = self._lake_root()
        pipeline = self.contract.pipeline_name or (self.dag_id if self.has_dag() else "adhoc")
        return [
            Asset(
                name=lake.asset_name(pipeline, self.task_id, output),
                uri=lake.asset_uri(root, pipeline, self.task_id, output),
                extra={"kind": port.kind, "component": spec.name},
            )
            for output, port in spec.outputs.items()
        ]

    def _lake_root(self) -> str:
        if self.lake_root is None:
            from airgenome.settings import lake_root

            self.lake_root = lake_root()
        return self.lake_root

    # ------------------------------------------------------------------ run time
    def resolved_mode(self) -> str:
        if self.mode is not None:
            return self.mode
        from airgenome.sequence.config import execution_mode

        return execution_mode()

    def argv(self) -> list[str]:
        return [sys.executable, *ENTRYPOINT[1:], self.component]

    def _input_refs(self, context: Context) -> dict[str, dict[str, Any]]:
        resolved: dict[str, dict[str, Any]] = {}
        for name, (upstream, output) in sorted(self.inputs.items()):
            manifest = context["ti"].xcom_pull(task_ids=upstream, key="return_value")
            outputs = (manifest or {}).get("outputs") if isinstance(manifest, Mapping) else None
            record = outputs.get(output) if isinstance(outputs, Mapping) else None
            if not isinstance(record, Mapping) or "uri" not in record:
                raise AirflowException(
                    f"input {name!r}: upstream task {upstream!r} published no output {output!r} "
                    "in its result manifest (did it run and succeed?)"
                )
            resolved[name] = {"uri": record["uri"], "kind": record.get("kind"), "metadata": record.get("metadata") or {}}
        return resolved

    def component_environment(self, context: Context) -> dict[str, str]:
        """What the runtime reads on top of the Genome contract: inputs, output folder, lake."""
        root = self._lake_root()
        run_id = str(context.get("run_id") or "")
        return {
            INPUTS_VARIABLE: json.dumps(self._input_refs(context), sort_keys=True),
            OUTPUT_VARIABLE: lake.run_output_uri(root, self.contract.pipeline_name, run_id, self.task_id),
            LAKE_VARIABLE: lake.normalise_root(root),
            GPUS_VARIABLE: str(self.gpu),
            LENIENT_VARIABLE: "1" if self.lenient_parameters else "0",
        }

    def execute(self, context: Context) -> dict[str, Any]:
        extra = self.component_environment(context)
        mode = self.resolved_mode()
        self.log.info("running component %s (%s mode)", self.component, mode)
        if mode == "kubernetes":
            manifest = self._run_pod(context, extra)
        else:
            manifest = self._run_local(context, extra)
        result = Result.from_dict(manifest)
        if result.outcome == "skip":
            raise AirflowSkipException(f"{self.component}: {result.message or 'nothing to do'}")
        self._announce(context, result)
        return result.to_dict()

    def _run_local(self, context: Context, extra: Mapping[str, str]) -> dict[str, Any]:
        dag_run = context.get("dag_run")
        conf = getattr(dag_run, "conf", None) or {}
        run_id = str(context.get("run_id") or getattr(dag_run, "run_id", ""))
        env = base_environment()
        env.update(step_environment(self.contract, run_id, conf))
        env.update(extra)
        env.update(self._connections_for_worker())
        self._step = StepProcess(self.log, self.contract.step_name)
        with tempfile.TemporaryDirectory(prefix="airgenome-component-") as workdir:
            result_path = Path(workdir) / "result.json"
            env[RESULT_VARIABLE] = str(result_path)
            try:
                self._step.run_component(self.component, env, workdir)
            except StepFailed as failed:
                if failed.exit_code == EXIT_SKIP:
                    manifest = json.loads(result_path.read_text()) if result_path.exists() else {}
                    raise AirflowSkipException(
                        f"{self.component}: {manifest.get('message') or 'nothing to do'}"
                    ) from None
                if failed.exit_code == EXIT_BAD_INPUT:  # bad parameters do not improve by retrying
                    raise AirflowFailException(str(failed)) from None
                raise
            loaded: dict[str, Any] = json.loads(result_path.read_text())
            return loaded

    def _connection_ids(self) -> list[str]:
        from airgenome.operators.connections import connection_ids

        return connection_ids(registry.get(self.component), self.parameters)

    def _connections_for_worker(self) -> dict[str, str]:
        from airgenome.operators.connections import resolve_for_worker

        try:
            return resolve_for_worker(self._connection_ids())
        except InvalidInput as error:  # a missing connection does not appear by retrying
            raise AirflowFailException(f"{self.task_id}.parameters.{error.message}") from None

    def pod_operator(self, extra: Mapping[str, str] | None = None) -> Any:
        """The pod this step runs as in kubernetes mode (also for `render --pods`)."""
        from airgenome.operators.connections import secret_references
        from airgenome.operators.pod import GenomePodOperator

        spec = registry.get(self.component)
        image = self.image or (spec.images.gpu if self.gpu else spec.images.cpu)
        if spec.container is not None:  # a descriptor: the image's own command, values mapped
            cmds: list[str] = list(spec.container.command)
            env, args = spec.container.environment_and_args(self.parameters, {}, {})
            env.update(extra or {})
        else:
            cmds, args, env = [*ENTRYPOINT, self.component], [], dict(extra or {})
        return GenomePodOperator(
            task_id=self.task_id,
            image=image,
            cmds=cmds,
            arguments=args or None,
            contract=self.contract,
            cpu=self.cpu,
            memory=self.memory,
            gpu=self.gpu,
            env_vars=env,
            connection_secrets=secret_references(self._connection_ids()),
            do_xcom_push=spec.container is None,
            skip_on_exit_code=EXIT_SKIP,
        )

    def _run_pod(self, context: Context, extra: Mapping[str, str]) -> dict[str, Any]:
        spec = registry.get(self.component)
        if spec.category == "spark":  # a SparkApplication through the spark-operator, not a pod
            from airgenome.operators.spark import run_spark_step

            return run_spark_step(self, context, extra)
        env = dict(extra)
        if spec.container is not None:
            inputs = {k: v["uri"] for k, v in json.loads(extra[INPUTS_VARIABLE]).items()}
            outputs = {port: f"{extra[OUTPUT_VARIABLE]}/{port}" for port in spec.outputs}
            mapped, _ = spec.container.environment_and_args({}, inputs, outputs)
            env.update(mapped)
        pod = self.pod_operator(env)
        returned = pod.execute(context)
        if spec.container is not None:  # the container writes files; the manifest is ours
            result = Result(component=spec.name)
            for port, value in spec.outputs.items():
                result.add_output(port, f"{extra[OUTPUT_VARIABLE]}/{port}", value.kind)
            return result.to_dict()
        if not isinstance(returned, Mapping):
            raise AirflowException(f"{self.component}: the pod returned no result manifest")
        return dict(returned)

    def on_kill(self) -> None:
        if self._step is not None:
            self._step.terminate()

    def _announce(self, context: Context, result: Result) -> None:
        events = context.get("outlet_events")
        if events is None:
            return
        for asset in self.outlets:
            output = asset.name.rsplit("/", 1)[-1]
            record = result.outputs.get(output)
            if record is None:
                events[asset].extra = {"produced": False, "run_id": str(context.get("run_id"))}
                continue
            events[asset].extra = {
                "uri": record.uri,
                "kind": record.kind,
                "run_id": str(context.get("run_id")),
                "component": self.component,
                **{k: v for k, v in record.metadata.items() if k in ("bytes", "sha256", "rows", "schema", "version", "id", "status")},
            }
