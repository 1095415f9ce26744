"""On the real embedded Airflow: a component's output is an Asset event with its extra, and a
sequence scheduled on that asset runs when the upstream step produces it."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
import pytest

from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(900), pytest.mark.integration, pytest.mark.slow]


def _get(live_stack: Any, path: str, **params: Any) -> Any:
    response = httpx.get(
        f"{live_stack.url}{path}", params=params, headers={"Authorization": f"Bearer {live_stack.token}"}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()


def test_outputs_are_asset_events_and_an_asset_schedule_runs_the_consumer(live_stack: Any) -> None:
    suffix = uuid.uuid4().hex[:8]
    producer, consumer = f"produce-{suffix}", f"consume-{suffix}"
    asset = f"airgenome/{producer}/load/table"
    auth = {"Authorization": f"Bearer {live_stack.token}"}
    base = f"{live_stack.url}/airgenome/api/v1/sequences"
    consuming = {
        "pipelineName": consumer,
        "application": "tests",
        "schedule": {"assets": [asset]},
        "steps": [{"stepName": "after", "component": "genome.noop"}],
    }
    checked = httpx.post(f"{base}/validate", json=consuming, headers=auth, timeout=60)
    assert checked.status_code == 200, checked.text
    assert checked.json()["schedule"] == f"assets: {asset}"
    saved = httpx.post(base, json=consuming, headers=auth, timeout=120)
    assert saved.status_code == 201, saved.text
    wait_until(lambda: saved.json()["visible"] or _get(live_stack, f"/api/v2/dags/{consumer}"), timeout_s=60, what="the consumer DAG")
    unpaused = httpx.patch(f"{live_stack.url}/api/v2/dags/{consumer}", json={"is_paused": False}, headers=auth, timeout=30)
    assert unpaused.status_code == 200, unpaused.text

    producing = {
        "pipelineName": producer,
        "application": "tests",
        "steps": [{"stepName": "load", "component": "input.sklearn-dataset", "parameters": {"dataset": "iris", "limit": 12}}],
    }
    started = httpx.post(f"{base}/run", json=producing, headers=auth, timeout=120)
    assert started.status_code == 201, started.text
    run_id = started.json()["run_id"]

    def finished() -> str | None:
        state = _get(live_stack, f"/api/v2/dags/{producer}/dagRuns/{run_id}")["state"]
        return state if state in ("success", "failed") else None

    assert wait_until(finished, timeout_s=300, what=f"run {run_id} of {producer}") == "success"

    events = _get(live_stack, "/api/v2/assets/events", name_pattern=asset)["asset_events"]
    mine = [e for e in events if e.get("source_run_id") == run_id]
    assert len(mine) == 1, events
    extra = mine[0]["extra"]
    assert extra["kind"] == "table" and extra["rows"] == 12 and extra["component"] == "input.sklearn-dataset"
    assert extra["uri"].endswith("/load/table/table.parquet") and f"/runs/{producer}/" in extra["uri"]
    assert len(extra["sha256"]) == 64 and extra["bytes"] > 0
    assert extra["schema"]["target"] == "int64"

    def consumer_succeeded() -> list[dict[str, Any]] | None:
        runs = _get(live_stack, f"/api/v2/dags/{consumer}/dagRuns")["dag_runs"]
        done = [r for r in runs if r["state"] == "success"]
        return done or None

    runs = wait_until(consumer_succeeded, timeout_s=300, what=f"an asset-triggered run of {consumer}")
    assert runs[0]["run_type"] == "asset_triggered"
