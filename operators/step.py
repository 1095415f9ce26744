"""Run a Genome step locally: its component or command in a subprocess on the worker.

The ``local`` execution mode (embedded default). The subprocess gets the Genome step
environment (`airgenome.sequence.contract.step_environment`) on top of a worker environment
stripped of Airflow's own configuration and secrets (``AIRFLOW__*``, connections, variables).
Its stdout and stderr stream into the task log with the store passwords masked (a step that
prints its store URI shows ``***``); a non-zero exit fails the task with the exit code and
the tail of stderr. Construction is cheap: nothing is imported or started in __init__.
"""

from __future__ import annotations

import collections
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException

from airgenome.components.warm import Request, read_answer, send_request
from airgenome.operators.secrets import mask_store_secrets, redact
from airgenome.sequence.contract import StepContract, step_environment
from airgenome.settings import without_airflow_secrets

if TYPE_CHECKING:
    from airflow.sdk import Context

STDERR_TAIL_LINES = 20


def component_argv(component: str) -> list[str]:
    from airgenome.components.runtime import ENTRYPOINT

    return [sys.executable, *ENTRYPOINT[1:], component]


def base_environment(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    return without_airflow_secrets(os.environ if environ is None else environ)


class StepFailed(AirflowException):
    """The step's process exited non-zero (Airflow retries it per the step's `retry`)."""

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class StepProcess:
    """One step's subprocess: streamed into the task log (store passwords masked), its own
    process group (a timeout or kill takes the whole step down), the stderr tail kept for the
    error. Shared by the step operator and the component operators."""

    def __init__(self, log: Any, step_name: str) -> None:
        self.log = log
        self.step_name = step_name
        self.process: subprocess.Popen[bytes] | None = None
        self.pid: int | None = None  # the step's pid when the warm runtime forked it
        self.secrets: list[str] = []

    def run_component(self, component: str, env: dict[str, str], workdir: str) -> None:
        """Run a component step: forked by the warm runtime when one answers on the
        configured socket, else in a fresh Python (the same entrypoint, the same isolation)."""
        socket_path = warm_runtime_socket()
        if socket_path is not None:
            connection = connect_warm_runtime(socket_path)
            if connection is not None:
                self._run_warm(connection, component, env, workdir)
                return
            self.log.warning("the warm runtime at %s does not answer; starting a fresh process", socket_path)
        self.run(component_argv(component), env, workdir)

    def run(self, argv: list[str], env: dict[str, str], workdir: str) -> None:
        self.secrets = mask_store_secrets()
        try:
            process = subprocess.Popen(
                argv,
                env=env,
                cwd=workdir,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,  # its own process group, so a timeout kills it all
            )
        except OSError as error:
            raise StepFailed(f"step {self.step_name!r} could not start {argv[0]!r}: {error}") from error
        self.process = process
        self._supervise(process.stdout, process.stderr, process.wait)

    def _run_warm(self, connection: socket.socket, component: str, env: dict[str, str], workdir: str) -> None:
        self.secrets = mask_store_secrets()
        with connection:
            out_read, out_write = os.pipe()
            err_read, err_write = os.pipe()
            try:
                send_request(connection, Request(component=component, env=env, cwd=workdir), [out_write, err_write])
            except OSError as error:
                for fd in (out_read, err_read):
                    os.close(fd)
                raise StepFailed(f"step {self.step_name!r}: the warm runtime refused the step: {error}") from error
            finally:  # the child holds the write ends now: EOF comes when it exits
                os.close(out_write)
                os.close(err_write)
            answers = connection.makefile("rb")
            first = read_answer(answers)
            if first is None or "pid" not in first:
                for fd in (out_read, err_read):
                    os.close(fd)
                raise StepFailed(f"step {self.step_name!r}: the warm runtime did not start the step")
            self.pid = int(first["pid"])

            def wait() -> int:
                last = read_answer(answers)
                if last is None or "returncode" not in last:
                    raise StepFailed(f"step {self.step_name!r}: the warm runtime stopped during the step")
                return int(last["returncode"])

            try:
                self._supervise(os.fdopen(out_read, "rb"), os.fdopen(err_read, "rb"), wait)
            finally:
                self.pid = None

    def _supervise(self, stdout: IO[bytes] | None, stderr: IO[bytes] | None, wait: Callable[[], int]) -> None:
        """Stream both outputs into the task log while waiting for the exit code."""
        tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        readers = [
            threading.Thread(target=self._pump, args=(stdout, "stdout", None), daemon=True),
            threading.Thread(target=self._pump, args=(stderr, "stderr", tail), daemon=True),
        ]
        for reader in readers:
            reader.start()
        try:
            code = wait()
        except BaseException:  # the task's execution_timeout or a kill: take the step down too
            self.terminate()
            raise
        finally:
            for reader in readers:
                reader.join(timeout=5)
            self.process = None
        if code != 0:
            stderr_tail = "\n".join(tail) or "(no stderr)"
            raise StepFailed(
                f"step {self.step_name!r} exited with code {code}; last stderr lines:\n{stderr_tail}",
                exit_code=code,
            )
        self.log.info("step %r finished", self.step_name)

    def _pump(self, stream: IO[bytes] | None, name: str, tail: collections.deque[str] | None) -> None:
        if stream is None:
            return
        for raw in stream:
            line = redact(raw.decode("utf-8", errors="replace").rstrip("\n"), self.secrets)
            if tail is not None:
                tail.append(line)
            self.log.info("[%s] %s", name, line)

    def terminate(self) -> None:
        if self.pid is not None:  # a warm-runtime child leads its own session
            _kill_group(self.pid)
            return
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def warm_runtime_socket() -> Path | None:
    from airgenome import settings

    return settings.path("warm_runtime_socket")


def connect_warm_runtime(path: Path) -> socket.socket | None:
    """A connection to the warm runtime, or None when nothing answers there."""
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        connection.connect(str(path))
    except OSError:
        connection.close()
        return None
    return connection


def _kill_group(pid: int) -> None:
    try:
        os.killpg(pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):
        pass


class GenomeStepOperator(BaseOperator):
    """A Genome step run as a subprocess of the worker."""

    # Nothing from a spec is a Jinja template (the validator rejects {{ and {% as well).
    template_fields = ()
    ui_color = "#e8f3e1"

    def __init__(
        self,
        *,
        contract: StepContract,
        component: str | None = None,
        command: list[str] | None = None,
        args: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if (component is None) == (command is None):
            raise ValueError(f"{self.task_id}: give exactly one of component or command")
        self.contract = contract
        self.component = component
        self.command = list(command) if command is not None else None
        self.args = list(args) if args is not None else []
        self._step: StepProcess | None = None

    def argv(self) -> list[str]:
        head = self.command if self.command is not None else component_argv(str(self.component))
        return [*head, *self.args]

    def execute(self, context: Context) -> None:
        dag_run = context.get("dag_run")
        conf = getattr(dag_run, "conf", None) or {}
        run_id = str(context.get("run_id") or getattr(dag_run, "run_id", ""))
        env = base_environment()
        env.update(step_environment(self.contract, run_id, conf))
        argv = self.argv()
        self.log.info("running step %r: %s", self.contract.step_name, argv)
        self._step = StepProcess(self.log, self.contract.step_name)
        with tempfile.TemporaryDirectory(prefix="airgenome-step-") as workdir:
            # No XCom: steps hand data over via the stores.
            if self.component is not None and not self.args:
                self._step.run_component(self.component, env, workdir)
            else:
                self._step.run(argv, env, workdir)

    def on_kill(self) -> None:
        if self._step is not None:
            self._step.terminate()
