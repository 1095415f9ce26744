"""Policy verdicts on crafted evaluation records: every rule, with and without a baseline."""

from __future__ import annotations

import math
from typing import Any

import pytest
from pydantic import ValidationError

from airgenome.components.bless.policy import (
    BLESSED,
    BLESSING_CODE,
    NOT_BLESSED,
    Candidate,
    decide,
    verdict_run,
)
from airgenome.components.bless.specs import BlessPolicyParameters
from airgenome.components.registry import get
from airgenome.evaluations.records import FAIL, PASS, TargetModel

from .records import confusion, data_validation, fairness, robustness, run, task


def policy(**rules: Any) -> BlessPolicyParameters:
    return BlessPolicyParameters.model_validate(rules)


def reason_of(verdict: Any, rule: str) -> Any:
    return next(r for r in verdict.reasons if r.rule == rule)


def test_required_evaluations_by_name_prefix_and_wired_input() -> None:
    runs = [confusion(0.9), fairness(0.9, 0.05)]
    verdict = decide(policy(required=[{"evaluation": "confusion-matrix"}, {"evaluation": "fairness/*"}]), runs)
    assert verdict.name == BLESSED and [r.passed for r in verdict.reasons] == [True, True]
    missing = decide(policy(required=[{"evaluation": "robustness/*"}]), runs)
    assert missing.name == NOT_BLESSED
    assert missing.reasons[0].detail == "no such evaluation for this version"
    failed = decide(policy(required=[{"evaluation": "confusion-matrix"}]), [confusion(0.9, status="fail")])
    assert not failed.blessed and "is fail" in str(failed.reasons[0].detail)
    tolerant = decide(policy(required=[{"evaluation": "confusion-matrix", "statuses": ["pass", "fail"]}]),
                      [confusion(0.9, status="fail")])
    assert tolerant.blessed
    # A selector may name the wired input the evaluation came through.
    wired = decide(policy(required=[{"evaluation": "confusion"}]), [Candidate(confusion(0.9), "input:confusion")])
    assert wired.blessed


def test_the_current_run_per_name_is_the_wired_one_else_the_newest() -> None:
    old_fail = confusion(0.5, status="fail", age_s=100)
    new_pass = confusion(0.9, age_s=1)
    rules = policy(metrics=[{"evaluation": "confusion-matrix", "metric": "accuracy", ">=": 0.8}])
    assert decide(rules, [new_pass, old_fail]).blessed  # the store lists newest first
    assert not decide(rules, [Candidate(old_fail, "input:evaluation"), new_pass]).blessed  # wired wins


def test_metric_bounds_every_operator_and_missing_values() -> None:
    runs = [confusion(0.83)]
    ok = decide(policy(metrics=[{"evaluation": "confusion-matrix", "task": "accuracy", "metric": "accuracy",
                                 ">=": 0.8, "<": 0.9}]), runs)
    assert ok.blessed and ok.reasons[0].observed == pytest.approx(0.83)
    low = decide(policy(metrics=[{"evaluation": "confusion-matrix", "metric": "accuracy", ">": 0.85}]), runs)
    assert not low.blessed and low.reasons[0].detail == "not > 0.85"
    high = decide(policy(metrics=[{"evaluation": "confusion-matrix", "metric": "f1", "<=": 0.5}]), runs)
    assert not high.blessed and high.reasons[0].bound == {"<=": 0.5}
    absent = decide(policy(metrics=[{"evaluation": "confusion-matrix", "metric": "auc", ">=": 0.5}]), runs)
    assert not absent.blessed and absent.reasons[0].detail == "metric 'auc' not recorded"
    no_run = decide(policy(metrics=[{"evaluation": "other", "metric": "auc", ">=": 0.5}]), runs)
    assert not no_run.blessed and "no evaluation matches" in str(no_run.reasons[0].detail)
    nan = run("confusion-matrix", [task("accuracy", {"accuracy": "nan"})])
    assert decide(policy(metrics=[{"evaluation": "confusion-matrix", "metric": "accuracy", ">=": 0}]), [nan]
                  ).reasons[0].detail == "not a finite number"


CHANGE = {"evaluation": "confusion-matrix", "metric": "accuracy"}


def test_change_rules_without_a_baseline_pass_with_that_reason() -> None:
    verdict = decide(policy(changes=[{**CHANGE, "min_absolute_change": 0.05}]), [confusion(0.7)], None, None)
    assert verdict.blessed
    assert verdict.reasons[0].detail == "no baseline"


@pytest.mark.parametrize(
    ("candidate", "baseline", "rule", "passed"),
    [
        # MLflow MetricThreshold semantics: higher is better, candidate - baseline >= min_absolute_change.
        (0.85, 0.80, {"min_absolute_change": 0.05}, True),
        (0.84, 0.80, {"min_absolute_change": 0.05}, False),
        # A negative bound tolerates that much regression (TFMA's "not worse than -1e-10" idiom).
        (0.795, 0.80, {"min_absolute_change": -0.01}, True),
        (0.78, 0.80, {"min_absolute_change": -0.01}, False),
        # Relative: (candidate - baseline) / |baseline|.
        (0.88, 0.80, {"min_relative_change": 0.1}, True),
        (0.87, 0.80, {"min_relative_change": 0.1}, False),
        # Both must hold.
        (0.88, 0.80, {"min_absolute_change": 0.1, "min_relative_change": 0.05}, False),
        # Lower is better (an error rate): improvement is baseline - candidate.
        (0.10, 0.20, {"min_absolute_change": 0.05, "higher_is_better": False}, True),
        (0.18, 0.20, {"min_absolute_change": 0.05, "higher_is_better": False}, False),
        (0.15, 0.20, {"min_relative_change": 0.25, "higher_is_better": False}, True),
    ],
)
def test_change_against_the_baseline(candidate: float, baseline: float, rule: dict[str, Any], passed: bool) -> None:
    verdict = decide(policy(changes=[{**CHANGE, **rule}]), [confusion(candidate)],
                     [confusion(baseline, model="m/0")], "m/0")
    reason = verdict.reasons[0]
    assert reason.passed is passed, reason.line()
    assert reason.baseline == pytest.approx(baseline)
    assert "baseline m/0" in str(reason.detail)


def test_change_with_a_zero_baseline_and_a_baseline_without_the_metric() -> None:
    zero = decide(policy(changes=[{**CHANGE, "min_relative_change": 0.5}]), [confusion(0.1)],
                  [confusion(0.0, model="m/0")], "m/0")
    assert zero.blessed and "inf relative" in str(zero.reasons[0].detail)
    other = decide(policy(changes=[{**CHANGE, "min_absolute_change": 0.1}]), [confusion(0.5)],
                   [fairness(1.0, 0.0, model="m/0")], "m/0")
    assert other.blessed and "no baseline value" in str(other.reasons[0].detail)
    missing = decide(policy(changes=[{**CHANGE, "min_absolute_change": 0.1}]), [fairness(1, 0)],
                     [confusion(0.5, model="m/0")], "m/0")
    assert not missing.blessed and "not recorded for this version" in str(missing.reasons[0].detail)


def test_fairness_bounds_on_attribute_metrics_in_every_stored_shape() -> None:
    runs = [fairness(0.7, -0.15)]
    verdict = decide(policy(fairness=[
        {"attribute": "sex", "metric": "disparate_impact", ">=": 0.8, "<=": 1.25},  # segment task
        {"attribute": "sex", "metric": "statistical_parity_difference", "abs": True, "<=": 0.1},
        {"attribute": "age", "metric": "disparate_impact", ">=": 0.8},  # {attribute: {metric: v}}
        {"name": "race", "attribute": "race", "metric": "disparate_impact", ">=": 0.8},
    ]), runs)
    assert [r.passed for r in verdict.reasons] == [False, False, True, False]
    assert verdict.reasons[1].observed == pytest.approx(-0.15)  # observed as stored, judged by |value|
    assert reason_of(verdict, "race").detail == "'disparate_impact' for 'race' not recorded"
    flat = run("fairness", [task("all", {"sex.disparate_impact": 0.9})])
    assert decide(policy(fairness=[{"attribute": "sex", "metric": "disparate_impact", ">=": 0.8}]), [flat]).blessed
    none = decide(policy(fairness=[{"attribute": "sex", "metric": "disparate_impact", ">=": 0.8}]), [confusion(0.9)])
    assert not none.blessed and none.reasons[0].detail == "no fairness evaluation for this version"


def test_group_bounds_on_the_trust_components_layout_judge_every_group_and_attack() -> None:
    # evaluate.fairness: "fairness/<attribute>" (segment: the attribute) with the difference metrics,
    # then one task per group (segment {"attribute", "group"}) with accuracy / TPR / FPR.
    trust_fairness = run("trust/fairness", [
        task("fairness/sex", {"disparate_impact": 0.92, "statistical_parity_difference": -0.03}, "pass", segment="sex"),
        task("fairness/sex/privileged", {"accuracy": 0.91, "rows": 40}, segment={"attribute": "sex", "group": "sex in M"}),
        task("fairness/sex/unprivileged", {"accuracy": 0.74, "rows": 38},
             segment={"attribute": "sex", "group": "not (sex in M)"}),
        task("fairness/age", {"disparate_impact": 0.7}, "fail", segment="age"),
    ])
    # evaluate.robustness: "robustness/<attack>/eps=<eps>" (segment {"attack", "eps"}).
    trust_robustness = run("trust/robustness", [
        task("robustness/clean", {"accuracy": 0.9}),
        task("robustness/fgsm/eps=0.03", {"accuracy": 0.62}, segment={"attack": "fgsm", "eps": 0.03}),
        task("robustness/pgd/eps=0.03", {"accuracy": 0.48}, segment={"attack": "pgd", "eps": 0.03}),
    ])
    verdict = decide(policy(
        fairness=[{"attribute": "sex", "metric": "disparate_impact", ">=": 0.8, "<=": 1.25},
                  {"attribute": "age", "metric": "disparate_impact", ">=": 0.8},
                  {"attribute": "sex", "metric": "accuracy", ">=": 0.8}],
        robustness=[{"attribute": "eps=0.03", "metric": "accuracy", ">=": 0.5},
                    {"attribute": "fgsm/eps=0.03", "metric": "accuracy", ">=": 0.5}],
    ), [trust_fairness, trust_robustness])
    assert [r.passed for r in verdict.reasons] == [True, False, False, False, True]
    per_group = verdict.reasons[2]
    assert per_group.observed == {"fairness/sex/privileged": 0.91, "fairness/sex/unprivileged": 0.74}
    assert per_group.detail == "fairness/sex/unprivileged: 0.74 not >= 0.8"
    assert verdict.reasons[3].detail == "robustness/pgd/eps=0.03: 0.48 not >= 0.5"  # every attack at that eps
    assert verdict.reasons[0].evaluation_id == trust_fairness.id


def test_robustness_bounds() -> None:
    rule = {"attribute": "eps=0.03", "metric": "accuracy", ">=": 0.5}
    assert decide(policy(robustness=[rule]), [robustness(0.6)]).blessed
    weak = decide(policy(robustness=[rule]), [robustness(0.3)])
    assert not weak.blessed and weak.reasons[0].kind == "robustness"
    wired = Candidate(run("art", [task("attacks", {"accuracy": {"eps=0.03": 0.7}})]), "input:robustness")
    assert decide(policy(robustness=[rule]), [wired]).blessed


def test_data_validation_passed() -> None:
    rule = {"evaluation": "data-validation/*"}
    assert decide(policy(data_validation=rule), [data_validation(True)]).blessed
    assert not decide(policy(data_validation=rule), [data_validation(False)]).blessed
    assert not decide(policy(data_validation=rule), []).blessed
    wired = Candidate(data_validation(True), "input:data_validation")
    assert decide(policy(data_validation={}), [wired]).blessed  # default selector: the wired input


def test_every_reason_is_kept_and_blessing_runs_are_never_judged() -> None:
    old_verdict = run("blessing/policy", [task("verdict", {"accuracy": 0.1})], code=BLESSING_CODE)
    verdict = decide(policy(
        required=[{"evaluation": "confusion-matrix"}],
        metrics=[{"evaluation": "*", "metric": "accuracy", ">=": 0.8}],
        fairness=[{"attribute": "sex", "metric": "disparate_impact", ">=": 0.8}],
        data_validation={"evaluation": "data-validation/*"},
    ), [old_verdict, confusion(0.9), fairness(0.5, 0.0), data_validation(True)])
    assert [r.rule for r in verdict.reasons] == ["required[0]", "metrics[0]", "fairness[0]", "data_validation"]
    assert [r.passed for r in verdict.reasons] == [True, True, False, True]
    assert verdict.reasons[1].observed == pytest.approx(0.9)  # not the old verdict's 0.1
    summary = verdict.summary()
    assert summary.startswith("NOT_BLESSED: 1 of 4 rules failed") and "fairness[0]" in summary


def test_the_verdict_becomes_an_evaluation_run_with_one_task_per_rule() -> None:
    rules = policy(metrics=[{"name": "acc", "evaluation": "confusion-matrix", "metric": "accuracy", ">=": 0.8}],
                   changes=[{**CHANGE, "min_absolute_change": 0}])
    blessed = decide(rules, [confusion(0.9)])
    record = verdict_run(blessed, rules, TargetModel(id="m/1"), pipeline_name="p")
    assert record.code == BLESSING_CODE and record.status == PASS
    assert [t.name for t in record.tasks] == ["acc", "changes[0]", "verdict"]
    assert record.tasks[0].metrics["observed"] == pytest.approx(0.9)
    assert record.parameters["metrics"][0][">="] == 0.8
    cursed = decide(rules, [confusion(0.7)])
    assert verdict_run(cursed, rules, TargetModel(id="m/1")).status == FAIL


@pytest.mark.parametrize(
    ("parameters", "path"),
    [
        ({}, ""),
        ({"metrics": [{"evaluation": "x", "metric": "a"}]}, "metrics[0]"),
        ({"metrics": [{"evaluation": "x", "metric": "a", ">=": 0.9, "<=": 0.1}]}, "metrics[0]"),
        ({"metrics": [{"evaluation": "x", "metric": "a", ">=": math.inf}]}, "metrics[0]"),
        ({"changes": [{"evaluation": "x", "metric": "a"}]}, "changes[0]"),
        ({"required": [{"evaluation": "x", "statuses": ["passed"]}]}, "required[0].statuses[0]"),
        ({"required": [{"evaluation": "x", "typo": 1}]}, "required[0].typo"),
        ({"required": [{"evaluation": "x"}], "on_not_blessed": "explode"}, "on_not_blessed"),
        ({"required": [{"evaluation": "x"}], "baseline_alias": "no spaces"}, "baseline_alias"),
    ],
)
def test_bad_policies_are_refused_at_upload_by_path(parameters: dict[str, Any], path: str) -> None:
    with pytest.raises(ValidationError):
        BlessPolicyParameters.model_validate(parameters)
    _, problems = get("bless.policy").validate_parameters(parameters)
    assert problems and any(p.path == path for p in problems), problems


def test_the_spec_declares_optional_evaluation_inputs_and_a_valid_example() -> None:
    spec = get("bless.policy")
    assert spec.inputs["model"].required and spec.inputs["model"].kind == "model"
    assert {"evaluation", "fairness", "robustness", "explanations", "data_validation", "confusion"} <= set(spec.inputs)
    assert all(not p.required and p.kind == "evaluation" for n, p in spec.inputs.items() if n != "model")
    assert spec.outputs["blessing"].kind == "blessing"
    assert spec.validate_parameters(spec.example)[1] == []
    approval = {"required": True, "timeoutMinutes": 60, "default": "Reject", "subject": "ship it?"}
    parsed = BlessPolicyParameters.model_validate({**spec.example, "approval": approval})
    assert parsed.approval.model_dump(exclude_none=True) == approval  # carried for the approval step
    _, problems = spec.validate_parameters({**spec.example, "approval": {"requried": True, "timeoutMinutes": 0}})
    assert {p.path for p in problems} == {"approval.requried", "approval.timeoutMinutes"}
