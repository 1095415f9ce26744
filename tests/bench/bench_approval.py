"""Approve in the API -> the publishing step running (goal, issue 12: p95 <= 3 s on the embedded stack).

Starts its own embedded stack (free port, temp home, a temp DAG bundle holding the sequence
loader and two sequences) and, for R runs each:

- ``approval_bench``: ``before`` (genome.noop) -> ``approve`` (an approval step) -> ``publish``
  (genome.noop). Once ``approve`` parks in ``awaiting_input`` (and the scheduler has logged the
  parking process's exit, plus 1 s: an earlier answer can fail the task on 3.3), the bench
  answers Approve through
  ``PATCH .../hitlDetails`` and measures the time from just before that call to the moment
  Airflow records ``publish``'s start.
- the anchor, ``chain_bench``: ``first`` -> ``second`` (genome.noop): the time from ``first``'s
  end to ``second``'s start, i.e. what the scheduler costs for any dependency on this machine.

Prints median and p95 of both and the difference. Prints only; never asserts. Stops the stack
by PID.

    .venv/bin/python tests/bench/bench_approval.py [--runs 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.bench.bench_component_overhead import Client as ChainClient  # noqa: E402
from tests.bench.bench_component_overhead import _parse as _at  # noqa: E402

SETTLE_S = 1.0


def _bundle(folder: Path) -> None:
    (folder / "sequences").mkdir(parents=True)
    for name in ("sequences_loader.py", "sequences_errors.py"):
        shutil.copy(ROOT / "dags" / name, folder / name)
    sequences = {
        "approval_bench": [
            {"stepName": "before", "component": "genome.noop"},
            {"stepName": "approve", "approval": {"subject": "Publish?", "timeoutMinutes": 30, "default": "Reject"}},
            {"stepName": "publish", "component": "genome.noop"},
        ],
        "chain_bench": [
            {"stepName": "first", "component": "genome.noop"},
            {"stepName": "second", "component": "genome.noop"},
        ],
    }
    for name, steps in sequences.items():
        body = {"pipelineName": name, "application": "bench", "steps": steps}
        (folder / "sequences" / f"{name}.json").write_text(json.dumps(body))


class Client(ChainClient):
    """The no-op chain bench's client (DAG wait, unpause) plus single-task reads."""

    def trigger(self, dag_id: str) -> str:
        run_after = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        created = self.http.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "run_after": run_after})
        created.raise_for_status()
        return str(created.json()["dag_run_id"])

    def task(self, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")
        return dict(response.json()) if response.status_code == 200 else {}

    def wait_task(self, dag_id: str, run_id: str, task_id: str, done: Any, timeout_s: float = 600,
                  poll_s: float = 0.2) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = self.task(dag_id, run_id, task_id)
            if done(found):
                return found
            time.sleep(poll_s)
        raise SystemExit(f"{dag_id} {run_id} {task_id}: not there within {timeout_s:.0f}s")


def scheduler_saw_parking(home: Path, dag_id: str, run_id: str) -> bool:
    """Airflow 3.3 race: answer only after the scheduler handled the parking process's exit
    event, or it marks the resumed task failed (tests/plugin_pages/test_approval_live.py)."""
    log = home / "logs" / "scheduler.log"
    wanted = f"TaskInstance Finished: dag_id={dag_id}, task_id=approve, run_id={run_id},"
    text = log.read_text(errors="replace") if log.exists() else ""
    return any(wanted in line and "state=awaiting_input" in line for line in text.splitlines())


def approve_to_publish(client: Client, home: Path) -> float:
    dag_id = "approval_bench"
    run_id = client.trigger(dag_id)
    client.wait_task(dag_id, run_id, "approve", lambda t: t.get("state") == "awaiting_input")
    deadline = time.monotonic() + 120
    while not scheduler_saw_parking(home, dag_id, run_id) and time.monotonic() < deadline:
        time.sleep(0.2)
    time.sleep(SETTLE_S)
    sent = datetime.now(UTC)
    answered = client.http.patch(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/approve/-1/hitlDetails",
                                 json={"chosen_options": ["Approve"]})
    answered.raise_for_status()
    publish = client.wait_task(dag_id, run_id, "publish", lambda t: t.get("start_date"), poll_s=0.05)
    client.wait_task(dag_id, run_id, "publish", lambda t: t.get("state") in ("success", "failed"))
    return (_at(publish["start_date"]) - sent).total_seconds()


def dependency_gap(client: Client) -> float:
    dag_id = "chain_bench"
    run_id = client.trigger(dag_id)
    second = client.wait_task(dag_id, run_id, "second", lambda t: t.get("state") in ("success", "failed"))
    first = client.task(dag_id, run_id, "first")
    return (_at(second["start_date"]) - _at(first["end_date"])).total_seconds()


def summary(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(values):6.2f} s  p95 {p95:6.2f} s  (n={len(values)})"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=10)
    args = parser.parse_args()

    from airgenome.cli.stack_commands import admin_token
    from airgenome.embedded.stack import EmbeddedStack
    from tests.bench.bench_upload import free_port

    home = Path(tempfile.mkdtemp(prefix="airgenome-bench-approval-"))
    _bundle(home / "bundle")
    os.environ["AIRGENOME_DAGS_FOLDER"] = str(home / "bundle")
    os.environ["AIRGENOME_UPLOADS_FOLDER"] = str(home / "uploads")
    stack = EmbeddedStack(home / "home")
    state = stack.up(port=free_port())
    approvals: list[float] = []
    gaps: list[float] = []
    try:
        client = Client(state.url, admin_token(stack))
        for dag_id in ("approval_bench", "chain_bench"):
            client.wait_dag(dag_id)
        approve_to_publish(client, home / "home")  # warm-up: the first task of a fresh API server is slow
        dependency_gap(client)
        for _ in range(args.runs):
            approvals.append(approve_to_publish(client, home / "home"))
            gaps.append(dependency_gap(client))
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
    print(f"approve in the API -> publish running: {summary(approvals)}   (goal p95 <= 3 s)")
    print(f"anchor, any dependency (end -> start): {summary(gaps)}")
    print(f"approval's own cost over the anchor:   median {statistics.median(approvals) - statistics.median(gaps):+.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
