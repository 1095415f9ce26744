"""The DAG bundle parses with zero import errors and imports nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from airgenome import settings

HEAVY = ["sklearn", "tensorflow", "keras", "mlflow", "shap", "lime", "pandas", "xgboost",
         "pyspark", "aif360", "art", "dtreeviz", "matplotlib", "torch"]

PROBE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1])
heavy = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": {k: str(v) for k, v in bag.import_errors.items()}, "heavy": heavy}))
"""


def test_dag_bundle_parses_cleanly_and_stays_light(tmp_path) -> None:
    env = {**os.environ, "AIRGENOME_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-c", PROBE, str(settings.dags_folder()), json.dumps(HEAVY)],
        capture_output=True, text=True, env=env, timeout=300, check=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["errors"] == {}
    assert "airgenome_hello" in report["dags"]
    assert report["heavy"] == []
