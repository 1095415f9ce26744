"""Per-step orchestration overhead: a no-op component (local mode) vs a PythonOperator no-op,
both chained N deep in the same embedded Airflow, runs alternated.

Starts its own embedded stack (free port, temp home, a temp DAG bundle holding the sequence
loader, a chain of N `genome.noop` component steps and a Python DAG of N PythonOperator
no-ops), warms both up with one run each, then alternates R runs of each and prints the median
and p95 per step of (a) the task's own duration as Airflow records it, (b) the run's wall
time divided by N and (c) the gap from one step's end to the next one's start, their ratios,
the typical step (median duration + median gap) and, from a middle step's log, where its time
went. Prints only; never asserts. Stops the stack by PID.

    .venv/bin/python tests/bench/bench_component_overhead.py [--steps 6] [--runs 5]

Goal (issue 9): component step <= 1.5x a PythonOperator step.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[2]

PYTHON_DAG = '''
from airflow.providers.standard.operators.python import PythonOperator
from airflow.sdk import DAG


def _noop() -> None:
    return None


with DAG("python_noop_chain", schedule=None, catchup=False) as dag:
    previous = None
    for index in range({steps}):
        task = PythonOperator(task_id=f"noop_{{index}}", python_callable=_noop)
        if previous is not None:
            previous >> task
        previous = task
'''


def _bundle(folder: Path, steps: int) -> None:
    (folder / "sequences").mkdir(parents=True)
    for name in ("sequences_loader.py", "sequences_errors.py"):
        shutil.copy(ROOT / "dags" / name, folder / name)
    (folder / "python_noop_chain.py").write_text(PYTHON_DAG.format(steps=steps))
    sequence = {
        "pipelineName": "component_noop_chain",
        "application": "bench",
        "steps": [{"stepName": f"noop_{i}", "component": "genome.noop"} for i in range(steps)],
    }
    (folder / "sequences" / "component_noop_chain.json").write_text(json.dumps(sequence))


def _parse(value: str | None) -> datetime:
    assert value is not None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


class Client:
    def __init__(self, url: str, token: str) -> None:
        # A fresh API server's first calls can take minutes on 2 busy CPUs: wait, don't fail.
        self.http = httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300)

    def wait_dag(self, dag_id: str, timeout_s: float = 300) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.http.get(f"/api/v2/dags/{dag_id}").status_code == 200:
                self.http.patch(f"/api/v2/dags/{dag_id}", json={"is_paused": False}).raise_for_status()
                return
            time.sleep(1)
        raise SystemExit(f"DAG {dag_id} never appeared")

    def run(self, dag_id: str, timeout_s: float = 600) -> dict[str, Any]:
        run_after = (datetime.now(UTC) - timedelta(seconds=1)).isoformat()
        created = self.http.post(f"/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None, "run_after": run_after})
        created.raise_for_status()
        run_id = created.json()["dag_run_id"]
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            run = self.http.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}").json()
            if run["state"] in ("success", "failed"):
                if run["state"] != "success":
                    raise SystemExit(f"{dag_id} run {run_id} failed")
                tasks = self.http.get(f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances").json()
                run["tasks"] = tasks["task_instances"]
                run["dag_run_id"] = run_id
                return dict(run)
            time.sleep(0.2)
        raise SystemExit(f"{dag_id} run {run_id} did not finish")


    def timeline(self, dag_id: str, run_id: str, task_id: str) -> list[tuple[float, str]]:
        """The task's log events as (seconds since its first event, text)."""
        response = self.http.get(
            f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/1",
            params={"full_content": "true"}, headers={"Accept": "application/json"},
        )
        response.raise_for_status()
        events = [e for e in response.json()["content"] if isinstance(e, dict) and e.get("timestamp")]
        if not events:
            return []
        start = _parse(events[0]["timestamp"])
        return [((_parse(e["timestamp"]) - start).total_seconds(), str(e.get("event", ""))[:90]) for e in events]


def _per_step(run: dict[str, Any], steps: int) -> tuple[float, float]:
    durations = [float(t["duration"]) for t in run["tasks"]]
    wall = (_parse(run["end_date"]) - _parse(run["start_date"])).total_seconds()
    return statistics.mean(durations), wall / steps


def _workloads_holding_a_worker(scheduler_log: Path, over_s: float = 4.0) -> tuple[int, int]:
    """(workloads whose supervisor took longer than `over_s`, all workloads), from the
    scheduler's log: a no-op task's supervisor that misses its task's exit holds its
    LocalExecutor worker for `[workers] min_heartbeat_interval` (docs/embedded.md)."""
    durations = [float(line.split("duration=", 1)[1].split()[0])
                 for line in scheduler_log.read_text().splitlines() if "Workload finished" in line and "duration=" in line]
    return sum(d > over_s for d in durations), len(durations)


def _gaps(run: dict[str, Any]) -> list[float]:
    """Seconds from one step's end to the next one's start (the chain's scheduling gaps)."""
    tasks = sorted(run["tasks"], key=lambda t: _parse(t["start_date"]))
    return [(_parse(b["start_date"]) - _parse(a["end_date"])).total_seconds() for a, b in zip(tasks, tasks[1:], strict=False)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=6)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()

    from airgenome.cli.stack_commands import admin_token
    from airgenome.embedded.stack import EmbeddedStack
    from tests.bench.bench_upload import free_port

    home = Path(tempfile.mkdtemp(prefix="airgenome-bench-overhead-"))
    _bundle(home / "bundle", args.steps)
    os.environ["AIRGENOME_DAGS_FOLDER"] = str(home / "bundle")
    os.environ["AIRGENOME_UPLOADS_FOLDER"] = str(home / "uploads")
    stack = EmbeddedStack(home / "home")
    state = stack.up(port=free_port())
    try:
        client = Client(state.url, admin_token(stack))
        dags = ("component_noop_chain", "python_noop_chain")
        for dag_id in dags:
            client.wait_dag(dag_id)
            client.run(dag_id)  # warm-up
        samples: dict[str, list[tuple[float, float]]] = {dag_id: [] for dag_id in dags}
        gaps: dict[str, list[float]] = {dag_id: [] for dag_id in dags}
        last: dict[str, str] = {}
        for _ in range(args.runs):
            for dag_id in dags:
                run = client.run(dag_id)
                last[dag_id] = run["dag_run_id"]
                samples[dag_id].append(_per_step(run, args.steps))
                gaps[dag_id] += _gaps(run)
        middle = f"noop_{args.steps // 2}"
        timelines = {dag_id: client.timeline(dag_id, last[dag_id], middle) for dag_id in dags}
        held = _workloads_holding_a_worker(home / "home" / "logs" / "scheduler.log")
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)

    def summary(values: list[float]) -> str:
        ordered = sorted(values)
        return f"median {statistics.median(values):6.3f} s  p95 {ordered[min(len(ordered) - 1, int(len(ordered) * 0.95))]:6.3f} s"

    print(f"{args.steps} chained no-op steps, {args.runs} alternated runs each (after one warm-up run each)")
    comp, py = samples["component_noop_chain"], samples["python_noop_chain"]
    print(f"  task duration  component {summary([c[0] for c in comp])} | PythonOperator {summary([p[0] for p in py])}")
    print(f"  run wall/step  component {summary([c[1] for c in comp])} | PythonOperator {summary([p[1] for p in py])}")
    ratio_task = statistics.median([c[0] for c in comp]) / statistics.median([p[0] for p in py])
    ratio_wall = statistics.median([c[1] for c in comp]) / statistics.median([p[1] for p in py])
    print(f"  ratio component / PythonOperator: task duration {ratio_task:.2f}x, run wall per step {ratio_wall:.2f}x"
          " (goal <= 1.5x per step)")
    print(f"  gap from a step's end to the next one's start: component {summary(gaps['component_noop_chain'])}"
          f" | PythonOperator {summary(gaps['python_noop_chain'])}")
    # A run's wall time carries the scheduler's occasional 1-2 s stalls (the gaps' p95), which
    # land on either chain at random; the typical step is its median duration + median gap.
    typical = {
        dag_id: statistics.median([d for d, _ in samples[dag_id]]) + statistics.median(gaps[dag_id]) for dag_id in dags
    }
    print(f"  typical step (median task duration + median gap): component {typical['component_noop_chain']:.3f} s"
          f" | PythonOperator {typical['python_noop_chain']:.3f} s"
          f" | ratio {typical['component_noop_chain'] / typical['python_noop_chain']:.2f}x (goal <= 1.5x)")
    print(f"  workloads whose supervisor held its worker over 4 s: {held[0]} of {held[1]}")
    for dag_id, events in timelines.items():
        print(f"  where {dag_id}'s {middle} spent its time (its log, last run):")
        for offset, text in events:
            print(f"    +{offset:6.3f} s  {text}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
