"""The scheduler preloads what sequence tasks import; no other process does."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

PROBE = """
import json, sys
from airgenome.plugins.task_preload import preload_for_task_processes
failed = preload_for_task_processes(sys.argv[1:])
print(json.dumps({"failed": failed, "loaded": sorted(m for m in ("airgenome.components.catalogue", "airgenome.build.loader", "mlflow") if m in sys.modules)}))
"""


def _probe(argv: list[str], preload: str | None) -> dict[str, list[str]]:
    env = {k: v for k, v in os.environ.items() if k != "AIRGENOME_TASK_PRELOAD"}
    if preload is not None:
        env["AIRGENOME_TASK_PRELOAD"] = preload
    done = subprocess.run([sys.executable, "-c", PROBE, *argv], env=env, capture_output=True, text=True, timeout=300, check=True)
    result: dict[str, list[str]] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


@pytest.mark.parametrize("argv", [["airflow", "api-server"], ["airflow", "dag-processor"], ["airflow", "triggerer"], ["task"]])
def test_other_processes_import_nothing(argv: list[str]) -> None:
    assert _probe(argv, None) == {"failed": [], "loaded": []}


def test_the_scheduler_imports_the_configured_modules_and_reports_a_missing_one() -> None:
    assert _probe(["airflow", "scheduler"], "airgenome.components.catalogue,no_such_module_here") == {
        "failed": ["no_such_module_here"],
        "loaded": ["airgenome.components.catalogue"],
    }
    assert _probe(["airflow", "scheduler"], "none") == {"failed": [], "loaded": []}


def test_the_default_warms_the_loader_the_registry_and_the_stores() -> None:
    assert _probe(["airflow", "scheduler"], None) == {
        "failed": [],
        "loaded": ["airgenome.build.loader", "airgenome.components.catalogue", "mlflow"],
    }


WARM_PROBE = """
import json, sys
from pathlib import Path
from airgenome.plugins.task_preload import preload_for_task_processes
failed = preload_for_task_processes(["airflow", "scheduler"])
from airgenome.build import loader
from airgenome.sequence import loader as scanning

def validated():
    # What a task forked now would validate itself: files not answered from the inherited cache.
    seen = []
    real = scanning.parse_sequence
    scanning.parse_sequence = lambda raw, **kw: seen.append(json.loads(raw)["pipelineName"]) or real(raw, **kw)
    try:
        dags = loader.build_dags(sys.argv[1], only="chain")
    finally:
        scanning.parse_sequence = real
    return sorted(dags), seen

before = validated()
path = Path(sys.argv[2])
path.write_text(path.read_text().replace('"echo"', '"echo-2"'))
after = validated()
print(json.dumps({"failed": failed, "before": before, "after": after}))
"""


def test_the_scheduler_builds_every_dag_so_a_task_validates_only_what_changed(tmp_path) -> None:
    folder = tmp_path / "dags" / "sequences"
    folder.mkdir(parents=True)
    sequence = {"pipelineName": "chain", "application": "a", "steps": [{"stepName": "echo", "component": "genome.noop"}]}
    (folder / "chain.json").write_text(json.dumps(sequence))
    env = {k: v for k, v in os.environ.items() if k != "AIRGENOME_TASK_PRELOAD"}
    env.update(AIRGENOME_DAGS_FOLDER=str(tmp_path / "dags"), AIRGENOME_UPLOADS_FOLDER=str(tmp_path / "uploads"))
    done = subprocess.run(
        [sys.executable, "-c", WARM_PROBE, str(tmp_path / "dags" / "sequences_loader.py"), str(folder / "chain.json")],
        env=env, capture_output=True, text=True, timeout=300, check=True,
    )
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {
        "failed": [],
        "before": [["chain"], []],  # the scheduler's validated plan, inherited
        "after": [["chain"], ["chain"]],  # the file changed: validated again
    }
