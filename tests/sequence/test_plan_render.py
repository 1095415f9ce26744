"""Nested sub-chains, groups, schedules, GPU pools and byte-identical serialized DAGs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

import pytest

from airgenome.build.render import build_dag
from airgenome.sequence.plan import plan_sequence
from airgenome.sequence.validate import parse_sequence
from tests.sequence.helpers import echo, genome_payload, spec


def _upstream(dag) -> dict[str, set[str]]:
    return {task_id: set(task.upstream_task_ids) for task_id, task in dag.task_dict.items()}


def test_parallel_member_may_be_a_sequential_sub_chain() -> None:
    # [a, [[b1, b2], c], d] = a, then (b1 -> b2 in parallel with c), then d
    document = spec([echo("a"), [[echo("b1"), echo("b2")], echo("c")], echo("d")])
    plan = plan_sequence(parse_sequence(document))
    dag = build_dag(plan)
    assert _upstream(dag) == {
        "a": set(), "b1": {"a"}, "b2": {"b1"}, "c": {"a"}, "d": {"b2", "c"},
    }
    assert {t.task_id: t.group for t in plan.tasks} == {
        "a": None, "b1": "parallel_1", "b2": "parallel_1", "c": "parallel_1", "d": None,
    }


def test_lists_alternate_sequence_and_parallel_at_every_depth() -> None:
    # steps[1][0] is a sub-chain whose element [1] is a parallel group again
    document = spec([
        echo("a"),
        [[echo("b1"), [echo("x"), [echo("y1"), echo("y2")]], echo("b3")], echo("c")],
        echo("d"),
    ])
    plan = plan_sequence(parse_sequence(document))
    dag = build_dag(plan)
    assert _upstream(dag) == {
        "a": set(),
        "b1": {"a"},
        "x": {"b1"},
        "y1": {"b1"},
        "y2": {"y1"},
        "b3": {"x", "y2"},
        "c": {"a"},
        "d": {"b3", "c"},
    }
    assert [(g.group_id, g.parent) for g in plan.groups] == [
        ("parallel_1", None), ("parallel_1_0_1", "parallel_1"),
    ]
    inner = dag.task_group.children["parallel_1"].children["parallel_1_0_1"]
    assert sorted(inner.children) == ["x", "y1", "y2"]


def test_names_are_sanitised_into_task_ids_and_env_keeps_the_original() -> None:
    plan = plan_sequence(parse_sequence(spec([echo("Train model #1"), echo("ünï.code")])))
    assert [(t.task_id, t.contract.step_name) for t in plan.tasks] == [
        ("Train_model__1", "Train model #1"), ("_n__code", "ünï.code"),
    ]
    assert plan.dag_id == "p"
    assert plan_sequence(parse_sequence(spec([echo("a")], pipelineName="my pipe/v2"))).dag_id == "my_pipe_v2"


@pytest.mark.parametrize(
    ("schedule", "timetable", "summary"),
    [
        ("30m", "DeltaTriggerTimetable", "0:30:00"),
        ("1d", "DeltaTriggerTimetable", "1 day, 0:00:00"),
        ("0 3 * * *", "CronTriggerTimetable", "0 3 * * *"),
        ("@daily", "CronTriggerTimetable", "0 0 * * *"),
        ("@once", "OnceTimetable", None),
    ],
)
def test_schedules_become_airflow_timetables_without_catchup(schedule, timetable, summary) -> None:
    dag = build_dag(plan_sequence(parse_sequence(spec([echo("a")], schedule=schedule))))
    assert type(dag.timetable).__name__ == timetable
    if summary is not None:
        assert dag.timetable.summary == summary
    assert dag.catchup is False


def test_gpu_step_takes_pool_slots_from_the_gpu_pool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRGENOME_GPU_SLOTS", "4")
    monkeypatch.setenv("AIRGENOME_GPU_POOL", "gpus")
    document = spec([echo("cpu"), echo("train", resources={"gpu": 2, "cpu": "2", "memory": "4Gi"})])
    dag = build_dag(plan_sequence(parse_sequence(document)))
    train = dag.get_task("train")
    assert (train.pool, train.pool_slots) == ("gpus", 2)
    assert (dag.get_task("cpu").pool, dag.get_task("cpu").pool_slots) == ("default_pool", 1)


def test_kubernetes_mode_builds_genome_pod_operators() -> None:
    from airgenome.operators import pod
    from airgenome.operators.categories import TrainOperator

    document = spec([
        {"stepName": "train", "image": "reg.local/train:1", "component": "sklearn.train-forest",
         "resources": {"cpu": "500m", "memory": "1Gi"}, "timeout": "30m", "retry": 2},
        {"stepName": "report", "image": "reg.local/report:1", "command": ["python", "report.py"]},
    ])
    dag = build_dag(plan_sequence(parse_sequence(document, mode="kubernetes")))
    step = dag.get_task("train")
    assert isinstance(step, TrainOperator) and step.mode == "kubernetes"
    assert step.retries == 2
    train = step.pod_operator()  # the pod the step runs as
    assert isinstance(train, pod.GenomePodOperator)
    assert train.image == "reg.local/train:1"
    assert train.cmds == ["python", "-m", "airgenome.components.runtime", "train.sklearn-forest"]
    assert train.skip_on_exit_code == [99]
    assert (train.cpu, train.memory, train.gpu) == ("500m", "1Gi", 0)
    assert isinstance(dag.get_task("report"), pod.GenomePodOperator)
    assert dag.get_task("report").cmds == ["python", "report.py"]
    assert set(dag.get_task("report").upstream_task_ids) == {"train"}


SERIALIZE = """
import json, sys
from airflow.serialization.serialized_objects import DagSerialization
from airgenome.sequence.plan import plan_sequence
from airgenome.build.render import build_dag
from airgenome.sequence.validate import parse_sequence
dag = build_dag(plan_sequence(parse_sequence(sys.stdin.buffer.read())), fileloc="/b/loader.py")
print(json.dumps(DagSerialization.to_dict(dag), sort_keys=True))
"""


def _serialized(raw: bytes) -> str:
    from airflow.serialization.serialized_objects import DagSerialization

    dag = build_dag(plan_sequence(parse_sequence(raw)), fileloc="/b/loader.py")
    return json.dumps(DagSerialization.to_dict(dag), sort_keys=True)


def test_identical_spec_serializes_to_an_identical_dag_in_another_process_later() -> None:
    document = json.loads(genome_payload("parallel"))
    document.update(schedule="6h", createdAt="2026-05-01T00:00:00Z", tags=["b", "a", "c"])
    raw = json.dumps(document).encode()
    first = _serialized(raw)
    assert _serialized(raw) == first
    # A fresh interpreter, later, with another hash seed (set order): still the same bytes.
    later = subprocess.run(
        [sys.executable, "-c", SERIALIZE], input=raw, capture_output=True, check=True, timeout=300,
        env={**os.environ, "PYTHONHASHSEED": "4242"},
    ).stdout.decode().strip().splitlines()[-1]
    assert later == first
    start = json.loads(first)["dag"]["start_date"]
    assert start == datetime(2026, 5, 1, 6, tzinfo=UTC).timestamp()  # createdAt + one period


def test_dag_limits_are_airflows_configured_defaults() -> None:
    from airflow.sdk.configuration import conf

    dag = build_dag(plan_sequence(parse_sequence(json.dumps(spec([echo("a")])).encode(), mode="local")))
    assert (dag.max_active_tasks, dag.max_active_runs, dag.max_consecutive_failed_dag_runs) == (
        conf.getint("core", "max_active_tasks_per_dag"),
        conf.getint("core", "max_active_runs_per_dag"),
        conf.getint("core", "max_consecutive_failed_dag_runs_per_dag"),
    )
    assert dag.disable_bundle_versioning is conf.getboolean("dag_processor", "disable_bundle_versioning")
