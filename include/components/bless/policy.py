"""`bless.policy`: judge a model version's evaluations against a JSON policy.

Two halves:

- `decide` is pure: evaluation records in (the candidate's, and the baseline's), a `Verdict`
  out with one `Reason` per rule (rule, observed, bound, pass/fail, detail). No I/O, so it is
  tested on crafted records and benchmarked.
- `run` is the component: it gathers the records (wired evaluation inputs first, then the
  evaluation store's runs that target the version), finds the baseline (the version holding
  the baseline alias, default ``champion``), decides, and records the verdict — as an
  evaluation of the policy in the evaluation store (one task per rule), as tags on the MLflow
  model version (``airgenome.blessing``, ``airgenome.blessing.evaluation``,
  ``airgenome.blessing.reasons``; the model card's Blessing section reads them) and as the
  ``blessing`` output. Only then does NOT_BLESSED end the step (skip by default).

Which run a rule reads: per evaluation name the *current* run — the wired one, else the newest
in the store. A selector matches current runs by name, by prefix (``trust/*``) or by the
wired input it came through; a rule reads the first matching run that has its metric
(wired before store). A fairness / robustness bound judges every task of that run about its
attribute (each group of ``sex``; each attack at ``eps=0.03``): all must hold.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from airgenome.components.bless.specs import (
    EVALUATION_INPUTS,
    BlessPolicyParameters,
    ChangeRule,
    DataValidationRule,
    GroupBound,
    MetricBound,
    RequiredEvaluation,
)
from airgenome.components.context import ComponentContext, ComponentFailed, Result, SkipStep
from airgenome.evaluations.records import (
    FAIL,
    PASS,
    STATUS_NAMES,
    EvaluationRunRecord,
    ExpectationRecord,
    TargetModel,
    TaskRecord,
    aggregate_status,
    jsonable,
)

if TYPE_CHECKING:
    from airgenome.models.client import ModelStore
    from airgenome.models.records import ModelRecord

BLESSED = "BLESSED"
NOT_BLESSED = "NOT_BLESSED"
# The code of every verdict recorded in the evaluation store: how the policy (and the publish
# components) tell a blessing run from the evaluations it judged.
BLESSING_CODE = "airgenome.bless.policy"
TAG_VERDICT = "airgenome.blessing"
TAG_EVALUATION = "airgenome.blessing.evaluation"
TAG_REASONS = "airgenome.blessing.reasons"
TAG_AT = "airgenome.blessing.at"
TAG_APPROVAL = "airgenome.blessing.approvalRequired"
STORE_RUNS_LIMIT = 500

_COMPARE: dict[str, Callable[[float, float], bool]] = {
    ">=": lambda a, b: a >= b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    "<": lambda a, b: a < b,
}


# --------------------------------------------------------------------------- records


@dataclass(frozen=True)
class Candidate:
    """An evaluation run and where the policy found it (``input:<port>`` or ``store``)."""

    run: EvaluationRunRecord
    source: str = "store"

    @property
    def port(self) -> str | None:
        return self.source.removeprefix("input:") if self.source.startswith("input:") else None


@dataclass(frozen=True)
class Reason:
    rule: str  # the rule's name, else its path in the policy ("metrics[0]")
    kind: str  # required | metric | change | fairness | robustness | data_validation
    description: str
    observed: Any
    bound: Any
    passed: bool
    detail: str | None = None
    evaluation_id: str | None = None
    baseline: Any = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "kind": self.kind,
            "description": self.description,
            "observed": jsonable(self.observed),
            "bound": jsonable(self.bound),
            "baseline": jsonable(self.baseline),
            "passed": self.passed,
            "detail": self.detail,
            "evaluationId": self.evaluation_id,
        }

    def line(self) -> str:
        state = "pass" if self.passed else "FAIL"
        observed = "missing" if self.observed is None else _short(self.observed)
        text = f"[{state}] {self.rule}: {self.description} (observed {observed})"
        return f"{text}: {self.detail}" if self.detail else text


@dataclass(frozen=True)
class Verdict:
    blessed: bool
    reasons: tuple[Reason, ...]
    baseline: str | None = None
    judged: tuple[str, ...] = field(default_factory=tuple)  # evaluation ids the rules read

    @property
    def name(self) -> str:
        return BLESSED if self.blessed else NOT_BLESSED

    @property
    def failed(self) -> list[Reason]:
        return [reason for reason in self.reasons if not reason.passed]

    def summary(self) -> str:
        failed = self.failed
        head = (
            f"{self.name}: {len(self.reasons) - len(failed)} of {len(self.reasons)} rules passed"
            if not failed
            else f"{self.name}: {len(failed)} of {len(self.reasons)} rules failed"
        )
        shown = failed or list(self.reasons)
        return head + "; " + "; ".join(reason.line() for reason in shown)

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.name,
            "blessed": self.blessed,
            "baseline": self.baseline,
            "judged": list(self.judged),
            "reasons": [reason.to_dict() for reason in self.reasons],
        }


def _short(value: Any) -> str:
    text = f"{value:.6g}" if isinstance(value, float) else str(value)
    return text if len(text) <= 80 else text[:79] + "…"


# --------------------------------------------------------------------------- matching


def _name_matches(selector: str, name: str) -> bool:
    return name.startswith(selector[:-1]) if selector.endswith("*") else name == selector


def current_runs(candidates: Iterable[Candidate]) -> list[Candidate]:
    """Per evaluation name the first candidate (callers order wired first, then newest)."""
    seen: set[str] = set()
    seen_ids: set[str] = set()
    current: list[Candidate] = []
    for candidate in candidates:
        run = candidate.run
        if run.id in seen_ids or run.code == BLESSING_CODE:
            continue
        seen_ids.add(run.id)
        if candidate.port is not None:  # every wired run counts, even two of one name
            current.append(candidate)
            seen.add(run.name)
        elif run.name not in seen:
            current.append(candidate)
            seen.add(run.name)
    return current


class Runs(Sequence[Candidate]):
    """The current runs, indexed by name and by wired port (a policy asks once per rule)."""

    def __init__(self, runs: Sequence[Candidate]) -> None:
        self._runs = list(runs)
        self._by_key: dict[tuple[str, str], list[int]] = {}
        for position, candidate in enumerate(self._runs):
            self._by_key.setdefault(("name", candidate.run.name), []).append(position)
            if candidate.port is not None:
                self._by_key.setdefault(("port", candidate.port), []).append(position)

    def __len__(self) -> int:
        return len(self._runs)

    def __getitem__(self, index: Any) -> Any:
        return self._runs[index]

    def select(self, selector: str) -> list[Candidate]:
        if selector.endswith("*"):
            return [c for c in self._runs if c.port == selector or _name_matches(selector, c.run.name)]
        positions = sorted({*self._by_key.get(("name", selector), ()), *self._by_key.get(("port", selector), ())})
        return [self._runs[position] for position in positions]


def select(selector: str, runs: Sequence[Candidate]) -> list[Candidate]:
    if isinstance(runs, Runs):
        return runs.select(selector)
    return [c for c in runs if c.port == selector or _name_matches(selector, c.run.name)]


def _default_selector(kind: str, runs: Sequence[Candidate]) -> list[Candidate]:
    return [c for c in runs if c.port == kind or kind in c.run.name.lower()]


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def find_metric(run: EvaluationRunRecord, task: str | None, metric: str) -> tuple[Any, str] | None:
    """(value, task name) of the first task (by task selector) that records ``metric``."""
    for record in run.tasks:
        if record.kind != "task" or (task is not None and not _name_matches(task, record.name)):
            continue
        if metric in record.metrics:
            return record.metrics[metric], record.name
    return None


def _about(record: TaskRecord, attribute: str) -> bool:
    """Whether a task is about ``attribute``: named after it (``fairness/sex``,
    ``robustness/fgsm/eps=0.03``) or segmented by it (``"sex"``, ``{"attribute": "sex", ...}``)."""
    if record.name == attribute or record.name.endswith("/" + attribute):
        return True
    segment = record.segment
    return segment == attribute or (isinstance(segment, Mapping) and segment.get("attribute") == attribute)


def find_group_metric(run: EvaluationRunRecord, attribute: str, metric: str) -> list[tuple[Any, str]]:
    """Every per-group value of ``metric`` for ``attribute`` in a run, in the shapes evaluations
    store them: a task about the attribute with the metric (the fairness component's
    ``fairness/<attribute>`` and its per-group tasks; the robustness component's
    ``robustness/<attack>/eps=<eps>``), or a metric ``{attribute: {metric: v}}``,
    ``{metric: {attribute: v}}``, ``attribute.metric`` / ``attribute/metric``."""
    flat = (f"{attribute}.{metric}", f"{attribute}/{metric}", f"{metric}[{attribute}]")
    found: list[tuple[Any, str]] = []
    for record in run.tasks:
        if record.kind != "task":
            continue
        metrics = record.metrics
        nested = metrics.get(attribute)
        by_metric = metrics.get(metric)
        if isinstance(nested, Mapping) and metric in nested:
            found.append((nested[metric], record.name))
        elif isinstance(by_metric, Mapping) and attribute in by_metric:
            found.append((by_metric[attribute], record.name))
        elif any(key in metrics for key in flat):
            found.append((next(metrics[key] for key in flat if key in metrics), record.name))
        elif metric in metrics and _about(record, attribute):
            found.append((metrics[metric], record.name))
    return found


# --------------------------------------------------------------------------- rules


def _label(rule: Any, path: str) -> str:
    return rule.name or path


def _check_bounds(value: float, bounds: list[tuple[str, float]]) -> tuple[bool, str | None]:
    broken = [f"{op} {bound:g}" for op, bound in bounds if not _COMPARE[op](value, bound)]
    return (not broken, f"not {' and not '.join(broken)}" if broken else None)


def _bounds_text(bounds: list[tuple[str, float]]) -> str:
    return " and ".join(f"{op} {value:g}" for op, value in bounds)


def _required(rule: RequiredEvaluation | DataValidationRule, path: str, kind: str,
              runs: Sequence[Candidate]) -> Reason:
    allowed = list(rule.statuses)
    description = f"evaluation {rule.evaluation!r} with status {' or '.join(allowed)}"
    matched = select(rule.evaluation, runs)
    if not matched:
        return Reason(_label(rule, path), kind, description, None, allowed, False,
                      "no such evaluation for this version")
    statuses = {c.run.id: STATUS_NAMES[c.run.status] for c in matched}
    bad = [f"{c.run.name} ({c.run.id}) is {statuses[c.run.id]}" for c in matched if statuses[c.run.id] not in allowed]
    observed: Any = statuses[matched[0].run.id] if len(matched) == 1 else statuses
    return Reason(_label(rule, path), kind, description, observed, allowed, not bad,
                  "; ".join(bad) or None, matched[0].run.id)


def _first_metric(
    matched: Sequence[Candidate], lookup: Callable[[EvaluationRunRecord], tuple[Any, str] | None]
) -> tuple[Candidate, Any, str] | None:
    for candidate in matched:
        found = lookup(candidate.run)
        if found is not None:
            return candidate, found[0], found[1]
    return None


def _metric(rule: MetricBound, path: str, runs: Sequence[Candidate]) -> Reason:
    bounds = rule.bounds()
    where = f" task {rule.task!r}" if rule.task else ""
    description = f"{rule.evaluation}{where} {rule.metric} {_bounds_text(bounds)}"
    matched = select(rule.evaluation, runs)
    if not matched:
        return Reason(_label(rule, path), "metric", description, None, dict(bounds), False,
                      f"no evaluation matches {rule.evaluation!r}")
    found = _first_metric(matched, lambda run: find_metric(run, rule.task, rule.metric))
    if found is None:
        return Reason(_label(rule, path), "metric", description, None, dict(bounds), False,
                      f"metric {rule.metric!r} not recorded", matched[0].run.id)
    candidate, raw, _task = found
    value = _number(raw)
    if value is None:
        return Reason(_label(rule, path), "metric", description, raw, dict(bounds), False,
                      "not a finite number", candidate.run.id)
    passed, detail = _check_bounds(value, bounds)
    return Reason(_label(rule, path), "metric", description, value, dict(bounds), passed, detail, candidate.run.id)


def _group(rule: GroupBound, path: str, kind: str, runs: Sequence[Candidate]) -> Reason:
    bounds = rule.bounds()
    shown = f"|{rule.metric}|" if rule.abs else rule.metric
    selector = rule.evaluation or kind
    description = f"{selector} {rule.attribute}: {shown} {_bounds_text(bounds)}"
    matched = select(rule.evaluation, runs) if rule.evaluation else _default_selector(kind, runs)
    if not matched:
        return Reason(_label(rule, path), kind, description, None, dict(bounds), False,
                      f"no {kind} evaluation for this version")
    values: list[tuple[Any, str]] = []
    chosen = matched[0]
    for candidate in matched:  # the first run that records it; every matching task there is judged
        values = find_group_metric(candidate.run, rule.attribute, rule.metric)
        if values:
            chosen = candidate
            break
    if not values:
        return Reason(_label(rule, path), kind, description, None, dict(bounds), False,
                      f"{rule.metric!r} for {rule.attribute!r} not recorded", matched[0].run.id)
    observed: Any = values[0][0] if len(values) == 1 else {name: value for value, name in values}
    broken = []
    for raw, name in values:
        value = _number(raw)
        if value is None:
            broken.append(f"{name}: {raw!r} is not a finite number (undefined for this group?)")
            continue
        passed, detail = _check_bounds(abs(value) if rule.abs else value, bounds)
        if not passed:
            broken.append(f"{name}: {value:.6g} {detail}" if len(values) > 1 else str(detail))
    return Reason(_label(rule, path), kind, description, observed, dict(bounds), not broken,
                  "; ".join(broken) or None, chosen.run.id)


def _at_least(value: float, bound: float) -> bool:
    """``value >= bound``, forgiving the rounding of a difference (0.85 - 0.80 = 0.04999...)."""
    return value >= bound or math.isclose(value, bound, rel_tol=1e-9, abs_tol=1e-12)


def _change(rule: ChangeRule, path: str, runs: Sequence[Candidate],
            baseline_runs: Sequence[Candidate] | None, baseline: str | None) -> Reason:
    direction = "higher" if rule.higher_is_better else "lower"
    limits = []
    if rule.min_absolute_change is not None:
        limits.append(f"change >= {rule.min_absolute_change:g}")
    if rule.min_relative_change is not None:
        limits.append(f"relative change >= {rule.min_relative_change:g}")
    description = f"{rule.evaluation} {rule.metric} vs baseline ({direction} is better): {' and '.join(limits)}"
    bound = {"min_absolute_change": rule.min_absolute_change, "min_relative_change": rule.min_relative_change,
             "higher_is_better": rule.higher_is_better}
    matched = select(rule.evaluation, runs)
    found = _first_metric(matched, lambda run: find_metric(run, rule.task, rule.metric))
    if found is None:
        return Reason(_label(rule, path), "change", description, None, bound, False,
                      f"metric {rule.metric!r} not recorded for this version")
    candidate, raw, _task = found
    value = _number(raw)
    if value is None:
        return Reason(_label(rule, path), "change", description, raw, bound, False, "not a finite number",
                      candidate.run.id)
    if baseline is None or baseline_runs is None:
        return Reason(_label(rule, path), "change", description, value, bound, True, "no baseline",
                      candidate.run.id)
    # The baseline's run of the same evaluation (by name: a wired port has no meaning there).
    same = [c for c in baseline_runs if c.run.name == candidate.run.name]
    base = _first_metric(same, lambda run: find_metric(run, rule.task, rule.metric))
    base_value = _number(base[1]) if base is not None else None
    if base_value is None:
        return Reason(_label(rule, path), "change", description, value, bound, True,
                      f"no baseline value (baseline {baseline} has no {candidate.run.name} {rule.metric})",
                      candidate.run.id)
    change = value - base_value if rule.higher_is_better else base_value - value
    if base_value != 0:
        relative = change / abs(base_value)
    else:
        relative = 0.0 if change == 0 else math.copysign(math.inf, change)
    broken = []
    if rule.min_absolute_change is not None and not _at_least(change, rule.min_absolute_change):
        broken.append(f"change {change:.6g} < {rule.min_absolute_change:g}")
    if rule.min_relative_change is not None and not _at_least(relative, rule.min_relative_change):
        broken.append(f"relative change {relative:.6g} < {rule.min_relative_change:g}")
    detail = f"baseline {baseline} {base_value:.6g}, change {change:.6g} ({relative:.4g} relative)"
    if broken:
        detail += ": " + "; ".join(broken)
    return Reason(_label(rule, path), "change", description, value, bound, not broken, detail,
                  candidate.run.id, baseline=base_value)


def decide(
    policy: BlessPolicyParameters,
    candidates: Sequence[Candidate | EvaluationRunRecord],
    baseline_runs: Sequence[Candidate | EvaluationRunRecord] | None = None,
    baseline: str | None = None,
) -> Verdict:
    """The verdict of ``policy`` over the candidate's evaluations (wired first, then the store's,
    newest first) and the baseline version's (``baseline``: its id; None when there is none)."""
    runs = Runs(current_runs(c if isinstance(c, Candidate) else Candidate(c) for c in candidates))
    base = None if baseline_runs is None else current_runs(
        c if isinstance(c, Candidate) else Candidate(c) for c in baseline_runs)
    reasons: list[Reason] = []
    for index, required in enumerate(policy.required):
        reasons.append(_required(required, f"required[{index}]", "required", runs))
    for index, bound in enumerate(policy.metrics):
        reasons.append(_metric(bound, f"metrics[{index}]", runs))
    for index, change in enumerate(policy.changes):
        reasons.append(_change(change, f"changes[{index}]", runs, base, baseline))
    for index, group in enumerate(policy.fairness):
        reasons.append(_group(group, f"fairness[{index}]", "fairness", runs))
    for index, group in enumerate(policy.robustness):
        reasons.append(_group(group, f"robustness[{index}]", "robustness", runs))
    if policy.data_validation is not None:
        reasons.append(_required(policy.data_validation, "data_validation", "data_validation", runs))
    judged = tuple(dict.fromkeys(r.evaluation_id for r in reasons if r.evaluation_id))
    return Verdict(blessed=all(r.passed for r in reasons), reasons=tuple(reasons), baseline=baseline, judged=judged)


# --------------------------------------------------------------------------- recording


def verdict_run(
    verdict: Verdict,
    policy: BlessPolicyParameters,
    target: TargetModel,
    *,
    pipeline_name: str | None = None,
    pipeline_stage: str | None = None,
    pipeline_run_id: str | None = None,
    application: str | None = None,
) -> EvaluationRunRecord:
    """The verdict as an evaluation run of the policy: one task per rule, then the verdict."""
    tasks: list[TaskRecord] = []
    for position, reason in enumerate(verdict.reasons):
        metrics: dict[str, Any] = {"observed": jsonable(reason.observed), "bound": jsonable(reason.bound)}
        if reason.baseline is not None:
            metrics["baseline"] = jsonable(reason.baseline)
        if reason.evaluation_id:
            metrics["evaluation"] = reason.evaluation_id
        expectation = ExpectationRecord(
            recipe=f"{{{reason.kind}:{_short(reason.observed) if reason.observed is not None else 'missing'}}} "
            f"satisfies {reason.description}",
            operator="satisfies",
            var=reason.kind,
            value=jsonable(reason.observed),
            expected=reason.description,
            expected_var=None,
            status=PASS if reason.passed else FAIL,
            message=reason.detail,
        )
        tasks.append(TaskRecord(position=position, name=reason.rule, kind="task",
                                status=expectation.status, segment=reason.kind, metrics=metrics,
                                expectations=(expectation,)))
    final = ExpectationRecord(
        recipe=f"{{verdict:{verdict.name!r}}} = 'BLESSED'", operator="=", var="verdict", value=verdict.name,
        expected=BLESSED, expected_var=None, status=PASS if verdict.blessed else FAIL,
        message=None if verdict.blessed else f"{len(verdict.failed)} rule(s) failed",
    )
    tasks.append(TaskRecord(position=len(tasks), name="verdict", kind="task", status=final.status,
                            metrics={"rules": len(verdict.reasons), "failed": len(verdict.failed),
                                     "baseline": verdict.baseline},
                            expectations=(final,)))
    return EvaluationRunRecord(
        id=uuid.uuid4().hex,
        name=policy.evaluation_name,
        status=aggregate_status(task.status for task in tasks),
        created_at=datetime.now(UTC),
        target_model=target,
        tasks=tuple(tasks),
        version_name=None,
        code=BLESSING_CODE,
        parameters=policy.model_dump(mode="json", by_alias=True, exclude_none=True),
        application=application,
        pipeline_name=pipeline_name,
        pipeline_stage=pipeline_stage,
        pipeline_run_id=pipeline_run_id,
    )


# --------------------------------------------------------------------------- the component


def _evaluation_id(ref_uri: str, metadata: Mapping[str, Any]) -> str:
    return str(metadata.get("id") or ref_uri.split(":/", 1)[-1].strip("/"))


def gather(ctx: ComponentContext, record: ModelRecord, policy: BlessPolicyParameters,
           evaluation_store: Any) -> list[Candidate]:
    """Wired evaluations (in port order), then the store's runs for the version (newest first)."""
    from airgenome.errors import NotFound

    candidates: list[Candidate] = []
    for port in EVALUATION_INPUTS:
        ref = ctx.inputs.get(port)
        if ref is None:
            continue
        run_id = _evaluation_id(ref.uri, ref.metadata)
        try:
            run = evaluation_store.get(run_id)
        except NotFound:
            raise ComponentFailed(f"inputs.{port}: evaluation {run_id!r} is not in the evaluation store") from None
        if run.target_model.id not in (None, record.id):
            raise ComponentFailed(
                f"inputs.{port}: evaluation {run.name!r} ({run.id}) judged model {run.target_model.id}, "
                f"not {record.id}"
            )
        candidates.append(Candidate(run, f"input:{port}"))
    if policy.use_store:
        candidates.extend(Candidate(run) for run in stored_runs(evaluation_store, record.id))
    return candidates


def stored_runs(evaluation_store: Any, model_id: str) -> list[EvaluationRunRecord]:
    """The store's runs that target ``model_id``, newest first, without blessing verdicts."""
    page = evaluation_store.search(model_id=model_id, limit=STORE_RUNS_LIMIT)
    runs = (evaluation_store.get(summary.id) for summary in page.items)
    return [run for run in runs if run.code != BLESSING_CODE]


def baseline_of(store: ModelStore, record: ModelRecord, alias: str) -> ModelRecord | None:
    from airgenome.errors import NotFound

    try:
        holder: ModelRecord = store.get_model(name=record.name, alias=alias)
    except NotFound:
        return None
    return None if holder.id == record.id else holder


def run(ctx: ComponentContext, params: BlessPolicyParameters) -> Result:
    from airgenome.components.files import write_bytes
    from airgenome.errors import NotFound
    from airgenome.evaluations.store import get_evaluation_store

    store = ctx.model_store()
    version = ctx.model_version("model")
    try:
        record = store.get_model(version)
    except NotFound:
        raise ComponentFailed(f"inputs.model: no model version {version!r} in the model store") from None
    evaluations = get_evaluation_store(ctx.stores.evaluation_store_uri)
    candidates = gather(ctx, record, params, evaluations)
    baseline = baseline_of(store, record, params.baseline_alias) if params.changes else None
    baseline_runs = [Candidate(r) for r in stored_runs(evaluations, baseline.id)] if baseline else None
    verdict = decide(params, candidates, baseline_runs, baseline.id if baseline else None)

    target = TargetModel(id=record.id, name=record.canonical_name, version=str(record.version))
    saved = evaluations.save(verdict_run(
        verdict, params, target, pipeline_name=ctx.step.pipeline_name, pipeline_stage=ctx.step.step_name,
        pipeline_run_id=ctx.step.run_id, application=ctx.step.application,
    ))
    summary = verdict.summary()
    at = datetime.now(UTC).isoformat()
    for key, value in ((TAG_EVALUATION, saved.id), (TAG_REASONS, summary), (TAG_AT, at),
                       (TAG_APPROVAL, str(params.approval.required).lower()), (TAG_VERDICT, verdict.name)):
        store.set_system_tag(record, key, value)  # the verdict tag last: readers see a whole blessing
    document = {
        **verdict.to_dict(),
        "model": record.id,
        "canonicalName": record.canonical_name,
        "evaluationId": saved.id,
        "policy": params.model_dump(mode="json", by_alias=True, exclude_none=True),
        "approval": params.approval.model_dump(mode="json", exclude_none=True),
        "recordedAt": at,
        "step": {"pipeline": ctx.step.pipeline_name, "run": ctx.step.run_id, "step": ctx.step.step_name},
    }
    uri = ctx.output("blessing", "blessing.json")
    facts = write_bytes(uri, json.dumps(document, indent=1, sort_keys=True).encode())
    print(summary)
    if not verdict.blessed and params.on_not_blessed == "skip":
        raise SkipStep(f"{record.id} not blessed (evaluation {saved.id}): {summary}")
    if not verdict.blessed and params.on_not_blessed == "fail":
        raise ComponentFailed(f"{record.id} not blessed (evaluation {saved.id}): {summary}")
    result = Result(
        verdict=verdict.name,
        model_version=record.id,
        evaluation_ids=[saved.id],
        metrics={"rules": len(verdict.reasons), "failed": len(verdict.failed), "blessed": verdict.blessed},
    )
    result.add_output(
        "blessing", uri, "blessing", verdict=verdict.name, evaluationId=saved.id, version=record.id,
        baseline=verdict.baseline, approval=params.approval.model_dump(mode="json", exclude_none=True), **facts,
    )
    return result
