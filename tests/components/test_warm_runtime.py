"""The warm component runtime: a real server process forking real component steps."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airgenome.components.warm import Request, read_answer, send_request
from airgenome.embedded.stack import EmbeddedStack, _alive
from airgenome.operators.step import StepFailed, StepProcess, base_environment
from tests.components.distributions import install_component_package
from tests.waiting import wait_until

# A third-party component (found through PYTHONPATH and its entry point) that shows what the
# step's process sees, then waits until told to finish or is killed.
PLUGIN = '''
import os
import time
from pathlib import Path

from pydantic import BaseModel, ConfigDict

from airgenome.components.context import Result
from airgenome.components.registry import ComponentSpec


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wait_for: str | None = None


def run(ctx, params):
    print("SEEN " + repr({k: os.environ.get(k) for k in ("SERVER_ONLY", "STEP_ONLY", "AIRFLOW__CORE__FERNET_KEY")}), flush=True)
    print("CWD " + os.getcwd(), flush=True)
    while params.wait_for and not Path(params.wait_for).exists():
        time.sleep(0.05)
    return Result(metrics={"pid": os.getpid()})


SPEC = ComponentSpec(name="transform.acme-probe", summary="shows its environment", load=lambda: run, params=Params)
'''


class Log:
    """The task logger's two methods the step process uses, recorded."""

    def __init__(self) -> None:
        self.lines: list[str] = []
        self.warnings: list[str] = []

    def info(self, message: str, *args: Any) -> None:
        self.lines.append(message % args)

    def warning(self, message: str, *args: Any) -> None:
        self.warnings.append(message % args)


@pytest.fixture(scope="module")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("acme")
    install_component_package(root, "acme_probe", "probe", PLUGIN)
    return root


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The server as the embedded stack starts it (module, socket), stopped by PID."""
    folder = tmp_path_factory.mktemp("warm")
    path = folder / "run" / "warm.sock"
    env = {**os.environ, "SERVER_ONLY": "server", "AIRFLOW__CORE__FERNET_KEY": "must-not-leak"}
    process = subprocess.Popen(
        [sys.executable, "-m", "airgenome.components.warm", "--socket", str(path), "--preload", "pandas"],
        env=EmbeddedStack._environment("warm-runtime", env),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    wait_until(path.exists, timeout_s=120, what="the warm runtime's socket")
    yield path
    process.send_signal(signal.SIGTERM)
    output = process.communicate(timeout=30)[0].decode()
    assert process.returncode == 0, output
    assert not path.exists()  # it removes its socket on the way out


@pytest.fixture
def step_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, server: Path, plugin_path: Path) -> dict[str, str]:
    monkeypatch.setenv("AIRGENOME_WARM_RUNTIME_SOCKET", str(server))
    env = base_environment()
    env.update({"STEP_ONLY": "step", "PYTHONPATH": str(plugin_path), "AIRGENOME_RESULT_PATH": str(tmp_path / "result.json")})
    return env


def test_a_forked_step_writes_its_manifest_and_streams_its_output(tmp_path: Path, step_env: dict[str, str], server: Path) -> None:
    log = Log()
    step = StepProcess(log, "noop")
    step.run_component("genome.noop", step_env, str(tmp_path))
    assert json.loads((tmp_path / "result.json").read_text())["outcome"] == "success"
    assert log.lines == ["[stdout] airgenome: genome.noop succeeded", "step 'noop' finished"]
    assert log.warnings == []
    assert step.pid is None


def test_the_step_sees_exactly_the_environment_sent_and_its_own_folder(
    tmp_path: Path, step_env: dict[str, str], server: Path
) -> None:
    log = Log()
    StepProcess(log, "probe").run_component("transform.acme-probe", step_env, str(tmp_path))
    # The server's own variables are not inherited; Airflow's secrets never reached it.
    seen = {"SERVER_ONLY": None, "STEP_ONLY": "step", "AIRFLOW__CORE__FERNET_KEY": None}
    assert f"[stdout] SEEN {seen!r}" in log.lines
    assert f"[stdout] CWD {tmp_path}" in log.lines
    manifest = json.loads((tmp_path / "result.json").read_text())
    assert manifest["component"] == "transform.acme-probe"
    assert manifest["metrics"]["pid"] != os.getpid()


@pytest.mark.parametrize(
    ("component", "parameters", "code", "tail"),
    [
        ("genome.fail", {"message": "boom", "exitCode": 7}, 7, "airgenome: genome.fail failed: boom"),
        ("genome.noop", {"skip": "not-a-bool"}, 2, "skip"),
    ],
)
def test_failures_keep_their_exit_code_and_stderr_tail(
    tmp_path: Path, step_env: dict[str, str], component: str, parameters: dict[str, Any], code: int, tail: str
) -> None:
    step_env["PARAMETERS"] = json.dumps(parameters)
    with pytest.raises(StepFailed, match=f"exited with code {code}; last stderr lines") as failed:
        StepProcess(Log(), "s").run_component(component, step_env, str(tmp_path))
    assert failed.value.exit_code == code
    assert tail in str(failed.value)


def test_terminate_kills_the_forked_step(tmp_path: Path, step_env: dict[str, str]) -> None:
    step_env["PARAMETERS"] = json.dumps({"wait_for": str(tmp_path / "never")})
    step = StepProcess(Log(), "probe")
    outcome: list[BaseException] = []

    def run() -> None:
        try:
            step.run_component("transform.acme-probe", step_env, str(tmp_path))
        except BaseException as error:  # noqa: BLE001 - handed to the test thread
            outcome.append(error)

    runner = threading.Thread(target=run)
    runner.start()
    pid = wait_until(lambda: step.pid, timeout_s=60, what="the step's pid")
    wait_until(lambda: any(line.startswith("[stdout] SEEN") for line in step.log.lines), timeout_s=60, what="the step running")
    step.terminate()
    runner.join(timeout=60)
    assert isinstance(outcome[0], StepFailed)
    assert outcome[0].exit_code == -signal.SIGTERM
    wait_until(lambda: not _alive(pid), timeout_s=30, what="the step's process to end")


def test_a_worker_that_goes_away_takes_its_step_down(tmp_path: Path, step_env: dict[str, str], server: Path) -> None:
    step_env["PARAMETERS"] = json.dumps({"wait_for": str(tmp_path / "never")})
    connection = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    connection.connect(str(server))
    out_read, out_write = os.pipe()
    send_request(connection, Request("transform.acme-probe", step_env, str(tmp_path)), [out_write, out_write])
    os.close(out_write)
    pid = (read_answer(connection.makefile("rb")) or {})["pid"]
    with os.fdopen(out_read, "rb") as output:
        assert output.readline().startswith(b"SEEN")
        assert output.readline() == b"CWD " + str(tmp_path).encode() + b"\n"  # now it waits
        connection.close()  # the task process died
        wait_until(lambda: not _alive(pid), timeout_s=30, what="the orphaned step to be killed")
        assert output.read() == b""  # end of file: the step and its pipe are gone


def test_a_malformed_request_is_refused_and_the_server_keeps_serving(tmp_path: Path, step_env: dict[str, str], server: Path) -> None:
    for garbage in (b"\x00\x00\x00\x05nope!", b"\x00\x00\x00\x02{}", b"\xff\xff\xff\xffxx"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as connection:
            connection.connect(str(server))
            connection.sendall(garbage)
            assert connection.recv(100) == b""  # closed without starting anything
    StepProcess(Log(), "noop").run_component("genome.noop", step_env, str(tmp_path))
    assert json.loads((tmp_path / "result.json").read_text())["outcome"] == "success"


def test_without_an_answering_runtime_the_step_starts_a_fresh_process(
    tmp_path: Path, step_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRGENOME_WARM_RUNTIME_SOCKET", str(tmp_path / "absent.sock"))
    log = Log()
    StepProcess(log, "noop").run_component("genome.noop", step_env, str(tmp_path))
    assert log.warnings == [f"the warm runtime at {tmp_path / 'absent.sock'} does not answer; starting a fresh process"]
    assert "[stdout] airgenome: genome.noop succeeded" in log.lines


def test_the_embedded_stack_starts_it_without_airflows_configuration(tmp_path: Path) -> None:
    stack = EmbeddedStack(tmp_path)
    env = {"AIRFLOW__CORE__FERNET_KEY": "k", "AIRFLOW_CONN_DB": "sqlite://", "AIRGENOME_HOME": str(tmp_path), "PATH": "/bin"}
    assert EmbeddedStack._environment("warm-runtime", env) == {"AIRGENOME_HOME": str(tmp_path), "PATH": "/bin"}
    assert EmbeddedStack._environment("scheduler", env) == env
    assert stack._arguments("warm-runtime", ["-m", "airgenome.components.warm"]) == [
        "-m", "airgenome.components.warm", "--socket", str(tmp_path / "run" / "warm-runtime.sock")
    ]
