"""The embedded stack end to end through the CLI and the official Airflow client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import airflow_client.client as af
import httpx
import pytest

from tests.conftest import free_port
from tests.foundation.netprocs import group_members, is_loopback, listening_addresses
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow]

CLI = [sys.executable, "-m", "airgenome.cli.main"]


def cli(home: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    # A second stack beside the session's: its API server need not import TensorFlow & co.
    # for explanations this test never asks for (minutes of CPU on 2 cores).
    env = {**os.environ, "AIRGENOME_HOME": str(home), "AIRGENOME_EXPLAIN_PRELOAD": "none"}
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cli-stack")


def test_down_with_nothing_running(home: Path) -> None:
    result = cli(home, "down")
    assert result.returncode == 0
    assert result.stdout.strip() == "nothing was running"


def test_status_when_stopped(home: Path) -> None:
    result = cli(home, "status", "--json")
    assert result.returncode == 3
    assert json.loads(result.stdout) == {"health": None, "pids": {}, "running": False, "url": None}


@pytest.mark.parametrize(
    ("port", "message"),
    [("80", "80 is not a usable port"), ("70000", "70000 is not a usable port"), ("abc", "'abc' is not a port number")],
)
def test_bad_port_is_refused(home: Path, port: str, message: str) -> None:
    result = cli(home, "up", "--port", port)
    assert result.returncode == 2
    assert message in result.stderr
    assert not (home / "stack.json").exists()


def test_token_when_stopped_fails(home: Path) -> None:
    result = cli(home, "token")
    assert result.returncode == 1
    assert "the stack is not running" in result.stderr


def test_full_lifecycle(home: Path) -> None:
    port = free_port()
    first = cli(home, "up", "--port", str(port))
    assert first.returncode == 0, first.stderr
    url = f"http://127.0.0.1:{port}"
    assert f"Airflow is up at {url}" in first.stdout
    assert str(home / "passwords.json") in first.stdout
    state = json.loads((home / "stack.json").read_text())
    pgids = set(state["pids"].values())
    try:
        # Idempotent: a second `up` finds the same processes and starts nothing.
        second = cli(home, "up")
        assert second.returncode == 0, second.stderr
        assert "already running" in second.stderr
        assert json.loads((home / "stack.json").read_text())["pids"] == state["pids"]

        # Moving a running stack to another port is refused with the field named.
        moved = cli(home, "up", "--port", str(free_port()))
        assert moved.returncode == 1
        assert "--port: the stack is already running on port" in moved.stderr

        status = json.loads(cli(home, "status", "--json").stdout)
        assert status["running"] is True and status["healthy"] is True
        assert sorted(status["pids"]) == ["api-server", "dag-processor", "scheduler", "triggerer", "warm-runtime"]

        # A token from POST /auth/token with the generated credentials...
        passwords = json.loads((home / "passwords.json").read_text())
        response = httpx.post(
            f"{url}/auth/token", json={"username": "admin", "password": passwords["admin"]}
        )
        assert response.status_code == 201
        token = response.json()["access_token"]
        assert cli(home, "token").stdout.strip().count(".") == 2  # the CLI's token is a JWT too

        # ...drives the official apache-airflow-client: unpause, trigger, run succeeds.
        config = af.Configuration(host=url, access_token=token)
        with af.ApiClient(config) as api:
            dags = af.DAGApi(api)

            def parsed() -> bool:
                try:
                    dags.get_dag("airgenome_hello")
                except af.exceptions.NotFoundException:
                    return False
                return True

            wait_until(parsed, timeout_s=120, what="airgenome_hello to be parsed")
            dags.patch_dag("airgenome_hello", af.DAGPatchBody(is_paused=False))
            runs = af.DagRunApi(api)
            run = runs.trigger_dag_run(
                "airgenome_hello", af.TriggerDAGRunPostBody(logical_date=None, conf={"from": "test"})
            )

            def finished() -> str | None:
                state = runs.get_dag_run("airgenome_hello", run.dag_run_id).state
                return state if state in ("success", "failed") else None

            assert wait_until(finished, timeout_s=180, what="the airgenome_hello run to finish") == "success"

        # Anonymous callers get 401 from our plugin; the signed-in admin does not.
        assert httpx.get(f"{url}/airgenome/api/v1/health").status_code == 401
        signed = httpx.get(f"{url}/airgenome/api/v1/health", headers={"Authorization": f"Bearer {token}"})
        assert signed.status_code == 200

        # Everything we started listens on loopback only.
        addresses = listening_addresses(group_members(pgids))
        assert f"127.0.0.1:{port}" in addresses
        assert [a for a in addresses if not is_loopback(a)] == []
    finally:
        down = cli(home, "down")
    assert down.returncode == 0
    assert "api-server" in down.stdout
    assert group_members(pgids) == set()
    assert not (home / "stack.json").exists()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/api/v2/monitor/health", timeout=2)


def test_port_in_use_is_refused(home: Path) -> None:
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = cli(home, "up", "--port", str(port))
    assert result.returncode == 1
    assert f"--port: 127.0.0.1:{port} is already in use" in result.stderr
