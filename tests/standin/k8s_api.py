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
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

FAIL_ARG = "--standin-fail"
TOKEN = "standin-token"


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
class _Pod:
    manifest: dict[str, Any]
    reads: int = 0
    phase: str = "Pending"
    phase_history: list[str] = field(default_factory=lambda: ["Pending"])
    running_reads: int = 0
    started_at: str | None = None


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
    ) -> None:
        self.pending_reads = pending_reads
        self.running_reads = running_reads
        self.line_delay_s = line_delay_s
        self.failing_images = set(failing_images or ())
        self.log_lines = log_lines or default_log_lines
        self.requests: list[Request] = []
        self.pods: dict[tuple[str, str], _Pod] = {}
        self.deleted: dict[tuple[str, str], _Pod] = {}
        self.created: list[dict[str, Any]] = []
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._server is not None, "server not started"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> StandInKubernetes:
        handler = type("BoundHandler", (_Handler,), {"cluster": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="standin-k8s", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
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
            self.requests.clear()
            self.pods.clear()
            self.deleted.clear()
            self.created.clear()

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

    def _finish(self, pod: _Pod) -> None:
        if pod.phase in ("Succeeded", "Failed"):
            return
        if pod.phase == "Pending":
            self._set_phase(pod, "Running")
        self._set_phase(pod, "Failed" if self._fails(pod.manifest) else "Succeeded")

    def _advance_on_read(self, pod: _Pod) -> None:
        pod.reads += 1
        if pod.phase == "Pending" and pod.reads > self.pending_reads:
            self._set_phase(pod, "Running")
        elif pod.phase == "Running":
            pod.running_reads += 1
            if pod.running_reads > self.running_reads:
                self._finish(pod)

    def _status(self, pod: _Pod) -> dict[str, Any]:
        container = pod.manifest["spec"]["containers"][0]
        base = {"name": container["name"], "image": container.get("image", ""), "ready": False}
        if pod.phase == "Pending":
            state: dict[str, Any] = {"waiting": {"reason": "ContainerCreating"}}
        elif pod.phase == "Running":
            state = {"running": {"startedAt": pod.started_at}}
            base["ready"] = True
        else:
            failed = pod.phase == "Failed"
            state = {
                "terminated": {
                    "exitCode": 1 if failed else 0,
                    "reason": "Error" if failed else "Completed",
                    "message": "simulated step failure" if failed else None,
                    "startedAt": pod.started_at,
                    "finishedAt": _now(),
                }
            }
        return {
            "phase": pod.phase,
            "conditions": [{"type": "PodScheduled", "status": "True"}],
            "containerStatuses": [
                {**base, "state": state, "restartCount": 0, "imageID": "", "started": pod.phase == "Running"}
            ],
            "startTime": pod.manifest["metadata"]["creationTimestamp"],
        }

    def pod_json(self, pod: _Pod) -> dict[str, Any]:
        return {**pod.manifest, "status": self._status(pod)}

    # -- API operations (called by the handler, under the lock) ------------------------
    def create_pod(self, namespace: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        name = body.get("metadata", {}).get("name")
        if not name:
            return 422, _status_body(422, "Invalid", "metadata.name: Required value")
        if (namespace, name) in self.pods:
            return 409, _status_body(409, "AlreadyExists", f'pods "{name}" already exists')
        manifest = json.loads(json.dumps(body))
        manifest["metadata"].update(
            namespace=namespace,
            uid=str(uuid.uuid4()),
            resourceVersion=str(len(self.requests)),
            creationTimestamp=_now(),
        )
        manifest["metadata"].setdefault("labels", {})
        self.pods[(namespace, name)] = _Pod(manifest=manifest)
        self.created.append(manifest)
        return 201, self.pod_json(self.pods[(namespace, name)])

    def events(self, namespace: str, name: str) -> list[dict[str, Any]]:
        pod = self.pods.get((namespace, name))
        if pod is None:
            return []
        reasons = [("Scheduled", "Successfully assigned to standin-node")]
        if pod.phase != "Pending":
            image = pod.manifest["spec"]["containers"][0].get("image")
            reasons += [("Pulled", f'Container image "{image}" already present'), ("Started", "Started container")]
        return [
            {
                "metadata": {"name": f"{name}.{index}", "uid": f"{pod.manifest['metadata']['uid']}-{index}",
                             "resourceVersion": str(index), "namespace": namespace},
                "involvedObject": {"kind": "Pod", "name": name, "namespace": namespace,
                                   "fieldPath": "spec.containers{base}"},
                "reason": reason,
                "message": message,
                "type": "Normal",
            }
            for index, (reason, message) in enumerate(reasons)
        ]


def default_log_lines(manifest: dict[str, Any], failed: bool) -> list[str]:
    """What a Genome step would print: its identity from the contract environment."""
    env = {e["name"]: e.get("value", "") for e in manifest["spec"]["containers"][0].get("env") or []}
    lines = [
        f"genome step {env.get('STEP_NAME')} ({env.get('STEP_TYPE')}) of {env.get('PIPELINE_NAME')}",
        f"PIPELINE_RUNID={env.get('PIPELINE_RUNID')}",
        f"PARAMETERS={env.get('PARAMETERS')}",
    ]
    lines.append("step failed: simulated step failure" if failed else "step done")
    return lines


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
            if rest[1:] == ["log"] and self.command == "GET":
                lines_follow = (query.get("follow") or ["false"])[0].lower() == "true"
                with_timestamps = (query.get("timestamps") or ["false"])[0].lower() == "true"
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
                cluster.deleted[key] = cluster.pods.pop(key)
                self._send_json(200, cluster.pod_json(pod))
                return
            else:
                self._send_json(405, _status_body(405, "MethodNotAllowed", self.command))
                return
        # The log is written outside the lock: a followed stream takes a while.
        self._stream_log(pod, lines, follow=lines_follow, timestamps=with_timestamps)

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
