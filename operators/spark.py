"""A ``spark`` component step in kubernetes mode: its SparkApplication through the cncf provider's
``SparkKubernetesOperator``.

`run_spark_step` is what `ComponentOperator` runs in kubernetes mode for a spark component
(``spark.apply``). It builds a `GenomeSparkOperator` and executes it in the step's task. That
operator extends the provider the provider's way. Construction is cheap (no I/O, no client).
Everything else happens at run time, where the run id, the try and the trigger's ``conf`` are
known:

- **The manifest** is `spark_application.render_manifest`, validated against the strict CRD
  schema. The driver runs ``runtime.py <component>`` with the step's environment. The Genome
  contract and the component variables are literal values. The store URIs and connection URLs
  are ``secretKeyRef``s, the way `GenomePodOperator` passes them, and ``secret_env_from`` becomes
  ``envFrom``: no credential is ever a value in the manifest. ``PARAMETERS`` get ``master:
  "submit"``, so the session takes the master spark-submit configured.
- **Submission** is the provider's. Right before the object is created
  (`get_or_create_spark_crd`), the body the provider assembled is validated again. The provider
  adds the task labels to ``spec.labels``, which is not a SparkApplication field (the API server
  would prune it). That copy is dropped. The same labels stay on the driver and the executors,
  where the provider finds the driver pod. The custom-objects client comes from the connection's
  hook. The provider's own default, ``CustomObjectsApi()``, uses the process-wide kube config.
- **Waiting** is also the provider's. It waits until the application leaves SUBMITTED and
  follows the driver's log until the driver pod ends. Then, before the provider deletes the
  application, `cleanup` waits for the application's terminal state (the spark-operator records
  it shortly after the driver pod ends). A FAILED application fails the task with the
  spark-operator's ``errorMessage``. Exit code 99 skips, as for pods. Exit code 2 (bad parameters)
  fails without a retry.
- **The result manifest** comes back through the lake. The driver's runtime writes it to
  ``<run output>/result.json`` (`RESULT_FILE`, through ``AIRGENOME_RESULT_PATH``) next to the
  outputs it describes. The operator reads it once the application has COMPLETED. Why not the
  other two channels:
  - An xcom sidecar would need the spark-operator's mutating webhook to add it to the driver
    pod, and it keeps the driver pod Running until someone kills the sidecar.
  - The driver's log is not durable. It is gone with the pod, and a retry that reattaches to a
    finished driver can no longer read it. The kubelet also splits lines over 16 KiB (a wide
    table's schema), and the log mixes Spark's log4j output with the step's own.
  - The lake is already shared by the driver, its executors, the worker and the next step,
    which reads the table from it. The run-scoped folder is unique per run and task. A try
    writes the table and the manifest together (the runtime writes the manifest only on
    success or skip), so what the operator reads is always the latest driver's.

  This needs a lake on a file system that the worker, the driver and the executors mount at the
  same path: ``spark.apply`` writes its table with Spark to a local path. Any other lake fails
  the step before anything is submitted.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.spark_kubernetes import SparkKubernetesOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from airgenome import settings
from airgenome.components import lake, registry
from airgenome.components.data.spark_application import (
    GROUP,
    PLURAL,
    VERSION,
    application_name,
    render_manifest,
    validate_manifest,
)
from airgenome.components.runtime import EXIT_BAD_INPUT, EXIT_SKIP, OUTPUT_VARIABLE, RESULT_VARIABLE
from airgenome.operators.pod import LABEL_PIPELINE, LABEL_STEP, RedactingLogFormatter, _label_value
from airgenome.operators.pod_settings import pod_settings
from airgenome.operators.secrets import mask_store_secrets
from airgenome.sequence.config import limits
from airgenome.sequence.contract import StepContract, step_environment

if TYPE_CHECKING:
    from airflow.sdk import Context
    from kubernetes.client import CustomObjectsApi
    from kubernetes.client import models as k8s

    from airgenome.operators.component import ComponentOperator

RESULT_FILE = "result.json"  # in the step's run-scoped output folder
TERMINAL_STATES = ("COMPLETED", "FAILED", "SUBMISSION_FAILED")


class SparkStepFailed(AirflowException):
    """A step's SparkApplication failed; the message is the spark-operator's."""


class GenomeSparkOperator(SparkKubernetesOperator):
    """One spark component step as a SparkApplication (``sparkoperator.k8s.io/v1beta2``)."""

    template_fields: list[str] = []  # nothing from a spec is a Jinja template
    ui_color = "#f4d9a6"

    def __init__(
        self,
        *,
        task_id: str,
        image: str,
        contract: StepContract,
        component: str,
        environment: Mapping[str, str],
        result_uri: str,
        connection_secrets: Mapping[str, str] | None = None,
        executor_instances: int = 2,
        state_timeout_s: float = 120.0,
        state_poll_s: float = 0.5,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("namespace", pod_settings().namespace)
        kwargs.setdefault("skip_on_exit_code", EXIT_SKIP)
        kwargs["log_pod_spec_on_failure"] = False  # never dump a spec with env into the log
        super().__init__(
            task_id=task_id,
            random_name_suffix=False,  # the name is per run and try (`application_name`)
            get_logs=True,
            do_xcom_push=False,  # the manifest comes through the lake (module docstring)
            reattach_on_restart=True,
            delete_on_termination=True,
            **kwargs,
        )
        self.application_image = image
        self.contract = contract
        self.component = component
        self.environment = dict(environment)  # component variables (inputs, output, lake, ...)
        self.result_uri = result_uri
        self.connection_secrets = dict(connection_secrets or {})  # variable -> connections Secret key
        self.executor_instances = executor_instances
        self.state_timeout_s = state_timeout_s
        self.state_poll_s = state_poll_s
        self.application_status: dict[str, Any] = {}

    # ------------------------------------------------------------------ the manifest
    def render(self, context: Context) -> dict[str, Any]:
        """The validated SparkApplication of this run and try."""
        run_id = str(context["run_id"])
        conf = getattr(context.get("dag_run"), "conf", None) or None
        try_number = getattr(context.get("ti"), "try_number", 1)
        genome = step_environment(self.contract, run_id=run_id, conf=conf)
        secret_variables = settings.secret_store_variables()
        platform = pod_settings()
        references: dict[str, dict[str, Any]] = {
            name: {"name": platform.store_secret_name, "key": key, **({"optional": True} if optional else {})}
            for name, (key, optional) in secret_variables.items()
        }
        references.update(
            {name: {"name": platform.connections_secret_name, "key": key} for name, key in self.connection_secrets.items()}
        )
        parameters = json.loads(genome["PARAMETERS"])
        if "master" in registry.get(self.component).parameter_schema().get("properties", {}):
            parameters["master"] = "submit"
        # The contract wins over the component variables, as in a pod; credentials are references.
        environment = {**self.environment, **genome, RESULT_VARIABLE: _result_path(self.result_uri)}
        environment["PARAMETERS"] = json.dumps(parameters, sort_keys=True, separators=(",", ":"))
        labels = {LABEL_PIPELINE: _label_value(self.contract.pipeline_name), LABEL_STEP: _label_value(self.contract.step_name)}
        return render_manifest(
            name=application_name(self.contract.pipeline_name, self.contract.step_name, f"{run_id}/{try_number}"),
            namespace=self.namespace,
            image=self.application_image,
            environment=environment,
            secret_environment=references,  # these names are references, never values
            env_from_secrets=platform.secret_env_from,
            executor_instances=self.executor_instances,
            labels=labels,
            component=self.component,
        )

    # ------------------------------------------------------------------ run
    def execute(self, context: Context) -> dict[str, Any]:
        refusal = limits().image_refusal(self.application_image)
        if refusal is not None:
            raise AirflowFailException(f"{self.task_id}.image: {refusal}")
        secrets = mask_store_secrets()
        if secrets:  # the driver's log lines, redacted whatever log pipeline the worker has
            self.log_formatter = RedactingLogFormatter(secrets, self.log_formatter)
        self.template_spec = {"spark": self.render(context)}
        super().execute(context)
        return self.result_manifest()

    @cached_property
    def custom_obj_api(self) -> CustomObjectsApi:
        return self.hook.custom_object_client  # the connection's cluster, not the default config

    def get_or_create_spark_crd(self, launcher: Any, context: Context) -> k8s.V1Pod:
        launcher.body["spec"].pop("labels", None)  # not a SparkApplication field; see the docstring
        validate_manifest(launcher.body)  # exactly what reaches the cluster
        try:
            return super().get_or_create_spark_crd(launcher, context)
        except AirflowException as failure:
            # The provider gave up while the application was SUBMITTED: its driver did not start
            # (an image that cannot be pulled), or it ended before the provider saw it run (a
            # driver that skips or fails within the provider's 10 s poll).
            if launcher.pod_spec is None:
                raise
            self.application_status = self.read_status()
            driver = _quietly(lambda: self.pod_manager.read_pod(launcher.pod_spec))
            launcher.delete_spark_job()  # the provider leaves it (and its driver pod) behind here
            if (self.application_status.get("applicationState") or {}).get("state") in TERMINAL_STATES:
                raise self.failure(driver) from failure  # the same outcome as after it ran
            raise SparkStepFailed(
                f"step {self.contract.step_name!r}: SparkApplication {self.namespace}/{self.name} "
                f"did not start: {failure}"
            ) from failure

    def cleanup(
        self,
        pod: k8s.V1Pod,
        remote_pod: k8s.V1Pod,
        xcom_result: dict[Any, Any] | None = None,
        context: Context | None = None,
    ) -> None:
        if remote_pod is None or self._killed:
            super().cleanup(pod, remote_pod, xcom_result, context)
            return
        # Read before the provider deletes the application (its cleanup does).
        self.application_status = self.final_status()
        state = (self.application_status.get("applicationState") or {}).get("state")
        try:
            super().cleanup(pod, remote_pod, xcom_result, context)
        except AirflowSkipException:
            raise
        except AirflowException as failure:
            raise self.failure(remote_pod) from failure
        if state != "COMPLETED":
            raise self.failure(remote_pod)

    def read_status(self) -> dict[str, Any]:
        found = self.custom_obj_api.get_namespaced_custom_object_status(
            group=GROUP, version=VERSION, namespace=self.namespace, plural=PLURAL, name=self.name
        )
        return dict(found.get("status") or {})

    def final_status(self) -> dict[str, Any]:
        """The application's status once terminal (or the last one seen at the timeout)."""
        deadline = time.monotonic() + self.state_timeout_s
        while True:
            status = self.read_status()
            if (status.get("applicationState") or {}).get("state") in TERMINAL_STATES or time.monotonic() >= deadline:
                return status
            time.sleep(self.state_poll_s)

    def failure(self, driver: k8s.V1Pod) -> AirflowException:
        """The task's outcome for a driver that did not succeed (skip, no retry, or failure)."""
        state = self.application_status.get("applicationState") or {}
        message = (
            f"step {self.contract.step_name!r}: SparkApplication {self.namespace}/{self.name} "
            f"{state.get('state') or 'did not finish'}: {state.get('errorMessage') or 'no error message'}"
        )
        code = _driver_exit_code(driver, self.base_container_name)
        if code == EXIT_SKIP:
            return AirflowSkipException(f"{self.component}: the driver exited with {EXIT_SKIP} (skip)")
        if code == EXIT_BAD_INPUT:
            return AirflowFailException(message)  # bad parameters do not improve by retrying
        return SparkStepFailed(message)

    def result_manifest(self) -> dict[str, Any]:
        path = _result_path(self.result_uri)
        try:
            with open(path, encoding="utf-8") as handle:
                manifest: dict[str, Any] = json.load(handle)
        except FileNotFoundError:
            raise SparkStepFailed(
                f"step {self.contract.step_name!r}: SparkApplication {self.name} completed "
                f"but its driver wrote no result manifest at {self.result_uri}"
            ) from None
        return manifest


def _result_path(uri: str) -> str:
    path = lake.local_path(uri)
    if path is None:
        raise AirflowFailException(
            f"a spark step in kubernetes mode needs the lake on a file system that the worker and the "
            f"Spark pods mount at the same path (a file:// lake root); got {uri!r}"
        )
    return path


def _quietly(read: Callable[[], Any]) -> Any:
    try:
        return read()
    except Exception:  # best effort: only to explain a failure
        return None


def _driver_exit_code(remote_pod: Any, container: str) -> int | None:
    statuses = getattr(getattr(remote_pod, "status", None), "container_statuses", None) or []
    for status in statuses:
        terminated = getattr(status.state, "terminated", None) if status.state else None
        if status.name == container and terminated is not None:
            return int(terminated.exit_code)
    return None


def spark_operator(step: ComponentOperator, extra: Mapping[str, str]) -> GenomeSparkOperator:
    """The SparkApplication operator of a spark component step (kubernetes mode)."""
    from airgenome.operators.connections import connection_ids, secret_references

    spec = registry.get(step.component)
    return GenomeSparkOperator(
        task_id=step.task_id,
        image=step.image or spec.images.cpu,
        contract=step.contract,
        component=step.component,
        environment=extra,
        result_uri=f"{extra[OUTPUT_VARIABLE]}/{RESULT_FILE}",
        connection_secrets=secret_references(connection_ids(spec, step.parameters)),
    )


def run_spark_step(step: ComponentOperator, context: Context, extra: Mapping[str, str]) -> dict[str, Any]:
    """Submit the step's SparkApplication, wait for it, return the driver's result manifest."""
    return spark_operator(step, extra).execute(context)
