"""A stand-in Kubernetes API server on 127.0.0.1 for pod execution tests.

It serves, over real HTTP, exactly the core/v1 calls the KubernetesPodOperator code path
makes (create pod, list pods by label selector, read pod, list events, read / follow pod
log, patch pod labels, delete pod) so the provider's operator, hook and PodManager run
unmodified against it. Only the cluster is stood in.

A pod's life is driven by how the operator observes it, so runs are deterministic:
``Pending`` for the first `pending_reads` reads of the pod, then ``Running``; the container
"exits" when a followed log stream has been fully sent (or after `running_reads` further
reads when nobody follows the log). It fails (exit code 1, phase ``Failed``) when its image
is in `failing_images` or an argument equals `FAIL_ARG`. Every request is recorded.

With ``execute=True`` the stand-in *runs* each pod's main container instead: its ``command`` +
``args`` (``$(VAR)`` expanded, ``python`` at argv[0] replaced by `python`, by default the test's
interpreter) as a local subprocess in a per-pod folder, with exactly the pod's environment —
literal values, ``valueFrom.secretKeyRef`` / ``envFrom.secretRef`` resolved from the `secrets`
given to the stand-in (a missing, non-optional one fails the pod with
``CreateContainerConfigError``; the process never starts) — plus ``AIRGENOME_RESULT_PATH``
pointing at the file that stands for the xcom volume's ``/airflow/xcom/return.json``. The pod is
``Running`` while the process runs and its log endpoint serves the process's real stdout and
stderr; the container then terminates with the real exit code (a process killed by a signal:
128 + signal, as the kubelet reports it). A process is killed when its pod is deleted, when
the stand-in stops, and after `execute_timeout_s`.

Either way a pod with the KubernetesPodOperator's ``airflow-xcom-sidecar`` container keeps
that container ``running`` (and the pod ``Running``) after the main container exits, until the
operator kills it through ``exec``. The exec endpoint speaks the kubelet's WebSocket channel
protocol (``v4.channel.k8s.io``: binary frames whose first byte is the channel, 1 stdout,
2 stderr, 3 status) and answers the two commands the provider's `PodManager` sends: the
``cat /airflow/xcom/return.json`` script (the result file's content, or the provider's
"empty" marker) and the interactive ``kill`` of the sidecar shell. Every exec is recorded in
`StandInKubernetes.execs`.

Custom resources (``/apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}[/status]]``) are
stored as given: create, get, list, JSON merge-patch (RFC 7386) and delete, with
``metadata.uid`` / ``resourceVersion`` / ``generation`` kept the way the API server keeps them.
What a controller would do is a *hook* per plural in `StandInKubernetes.object_hooks`, called
under the lock after each create and patch with the stored object (it may set ``status`` or
create pods). The default hook for ``inferenceservices`` plays KServe's controller: Ready with
a URL, unless the object's name is in `unready_objects` (then Ready stays False with a reason).
A *view* per plural in `StandInKubernetes.object_views` runs under the lock before objects of
that plural are served, for controllers that act on what they watch. Deleting an object deletes
the pods whose ``ownerReferences`` name it (the garbage collector). ``sparkapplications`` play
the spark-operator (`tests.standin.spark_operator`): SUBMITTED, the driver pod ``<name>-driver``
(run as a local process in execute mode), then RUNNING and COMPLETED or FAILED with its error.

Faults on request: a pod annotated ``standin.airgenome.io/fault: <FAULT>`` (`FAULT_ANNOTATION`)
behaves as a cluster does when that goes wrong, in either mode, with the container statuses,
conditions and events a kubelet / scheduler would report (`FAULTS`):

- ``ImagePullBackOff``: stays ``Pending``, its container waiting with reason
  ``ImagePullBackOff`` ('Back-off pulling image "<image>"'), events Failed / BackOff;
- ``Unschedulable``: stays ``Pending`` with ``PodScheduled=False`` (reason ``Unschedulable``,
  "0/1 nodes are available: 1 Insufficient memory."), event FailedScheduling;
- ``ContainerCreating``: scheduled but stays ``Pending``, its container waiting in
  ``ContainerCreating``, event FailedMount (a volume that never mounts);
- ``OOMKilled``: runs, then the container is terminated with exit code 137 and reason
  ``OOMKilled`` (execute mode: its process is started and SIGKILLed at once, as the kernel's
  OOM killer would), phase ``Failed``.

The process of a pending fault is never started.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAIL_ARG = "--standin-fail"
TOKEN = "standin-token"
SIDECAR = "airflow-xcom-sidecar"  # the provider's PodDefaults.SIDECAR_CONTAINER_NAME
XCOM_RESULT = "/airflow/xcom/return.json"
EMPTY_XCOM = "__airflow_xcom_result_empty__"  # what the provider's read script echoes for no file
# The variable the component runtime writes its result manifest to (airgenome.components.runtime).
RESULT_VARIABLE = "AIRGENOME_RESULT_PATH"
WS_PROTOCOLS = ("v4.channel.k8s.io", "channel.k8s.io")
_WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_VAR_REF = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
# Fault injection: the annotation a test puts on a pod, and the faults the stand-in plays.
FAULT_ANNOTATION = "standin.airgenome.io/fault"
PENDING_FAULTS = ("ImagePullBackOff", "Unschedulable", "ContainerCreating")
FAULTS = (*PENDING_FAULTS, "OOMKilled")
OOM_EXIT_CODE = 137  # 128 + SIGKILL, as the kubelet reports an OOM-killed container


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _log_timestamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    body: Any
    headers: dict[str, str]  # names lower-cased


@dataclass
class Exec:
    """One exec call into a pod's container, as the stand-in answered it."""

    pod: str
    container: str
    command: list[str]
    stdin: str = ""
    stdout: str = ""
    status: str = "Success"


@dataclass
class _Pod:
    manifest: dict[str, Any]
    reads: int = 0
    phase: str = "Pending"
    phase_history: list[str] = field(default_factory=lambda: ["Pending"])
    running_reads: int = 0
    started_at: str | None = None
    # The main container, once terminated.
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    finished_at: str | None = None
    config_error: str | None = None  # CreateContainerConfigError: the container never started
    sidecar_killed: bool = False
    sidecar_finished_at: str | None = None
    # execute mode: the process that stands for the main container
    workdir: Path | None = None
    argv: list[str] | None = None
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = None
    output: list[tuple[float, str, str]] = field(default_factory=list)  # (epoch, timestamp, line)
    output_done: bool = False
    killed_because: str | None = None
    threads: list[threading.Thread] = field(default_factory=list)

    @property
    def name(self) -> str:
        return str(self.manifest["metadata"]["name"])

    @property
    def base(self) -> dict[str, Any]:
        return dict(self.manifest["spec"]["containers"][0])

    @property
    def has_sidecar(self) -> bool:
        return any(c.get("name") == SIDECAR for c in self.manifest["spec"]["containers"])

    @property
    def result_path(self) -> Path | None:
        """The file that stands for the xcom volume's return.json (execute mode)."""
        return self.workdir / "xcom" / "return.json" if self.workdir is not None else None

    @property
    def sidecar_running(self) -> bool:
        return self.has_sidecar and self.phase != "Pending" and not self.sidecar_killed and not self.config_error


def matches_label_selector(labels: dict[str, str], selector: str) -> bool:
    """Equality-based selectors: ``a=b``, ``a==b``, ``a!=b``, ``a`` (exists), ``!a``."""
    for term in filter(None, (part.strip() for part in selector.split(","))):
        if "!=" in term:
            key, value = term.split("!=", 1)
            if labels.get(key) == value:
                return False
        elif "=" in term:
            key, value = term.replace("==", "=").split("=", 1)
            if labels.get(key) != value:
                return False
        elif term.startswith("!"):
            if term[1:] in labels:
                return False
        elif term not in labels:
            return False
    return True


class StandInKubernetes:
    """The cluster state plus the HTTP server that exposes it."""

    def __init__(
        self,
        *,
        pending_reads: int = 1,
        running_reads: int = 3,
        line_delay_s: float = 0.02,
        failing_images: set[str] | None = None,
        log_lines: Callable[[dict[str, Any], bool], list[str]] | None = None,
        execute: bool = False,
        secrets: Mapping[Any, Any] | None = None,
        execute_timeout_s: float = 120.0,
        python: str = sys.executable,
        base_env: Mapping[str, str] | None = None,
    ) -> None:
        """`secrets`: the cluster's Secrets, ``{name: {key: value}}`` or ``{(name, key): value}``.
        `base_env`: what the "image" sets before the pod's env (default: PATH, LANG,
        PYTHONUNBUFFERED and a HOME in the pod's folder)."""
        self.execute = execute
        self.secrets = _secret_data(secrets or {})
        self.execute_timeout_s = execute_timeout_s
        self.python = python
        self.base_env = dict(base_env) if base_env is not None else None
        self.execs: list[Exec] = []
        self._root: Path | None = None
        self.pending_reads = pending_reads
        self.running_reads = running_reads
        self.line_delay_s = line_delay_s
        self.failing_images = set(failing_images or ())
        self.log_lines = log_lines or default_log_lines
        self.requests: list[Request] = []
        self.pods: dict[tuple[str, str], _Pod] = {}
        self.deleted: dict[tuple[str, str], _Pod] = {}
        self.created: list[dict[str, Any]] = []
        # Custom objects by (group, version, plural, namespace, name), and controller stand-ins.
        self.objects: dict[tuple[str, str, str, str, str], dict[str, Any]] = {}
        from tests.standin import spark_operator  # imports this module: late

        self.object_hooks: dict[str, Callable[[StandInKubernetes, dict[str, Any]], None]] = {
            "inferenceservices": ready_inference_service,
            "sparkapplications": spark_operator.submit_application,
        }
        self.object_views: dict[str, Callable[[StandInKubernetes, dict[str, Any]], None]] = {
            "sparkapplications": spark_operator.observe_application,
        }
        self.application_states: dict[tuple[str, str], list[str]] = {}  # SparkApplication states seen
        self.unready_objects: set[str] = set()
        self._lock = threading.RLock()
        self._changed = threading.Condition(self._lock)  # a pod's process wrote or exited
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandInKubernetes:
        if self.execute:
            self._root = Path(tempfile.mkdtemp(prefix="standin-pods-"))
        handler = type("BoundHandler", (_Handler,), {"cluster": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="standin-k8s", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        with self._lock:
            pods = [*self.pods.values(), *self.deleted.values()]
            for pod in pods:
                self._kill(pod, "the stand-in stopped")
        for pod in pods:
            for thread in pod.threads:
                thread.join(timeout=5)
        if self._root is not None:
            shutil.rmtree(self._root, ignore_errors=True)
            self._root = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def write_kubeconfig(self, path: Path, namespace: str = "default") -> Path:
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "standin", "cluster": {"server": self.url}}],
            "users": [{"name": "standin", "user": {"token": TOKEN}}],
            "contexts": [
                {
                    "name": "standin",
                    "context": {"cluster": "standin", "user": "standin", "namespace": namespace},
                }
            ],
            "current-context": "standin",
        }
        path.write_text(json.dumps(config))  # JSON is valid YAML
        return path

    # -- queries for tests -------------------------------------------------------------
    def calls(self, method: str, path_part: str = "") -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.method == method and path_part in r.path]

    def history(self, name: str) -> list[str]:
        with self._lock:
            for key in (*self.pods, *self.deleted):
                if key[1] == name:
                    pod = self.pods.get(key) or self.deleted[key]
                    return list(pod.phase_history)
        raise KeyError(name)

    def reset(self) -> None:
        with self._lock:
            for pod in (*self.pods.values(), *self.deleted.values()):
                self._kill(pod, "the stand-in was reset")
            self.execs.clear()
            self.requests.clear()
            self.pods.clear()
            self.deleted.clear()
            self.created.clear()
            self.objects.clear()
            self.unready_objects.clear()
            self.application_states.clear()

    # -- pod life ----------------------------------------------------------------------
    def _fails(self, manifest: dict[str, Any]) -> bool:
        container = manifest["spec"]["containers"][0]
        return container.get("image") in self.failing_images or FAIL_ARG in (
            container.get("args") or []
        )

    def _set_phase(self, pod: _Pod, phase: str) -> None:
        if pod.phase != phase:
            pod.phase = phase
            pod.phase_history.append(phase)
            if phase == "Running":
                pod.started_at = _now()

    def _terminate(self, pod: _Pod, exit_code: int, reason: str, message: str | None = None) -> None:
        """The main container exits; the pod ends once its xcom sidecar (if any) is killed."""
        if pod.exit_code is not None:
            return
        if pod.phase == "Pending":
            self._set_phase(pod, "Running")
        pod.exit_code, pod.reason, pod.message, pod.finished_at = exit_code, reason, message, _now()
        self._settle(pod)

    def _settle(self, pod: _Pod) -> None:
        if pod.exit_code is None or (pod.has_sidecar and not pod.sidecar_killed):
            return
        self._set_phase(pod, "Succeeded" if pod.exit_code == 0 else "Failed")

    def _kill_sidecar(self, pod: _Pod) -> None:
        if not pod.sidecar_killed:
            pod.sidecar_killed, pod.sidecar_finished_at = True, _now()
            self._settle(pod)
            self._changed.notify_all()

    def _finish(self, pod: _Pod) -> None:
        if pod.exit_code is not None or self.execute:
            return
        if pod_fault(pod.manifest) == "OOMKilled":
            self._terminate(pod, OOM_EXIT_CODE, "OOMKilled")
            return
        failed = self._fails(pod.manifest)
        self._terminate(pod, 1 if failed else 0, "Error" if failed else "Completed",
                        "simulated step failure" if failed else None)

    def _advance_on_read(self, pod: _Pod) -> None:
        pod.reads += 1
        if self.execute or pod_fault(pod.manifest) in PENDING_FAULTS:
            return  # the process drives the pod; a pending fault stays Pending
        if pod.phase == "Pending" and pod.reads > self.pending_reads:
            self._set_phase(pod, "Running")
        elif pod.phase == "Running" and pod.exit_code is None:
            pod.running_reads += 1
            if pod.running_reads > self.running_reads:
                self._finish(pod)

    def _container_status(self, pod: _Pod, container: dict[str, Any]) -> dict[str, Any]:
        name = container["name"]
        state: dict[str, Any]
        if pod.config_error is not None:
            if name == SIDECAR:  # bounded: the provider does not wait for it
                state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": None,
                                        "finishedAt": pod.finished_at}}
            else:
                state = {"waiting": {"reason": "CreateContainerConfigError", "message": pod.config_error}}
        elif pod.phase == "Pending":
            state = {"waiting": _fault_waiting(pod.manifest, container)}
        elif name == SIDECAR:
            if pod.sidecar_killed:
                state = {"terminated": {"exitCode": 0, "reason": "Completed", "startedAt": pod.started_at,
                                        "finishedAt": pod.sidecar_finished_at}}
            else:
                state = {"running": {"startedAt": pod.started_at}}
        elif pod.exit_code is None:
            state = {"running": {"startedAt": pod.started_at}}
        else:
            state = {
                "terminated": {
                    "exitCode": pod.exit_code,
                    "reason": pod.reason,
                    "message": pod.message,
                    "startedAt": pod.started_at,
                    "finishedAt": pod.finished_at,
                }
            }
        return {
            "name": name,
            "image": container.get("image", ""),
            "ready": "running" in state,
            "state": state,
            "restartCount": 0,
            "imageID": "",
            "started": "running" in state,
        }

    def _status(self, pod: _Pod) -> dict[str, Any]:
        containers = pod.manifest["spec"]["containers"]
        # The main container and the xcom sidecar (other extra containers are not modelled).
        modelled = [containers[0], *(c for c in containers[1:] if c.get("name") == SIDECAR)]
        return {
            "phase": pod.phase,
            "conditions": [_scheduled_condition(pod.manifest)],
            "containerStatuses": [self._container_status(pod, c) for c in modelled],
            "startTime": pod.manifest["metadata"]["creationTimestamp"],
        } | _unscheduled_status(pod.manifest)

    # -- execute mode: the main container as a local process -----------------------------
    def _environment(self, pod: _Pod) -> tuple[dict[str, str], str | None]:
        """The container's environment as the kubelet builds it, or the config error."""
        container, meta = pod.base, pod.manifest["metadata"]
        env: dict[str, str] = {}
        for source in container.get("envFrom") or []:
            ref = source.get("secretRef")
            if ref is None:
                return env, "stand-in: only envFrom.secretRef is supported"
            data = self.secrets.get(ref.get("name", ""))
            if data is None:
                if ref.get("optional"):
                    continue
                return env, f'secret "{ref.get("name")}" not found'
            env.update({f"{source.get('prefix') or ''}{k}": v for k, v in data.items()})
        for item in container.get("env") or []:
            name = item["name"]
            if "valueFrom" not in item:
                env[name] = _expand(str(item.get("value") or ""), env)
                continue
            source = item["valueFrom"]
            if "secretKeyRef" in source:
                ref = source["secretKeyRef"]
                data = self.secrets.get(ref.get("name", ""))
                if data is None or ref.get("key") not in data:
                    if ref.get("optional"):
                        continue
                    if data is None:
                        return env, f'secret "{ref.get("name")}" not found'
                    return env, f'couldn\'t find key {ref.get("key")} in Secret {meta["namespace"]}/{ref.get("name")}'
                env[name] = data[ref["key"]]
            elif "fieldRef" in source:
                path = source["fieldRef"].get("fieldPath", "")
                fields = {"metadata.name": meta["name"], "metadata.namespace": meta["namespace"],
                          "metadata.uid": meta["uid"], "status.podIP": "127.0.0.1", "status.hostIP": "127.0.0.1",
                          "spec.nodeName": "standin-node"}
                if path not in fields:
                    return env, f"stand-in: unsupported fieldRef {path}"
                env[name] = fields[path]
            else:
                return env, f"stand-in: unsupported valueFrom for {name} ({', '.join(source)})"
        return env, None

    def _start(self, pod: _Pod) -> None:
        """Run the main container's command (called under the lock, when the pod is created)."""
        assert self._root is not None, "server not started"
        env, error = self._environment(pod)
        if error is not None:
            pod.config_error, pod.finished_at = error, _now()
            self._set_phase(pod, "Failed")
            return
        container = pod.base
        argv = [_expand(str(a), env) for a in [*(container.get("command") or []), *(container.get("args") or [])]]
        pod.workdir = self._root / f"{pod.manifest['metadata']['namespace']}.{pod.name}.{pod.manifest['metadata']['uid'][:8]}"
        (pod.workdir / "xcom").mkdir(parents=True)
        (pod.workdir / "home").mkdir()
        base = self.base_env if self.base_env is not None else {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PYTHONUNBUFFERED": "1",
        }
        pod.env = {"HOME": str(pod.workdir / "home"), "HOSTNAME": pod.name, **base, **env,
                   RESULT_VARIABLE: str(pod.result_path)}
        if argv and argv[0] in ("python", "python3"):
            argv[0] = self.python
        pod.argv = argv
        self._set_phase(pod, "Running")
        if not argv:
            self._terminate(pod, 128, "StartError", "stand-in: the container names no command (an image's own entrypoint cannot run here)")
            return
        try:
            pod.process = subprocess.Popen(
                argv, env=pod.env, cwd=pod.workdir, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT, start_new_session=True,
            )
        except OSError as failure:
            self._terminate(pod, 128, "StartError", f"stand-in: cannot start {argv[0]}: {failure}")
            return
        if pod_fault(pod.manifest) == "OOMKilled":
            self._kill(pod, "the OOM killer (fault OOMKilled)")
        pump = threading.Thread(target=self._pump, args=(pod, pod.process), name=f"standin-pod-{pod.name}", daemon=True)
        watchdog = threading.Timer(self.execute_timeout_s, self._timeout, args=(pod,))
        watchdog.daemon = True
        pod.threads = [pump]
        pump.start()
        watchdog.start()
        pod.threads.append(watchdog)

    def _pump(self, pod: _Pod, process: subprocess.Popen[bytes]) -> None:
        """Collect the process's output line by line; record its exit."""
        assert process.stdout is not None
        for raw in iter(process.stdout.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\r\n")
            with self._changed:
                pod.output.append((time.time(), _log_timestamp(), line))
                self._changed.notify_all()
        process.stdout.close()
        try:
            code = process.wait(timeout=10)
        except subprocess.TimeoutExpired:  # closed its output but lives on
            self._kill(pod, "it did not exit after closing its output")
            code = process.wait()
        with self._changed:
            for thread in pod.threads:
                if isinstance(thread, threading.Timer):
                    thread.cancel()
            pod.output_done = True
            if code < 0:  # killed by a signal: the kubelet reports 128 + signal
                code = 128 - code
            message = f"stand-in: killed because {pod.killed_because}" if pod.killed_because else None
            reason = "Completed" if code == 0 else "Error"
            if code == OOM_EXIT_CODE and pod_fault(pod.manifest) == "OOMKilled":
                reason, message = "OOMKilled", None  # what the kubelet reports: no message
            self._terminate(pod, code, reason, message)
            self._changed.notify_all()

    def _timeout(self, pod: _Pod) -> None:
        with self._lock:
            self._kill(pod, f"it ran longer than {self.execute_timeout_s:g} s")

    def _kill(self, pod: _Pod, because: str) -> None:
        process = pod.process
        if process is None or process.poll() is not None:
            return
        pod.killed_because = pod.killed_because or because
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            process.kill()

    def pod_json(self, pod: _Pod) -> dict[str, Any]:
        return {**pod.manifest, "status": self._status(pod)}

    # -- API operations (called by the handler, under the lock) ------------------------
    def create_pod(self, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = body.get("metadata", {}).get("name")
        if not name:
            return 422, _status_body(422, "Invalid", "metadata.name: Required value")
        if (namespace, name) in self.pods:
            return 409, _status_body(409, "AlreadyExists", f'pods "{name}" already exists')
        try:
            pod_fault(body)
        except ValueError as error:
            return 422, _status_body(422, "Invalid", str(error))
        manifest = json.loads(json.dumps(body))
        manifest["metadata"].update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            resourceVersion=str(len(self.requests)),
            creationTimestamp=_now(),
        )
        manifest["metadata"].setdefault("labels", {})
        pod = self.pods[(namespace, name)] = _Pod(manifest=manifest)
        self.created.append(manifest)
        answer = self.pod_json(pod)  # as created: Pending
        if self.execute and pod_fault(manifest) not in PENDING_FAULTS:
            self._start(pod)
        return 201, answer

    def custom_objects(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        """The stored custom objects of one plural (for tests), oldest first."""
        with self._lock:
            return [
                json.loads(json.dumps(obj))
                for (_, _, p, ns, _), obj in self.objects.items()
                if p == plural and (namespace is None or ns == namespace)
            ]

    def create_object(
        self, group: str, version: str, namespace: str, plural: str, body: dict[str, Any]
    ) -> tuple[int, dict[str, Any]]:
        name = (body.get("metadata") or {}).get("name")
        if not name:
            return 422, _status_body(422, "Invalid", "metadata.name: Required value")
        key = (group, version, plural, namespace, name)
        if key in self.objects:
            return 409, _status_body(409, "AlreadyExists", f'{plural}.{group} "{name}" already exists')
        obj = json.loads(json.dumps(body))
        obj["metadata"].update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            resourceVersion=str(len(self.requests)),
            creationTimestamp=_now(),
            generation=1,
        )
        self.objects[key] = obj
        self._run_object_hook(plural, obj)
        return 201, json.loads(json.dumps(obj))

    def patch_object(self, key: tuple[str, str, str, str, str], patch: Any) -> tuple[int, dict[str, Any]]:
        obj = self.objects.get(key)
        if obj is None:
            return 404, _status_body(404, "NotFound", f'{key[2]}.{key[0]} "{key[4]}" not found')
        if not isinstance(patch, dict):
            return 415, _status_body(415, "UnsupportedMediaType", "only JSON merge patches are served")
        spec_before = json.dumps(obj.get("spec"), sort_keys=True)
        merged = merge_patch(obj, patch)
        merged["metadata"]["resourceVersion"] = str(len(self.requests))
        if json.dumps(merged.get("spec"), sort_keys=True) != spec_before:
            merged["metadata"]["generation"] = int(obj["metadata"].get("generation", 1)) + 1
        self.objects[key] = merged
        self._run_object_hook(key[2], merged)
        return 200, json.loads(json.dumps(merged))

    def _run_object_hook(self, plural: str, obj: dict[str, Any]) -> None:
        hook = self.object_hooks.get(plural)
        if hook is not None:
            hook(self, obj)

    def _observe_objects(self, plural: str) -> None:
        view = self.object_views.get(plural)
        if view is not None:
            for key, obj in list(self.objects.items()):
                if key[2] == plural:
                    view(self, obj)

    def delete_object(self, key: tuple[str, str, str, str, str]) -> None:
        """Delete a custom object, and with it the pods it owns (the garbage collector)."""
        uid = self.objects.pop(key)["metadata"]["uid"]
        for pod_key, pod in list(self.pods.items()):
            if any(ref.get("uid") == uid for ref in pod.manifest["metadata"].get("ownerReferences") or []):
                self.delete_pod(pod_key)

    def delete_pod(self, key: tuple[str, str]) -> _Pod:
        pod = self.deleted[key] = self.pods.pop(key)
        self._kill(pod, "its pod was deleted")
        return pod

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        pod = self.pods.get((namespace, name))
        if pod is None:
            return []
        reasons = [("Scheduled", "Successfully assigned to standin-node")]
        if pod.config_error is not None:
            reasons.append(("Failed", f"Error: {pod.config_error}"))
        elif pod.phase != "Pending":
            image = pod.manifest["spec"]["containers"][0].get("image")
            reasons += [("Pulled", f'Container image "{image}" already present'), ("Started", "Started container")]
        reasons = _fault_events(pod.manifest, reasons)
        return [
            {
                "metadata": {"name": f"{name}.{index}", "uid": f"{pod.manifest['metadata']['uid']}-{index}",
                             "resourceVersion": str(index), "namespace": namespace},
                "involvedObject": {"kind": "Pod", "name": name, "namespace": namespace,
                                   "fieldPath": "spec.containers{base}"},
                "reason": reason,
                "message": message,
                "type": "Warning" if reason in WARNING_EVENTS else "Normal",
            }
            for index, (reason, message) in enumerate(reasons)
        ]


def pod_fault(manifest: dict[str, Any]) -> str | None:
    """The fault a test asked this pod to play (`FAULT_ANNOTATION`), or None."""
    fault = ((manifest.get("metadata") or {}).get("annotations") or {}).get(FAULT_ANNOTATION)
    if fault is not None and fault not in FAULTS:
        raise ValueError(f"{FAULT_ANNOTATION}: {fault!r} is not one of {', '.join(FAULTS)}")
    return fault


WARNING_EVENTS = ("Failed", "BackOff", "FailedScheduling", "FailedMount", "OOMKilling")
UNSCHEDULABLE_MESSAGE = (
    "0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are available: "
    "1 No preemption victims found for incoming pod."
)
FAILED_MOUNT_MESSAGE = (
    'MountVolume.SetUp failed for volume "lake" : mount failed: exit status 32: '
    "mount.nfs: Connection timed out"
)


def _scheduled_condition(manifest: dict[str, Any]) -> dict[str, Any]:
    if pod_fault(manifest) == "Unschedulable":
        return {"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": UNSCHEDULABLE_MESSAGE, "lastTransitionTime": manifest["metadata"]["creationTimestamp"]}
    return {"type": "PodScheduled", "status": "True"}


def _unscheduled_status(manifest: dict[str, Any]) -> dict[str, Any]:
    """An unscheduled pod has no container statuses and no start time yet."""
    return {"containerStatuses": None, "startTime": None} if pod_fault(manifest) == "Unschedulable" else {}


def _fault_waiting(manifest: dict[str, Any], container: dict[str, Any]) -> dict[str, Any]:
    """A container's ``waiting`` state while its pod is Pending."""
    fault = pod_fault(manifest)
    if fault == "ImagePullBackOff" and container.get("name") != SIDECAR:
        return {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{container.get("image", "")}"'}
    return {"reason": "ContainerCreating"}


def _fault_events(manifest: dict[str, Any], usual: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The events a cluster records for a pod playing a fault (else `usual`)."""
    fault = pod_fault(manifest)
    image = manifest["spec"]["containers"][0].get("image", "")
    if fault == "ImagePullBackOff":
        return [
            ("Scheduled", "Successfully assigned to standin-node"),
            ("Pulling", f'Pulling image "{image}"'),
            ("Failed", f'Failed to pull image "{image}": rpc error: code = NotFound desc = failed to pull and '
                       f'unpack image "{image}": not found'),
            ("Failed", "Error: ErrImagePull"),
            ("BackOff", f'Back-off pulling image "{image}"'),
            ("Failed", "Error: ImagePullBackOff"),
        ]
    if fault == "Unschedulable":
        return [("FailedScheduling", UNSCHEDULABLE_MESSAGE)]
    if fault == "ContainerCreating":
        return [("Scheduled", "Successfully assigned to standin-node"), ("FailedMount", FAILED_MOUNT_MESSAGE)]
    return usual


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch: objects merge key by key, null deletes, anything else replaces."""
    if not isinstance(patch, dict):
        return json.loads(json.dumps(patch))
    result = json.loads(json.dumps(target)) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def ready_inference_service(cluster: StandInKubernetes, obj: dict[str, Any]) -> None:
    """KServe's controller, stood in: the predictor becomes Ready with a URL (or stays unready)."""
    name, namespace = obj["metadata"]["name"], obj["metadata"]["namespace"]
    now = _now()
    if name in cluster.unready_objects:
        obj["status"] = {
            "observedGeneration": obj["metadata"]["generation"],
            "conditions": [{"type": "Ready", "status": "False", "reason": "RevisionMissing",
                            "message": "the stand-in keeps this InferenceService unready", "lastTransitionTime": now}],
        }
        return
    url = f"http://{name}.{namespace}.example.com"
    obj["status"] = {
        "observedGeneration": obj["metadata"]["generation"],
        "url": url,
        "address": {"url": f"http://{name}-predictor.{namespace}.svc.cluster.local"},
        "conditions": [
            {"type": kind, "status": "True", "lastTransitionTime": now}
            for kind in ("IngressReady", "PredictorReady", "Ready")
        ],
        "components": {"predictor": {"url": url, "latestReadyRevision": f"{name}-predictor-{obj['metadata']['generation']:05d}",
                                     "traffic": [{"percent": 100, "latestRevision": True}]}},
    }


def default_log_lines(manifest: dict[str, Any], failed: bool) -> list[str]:
    """What a Genome step would print: its identity from the contract environment."""
    env = {e["name"]: e.get("value", "") for e in manifest["spec"]["containers"][0].get("env") or []}
    lines = [
        f"genome step {env.get('STEP_NAME')} ({env.get('STEP_TYPE')}) of {env.get('PIPELINE_NAME')}",
        f"PIPELINE_RUNID={env.get('PIPELINE_RUNID')}",
        f"PARAMETERS={env.get('PARAMETERS')}",
    ]
    if pod_fault(manifest) == "OOMKilled":
        return lines  # killed before it could say more
    lines.append("step failed: simulated step failure" if failed else "step done")
    return lines


def _secret_data(secrets: Mapping[Any, Any]) -> dict[str, dict[str, str]]:
    """``{name: {key: value}}`` from that shape or from ``{(name, key): value}``."""
    data: dict[str, dict[str, str]] = {}
    for name, value in secrets.items():
        if isinstance(name, tuple):
            secret, key = name
            data.setdefault(str(secret), {})[str(key)] = str(value)
        else:
            data.setdefault(str(name), {}).update({str(k): str(v) for k, v in dict(value).items()})
    return data


def _expand(text: str, env: Mapping[str, str]) -> str:
    """Kubernetes ``$(VAR)`` expansion: defined variables replaced, ``$$`` escapes a ``$``."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        return env.get(match.group(1), match.group(0))

    return _VAR_REF.sub(replace, text)


def _exec_status(exit_code: int, command: list[str]) -> dict[str, Any]:
    if exit_code == 0:
        return {"metadata": {}, "status": "Success"}
    return {
        "metadata": {},
        "status": "Failure",
        "message": f"command terminated with non-zero exit code: error executing command {command}, exit code {exit_code}",
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": str(exit_code)}]},
    }


def _status_body(code: int, reason: str, message: str) -> dict[str, Any]:
    return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
            "message": message, "reason": reason, "code": code}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    cluster: StandInKubernetes  # bound per server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        return  # keep test output clean; requests are recorded instead

    # -- plumbing ------------------------------------------------------------------------
    def _record(self) -> tuple[list[str], dict[str, list[str]], Any]:
        parts = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        body = json.loads(raw) if raw else None
        query = parse_qs(parts.query)
        with self.cluster._lock:
            self.cluster.requests.append(
                Request(self.command, parts.path, query, body, {k.lower(): v for k, v in self.headers.items()})
            )
        return [p for p in parts.path.split("/") if p], query, body

    def _send_json(self, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _authorised(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {TOKEN}":
            return True
        self._send_json(401, _status_body(401, "Unauthorized", "Unauthorized"))
        return False

    def _route(self) -> None:
        segments, query, body = self._record()
        if not self._authorised():
            return
        if segments[:1] == ["apis"]:
            self._route_custom_object(segments, body)
            return
        # /api/v1/namespaces/{ns}/{resource}[/{name}[/{sub}]]
        if segments[:3] != ["api", "v1", "namespaces"] or len(segments) < 5:
            self._send_json(404, _status_body(404, "NotFound", f"no route {self.path}"))
            return
        namespace, resource, rest = segments[3], segments[4], segments[5:]
        cluster = self.cluster
        with cluster._lock:
            if resource == "events" and self.command == "GET" and not rest:
                selector = (query.get("fieldSelector") or [""])[0]
                name = selector.split("involvedObject.name=", 1)[-1] if selector else ""
                items = cluster.events(namespace, name)
                self._send_json(200, {"kind": "EventList", "apiVersion": "v1",
                                      "metadata": {"resourceVersion": str(len(items))}, "items": items})
                return
            if resource != "pods":
                self._send_json(404, _status_body(404, "NotFound", f"no route {self.path}"))
                return
            if not rest:
                if self.command == "POST":
                    code, answer = cluster.create_pod(namespace, body or {})
                    self._send_json(code, answer)
                elif self.command == "GET":
                    selector = (query.get("labelSelector") or [""])[0]
                    items = [
                        cluster.pod_json(pod)
                        for (ns, _), pod in cluster.pods.items()
                        if ns == namespace and matches_label_selector(pod.manifest["metadata"]["labels"], selector)
                    ]
                    self._send_json(200, {"kind": "PodList", "apiVersion": "v1",
                                          "metadata": {"resourceVersion": "1"}, "items": items})
                else:
                    self._send_json(405, _status_body(405, "MethodNotAllowed", self.command))
                return
            key = (namespace, rest[0])
            pod = cluster.pods.get(key)
            if pod is None:
                self._send_json(404, _status_body(404, "NotFound", f'pods "{rest[0]}" not found'))
                return
            if rest[1:] == ["exec"] and self.command in ("GET", "POST"):
                exec_request = self._exec_request(pod, query)
                if exec_request is None:
                    return
            elif rest[1:] == ["log"] and self.command == "GET":
                lines_follow = (query.get("follow") or ["false"])[0].lower() == "true"
                with_timestamps = (query.get("timestamps") or ["false"])[0].lower() == "true"
                container = (query.get("container") or [pod.base["name"]])[0]
                if cluster.execute:
                    if pod.config_error is not None and container != SIDECAR:
                        self._send_json(400, _status_body(
                            400, "BadRequest",
                            f'container "{container}" in pod "{pod.name}" is waiting to start: CreateContainerConfigError'))
                        return
                    tail = (query.get("tailLines") or [None])[0]
                    since = (query.get("sinceSeconds") or [None])[0]
                    process_log = (container == pod.base["name"], int(tail) if tail else None,
                                   float(since) if since else None)
                else:
                    failed = cluster._fails(pod.manifest)
                    lines = cluster.log_lines(pod.manifest, failed)
            elif rest[1:]:
                self._send_json(404, _status_body(404, "NotFound", f"no route {self.path}"))
                return
            elif self.command == "GET":
                cluster._advance_on_read(pod)
                self._send_json(200, cluster.pod_json(pod))
                return
            elif self.command == "PATCH":
                labels = ((body or {}).get("metadata") or {}).get("labels") or {}
                pod.manifest["metadata"]["labels"].update(labels)
                self._send_json(200, cluster.pod_json(pod))
                return
            elif self.command == "DELETE":
                cluster.delete_pod(key)
                self._send_json(200, cluster.pod_json(pod))
                return
            else:
                self._send_json(405, _status_body(405, "MethodNotAllowed", self.command))
                return
        # Logs and exec sessions are served outside the lock: they take a while.
        if rest[1:] == ["exec"]:
            self._serve_exec(pod, *exec_request)
        elif cluster.execute:
            is_base, tail, since = process_log
            self._stream_process_log(pod, is_base, follow=lines_follow, timestamps=with_timestamps,
                                     tail=tail, since=since)
        else:
            self._stream_log(pod, lines, follow=lines_follow, timestamps=with_timestamps)

    def _route_custom_object(self, segments: list[str], body: Any) -> None:
        # /apis/{group}/{version}/namespaces/{ns}/{plural}[/{name}[/status]]
        if len(segments) < 6 or segments[3] != "namespaces" or len(segments) > 8:
            self._send_json(404, _status_body(404, "NotFound", f"no route {self.path}"))
            return
        group, version, namespace, plural = segments[1], segments[2], segments[4], segments[5]
        rest = segments[6:]
        cluster = self.cluster
        with cluster._lock:
            cluster._observe_objects(plural)
            if not rest:
                if self.command == "POST":
                    self._send_json(*cluster.create_object(group, version, namespace, plural, body or {}))
                elif self.command == "GET":
                    items = [o for o in cluster.custom_objects(plural, namespace)
                             if o.get("apiVersion", f"{group}/{version}") == f"{group}/{version}"]
                    self._send_json(200, {"apiVersion": f"{group}/{version}", "kind": "List",
                                          "metadata": {"resourceVersion": "1"}, "items": items})
                else:
                    self._send_json(405, _status_body(405, "MethodNotAllowed", self.command))
                return
            if rest[1:] not in ([], ["status"]):
                self._send_json(404, _status_body(404, "NotFound", f"no route {self.path}"))
                return
            key = (group, version, plural, namespace, rest[0])
            obj = cluster.objects.get(key)
            if obj is None:
                self._send_json(404, _status_body(404, "NotFound", f'{plural}.{group} "{rest[0]}" not found'))
            elif self.command == "GET":
                self._send_json(200, json.loads(json.dumps(obj)))
            elif self.command == "PATCH":
                self._send_json(*cluster.patch_object(key, body))
            elif self.command == "DELETE":
                cluster.delete_object(key)
                self._send_json(200, {"kind": "Status", "apiVersion": "v1", "status": "Success",
                                      "details": {"name": rest[0], "group": group, "kind": plural}})
            else:
                self._send_json(405, _status_body(405, "MethodNotAllowed", self.command))

    def _write_chunk(self, data: bytes) -> None:
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _stream_process_log(
        self, pod: _Pod, is_base: bool, *, follow: bool, timestamps: bool, tail: int | None, since: float | None
    ) -> None:
        """The process's real output; a followed log ends when the process has exited."""
        cluster = self.cluster
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        deadline = time.monotonic() + cluster.execute_timeout_s + 30
        with cluster._lock:
            sent = max(0, len(pod.output) - tail) if tail is not None else 0
        while is_base:
            with cluster._changed:
                while (follow and sent >= len(pod.output) and not pod.output_done
                       and time.monotonic() < deadline):
                    cluster._changed.wait(timeout=0.5)
                batch = pod.output[sent:]
                sent += len(batch)
                done = not follow or pod.output_done or time.monotonic() >= deadline or pod.process is None
            oldest = time.time() - since if since is not None else None
            for epoch, stamp, line in batch:
                if oldest is not None and epoch < oldest:
                    continue
                self._write_chunk((f"{stamp} {line}\n" if timestamps else f"{line}\n").encode())
            if done:
                break
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    # -- exec: the kubelet's WebSocket channel protocol ----------------------------------------
    def _exec_request(self, pod: _Pod, query: dict[str, list[str]]) -> tuple[str, list[str], bool, str] | None:
        """Checks under the lock; (container, command, stdin, protocol), or None when answered."""
        container = (query.get("container") or [pod.base["name"]])[0]
        command = query.get("command") or []
        stdin = (query.get("stdin") or ["false"])[0].lower() == "true"
        if container != SIDECAR:
            self._send_json(400, _status_body(400, "BadRequest", f"stand-in: exec only into {SIDECAR}, not {container!r}"))
            return None
        if not pod.sidecar_running:
            self._send_json(400, _status_body(400, "BadRequest", f'container {container} is not running in pod "{pod.name}"'))
            return None
        key = self.headers.get("Sec-WebSocket-Key")
        offered = [p.strip() for p in (self.headers.get("Sec-WebSocket-Protocol") or "").split(",") if p.strip()]
        protocol = next((p for p in WS_PROTOCOLS if p in offered), None)
        if (self.headers.get("Upgrade") or "").lower() != "websocket" or not key or protocol is None:
            self._send_json(400, _status_body(400, "BadRequest", f"exec needs a WebSocket upgrade with a subprotocol of {', '.join(WS_PROTOCOLS)}"))
            return None
        return container, command, stdin, protocol

    def _serve_exec(self, pod: _Pod, container: str, command: list[str], stdin: bool, protocol: str) -> None:
        key = self.headers["Sec-WebSocket-Key"]
        accept = base64.b64encode(hashlib.sha1((key + _WS_GUID).encode()).digest()).decode()
        self.send_response(101, "Switching Protocols")
        self.send_header("Upgrade", "websocket")
        self.send_header("Connection", "Upgrade")
        self.send_header("Sec-WebSocket-Accept", accept)
        self.send_header("Sec-WebSocket-Protocol", protocol)
        self.end_headers()
        self.wfile.flush()
        self.close_connection = True
        record = Exec(pod=pod.name, container=container, command=list(command))
        with self.cluster._lock:
            self.cluster.execs.append(record)
        script = command[2] if len(command) == 3 and command[1] == "-c" else None
        if script is not None and XCOM_RESULT in script and "cat " in script:
            path = pod.result_path
            content = path.read_text() if path is not None and path.is_file() and path.stat().st_size else ""
            record.stdout = content or f"{EMPTY_XCOM}\n"
            self._channel(1, record.stdout.encode())
            self._channel(3, json.dumps(_exec_status(0, command)).encode())
        elif stdin and len(command) == 1 and command[0] in ("/bin/sh", "sh"):
            self._interactive_shell(pod, record)
        else:
            record.status = "Failure"
            self._channel(2, f"stand-in: unsupported exec command {command}\n".encode())
            self._channel(3, json.dumps(_exec_status(127, command)).encode())
        self._ws_close()

    def _interactive_shell(self, pod: _Pod, record: Exec) -> None:
        """The provider's sidecar kill: a ``kill`` line on stdin ends the sidecar (and this shell)."""
        buffered = ""
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = self._ws_receive(timeout=max(0.1, deadline - time.monotonic()))
            if frame is None or frame[0] == 0x8:
                return
            opcode, data = frame
            if opcode not in (0x1, 0x2) or not data or data[0] != 0:
                continue
            buffered += data[1:].decode("utf-8", errors="replace")
            record.stdin += data[1:].decode("utf-8", errors="replace")
            while "\n" in buffered:
                line, buffered = buffered.split("\n", 1)
                if line.strip().startswith("kill ") or "kill -2" in line:
                    with self.cluster._changed:
                        self.cluster._kill_sidecar(pod)
                    self._channel(3, json.dumps(_exec_status(0, record.command)).encode())
                    return
                if line.strip():
                    record.status = "Failure"
                    self._channel(2, f"stand-in: unsupported shell line {line!r}\n".encode())
                    self._channel(3, json.dumps(_exec_status(127, record.command)).encode())
                    return

    def _channel(self, channel: int, data: bytes) -> None:
        self._ws_send(0x2, bytes([channel]) + data)

    def _ws_send(self, opcode: int, payload: bytes) -> None:
        size = len(payload)
        if size < 126:
            header = bytes([0x80 | opcode, size])
        elif size < 1 << 16:
            header = bytes([0x80 | opcode, 126]) + size.to_bytes(2, "big")
        else:
            header = bytes([0x80 | opcode, 127]) + size.to_bytes(8, "big")
        try:
            self.wfile.write(header + payload)
            self.wfile.flush()
        except OSError:
            pass

    def _ws_receive(self, timeout: float) -> tuple[int, bytes] | None:
        """One client frame (clients mask theirs), or None on timeout / a closed socket."""
        self.connection.settimeout(timeout)
        try:
            head = self.rfile.read(2)
            if len(head) < 2:
                return None
            size = head[1] & 0x7F
            if size == 126:
                size = int.from_bytes(self.rfile.read(2), "big")
            elif size == 127:
                size = int.from_bytes(self.rfile.read(8), "big")
            mask = self.rfile.read(4) if head[1] & 0x80 else b""
            data = self.rfile.read(size)
        except OSError:
            return None
        if mask:
            data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        return head[0] & 0x0F, data

    def _ws_close(self) -> None:
        """Close frame (1000), then wait briefly for the client's: a clean closing handshake."""
        self._ws_send(0x8, (1000).to_bytes(2, "big"))
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline:
            frame = self._ws_receive(timeout=max(0.05, deadline - time.monotonic()))
            if frame is None or frame[0] == 0x8:
                return

    def _stream_log(self, pod: _Pod, lines: list[str], *, follow: bool, timestamps: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for line in lines:
            text = f"{_log_timestamp()} {line}\n" if timestamps else f"{line}\n"
            data = text.encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
            if follow:
                time.sleep(self.cluster.line_delay_s)
        if follow:
            # A followed log ends when the container exits: exit before the stream closes,
            # so the client's next read of the pod already sees it terminated.
            with self.cluster._lock:
                self.cluster._finish(pod)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _route


@contextmanager
def running_standin(**options: Any) -> Iterator[StandInKubernetes]:
    cluster = StandInKubernetes(**options).start()
    try:
        yield cluster
    finally:
        cluster.stop()
