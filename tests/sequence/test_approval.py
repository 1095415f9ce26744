"""Approval steps: parsing, validation by path, planning, rendering as Airflow's ApprovalOperator,
what the approver sees, and how an answer is recorded (model version tags, evaluation store)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from airgenome.errors import InvalidInput
from airgenome.sequence.approval import (
    EVALUATION_NAME,
    NOT_BLESSED,
    TAG_BY,
    TAG_DECISION,
    TAG_VERDICT,
    Decision,
    Upstream,
    approval_settings,
    choose_upstream,
    compose,
    record_decision,
)
from airgenome.sequence.plan import plan_sequence
from airgenome.sequence.validate import parse_sequence
from tests.sequence.helpers import echo, spec

APPROVE_STEP = {
    "stepName": "approve",
    "approval": {"subject": "Publish the forest?", "timeoutMinutes": 60, "default": "Reject", "blessingStep": "bless"},
}


def _errors(document: dict[str, Any], mode: str = "local") -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_sequence(json.dumps(document), mode=mode)
    return {d["loc"]: d["msg"] for d in caught.value.details}


def test_an_approval_step_parses_and_plans_in_both_modes() -> None:
    document = spec([echo("bless"), APPROVE_STEP, echo("publish")])
    for mode in ("local", "kubernetes"):
        plan = plan_sequence(parse_sequence(json.dumps(document), mode=mode))
        approve = plan.task("approve")
        assert approve.approval is not None
        assert approve.approval.to_dict() == {
            "subject": "Publish the forest?",
            "body": None,
            "timeout_seconds": 3600,
            "default": "Reject",
            "blessing_task_ids": ["bless"],
            "ask": "always",
        }
        assert (approve.upstream, approve.component, approve.image, approve.retries) == (("bless",), None, None, 0)
        assert plan.task("publish").upstream == ("approve",)


def test_without_blessing_step_the_approval_shows_its_upstream_steps() -> None:
    document = spec([[echo("a"), echo("b")], {"stepName": "ok", "approval": {}}])
    approve = plan_sequence(parse_sequence(json.dumps(document), mode="local")).task("ok")
    assert approve.approval is not None
    assert approve.approval.blessing_task_ids == ("a", "b") and not approve.approval.explicit_source


def test_bad_approvals_are_refused_with_every_path() -> None:
    document = spec(
        [
            echo("bless"),
            {
                "stepName": "approve",
                "component": "genome.echo",
                "timeout": "60s",
                "parameters": {"x": 1},
                "approval": {"timeoutMinutes": 0, "default": "Maybe", "blessingStep": "publish", "sujbect": "x"},
            },
            echo("publish"),
            {"stepName": "again", "approval": {"default": "Approve", "blessingStep": "nowhere", "subject": " "}},
        ]
    )
    errors = _errors(document)
    assert errors["steps[1].approval.timeoutMinutes"].startswith("0 is not a whole number of minutes from 1 to 10080")
    assert errors["steps[1].approval.default"] == '\'Maybe\' is not an answer: use "Approve" or "Reject"'
    assert errors["steps[1].approval.sujbect"] == "unknown field; did you mean 'subject'?"
    assert errors["steps[3].approval.subject"].startswith("must not be empty")
    # Once every field is well-formed, the rules across fields and steps report together.
    document["steps"][1] = {"stepName": "approve", "component": "genome.echo", "timeout": "60s", "parameters": {"x": 1},
                            "approval": {"blessingStep": "publish"}}
    del document["steps"][3]["approval"]["subject"]
    errors = _errors(document)
    assert errors == {
        "steps[1].component": "an approval step runs no component: put the component in a step of its own",
        "steps[1].parameters": "an approval step takes no parameters (its settings are in approval)",
        "steps[1].timeout": "the answer's deadline is approval.timeoutMinutes",
        "steps[1].approval.blessingStep": "step 'publish' does not run before 'approve' (it runs in parallel with it or after it)",
        "steps[3].approval.blessingStep": "there is no step 'nowhere'",
        "steps[3].approval.default": "is the answer taken when nobody answers in time: set approval.timeoutMinutes too",
    }


def test_ask_when_the_policy_requires_is_accepted_and_others_are_not() -> None:
    ok = spec([echo("bless"), {"stepName": "ok", "approval": {"ask": "whenPolicyRequires"}}])
    assert plan_sequence(parse_sequence(json.dumps(ok), mode="local")).task("ok").approval.ask == "whenPolicyRequires"  # type: ignore[union-attr]
    errors = _errors(spec([echo("bless"), {"stepName": "ok", "approval": {"ask": "never"}}]))
    assert list(errors) == ["steps[1].approval.ask"]


def test_kubernetes_mode_needs_no_image_for_an_approval() -> None:
    document = spec([{"stepName": "bless", "component": "genome.echo"}, {"stepName": "ok", "approval": {}}])
    assert parse_sequence(json.dumps(document), mode="kubernetes").steps[1].approval is not None


def test_template_syntax_in_an_approval_is_refused() -> None:
    errors = _errors(spec([echo("a"), {"stepName": "ok", "approval": {"body": "{{ conn.x.password }}"}}]))
    assert list(errors) == ["steps[1].approval.body"]


def test_renders_as_airflows_approval_operator_and_serializes() -> None:
    from airflow.providers.standard.operators.hitl import ApprovalOperator
    from airflow.serialization.serialized_objects import DagSerialization

    from airgenome.build.render import build_dag
    from airgenome.operators.categories import BlessApprovalOperator

    plan = plan_sequence(parse_sequence(json.dumps(spec([echo("bless"), APPROVE_STEP, echo("publish")])), mode="local"))
    dag = build_dag(plan, fileloc="<test>")
    task = dag.get_task("approve")
    assert isinstance(task, BlessApprovalOperator) and issubclass(BlessApprovalOperator, ApprovalOperator)
    assert task.options == ["Approve", "Reject"] and task.defaults == ["Reject"]
    assert task.response_timeout == timedelta(hours=1) and task.execution_timeout is None
    assert task.blessing_task_ids == ["bless"] and task.template_fields == ()
    assert task.downstream_task_ids == {"publish"} and task.upstream_task_ids == {"bless"}
    serialized = DagSerialization.to_dict(dag)
    tasks = {t["__var"]["task_id"]: t["__var"] for t in serialized["dag"]["tasks"]}
    assert tasks["approve"]["task_type"] == "BlessApprovalOperator"


def test_the_python_helper_builds_the_same_operator() -> None:
    from airgenome.operators.categories import approval_task

    task = approval_task("approve", blessing="bless", timeout=timedelta(minutes=5), default="Approve")
    assert (task.blessing_task_ids, task.defaults, task.response_timeout) == (["bless"], ["Approve"], timedelta(minutes=5))


MANIFEST = {
    "component": "bless.policy",
    "verdict": "BLESSED",
    "model_version": "tests.forest/2",
    "evaluation_ids": ["e1", "e2"],
    "metrics": {"accuracy": 0.912345, "fairness": {"sex.disparate_impact": 0.93}, "approval": {"required": True}},
    "message": "every rule passed",
    "outputs": {"blessing": {"uri": "x", "kind": "blessing", "metadata": {"approval": {"timeoutMinutes": 30, "default": "Reject"}}}},
}


def test_the_approver_sees_verdict_metrics_and_links() -> None:
    upstream = choose_upstream([("echo", {"outputs": {}}), ("bless", MANIFEST)])
    assert upstream.task_id == "bless" and upstream.model_version == "tests.forest/2"
    subject, body = compose(upstream, subject=None, intro="Check <b>this</b>", plugin_url="http://af/airgenome", pipeline_name="p")
    assert subject == "Approve tests.forest/2 for publishing?"
    assert "**Verdict** of step `bless`: **BLESSED**" in body
    assert "| accuracy | 0.9123 |" in body and "| fairness.sex.disparate\\_impact | 0.93 |" in body
    assert "[model card](http://af/airgenome/models/tests.forest/versions/2)" in body
    assert "[lineage](http://af/airgenome/models/tests.forest/versions/2/lineage)" in body
    assert "- [e1](http://af/airgenome/evaluations/e1)" in body
    assert "approval" not in body.split("| metric |")[1]  # the settings are not a metric
    _, empty = compose(Upstream(None, None), subject="S", intro=None, plugin_url="", pipeline_name="p")
    assert "no verdict to show" in empty


def test_approval_settings_are_found_and_checked() -> None:
    assert approval_settings(MANIFEST) == {"required": True}  # metrics.approval comes before outputs
    in_outputs = {k: v for k, v in MANIFEST.items() if k != "metrics"}
    assert approval_settings(in_outputs) == {"timeoutMinutes": 30, "default": "Reject"}
    assert approval_settings({"approval": {"timeoutMinutes": 0, "default": "Maybe", "required": "no"}}) == {}
    assert approval_settings(None) == {}


@pytest.fixture(scope="module")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Any:
    from airgenome.evaluations.store import get_evaluation_store
    from airgenome.models.client import ModelStore
    from airgenome.settings import StoreLocations

    base: Path = tmp_path_factory.mktemp("approval-stores")
    env = StoreLocations.under(base).as_env()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        from sklearn.dummy import DummyClassifier

        from airgenome.models.estimator import GenomeEstimator

        models = ModelStore()
        record = models.save_model(
            GenomeEstimator(DummyClassifier().fit([[0], [1]], [0, 1])),
            {"canonicalName": "/tests/approval", "application": "tests", "pipelineName": "p", "pipelineRunId": "r1",
             "pipelineStage": "train", "framework": "sklearn", "inputModality": "tabular", "versionName": "1",
             "predictionType": "classification"},
        )
        models.set_tag(record.id, "blessed", "true")
        yield SimpleNamespace(models=models, evaluations=get_evaluation_store(env["AIRGENOME_EVALUATION_STORE_URI"]), record=record)


@pytest.mark.slow  # a real MLflow store: ~10 s on a quiet machine
def test_a_rejection_is_recorded_as_not_blessed_by_that_person(stores: Any) -> None:
    upstream = Upstream("bless", {**MANIFEST, "model_version": stores.record.id})
    at = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    decision = Decision(choice="Reject", by="alice", at=at, dag_id="p", run_id="r1", task_id="approve")
    recorded = record_decision(decision, upstream, pipeline_name="p", settings={"timeoutMinutes": 5})
    tags = stores.models.get_model(stores.record.id).tags
    assert (tags[TAG_VERDICT], tags[TAG_DECISION], tags[TAG_BY]) == (NOT_BLESSED, "Reject", "alice")
    assert tags["airgenome.approval.at"] == tags["airgenome.blessing.at"] == "2026-11-30T12:00:00+00:00"
    assert tags["airgenome.blessing.reasons"] == "rejected by alice at 2026-11-30T12:00:00+00:00 (approval p/r1/approve)"
    run = stores.evaluations.get(recorded["evaluation_id"])
    assert (run.name, run.status, run.target_model.id, run.pipeline_stage) == (EVALUATION_NAME, 0, stores.record.id, "approve")
    assert run.tasks[0].metrics["respondedBy"] == "alice" and run.tasks[0].metrics["verdict"] == NOT_BLESSED
    assert run.tasks[0].expectations[0].message == "rejected by alice at 2026-11-30T12:00:00+00:00"
    card = stores.models.card(stores.models.get_model(stores.record.id))
    assert card.blessing.blessed is False and card.blessing.tag == TAG_VERDICT


@pytest.mark.slow
def test_operator_records_an_answer_on_resume_and_skips_asking_when_not_required(stores: Any) -> None:
    from airgenome.operators.categories import BlessApprovalOperator

    manifest = {**MANIFEST, "model_version": stores.record.id}

    class Ti:  # the little of Airflow's task instance the operator reads
        dag_id, run_id, task_id = "p", "r2", "approve"

        def xcom_pull(self, task_ids: str, key: str) -> Any:
            return manifest if task_ids == "bless" else None

    operator = BlessApprovalOperator(task_id="approve", blessing_task_ids=["bless"], pipeline_name="p", ask="whenPolicyRequires")
    event = {"chosen_options": ["Approve"], "params_input": {}, "responded_at": datetime.now(UTC),
             "responded_by_user": {"id": "bob", "name": "bob"}, "timedout": False}
    recorded = operator.execute_complete({"ti": Ti(), "task_instance": Ti()}, event)  # type: ignore[arg-type]
    assert (recorded["decision"], recorded["respondedBy"], recorded["verdict"]) == ("Approve", "bob", "BLESSED")
    assert stores.models.get_model(stores.record.id).tags[TAG_BY] == "bob"

    manifest["metrics"] = {"approval": {"required": False}}
    recorded = operator.execute({"ti": Ti(), "task_instance": Ti()})  # type: ignore[arg-type]
    assert recorded["respondedBy"] == "not required by the blessing policy"


@pytest.mark.slow
def test_a_rejection_is_recorded_even_though_airflow_skips_what_follows_by_raising(stores: Any) -> None:
    # Airflow's ApprovalOperator skips the downstream steps on Reject by raising
    # DownstreamTasksSkipped: the answer must be recorded before that exception leaves.
    from airflow.providers.standard.operators.empty import EmptyOperator
    from airflow.sdk import DAG
    from airflow.sdk.exceptions import DownstreamTasksSkipped

    from airgenome.operators.categories import BlessApprovalOperator

    manifest = {**MANIFEST, "model_version": stores.record.id}
    pushed: dict[str, Any] = {}

    class Ti:
        dag_id, run_id, task_id, map_index = "p", "r3", "approve", -1

        def xcom_pull(self, task_ids: str, key: str) -> Any:
            return manifest if task_ids == "bless" else None

        def xcom_push(self, key: str, value: Any) -> None:
            pushed[key] = value

    with DAG("p", schedule=None):
        operator = BlessApprovalOperator(task_id="approve", blessing_task_ids=["bless"], pipeline_name="p")
        operator >> EmptyOperator(task_id="publish")
    event = {"chosen_options": ["Reject"], "params_input": {}, "responded_at": datetime.now(UTC),
             "responded_by_user": {"id": "carol", "name": "carol"}, "timedout": False}
    with pytest.raises(DownstreamTasksSkipped) as raised:
        operator.execute_complete({"ti": Ti(), "task_instance": Ti(), "task": operator}, event)  # type: ignore[arg-type]
    assert [getattr(t, "task_id", t) for t in raised.value.tasks] == ["publish"]
    tags = stores.models.get_model(stores.record.id).tags
    assert (tags[TAG_VERDICT], tags[TAG_DECISION], tags[TAG_BY]) == (NOT_BLESSED, "Reject", "carol")
    runs = [stores.evaluations.get(item.id) for item in stores.evaluations.search(name=EVALUATION_NAME, limit=100)]
    recorded = [r for r in runs if r.pipeline_run_id == "r3"]
    assert [(r.status, r.tasks[0].metrics["respondedBy"]) for r in recorded] == [(0, "carol")]
