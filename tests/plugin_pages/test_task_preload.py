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
