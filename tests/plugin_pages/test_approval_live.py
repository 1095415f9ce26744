"""On the real embedded Airflow 3.3: an approval step parks in awaiting_input; a viewer's answer
is refused by Airflow; Approve through the REST API runs the next step, Reject skips it and is
recorded (by whom, when) in the evaluation store. Two runs of echo → approval → echo."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.waiting import wait_until

pytestmark = [pytest.mark.timeout(900), pytest.mark.integration, pytest.mark.slow]


def scheduler_saw_parking(home: Any, dag_id: str, run_id: str) -> bool:
    log = Path(home) / "logs" / "scheduler.log"
    wanted = f"TaskInstance Finished: dag_id={dag_id}, task_id=approve, run_id={run_id},"
    text = log.read_text(errors="replace") if log.exists() else ""
    return any(wanted in line and "state=awaiting_input" in line for line in text.splitlines())


def test_approve_and_reject_through_the_rest_api(live_stack: Any) -> None:
    auth = {"Authorization": f"Bearer {live_stack.token}"}
    viewer = {"Authorization": f"Bearer {live_stack.token_for('viewer')}"}
    dag_id = f"approve-{uuid.uuid4().hex[:8]}"
    sequence = {
        "pipelineName": dag_id,
        "application": "tests",
        "steps": [
            {"stepName": "before", "component": "genome.echo"},
            {"stepName": "approve", "approval": {"subject": "Publish?", "timeoutMinutes": 30, "default": "Reject"}},
            {"stepName": "after", "component": "genome.echo"},
        ],
    }
    started = httpx.post(f"{live_stack.url}/airgenome/api/v1/sequences/run", json=sequence, headers=auth, timeout=120)
    assert started.status_code == 201, started.text
    runs = {"Approve": started.json()["run_id"]}
    run_after = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
    second = httpx.post(f"{live_stack.url}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "run_after": run_after},
                        headers=auth, timeout=60)
    assert second.status_code == 200, second.text
    runs["Reject"] = second.json()["dag_run_id"]

    def task(run_id: str, task_id: str) -> dict[str, Any]:
        response = httpx.get(f"{live_stack.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}",
                             headers=auth, timeout=30)
        return response.json() if response.status_code == 200 else {}

    hitl = {answer: f"{live_stack.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails"
            for answer, run_id in runs.items()}
    def parked(run_id: str) -> bool:
        return task(run_id, "approve").get("state") == "awaiting_input"

    for run_id in runs.values():
        wait_until(lambda run_id=run_id: parked(run_id), timeout_s=300, what=f"the approval of {run_id} to wait for input")  # type: ignore[misc]
        # Airflow 3.3 race (seen here under load): the scheduler handles the parking process's
        # exit event seconds after the task parks; if the answer has resumed the task by then,
        # the scheduler marks it failed ("state changed externally"). Answer only once the
        # scheduler has seen that event — its log says so.
        wait_until(lambda run_id=run_id: scheduler_saw_parking(live_stack.home, dag_id, run_id), timeout_s=120,  # type: ignore[misc]
                   what=f"the scheduler to see the approval of {run_id} parked")
    detail = httpx.get(hitl["Approve"], headers=auth, timeout=30).json()
    assert detail["subject"] == "Publish?" and detail["options"] == ["Approve", "Reject"]
    assert detail["defaults"] == ["Reject"] and "**Verdict** of step `before`" in detail["body"]

    refused = httpx.patch(hitl["Approve"], json={"chosen_options": ["Approve"]}, headers=viewer, timeout=30)
    assert refused.status_code == 403, refused.text  # Airflow's own check: a viewer cannot answer
    for answer in runs:
        answered = httpx.patch(hitl[answer], json={"chosen_options": [answer]}, headers=auth, timeout=30)
        assert answered.status_code == 200, answered.text

    def settled(run_id: str) -> str | None:
        state = httpx.get(f"{live_stack.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=auth, timeout=30).json()["state"]
        return state if state in ("success", "failed") else None

    for run_id in runs.values():
        assert wait_until(lambda run_id=run_id: settled(run_id), timeout_s=300, what=f"run {run_id}") == "success"  # type: ignore[misc]
    assert task(runs["Approve"], "after")["state"] == "success"
    assert task(runs["Reject"], "after")["state"] == "skipped"
    assert task(runs["Reject"], "approve")["state"] == "success"  # an answer is not a failure

    # Each answer is an evaluation of the approval, with who answered and when.
    def recorded_runs() -> dict[str, dict] | None:
        listed = httpx.get(f"{live_stack.url}/airgenome/api/v1/evaluations",
                           params={"name": "airgenome/human-approval", "limit": 100}, headers=auth, timeout=30).json()["items"]
        found = {}
        for item in listed:
            run = httpx.get(f"{live_stack.url}/airgenome/api/v1/evaluations/{item['id']}", headers=auth, timeout=30).json()
            if run["pipelineName"] == dag_id:
                found[run["pipelineRunId"]] = run
        return found if set(found) == set(runs.values()) else None

    recorded = wait_until(recorded_runs, timeout_s=60, what="both answers recorded as evaluations")
    rejected = recorded[runs["Reject"]]
    assert (rejected["statusName"], rejected["pipelineStage"]) == ("fail", "approve")
    metrics = rejected["tasks"][0]["metrics"]
    assert (metrics["decision"], metrics["verdict"], metrics["respondedBy"]) == ("Reject", "NOT_BLESSED", "admin")
    assert metrics["respondedAt"] and recorded[runs["Approve"]]["statusName"] == "pass"
