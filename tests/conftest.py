"""Shared fixtures: an isolated AIRGENOME_HOME per test session, and the live stack."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

# Airflow reads its settings when first imported (at collection), so the in-process
# Airflow used by unit tests gets its own throwaway home and SQLite metadata right here.
_TEST_AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="airgenome-test-airflow-"))
_PASSWORDS = _TEST_AIRFLOW_HOME / "passwords.json"
_PASSWORDS.write_text(json.dumps({"admin": "admin-pw", "viewer": "viewer-pw"}))
os.environ.update(
    {
        "AIRFLOW_HOME": str(_TEST_AIRFLOW_HOME),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{_TEST_AIRFLOW_HOME / 'airflow.db'}",
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__AUTH_MANAGER": (
            "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
        ),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin,viewer:viewer",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(_PASSWORDS),
        "AIRFLOW__API_AUTH__JWT_SECRET": "airgenome-test-secret-" + "x" * 64,
    }
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="session")
def session_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """An AIRGENOME_HOME for the whole session: nothing touches the checkout or ~/."""
    home = tmp_path_factory.mktemp("airgenome-home")
    previous = os.environ.get("AIRGENOME_HOME")
    os.environ["AIRGENOME_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("AIRGENOME_HOME", None)
    else:
        os.environ["AIRGENOME_HOME"] = previous


@dataclass
class LiveStack:
    url: str
    home: Path
    token: str

    def token_for(self, user: str) -> str:
        from airgenome.embedded.http import fetch_token

        passwords = json.loads((self.home / "passwords.json").read_text())
        return fetch_token(self.url, user, passwords[user])


@pytest.fixture(scope="session")
def live_stack(session_home: Path) -> Iterator[LiveStack]:
    """The real embedded Airflow 3.3 (api-server, scheduler, dag-processor, triggerer).

    Started once per test session on a free port under the session's home, stopped by PID.
    """
    from airgenome.cli.stack_commands import admin_token
    from airgenome.embedded.stack import EmbeddedStack

    stack = EmbeddedStack(session_home)
    state = stack.up(port=free_port())
    try:
        token = admin_token(stack)
        _wait_for_explainer_preload(state.url, token)
        _warm_up(state.url, token)
        yield LiveStack(url=state.url, home=session_home, token=token)
    finally:
        stack.down()


def _warm_up(url: str, token: str) -> None:
    """Run the bundle's hello DAG until one run succeeds. The API server's first task costs
    seconds once (measured ~2.7 s idle, tens of seconds on 2 busy CPUs), long enough for a
    worker's execution-API calls to time out; tests start on a warmed-up stack."""
    from datetime import UTC, datetime, timedelta

    import httpx

    from tests.waiting import wait_until

    auth = {"Authorization": f"Bearer {token}"}
    dag = f"{url}/api/v2/dags/airgenome_hello"
    wait_until(lambda: httpx.get(dag, headers=auth, timeout=60).status_code == 200, timeout_s=300, what="airgenome_hello")
    httpx.patch(dag, json={"is_paused": False}, headers=auth, timeout=60).raise_for_status()
    for _attempt in range(3):
        run_after = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        created = httpx.post(f"{dag}/dagRuns", json={"logical_date": None, "run_after": run_after}, headers=auth, timeout=60)
        created.raise_for_status()
        run = f"{dag}/dagRuns/{created.json()['dag_run_id']}"

        def finished(run: str = run) -> str | None:
            state = httpx.get(run, headers=auth, timeout=60).json()["state"]
            return state if state in ("success", "failed") else None

        if wait_until(finished, timeout_s=300, what="the warm-up run") == "success":
            return
    raise AssertionError("the embedded stack could not run airgenome_hello three times in a row")


def _wait_for_explainer_preload(url: str, token: str) -> None:
    """The API server preloads the explainers' libraries (TensorFlow among them) in a thread
    that holds the GIL for tens of seconds on 2 busy CPUs; a task started meanwhile can time
    out talking to the execution API. Tests start once it is done, as a warmed-up server."""
    import httpx

    from tests.waiting import wait_until

    def preloaded() -> bool:
        try:
            response = httpx.get(
                f"{url}/airgenome/api/v1/explain/status", headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
        except httpx.TimeoutException:
            return False
        return response.status_code == 200 and bool(response.json()["preloaded"])

    wait_until(preloaded, timeout_s=600, what="the explainer preload in the API server", every_s=1.0)


@dataclass
class PluginClient:
    """The plugin app in-process, behind Airflow's real SimpleAuthManager and real JWTs."""

    client: object  # fastapi.testclient.TestClient
    tokens: dict[str, str]

    def headers(self, user: str = "admin") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}


@pytest.fixture(scope="session")
def airflow_metadata() -> Path:
    """Migrate the throwaway Airflow metadata DB once (auth checks revoked tokens in it)."""
    subprocess.run(
        [sys.executable, "-m", "airflow", "db", "migrate"],
        check=True,
        capture_output=True,
        env=dict(os.environ),
    )
    return _TEST_AIRFLOW_HOME


@pytest.fixture(scope="session")
def plugin_client(airflow_metadata: Path, session_home: Path) -> Iterator[PluginClient]:
    from airflow.api_fastapi.app import init_auth_manager
    from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
    from fastapi.testclient import TestClient

    from airgenome.plugins.app import create_app

    manager = init_auth_manager()
    tokens = {
        name: manager.generate_jwt(SimpleAuthManagerUser(username=name, role=name))
        for name in ("admin", "viewer")
    }
    with TestClient(create_app(), base_url="http://testserver/airgenome", root_path="/airgenome") as client:
        yield PluginClient(client=client, tokens=tokens)
