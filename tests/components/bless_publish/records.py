"""Crafted evaluation records for the policy tests and the benchmark (no store needed)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from airgenome.evaluations.records import (
    FAIL,
    NO_EXPECTATIONS,
    PASS,
    EvaluationRunRecord,
    ExpectationRecord,
    TargetModel,
    TaskRecord,
    aggregate_status,
)

STATUS = {"pass": PASS, "fail": FAIL, "none": NO_EXPECTATIONS}


def task(name: str, metrics: dict[str, Any], status: str = "none", segment: Any = None,
         position: int = 0, pictures: tuple[dict[str, Any], ...] = ()) -> TaskRecord:
    expectations: tuple[ExpectationRecord, ...] = ()
    if status != "none":
        expectations = (ExpectationRecord(recipe=f"{name} ok", operator="=", var=name, value=1, expected=1,
                                          expected_var=None, status=STATUS[status]),)
    return TaskRecord(position=position, name=name, kind="task", status=STATUS[status], segment=segment,
                      metrics=metrics, expectations=expectations, pictures=pictures)


def run(name: str, tasks: list[TaskRecord], model: str | None = "m/1", age_s: float = 0.0,
        status: str | None = None, code: str | None = None) -> EvaluationRunRecord:
    tasks = [TaskRecord(**{**t.__dict__, "position": i}) for i, t in enumerate(tasks)]
    return EvaluationRunRecord(
        id=uuid.uuid4().hex, name=name,
        status=STATUS[status] if status else aggregate_status(t.status for t in tasks),
        created_at=datetime.now(UTC) - timedelta(seconds=age_s),
        target_model=TargetModel(id=model), tasks=tuple(tasks), code=code,
    )


def confusion(accuracy: float, model: str = "m/1", status: str = "pass", age_s: float = 0.0) -> EvaluationRunRecord:
    return run("confusion-matrix", [task("accuracy", {"accuracy": accuracy, "f1": accuracy - 0.02}, status)],
               model=model, age_s=age_s)


def fairness(di_sex: float, spd_sex: float, model: str = "m/1") -> EvaluationRunRecord:
    return run("fairness/aif360", [
        task("sex", {"disparate_impact": di_sex, "statistical_parity_difference": spd_sex}, "pass", segment="sex"),
        task("summary", {"age": {"disparate_impact": 0.95}}),
    ], model=model)


def robustness(adv_accuracy: float, model: str = "m/1") -> EvaluationRunRecord:
    return run("robustness/fgsm", [task("attacks", {"accuracy": {"eps=0.03": adv_accuracy, "eps=0": 0.9}})],
               model=model)


def data_validation(passed: bool, model: str | None = None) -> EvaluationRunRecord:
    return run("data-validation/gx", [task("expectations", {"success_percent": 100 if passed else 60},
                                           "pass" if passed else "fail")], model=model)
