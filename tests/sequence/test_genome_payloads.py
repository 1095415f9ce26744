"""Genome's three README payloads, verbatim -> the exact DAG structure and step contract."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from airgenome.build.render import build_dag
from airgenome.sequence.contract import step_environment
from airgenome.sequence.plan import dag_id_for, plan_sequence
from airgenome.sequence.validate import parse_sequence
from tests.sequence.helpers import genome_payload


def _dag(name: str, mode: str = "local"):
    plan = plan_sequence(parse_sequence(genome_payload(name), mode=mode))
    return plan, build_dag(plan, fileloc="/bundle/sequences_loader.py")


def _upstream(dag) -> dict[str, set[str]]:
    return {task_id: set(task.upstream_task_ids) for task_id, task in dag.task_dict.items()}


def test_sequential_payload_is_a_chain_with_genome_retries_and_timeouts() -> None:
    plan, dag = _dag("sequential")
    assert dag.dag_id == "pipe-1" == dag_id_for(parse_sequence(genome_payload("sequential")))
    assert dag.fileloc == "/bundle/sequences_loader.py"
    assert _upstream(dag) == {"step-1": set(), "step-2": {"step-1"}, "step-3": {"step-2"}}
    assert type(dag.timetable).__name__ == "NullTimetable"
    assert dag.catchup is False
    assert set(dag.tags) == {"airgenome", "sequence", "application:search", "deployment:deploy-1"}
    for task in dag.tasks:
        assert task.retries == 3
        assert task.execution_timeout == timedelta(seconds=360)
        assert task.retry_delay == timedelta(seconds=30)
        assert task.retry_exponential_backoff == 2.0
        assert task.pool == "default_pool"
        assert task.pool_slots == 1
        # image-only Genome step in local mode: the image's catalogued component runs
        assert task.component == "train.sklearn-forest"  # the public name of Genome's image
    assert [t.group for t in plan.tasks] == [None, None, None]


def test_sequential_payload_step_environment_is_genomes_contract() -> None:
    _plan, dag = _dag("sequential")
    env = step_environment(dag.get_task("step-2").contract, "manual__run-7", None)
    assert {k: env[k] for k in (
        "DEPLOYMENT", "DEPLOYMENT_PARAMETERS", "APPLICATION", "PIPELINE_RUNID", "PIPELINE_NAME",
        "STEP_NAME", "STEP_TYPE", "PARAMETERS", "DATASETS", "CANONICAL_NAME",
    )} == {
        "DEPLOYMENT": "deploy-1",
        "DEPLOYMENT_PARAMETERS": "null",
        "APPLICATION": "search",
        "PIPELINE_RUNID": "manual__run-7",
        "PIPELINE_NAME": "pipe-1",
        "STEP_NAME": "step-2",
        "STEP_TYPE": "model",
        "PARAMETERS": json.dumps({"TEXT_TRAIN": True}, separators=(",", ":")),
        "DATASETS": "[]",
        "CANONICAL_NAME": "/search/pipe-1",
    }


def test_parallel_payload_fans_out_into_a_task_group_and_back_in() -> None:
    plan, dag = _dag("parallel")
    assert _upstream(dag) == {
        "step-1": set(),
        "step-2a": {"step-1"},
        "step-2b": {"step-1"},
        "step-3": {"step-2a", "step-2b"},
    }
    assert {t.task_id: t.group for t in plan.tasks} == {
        "step-1": None, "step-2a": "parallel_1", "step-2b": "parallel_1", "step-3": None,
    }
    group = dag.task_group.children["parallel_1"]
    assert sorted(group.children) == ["step-2a", "step-2b"]
    assert dag.get_task("step-2a").task_group.group_id == "parallel_1"
    params = step_environment(dag.get_task("step-2b").contract, "r")["PARAMETERS"]
    assert json.loads(params) == {"TEXT_TRAIN_2": True}


def test_scheduled_payload_runs_every_6h_first_run_one_period_after_creation() -> None:
    from airflow.timetables.base import TimeRestriction
    from airflow.timetables.trigger import DeltaTriggerTimetable

    document = json.loads(genome_payload("scheduled"))
    document["createdAt"] = "2099-03-01T10:00:00Z"  # as the upload API records it
    plan = plan_sequence(parse_sequence(document))
    dag = build_dag(plan)
    assert isinstance(dag.timetable, DeltaTriggerTimetable)
    assert dag.timetable == DeltaTriggerTimetable(timedelta(hours=6))
    assert dag.catchup is False
    assert dag.start_date == datetime(2099, 3, 1, 16, 0, tzinfo=UTC)
    first = dag.timetable.next_dagrun_info(
        last_automated_data_interval=None,
        restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=False),
    )
    assert first is not None and first.run_after == datetime(2099, 3, 1, 16, 0, tzinfo=UTC)
    second = dag.timetable.next_dagrun_info(
        last_automated_data_interval=first.data_interval,
        restriction=TimeRestriction(earliest=dag.start_date, latest=None, catchup=False),
    )
    assert second is not None and second.run_after == datetime(2099, 3, 1, 22, 0, tzinfo=UTC)
    assert _upstream(dag) == {"step-1": set(), "step-2": {"step-1"}, "step-3": {"step-2"}}


def test_scheduled_payload_without_created_at_uses_the_given_fallback() -> None:
    created = datetime(2099, 1, 1, tzinfo=UTC)
    plan = plan_sequence(parse_sequence(genome_payload("scheduled")), created_at_fallback=created)
    assert plan.start_date == created + timedelta(hours=6)


@pytest.mark.parametrize("name", ["sequential", "parallel", "scheduled"])
def test_payloads_are_valid_in_kubernetes_mode_too(name: str) -> None:
    plan = plan_sequence(parse_sequence(genome_payload(name), mode="kubernetes"))
    assert {t.image for t in plan.tasks} == {"ensemble-training:local.3"}
    assert {t.mode for t in plan.tasks} == {"kubernetes"}
    assert all(t.component is None and t.command is None for t in plan.tasks)
