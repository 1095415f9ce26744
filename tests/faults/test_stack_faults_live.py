"""Faults on the real embedded Airflow (the session's `live_stack`): the scheduler SIGKILLed
mid-run or while a task is only queued, and the API server killed during sequence uploads. Each test leaves the stack as it
found it: the component is restarted (its new PID in the state file) and healthy again."""

from __future__ import annotations

import json
import sys
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from airgenome.embedded.config import PARALLELISM
from tests.conftest import LiveStack, _wait_for_explainer_preload
from tests.faults import stack_control
from tests.waiting import wait_until

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]

HOLD = "import os, sys, time\nwhile not os.path.exists(sys.argv[1]): time.sleep(0.1)"
# Appends the step's name to a file: one line per time the step really ran.
RECORD = "import sys\nwith open(sys.argv[1], 'a') as runs: runs.write(sys.argv[2] + '\\n')"


def _auth(stack: LiveStack) -> dict[str, str]:
    return {"Authorization": f"Bearer {stack.token}"}


def _task_instances(stack: LiveStack, dag_id: str, run_id: str) -> dict[str, dict[str, Any]]:
    response = httpx.get(f"{stack.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances",
                         headers=_auth(stack), timeout=60)
    response.raise_for_status()
    return {ti["task_id"]: ti for ti in response.json()["task_instances"]}


def _run_state(stack: LiveStack, dag_id: str, run_id: str) -> str:
    response = httpx.get(f"{stack.url}/api/v2/dags/{dag_id}/dagRuns/{run_id}", headers=_auth(stack), timeout=60)
    response.raise_for_status()
    return str(response.json()["state"])


def _delete(stack: LiveStack, dag_id: str) -> None:
    httpx.delete(f"{stack.url}/airgenome/api/v1/sequences/{dag_id}", headers=_auth(stack), timeout=60)


@pytest.fixture
def scheduler_restored(live_stack: LiveStack) -> Iterator[LiveStack]:
    yield live_stack
    stack_control.ensure_running(live_stack.home, "scheduler")


def test_the_scheduler_killed_mid_run_and_restarted_completes_the_run(scheduler_restored: LiveStack) -> None:
    """`hold` runs until a gate file exists. The scheduler is SIGKILLed (its PID only) while
    `hold` runs; the gate opens; `hold` finishes on its worker and reports to the API server, but
    nothing schedules `after` until a new scheduler starts. Then the run completes, each task
    having run exactly once."""
    stack = scheduler_restored
    name = f"faults-scheduler-{uuid.uuid4().hex[:8]}"
    gate = stack.home / "faults" / f"{name}.gate"
    gate.parent.mkdir(exist_ok=True)
    spec = {
        "pipelineName": name,
        "application": "faults",
        "steps": [
            {"stepName": "hold", "command": [sys.executable, "-c", HOLD], "args": [str(gate)],
             "timeout": "300s", "retry": "0"},
            {"stepName": "after", "component": "genome.noop", "retry": "0"},
            {"stepName": "last", "component": "genome.noop", "retry": "0"},
        ],
    }
    response = httpx.post(f"{stack.url}/airgenome/api/v1/sequences/run", json=spec, headers=_auth(stack),
                          timeout=180)
    assert response.status_code == 201, response.text
    run_id = response.json()["run_id"]
    old_scheduler: int | None = None
    try:
        wait_until(lambda: _task_instances(stack, name, run_id)["hold"]["state"] == "running",
                   timeout_s=300, what="hold to run")

        old_scheduler = stack_control.kill(stack.home, "scheduler", group=False)
        gate.touch()
        wait_until(lambda: _task_instances(stack, name, run_id)["hold"]["state"] == "success",
                   timeout_s=120, what="hold to finish without a scheduler")
        # Nothing schedules the rest while the scheduler is dead.
        assert _run_state(stack, name, run_id) == "running"
        assert _task_instances(stack, name, run_id)["after"]["state"] is None

        stack_control.restart(stack.home, "scheduler")
        final = wait_until(
            lambda: (state := _run_state(stack, name, run_id)) in ("success", "failed") and state,
            timeout_s=300, what="the run to finish under the new scheduler")

        assert final == "success"
        tis = _task_instances(stack, name, run_id)
        assert {task: (ti["state"], ti["try_number"]) for task, ti in tis.items()} == {
            "hold": ("success", 1), "after": ("success", 1), "last": ("success", 1),
        }
    finally:
        gate.touch()
        if old_scheduler is not None:
            stack_control.kill_leftovers(old_scheduler)  # its orphaned LocalExecutor workers
        _delete(stack, name)


def _running_scheduler_jobs(stack: LiveStack) -> list[dict[str, Any]]:
    response = httpx.get(f"{stack.url}/api/v2/jobs", headers=_auth(stack), timeout=60,
                         params={"job_type": "SchedulerJob", "job_state": "running", "limit": 100})
    response.raise_for_status()
    return list(response.json()["jobs"])


def test_the_scheduler_killed_while_a_task_is_queued_completes_the_run_each_task_once(
    scheduler_restored: LiveStack,
) -> None:
    """`first` is QUEUED but never starts: the scheduler's LocalExecutor workers are SIGSTOPped
    before the run is triggered, so none takes it from the executor. Then the scheduler and its
    workers are SIGKILLed (its process group, as when its container dies): the queued task is
    lost with them. Airflow resets it only once the dead
    scheduler's heartbeat is older than `scheduler_health_check_threshold`; a scheduler started
    after that resets it at its start. The run then completes, each step having run once."""
    from airflow.configuration import conf

    stack = scheduler_restored
    name = f"faults-queued-{uuid.uuid4().hex[:8]}"
    runs = stack.home / "faults" / f"{name}.runs"
    runs.parent.mkdir(exist_ok=True)
    spec = {
        "pipelineName": name,
        "application": "faults",
        "steps": [
            {"stepName": step, "command": [sys.executable, "-c", RECORD], "args": [str(runs), step],
             "timeout": "300s", "retry": "0"}
            for step in ("first", "second")
        ],
    }
    workers = stack_control.executor_workers(stack_control.pid_of(stack.home, "scheduler"))
    assert len(workers) == PARALLELISM, workers  # forked at the executor's start, all idle now
    stack_control.pause(workers)
    paused = True
    try:
        response = httpx.post(f"{stack.url}/airgenome/api/v1/sequences/run", json=spec, headers=_auth(stack),
                              timeout=180)
        assert response.status_code == 201, response.text
        run_id = response.json()["run_id"]
        wait_until(lambda: _task_instances(stack, name, run_id)["first"]["state"] == "queued",
                   timeout_s=300, what="first to be queued")

        stack_control.kill(stack.home, "scheduler", group=True)  # with its (paused) workers
        paused = False
        assert _task_instances(stack, name, run_id)["first"]["state"] == "queued"
        assert not runs.exists()  # nothing ran it

        # The scheduler started next resets the orphan only if every dead scheduler's heartbeat
        # is older than the threshold (else it waits for orphaned_tasks_check_interval, 300 s).
        threshold = timedelta(seconds=conf.getint("scheduler", "scheduler_health_check_threshold"))
        wait_until(
            lambda: all(datetime.fromisoformat(job["latest_heartbeat"]) < datetime.now(UTC) - threshold
                        for job in _running_scheduler_jobs(stack)),
            timeout_s=300, what="the dead scheduler's heartbeat to pass the health-check threshold", every_s=1)
        stack_control.restart(stack.home, "scheduler")
        final = wait_until(
            lambda: (state := _run_state(stack, name, run_id)) in ("success", "failed") and state,
            timeout_s=300, what="the run to finish under the new scheduler")

        assert final == "success"
        assert runs.read_text().splitlines() == ["first", "second"]  # each step ran exactly once
        tis = _task_instances(stack, name, run_id)
        # The reset counts as a try: `first` succeeded on try 2; try 1 never ran.
        assert {task: (ti["state"], ti["try_number"]) for task, ti in tis.items()} == {
            "first": ("success", 2), "second": ("success", 1),
        }
        tries = httpx.get(f"{stack.url}/api/v2/dags/{name}/dagRuns/{run_id}/taskInstances/first/tries",
                          headers=_auth(stack), timeout=60).json()["task_instances"]
        # Airflow archives the reset try as failed, though it never started (no start date).
        assert [(t["try_number"], t["state"], t["start_date"] is None) for t in tries] == [
            (1, "failed", True), (2, "success", False),
        ]
    finally:
        if paused:
            stack_control.resume(workers)  # the scheduler lives on: let its workers run again
        _delete(stack, name)


def _sequence(name: str) -> dict[str, Any]:
    return {"pipelineName": name, "application": "faults",
            "steps": [{"stepName": "noop", "component": "genome.noop", "retry": "0"}]}


@pytest.fixture
def api_server_restored(live_stack: LiveStack) -> Iterator[LiveStack]:
    yield live_stack
    _api_server_up(live_stack)


def _api_server_up(stack: LiveStack) -> None:
    """Running, healthy and preloaded, as the session's stack was before the test."""
    from airgenome.embedded.stack import EmbeddedStack

    stack_control.ensure_running(stack.home, "api-server")
    state = EmbeddedStack(stack.home).load_state()
    assert state is not None
    EmbeddedStack(stack.home)._wait_healthy(state)
    _wait_for_explainer_preload(stack.url, stack.token)


def test_the_api_server_killed_during_uploads_leaves_each_sequence_whole_or_absent(
    api_server_restored: LiveStack,
) -> None:
    """Two uploads are in flight when the API server is SIGKILLed (its whole process group):
    `whole` was received and written (the server is waiting for Airflow to parse it), `half` has
    sent half of its body. Afterwards `whole` is the complete file and `half` is absent, with no
    temporary file left; after the restart both retries succeed."""
    stack = api_server_restored
    uploads = stack.home / "uploads"
    whole, half = (f"faults-upload-{kind}-{uuid.uuid4().hex[:8]}" for kind in ("whole", "half"))
    url = f"{stack.url}/airgenome/api/v1/sequences"
    headers = {**_auth(stack), "Content-Type": "application/json"}
    half_body = json.dumps(_sequence(half)).encode()
    half_sent, release = threading.Event(), threading.Event()
    outcomes: dict[str, Any] = {}

    def body() -> Iterator[bytes]:
        yield half_body[: len(half_body) // 2]
        half_sent.set()
        release.wait(timeout=600)
        yield half_body[len(half_body) // 2:]

    def upload(key: str, **request: Any) -> None:
        try:
            outcomes[key] = httpx.post(url, headers=headers, timeout=600, **request)
        except httpx.HTTPError as error:
            outcomes[key] = error

    threads = [
        threading.Thread(target=upload, args=("half",), kwargs={"content": body()}, daemon=True),
        threading.Thread(target=upload, args=("whole",), kwargs={"json": _sequence(whole)}, daemon=True),
    ]
    try:
        threads[0].start()
        assert half_sent.wait(timeout=120), "the first half of the body was never sent"
        threads[1].start()
        wait_until(lambda: (uploads / f"{whole}.json").is_file(), timeout_s=120,
                   what="the whole upload's file", every_s=0.02)

        stack_control.kill(stack.home, "api-server", group=True)
        release.set()
        for thread in threads:
            thread.join(timeout=120)

        # What the clients saw: the half upload's connection broke (no answer, nothing stored);
        # the whole one's too, unless Airflow parsed it and the 201 left before the kill.
        assert isinstance(outcomes["half"], httpx.TransportError), outcomes["half"]
        answered = outcomes["whole"]
        assert isinstance(answered, httpx.TransportError) or answered.status_code == 201, answered
        # The whole upload is complete on disk, exactly what was sent (createdAt stamped); the half
        # one is absent, and no temporary file is left.
        stored = json.loads((uploads / f"{whole}.json").read_text())
        assert {k: v for k, v in stored.items() if k != "createdAt"} == _sequence(whole)
        assert not (uploads / f"{half}.json").exists()
        assert sorted(p.name for p in uploads.glob(".*.tmp")) == []

        stack_control.restart(stack.home, "api-server")
        _api_server_up(stack)

        retried = {name: httpx.post(url, json=_sequence(name), headers=_auth(stack), timeout=180)
                   for name in (whole, half)}
        assert retried[whole].status_code == 201, retried[whole].text
        assert retried[whole].json()["replaced"] is True
        assert retried[half].status_code == 201, retried[half].text
        assert retried[half].json()["replaced"] is False
        for name in (whole, half):
            shown = httpx.get(f"{url}/{name}", headers=_auth(stack), timeout=60)
            assert shown.status_code == 200, shown.text
    finally:
        release.set()
        _api_server_up(stack)
        for name in (whole, half):
            _delete(stack, name)


