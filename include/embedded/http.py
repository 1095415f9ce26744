"""A small client for the embedded Airflow's REST API v2 (token, health, runs)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

HEALTHY_COMPONENTS = ("metadatabase", "scheduler", "triggerer", "dag_processor")


def health(url: str) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{url}/api/v2/monitor/health", timeout=3.0)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    body: dict[str, Any] = response.json()
    return body


def is_healthy(body: dict[str, Any] | None) -> bool:
    if not body:
        return False
    return all(
        (body.get(component) or {}).get("status") == "healthy" for component in HEALTHY_COMPONENTS
    )


class AirflowError(RuntimeError):
    pass


def fetch_token(url: str, username: str, password: str) -> str:
    response = httpx.post(
        f"{url}/auth/token", json={"username": username, "password": password}, timeout=10.0
    )
    if response.status_code not in (200, 201):
        raise AirflowError(f"POST /auth/token failed: {response.status_code} {response.text}")
    token: str = response.json()["access_token"]
    return token


class AirflowClient:
    """Just the REST calls our CLI and plugin need; tests use the official client instead."""

    def __init__(self, url: str, token: str, timeout: float = 15.0) -> None:
        self._http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=timeout
        )

    def close(self) -> None:
        self._http.close()

    def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self._http.request(method, path, **kwargs)
        if response.status_code >= 400:
            raise AirflowError(f"{method} {path}: {response.status_code} {response.text}")
        return response.json() if response.content else None

    def get_dag(self, dag_id: str) -> dict[str, Any] | None:
        response = self._http.get(f"/api/v2/dags/{dag_id}")
        if response.status_code == 404:
            return None
        if response.status_code >= 400:
            raise AirflowError(f"GET dag {dag_id}: {response.status_code} {response.text}")
        body: dict[str, Any] = response.json()
        return body

    def wait_for_dag(self, dag_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            dag = self.get_dag(dag_id)
            if dag is not None:
                return dag
            time.sleep(1.0)
        raise AirflowError(f"DAG {dag_id!r} did not appear within {timeout_s:.0f}s")

    def unpause(self, dag_id: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag_id}", json={"is_paused": False})

    def trigger(self, dag_id: str, conf: dict[str, Any] | None = None) -> str:
        # On SQLite a run starts only once run_after <= now at whole seconds (docs/architecture.md).
        run_after = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        body = {"logical_date": None, "run_after": run_after, "conf": conf or {}}
        run = self._call("POST", f"/api/v2/dags/{dag_id}/dagRuns", json=body)
        run_id: str = run["dag_run_id"]
        return run_id

    def run_state(self, dag_id: str, run_id: str) -> str:
        run = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
        state: str = run["state"]
        return state

    def wait_for_run(self, dag_id: str, run_id: str, timeout_s: float = 600.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            state = self.run_state(dag_id, run_id)
            if state in ("success", "failed"):
                return state
            time.sleep(0.5)
        raise AirflowError(f"run {run_id} of {dag_id} not finished within {timeout_s:.0f}s")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        body = self._call("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")
        return {ti["task_id"]: ti["state"] for ti in body["task_instances"]}
