"""A warm component runtime: one long-lived process that forks a child per component step.

A component step in local mode used to start a fresh Python (interpreter, pydantic, the
registry, pandas) for every step: ~1 s on a quiet machine, 4-5 s on a busy one, most of a
no-op step's cost. This server imports all of that once, then forks a child per request. The
child is as isolated as the old subprocess:

- the server is started with a scrubbed environment (no ``AIRFLOW__*``, connections or
  variables) and never imports Airflow, so no Airflow secret is in its memory to inherit;
- each child gets exactly the environment the worker sends (the step contract, inputs,
  output location) and the worker's own stdout/stderr pipes, passed over the Unix socket
  (SCM_RIGHTS), so the task log streams and masks as before;
- each child runs in its own session: the worker kills its process group on timeout or
  ``on_kill``, and the server kills it when the worker's connection drops.

The socket lives under the embedded home with owner-only permissions: whoever can connect can
already run Python as this user. Nothing here imports Airflow.

Protocol (one connection per step): the worker sends a 4-byte big-endian length, then a JSON
request ``{"component", "env", "cwd"}``, with two file descriptors (stdout, stderr) attached to
the first bytes; the server answers JSON lines ``{"pid": N}`` then ``{"returncode": N}``
(negative: killed by that signal, as `subprocess.Popen.returncode`).

    python -m airgenome.components.warm --socket PATH [--preload pandas,pyarrow]
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import selectors
import signal
import socket
import struct
import sys
import traceback
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from airgenome.components.runtime import flush_and_exit

HEADER = struct.Struct(">I")
MAX_REQUEST_BYTES = 4 * 1024 * 1024
# What every component step imports; loaded once here so a child starts with it in memory.
# TensorFlow is not among them: its runtime is not fork-safe once initialised, and the
# steps that need it spend seconds in training or attacks, not in starting.
CORE_MODULES = (
    "airgenome.components.runtime",
    "airgenome.components.catalogue",
    "airgenome.components.lake",
    "airgenome.components.discovery",
    "airgenome.components.descriptor",
)
# The data libraries, and what blessing, approval and publishing steps record with (MLflow's
# client and the evaluation store: 2-5 s of imports per step on busy CPUs). None of them starts
# a thread on import; numpy's BLAS pool is fork-aware.
DEFAULT_PRELOAD = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "airgenome.components.data.tables",
    "mlflow.tracking",
    "airgenome.models.client",
    "airgenome.models.mlflow_backend",
    "airgenome.evaluations.store",
    "airgenome.evaluations.sdk",
)


class ProtocolError(ValueError):
    """A request the server cannot use (it answers nothing and closes the connection)."""


@dataclass(frozen=True)
class Request:
    component: str
    env: dict[str, str]
    cwd: str

    def encode(self) -> bytes:
        body = json.dumps({"component": self.component, "env": self.env, "cwd": self.cwd}).encode()
        return HEADER.pack(len(body)) + body

    @classmethod
    def decode(cls, body: bytes) -> Request:
        try:
            data = json.loads(body)
        except ValueError as error:
            raise ProtocolError(f"request is not JSON: {error}") from None
        if not isinstance(data, dict):
            raise ProtocolError("request must be a JSON object")
        component, env, cwd = data.get("component"), data.get("env"), data.get("cwd")
        if not isinstance(component, str) or not component:
            raise ProtocolError("component: must be a non-empty string")
        if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
            raise ProtocolError("env: must be an object of strings")
        if not isinstance(cwd, str) or not os.path.isabs(cwd):
            raise ProtocolError("cwd: must be an absolute path")
        return cls(component=component, env=dict(env), cwd=cwd)


def send_request(conn: socket.socket, request: Request, fds: list[int]) -> None:
    """The worker's side: the request, with its stdout and stderr descriptors attached."""
    data = request.encode()
    sent = socket.send_fds(conn, [data], fds)
    if sent < len(data):
        conn.sendall(data[sent:])


def read_answer(answers: IO[bytes]) -> dict[str, int] | None:
    """The server's next answer line, or None when it closed the connection."""
    line = answers.readline()
    if not line:
        return None
    try:
        answer = json.loads(line)
    except ValueError:
        return None
    return answer if isinstance(answer, dict) else None


def read_request(conn: socket.socket) -> tuple[Request, list[int]]:
    """The request and the two descriptors (stdout, stderr) that came with it."""
    data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 2)
    try:
        if len(data) < HEADER.size:
            raise ProtocolError("request too short")
        (size,) = HEADER.unpack_from(data)
        if size > MAX_REQUEST_BYTES:
            raise ProtocolError(f"request of {size} bytes is over {MAX_REQUEST_BYTES}")
        body = bytearray(data[HEADER.size :])
        while len(body) < size:
            chunk = conn.recv(min(65536, size - len(body)))
            if not chunk:
                raise ProtocolError("connection closed mid-request")
            body.extend(chunk)
        if len(fds) != 2:
            raise ProtocolError(f"expected 2 descriptors (stdout, stderr), got {len(fds)}")
        return Request.decode(bytes(body)), fds
    except BaseException:
        for fd in fds:
            os.close(fd)
        raise


def preload(modules: Iterable[str]) -> list[str]:
    """Import each module; one that fails is reported, not fatal (its steps import it late)."""
    problems = []
    for name in modules:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - a missing optional library only costs time
            problems.append(f"{name}: {type(error).__name__}: {error}")
    return problems


def _child(request: Request, fds: list[int], inherited: Sequence[socket.socket | int | selectors.BaseSelector]) -> None:
    """In the forked child: become the step's process, run the component, never return."""
    code = 1
    try:
        os.setsid()
        for resource in inherited:  # the server's sockets, pidfds and selector are not the step's
            if isinstance(resource, int):
                os.close(resource)
            else:
                resource.close()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.dup2(fds[0], 1)
        os.dup2(fds[1], 2)
        for fd in (devnull, *fds):
            os.close(fd)
        os.chdir(request.cwd)
        os.environ.clear()
        os.environ.update(request.env)
        # A fresh Python would put the step's PYTHONPATH first on sys.path; so does the child
        # (third-party components installed beside the worker's code are found the same way).
        extra = [p for p in request.env.get("PYTHONPATH", "").split(os.pathsep) if p and p not in sys.path]
        sys.path[1:1] = extra
        import tempfile

        tempfile.tempdir = None  # TMPDIR is the request's, not the server's
        sys.argv = ["airgenome.components.runtime", request.component]
        from airgenome.components.runtime import main

        code = main([request.component], environ=os.environ)
    except SystemExit as stop:
        code = stop.code if isinstance(stop.code, int) else 1
    except BaseException:  # noqa: BLE001 - the child must end here, whatever happened
        traceback.print_exc()
        code = 1
    finally:
        # Not `exit_with`: the exit handlers here are the server's, inherited by the fork.
        flush_and_exit(code)


@dataclass
class _Step:
    conn: socket.socket
    pid: int
    pidfd: int


@dataclass
class Server:
    """Accepts step requests on a Unix socket and forks a child per request."""

    socket_path: Path
    selector: selectors.BaseSelector = field(default_factory=selectors.DefaultSelector)
    steps: dict[int, _Step] = field(default_factory=dict)  # pidfd -> step
    stopping: bool = False

    def serve(self) -> None:
        listener = self._listen()
        self.selector.register(listener, selectors.EVENT_READ, "accept")
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)
        print(f"airgenome warm runtime: serving on {self.socket_path} (pid {os.getpid()})", flush=True)
        try:
            while not self.stopping:
                for key, _ in self.selector.select(timeout=1.0):
                    if key.data == "accept":
                        self._accept(listener)
                    elif key.data == "exit":
                        self._finished(key.fd)
                    else:
                        self._dropped(key.data)
        finally:
            for step in list(self.steps.values()):
                _kill_group(step.pid, signal.SIGTERM)
            listener.close()
            self.socket_path.unlink(missing_ok=True)

    def _stop(self, _signum: int, _frame: object) -> None:
        self.stopping = True

    def _listen(self) -> socket.socket:
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        self.socket_path.unlink(missing_ok=True)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        previous = os.umask(0o177)  # the socket file is the owner's only
        try:
            listener.bind(str(self.socket_path))
        finally:
            os.umask(previous)
        listener.listen(64)
        return listener

    def _accept(self, listener: socket.socket) -> None:
        conn, _ = listener.accept()
        conn.settimeout(10)
        try:
            request, fds = read_request(conn)
        except (ProtocolError, OSError) as error:
            print(f"airgenome warm runtime: refused a request: {error}", file=sys.stderr, flush=True)
            conn.close()
            return
        sys.stdout.flush()
        sys.stderr.flush()
        pid = os.fork()
        if pid == 0:
            _child(request, fds, self._descriptors(listener, conn))
        for fd in fds:
            os.close(fd)
        pidfd = os.pidfd_open(pid)
        step = _Step(conn=conn, pid=pid, pidfd=pidfd)
        self.steps[pidfd] = step
        self.selector.register(pidfd, selectors.EVENT_READ, "exit")
        self.selector.register(conn, selectors.EVENT_READ, step)
        self._send(step, {"pid": pid})

    def _descriptors(self, listener: socket.socket, conn: socket.socket) -> list[socket.socket | int | selectors.BaseSelector]:
        held: list[socket.socket | int | selectors.BaseSelector] = [conn, listener, self.selector]
        for step in self.steps.values():
            held.extend((step.conn, step.pidfd))
        return held

    def _finished(self, pidfd: int) -> None:
        step = self.steps.pop(pidfd)
        _, status = os.waitpid(step.pid, 0)
        returncode = -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)
        self._send(step, {"returncode": returncode})
        self._close(step)

    def _dropped(self, step: _Step) -> None:
        """The worker's end became readable. Workers send nothing after the request, so this
        is its end of file (a killed task): take its step down; the exit is reaped as usual."""
        try:
            gone = step.conn.recv(4096, socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            gone = False
        except OSError:
            gone = True
        if gone:
            self.selector.unregister(step.conn)
            _kill_group(step.pid, signal.SIGTERM)

    def _send(self, step: _Step, message: dict[str, int]) -> None:
        try:
            step.conn.sendall(json.dumps(message).encode() + b"\n")
        except OSError:
            pass  # the worker went away; its step is (being) killed

    def _close(self, step: _Step) -> None:
        for resource in (step.pidfd, step.conn):
            try:
                self.selector.unregister(resource)
            except (KeyError, ValueError):
                pass
        os.close(step.pidfd)
        step.conn.close()


def _kill_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airgenome.components.warm", description=__doc__.split("\n")[0])
    parser.add_argument("--socket", required=True, type=Path, help="the Unix socket to serve on")
    parser.add_argument("--preload", default=",".join(DEFAULT_PRELOAD), help="comma-separated modules to import once")
    args = parser.parse_args(argv)
    modules = [*CORE_MODULES, *(m.strip() for m in args.preload.split(",") if m.strip())]
    for problem in preload(modules):
        print(f"airgenome warm runtime: not preloaded: {problem}", file=sys.stderr, flush=True)
    try:
        # Built once, inherited by every child; a child whose import path or descriptor folder
        # differs rebuilds its own (`Registry.refresh`).
        from airgenome.components.registry import REGISTRY

        REGISTRY.refresh()
    except Exception as error:  # noqa: BLE001 - each child then builds its own
        print(f"airgenome warm runtime: registry not built: {type(error).__name__}: {error}", file=sys.stderr, flush=True)
    Server(args.socket).serve()
    return 0


if __name__ == "__main__":
    sys.exit(main())
