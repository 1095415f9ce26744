"""The CLAIMED CT pipeline on the embedded stack: wall time per run (median of N), per-stage
breakdown from Airflow's own task durations, and the held-out accuracy each run reached.

Starts its own embedded stack (free port, temp home, the repo's DAG bundle), runs the demo
pipeline N times one after another, prints, stops the stack by PID. Prints only. By default the
unbiased twin (``claimed-ct-unbiased``, written to the uploads folder before the stack starts):
all fifteen steps run, publishing included; ``--bias sex-marker`` runs the shipped biased
``claimed-ct``, which ends at the blessing (NOT_BLESSED) with a lower accuracy by design.

    .venv/bin/python tests/bench/bench_ct_demo.py [--runs 3] [--bias none|sex-marker]

Goal (issue 13): <= 5 min wall per run on a 2-CPU machine, median of 3; accuracy >= 0.9.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from urllib.parse import quote

import httpx


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--bias", choices=("none", "sex-marker"), default="none")
    args = parser.parse_args()

    from airgenome import settings
    from airgenome.cli.stack_commands import admin_token
    from airgenome.embedded.ct_demo import DAG_ID as BIASED
    from airgenome.embedded.ct_demo import SEQUENCE_FILE, UNBIASED_PIPELINE, sequence_with_bias
    from airgenome.embedded.http import AirflowClient
    from airgenome.embedded.stack import EmbeddedStack
    from tests.bench.bench_upload import free_port

    home = Path(tempfile.mkdtemp(prefix="airgenome-bench-ct-"))
    os.environ["AIRGENOME_UPLOADS_FOLDER"] = str(home / "uploads")
    dag_id = BIASED
    if args.bias == "none":
        dag_id = UNBIASED_PIPELINE
        sequence = json.loads((settings.dags_folder() / SEQUENCE_FILE).read_text())
        (home / "uploads").mkdir(parents=True)
        (home / "uploads" / f"{dag_id}.json").write_text(json.dumps(sequence_with_bias(sequence, "none", dag_id)))
    stack = EmbeddedStack(home / "home")
    state = stack.up(port=free_port())
    walls: list[float] = []
    stages: dict[str, list[float]] = {}
    accuracies: list[float] = []
    try:
        token = admin_token(stack)
        airflow = AirflowClient(state.url, token, timeout=120.0)
        http = httpx.Client(base_url=state.url, headers={"Authorization": f"Bearer {token}"}, timeout=120.0)
        airflow.wait_for_dag(dag_id, timeout_s=300)
        airflow.unpause(dag_id)
        for index in range(args.runs):
            started = time.monotonic()
            run_id = airflow.trigger(dag_id)
            outcome = airflow.wait_for_run(dag_id, run_id, timeout_s=3600)
            wall = time.monotonic() - started
            tasks = http.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances").json()
            for task in tasks["task_instances"]:
                if task.get("duration") is not None:
                    stages.setdefault(task["task_id"], []).append(float(task["duration"]))
            xcom = http.get(f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/"
                            "confusion-matrix/xcomEntries/return_value")
            accuracy = None
            if xcom.status_code == 200:
                value = xcom.json()["value"]
                manifest = json.loads(value) if isinstance(value, str) else value
                accuracy = manifest["metrics"]["accuracy"]
                accuracies.append(float(accuracy))
            walls.append(wall)
            print(f"run {index + 1}: {outcome} in {wall:.0f} s, accuracy {accuracy}", flush=True)
        http.close()
        airflow.close()
    finally:
        stack.down()
        shutil.rmtree(home, ignore_errors=True)
    print(f"\n{dag_id} wall per run: median {statistics.median(walls):.0f} s over {len(walls)} runs "
          f"(goal <= 300 s); accuracy median {statistics.median(accuracies) if accuracies else 'n/a'} (goal >= 0.9)")
    print("per stage (Airflow task duration, median):")
    for task_id, durations in sorted(stages.items(), key=lambda item: -statistics.median(item[1])):
        print(f"  {task_id:18} {statistics.median(durations):7.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
