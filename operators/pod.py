"""Run a Genome step as a Kubernetes pod (the ``kubernetes`` execution mode).

`GenomePodOperator` is a KubernetesPodOperator that the provider drives unchanged: it only
adds, in `build_pod_request_obj`, what a Genome step needs — the step environment contract
(run id and trigger ``conf`` are known only there), resource requests/limits, and for GPU
steps ``nvidia.com/gpu`` plus tolerations and a node selector from the platform settings.
Construction is cheap: no client, no I/O (settings are read from env / loaded config).

Secrets never reach the pod spec or the log: the store URIs (which carry database passwords in
production) enter the pod as references to keys of the Kubernetes Secret named by the
``store_secret_name`` setting, further credentials through ``secret_env_from`` (envFrom);
the provider's dump of the pod spec on failure is off; and the passwords the worker knows
are registered with Airflow's secrets masker, so a step that prints its store URI shows
``***`` in the task log. The image must match the ``allowed_images`` setting: an empty
allow-list refuses every image.

Nothing from a spec is a Jinja template: the operator declares no template fields, so an
image, command, argument or env value containing ``{{ ... }}`` reaches the pod literally.

A failed pod fails its task with `PodStepFailed`, whose message names the cause as the cluster
reported it: an image that cannot be pulled (the kubelet's reason and the pull error from the
pod's events), a pod never scheduled (the scheduler's message), a pod still Pending at the
start-up timeout (its container's waiting reason and the last warning event), a container
killed for memory (``OOMKilled`` and the memory limit), or an exit code with the last lines of
the container's log. The provider alone reports all of these as "Pod <name> returned a
failure." (its start-up errors survive only as the chained exception).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
from airflow.providers.cncf.kubernetes.utils.pod_manager import (
    PodLaunchFailedException,
    PodLaunchTimeoutException,
)
from airflow.sdk.exceptions import AirflowException, AirflowSkipException
from kubernetes.client import models as k8s

from airgenome import settings
from airgenome.errors import InvalidInput
from airgenome.operators.pod_settings import GPU_RESOURCE, gpu_pool_name, pod_settings
from airgenome.operators.secrets import mask_store_secrets, redact
from airgenome.sequence.config import limits
from airgenome.sequence.contract import StepContract, step_environment

if TYPE_CHECKING:
    from airflow.sdk import Context

# Kubernetes resource.Quantity, positive only (kubernetes-validate does not check quantities).
_QUANTITY = re.compile(r"^(\d+(\.\d*)?|\.\d+)(Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)?$")
# PIPELINE_RUNID when a pod is rendered outside a run (``airgenome render --pods``).
PREVIEW_RUN_ID = "preview"
LABEL_PIPELINE = "airgenome.io/pipeline"
LABEL_STEP = "airgenome.io/step"
# Waiting reasons of a container whose image the kubelet cannot pull.
IMAGE_PULL_REASONS = ("ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull")
LOG_TAIL_LINES = 8  # last lines of the container's log quoted in a failure


class PodStepFailed(AirflowException):
    """A step's pod failed; the message names the cause the cluster reported."""


def _quantity(task_id: str, name: str, value: str | None) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    if not _QUANTITY.match(text):
        raise InvalidInput(
            f"{task_id}.resources.{name}: {value!r} is not a Kubernetes quantity (e.g. 500m, 2, 4Gi)"
        )
    return text


def _label_value(text: str) -> str:
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    return make_safe_label_value(text)


class GenomePodOperator(KubernetesPodOperator):
    """A Genome step in its own pod, built from the step's image."""

    # Defence in depth beside the spec validator: user strings are never rendered by Jinja.
    template_fields: Sequence[str] = ()
    ui_color = "#d9ecf2"

    def __init__(
        self,
        *,
        task_id: str,
        image: str,
        cmds: list[str] | None = None,
        arguments: list[str] | None = None,
        contract: StepContract,
        cpu: str | None = None,
        memory: str | None = None,
        gpu: int = 0,
        connection_secrets: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        if isinstance(gpu, bool) or not isinstance(gpu, int) or gpu < 0:
            raise InvalidInput(f"{task_id}.resources.gpu: {gpu!r} is not a whole number >= 0")
        self.contract = contract
        self.cpu = _quantity(task_id, "cpu", cpu)
        self.memory = _quantity(task_id, "memory", memory)
        self.gpu = gpu
        # env variable -> key of the connections Secret (airgenome.operators.connections)
        self.connection_secrets = dict(connection_secrets or {})
        if gpu > 0:
            kwargs.setdefault("pool", gpu_pool_name())
            kwargs.setdefault("pool_slots", gpu)
        kwargs.setdefault("namespace", pod_settings().namespace)
        kwargs.setdefault("get_logs", True)
        kwargs.setdefault("on_finish_action", "delete_pod")
        # The provider would log the whole pod spec when a pod fails: never (env, secrets).
        kwargs["log_pod_spec_on_failure"] = False
        kwargs["labels"] = {
            **(kwargs.get("labels") or {}),
            LABEL_PIPELINE: _label_value(contract.pipeline_name),
            LABEL_STEP: _label_value(contract.step_name),
        }
        super().__init__(
            task_id=task_id,
            image=image,
            cmds=list(cmds) if cmds else None,
            arguments=list(arguments) if arguments else None,
            **kwargs,
        )

    def execute(self, context: Context) -> Any:
        refusal = limits().image_refusal(str(self.image))
        if refusal is not None:
            from airflow.sdk.exceptions import AirflowFailException

            raise AirflowFailException(f"{self.task_id}.image: {refusal}")
        secrets = mask_store_secrets()
        if secrets:
            # Pod log lines are redacted here too, whatever log pipeline the worker has.
            self.log_formatter = RedactingLogFormatter(secrets, self.log_formatter)
        self._failure_cause: str | None = None
        self._log_tail = LogTail(
            self.base_container_name, secrets, self.log_formatter, prefix=self.container_name_log_prefix_enabled
        )
        self.log_formatter = self._log_tail
        try:
            return super().execute(context)
        except AirflowSkipException:
            raise
        except AirflowException as failure:
            if self._failure_cause is None:
                raise
            raise PodStepFailed(f"step {self.contract.step_name!r}: {self._failure_cause}") from failure

    # -- failures: name the cause the cluster reported -------------------------------------

    def await_pod_start(self, pod: k8s.V1Pod) -> None:
        try:
            super().await_pod_start(pod)
        except (PodLaunchFailedException, PodLaunchTimeoutException) as error:
            self._failure_cause = self._start_failure(pod, error)
            raise

    def cleanup(
        self,
        pod: k8s.V1Pod,
        remote_pod: k8s.V1Pod,
        xcom_result: dict[Any, Any] | None = None,
        context: Context | None = None,
    ) -> None:
        if getattr(self, "_failure_cause", None) is None and remote_pod is not None:
            self._failure_cause = self._container_failure(remote_pod)
        super().cleanup(pod, remote_pod, xcom_result, context)

    def _start_failure(self, pod: k8s.V1Pod, error: Exception) -> str:
        """Why the pod did not start, from its current status and events (best effort)."""
        remote = _quietly(lambda: self.pod_manager.read_pod(pod))
        events = _quietly(lambda: list(self.pod_manager.read_pod_events(pod).items)) or []
        warnings = [e for e in events if getattr(e, "type", None) == "Warning"]
        last_warning = f"; last warning event: {warnings[-1].reason}: {warnings[-1].message}" if warnings else ""
        status = getattr(remote, "status", None)
        for condition in (getattr(status, "conditions", None) or []):
            if condition.type == "PodScheduled" and condition.status != "True":
                return (f"the pod was never scheduled within the {self.schedule_timeout_seconds}s "
                        f"schedule timeout (schedule_timeout_seconds): {condition.reason}: {condition.message}")
        for container in (getattr(status, "container_statuses", None) or []):
            waiting = getattr(container.state, "waiting", None) if container.state else None
            if waiting is None or container.name != self.base_container_name:
                continue
            if waiting.reason in IMAGE_PULL_REASONS:
                pull_errors = [e.message for e in warnings if "pull image" in (e.message or "")]
                detail = pull_errors[-1] if pull_errors else (waiting.message or "")
                return (f"the pod never started: its image {container.image or self.image!r} cannot be pulled "
                        f"({waiting.reason}): {detail}")
            if isinstance(error, PodLaunchTimeoutException):
                message = f": {waiting.message}" if waiting.message else ""
                return (f"the pod was still Pending after the {self.startup_timeout_seconds}s start-up timeout "
                        f"(startup_timeout_seconds): container {container.name!r} waiting in "
                        f"{waiting.reason}{message}{last_warning}")
        return f"the pod did not start: {error}{last_warning}"

    def _container_failure(self, remote_pod: k8s.V1Pod) -> str | None:
        """Why the step's container failed (None when it did not fail)."""
        status = getattr(remote_pod, "status", None)
        container = next(
            (c for c in (getattr(status, "container_statuses", None) or []) if c.name == self.base_container_name),
            None,
        )
        state = container.state if container is not None else None
        terminated = getattr(state, "terminated", None)
        waiting = getattr(state, "waiting", None)
        log_tail = getattr(self, "_log_tail", None)
        tail = log_tail.text() if log_tail is not None else ""
        if terminated is not None and terminated.exit_code not in (0, None):
            if terminated.reason == "OOMKilled":
                limit = self._memory_limit()
                where = f"its memory limit {limit}" if limit else "the node's memory (no memory limit is set)"
                return (f"the container was killed for using more than {where} (OOMKilled, exit code "
                        f"{terminated.exit_code}); raise the step's resources.memory{tail}")
            message = f": {terminated.message.strip()}" if terminated.message else ""
            return f"the container exited with code {terminated.exit_code} ({terminated.reason}){message}{tail}"
        if waiting is not None and getattr(status, "phase", None) == "Failed":
            message = f": {waiting.message}" if waiting.message else ""
            return f"the container never started: {waiting.reason}{message}"
        return None

    def _memory_limit(self) -> str | None:
        request = getattr(self, "pod_request_obj", None)
        containers = getattr(getattr(request, "spec", None), "containers", None) or []
        for container in containers:
            if container.name == self.base_container_name and container.resources is not None:
                return (container.resources.limits or {}).get("memory")
        return self.memory

    def build_pod_request_obj(
        self, context: Context | None = None, *, dry_run: bool = False
    ) -> k8s.V1Pod:
        pod = super().build_pod_request_obj(context, dry_run=dry_run)
        container = next(c for c in pod.spec.containers if c.name == self.base_container_name)
        self._add_environment(container, context)
        self._add_resources(container)
        if self.gpu > 0:
            self._add_gpu_placement(pod.spec)
        return pod

    def _add_environment(self, container: k8s.V1Container, context: Context | None) -> None:
        if context is not None:
            run_id = str(context["run_id"])
            dag_run = context.get("dag_run")
            conf = getattr(dag_run, "conf", None) if dag_run is not None else None
        else:
            run_id, conf = PREVIEW_RUN_ID, None
        genome = step_environment(self.contract, run_id=run_id, conf=conf or None)
        secret_variables = settings.secret_store_variables()
        platform = pod_settings()
        # The contract wins over anything passed as env_vars, so it cannot be spoofed.
        kept = [
            env for env in (container.env or [])
            if env.name not in genome and env.name not in secret_variables
        ]
        literal = [
            k8s.V1EnvVar(name=name, value=value)
            for name, value in genome.items()
            if name not in secret_variables
        ]
        references = [
            k8s.V1EnvVar(
                name=name,
                value_from=k8s.V1EnvVarSource(
                    secret_key_ref=k8s.V1SecretKeySelector(
                        name=platform.store_secret_name, key=key, optional=True if optional else None
                    )
                ),
            )
            for name, (key, optional) in secret_variables.items()
        ]
        references += [
            k8s.V1EnvVar(
                name=name,
                value_from=k8s.V1EnvVarSource(
                    secret_key_ref=k8s.V1SecretKeySelector(name=platform.connections_secret_name, key=key)
                ),
            )
            for name, key in sorted(self.connection_secrets.items())
        ]
        kept = [env for env in kept if env.name not in self.connection_secrets]
        container.env = kept + literal + references
        if platform.secret_env_from:
            named = {source.secret_ref.name for source in container.env_from or [] if source.secret_ref}
            container.env_from = list(container.env_from or []) + [
                k8s.V1EnvFromSource(secret_ref=k8s.V1SecretEnvSource(name=name))
                for name in platform.secret_env_from
                if name not in named
            ]

    def _add_resources(self, container: k8s.V1Container) -> None:
        wanted: dict[str, str] = {}
        if self.cpu:
            wanted["cpu"] = self.cpu
        if self.memory:
            wanted["memory"] = self.memory
        if not wanted and not self.gpu:
            return
        current = container.resources or k8s.V1ResourceRequirements()
        requests = {**(current.requests or {}), **wanted}
        limits = {**(current.limits or {}), **wanted}
        if self.gpu:
            # Extended resources are set as limits; Kubernetes copies them into requests.
            limits[GPU_RESOURCE] = str(self.gpu)
        container.resources = k8s.V1ResourceRequirements(
            requests=requests or None, limits=limits or None
        )

    def _add_gpu_placement(self, spec: k8s.V1PodSpec) -> None:
        settings = pod_settings()
        tolerations = list(spec.tolerations or [])
        present = {(t.key, t.operator, t.value, t.effect) for t in tolerations}
        for item in settings.gpu_tolerations:
            toleration = k8s.V1Toleration(
                key=item.get("key"),
                operator=item.get("operator"),
                value=item.get("value"),
                effect=item.get("effect"),
                toleration_seconds=item.get("tolerationSeconds"),
            )
            identity = (toleration.key, toleration.operator, toleration.value, toleration.effect)
            if identity not in present:
                tolerations.append(toleration)
                present.add(identity)
        spec.tolerations = tolerations
        # An operator's own node_selector wins over the platform default.
        spec.node_selector = {**settings.gpu_node_selector, **(spec.node_selector or {})}


def _quietly(read: Callable[[], Any]) -> Any:
    """One diagnostic read of the cluster; a failure to read is not the task's error."""
    try:
        return read()
    except Exception:
        return None


class LogTail:
    """KPO's ``log_formatter``: keeps the last lines of the step container's log (redacted)
    for the failure message, and formats every line as the formatter it wraps would."""

    def __init__(
        self,
        container: str,
        secrets: list[str],
        inner: Callable[[str, str], str] | None = None,
        *,
        prefix: bool = True,
    ) -> None:
        import collections

        self.container = container
        self.secrets = list(secrets)
        self.inner = inner
        self.prefix = prefix
        self.lines: collections.deque[str] = collections.deque(maxlen=LOG_TAIL_LINES)

    def __call__(self, container_name: str, message: str) -> str:
        if container_name == self.container:
            self.lines.extend(line for line in redact(message, self.secrets).splitlines() if line.strip())
        if self.inner is not None:
            return self.inner(container_name, message)
        return f"[{container_name}] {message}" if self.prefix else message

    def text(self) -> str:
        if not self.lines:
            return ""
        return "; last log lines:\n" + "\n".join(f"  {line}" for line in self.lines)


class RedactingLogFormatter:
    """KPO's ``log_formatter``: a pod log line with the store passwords replaced by ``***``."""

    def __init__(self, secrets: list[str], inner: Callable[[str, str], str] | None = None) -> None:
        self.secrets = list(secrets)
        self.inner = inner

    def __call__(self, container_name: str, message: str) -> str:
        text = self.inner(container_name, message) if self.inner else f"[{container_name}] {message}"
        return redact(text, self.secrets)


def render_pod_manifest(
    operator: KubernetesPodOperator, context: Context | None = None
) -> dict[str, Any]:
    """The pod the provider would create, as a JSON-ready dict — no cluster needed.

    `build_pod_request_obj` reaches for a live client unless ``dry_run=True``.
    """
    from kubernetes.client import ApiClient

    pod = operator.build_pod_request_obj(context, dry_run=True)
    manifest: dict[str, Any] = ApiClient().sanitize_for_serialization(pod)
    return manifest
