"""The CT pipeline exists twice — a JSON sequence and a Python DAG of category operators — and
the two stay the same pipeline: same tasks, operators, components, parameters and wiring."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from airgenome.build.render import build_dag
from airgenome.sequence.plan import plan_sequence
from airgenome.sequence.validate import parse_sequence

ROOT = Path(__file__).resolve().parents[3]


def _tasks(dag: Any) -> dict[str, dict[str, Any]]:
    described = {}
    for task in dag.tasks:
        described[task.task_id] = {
            "operator": type(task).__name__,
            "component": getattr(task, "component", None),
            "parameters": getattr(task, "contract", None) and task.contract.parameters,
            "inputs": dict(getattr(task, "inputs", {}) or {}),
            "upstream": sorted(task.upstream_task_ids),
        }
    return described


def test_the_json_sequence_and_the_python_dag_are_the_same_pipeline() -> None:
    from airflow.dag_processing.dagbag import DagBag

    spec = parse_sequence(json.loads((ROOT / "dags/sequences/claimed-ct.json").read_text()))
    from_json = _tasks(build_dag(plan_sequence(spec), fileloc="<test>"))
    bag = DagBag(dag_folder=str(ROOT / "dags/claimed_ct.py"))
    assert bag.import_errors == {}
    from_python = _tasks(bag.dags["claimed_ct_python"])
    assert list(from_json) == list(from_python)
    for task_id, described in from_json.items():
        assert described == from_python[task_id], task_id
    assert from_json["bless"]["upstream"] == ["confusion-matrix", "explanations", "fairness", "robustness", "train"]
    assert from_json["approve"]["operator"] == "BlessApprovalOperator"
