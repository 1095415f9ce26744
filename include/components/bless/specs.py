"""Component specs of this area (registered by airgenome.components.catalogue). Keep this cheap to
import: parameter models only; implementations import their heavy libraries inside functions.

`bless.policy` takes its policy as JSON parameters. Every rule is a typed model, so a bad policy
is refused at upload and lint with the field path (``parameters.metrics[0].>=: ...``).

Selectors (``evaluation``): an evaluation name (``confusion-matrix``), a prefix ending in ``*``
(``fairness/*``), or the name of a wired evaluation input (``fairness``).
"""

from __future__ import annotations

import math
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from airgenome.components.registry import ComponentSpec, Port, lazy

# Optional evaluation inputs a policy step may wire (several evaluations of one model version).
EVALUATION_INPUTS = (
    "evaluation",
    "confusion",
    "fairness",
    "robustness",
    "explanations",
    "data_validation",
    "evaluation_2",
    "evaluation_3",
)
STATUS_NAMES = ("pass", "fail", "none")
Status = Literal["pass", "fail", "none"]


def _only_pass() -> list[Status]:
    return ["pass"]
_SELECTOR = Field(
    min_length=1,
    max_length=300,
    description="evaluation name, name prefix ending in '*', or the name of a wired evaluation input",
)
_ALIAS_PATTERN = r"^[A-Za-z][A-Za-z0-9_-]{0,62}$"


class _Rule(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    name: str | None = Field(default=None, max_length=200, description="label shown in the reasons")


def _finite(value: float | None, field: str) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError(f"{field}: must be a finite number")
    return value


class RequiredEvaluation(_Rule):
    """An evaluation that must exist for the version, with an allowed status."""

    evaluation: str = _SELECTOR
    statuses: list[Status] = Field(
        default_factory=_only_pass, min_length=1, description="allowed statuses (pass, fail, none)"
    )


class _Bounds(_Rule):
    """Bounds on one value: at least one of >=, >, <=, <."""

    ge: float | None = Field(default=None, alias=">=", description="observed value must be >= this")
    gt: float | None = Field(default=None, alias=">", description="observed value must be > this")
    le: float | None = Field(default=None, alias="<=", description="observed value must be <= this")
    lt: float | None = Field(default=None, alias="<", description="observed value must be < this")

    @model_validator(mode="after")
    def _some_bound(self) -> _Bounds:
        for field in ("ge", "gt", "le", "lt"):
            _finite(getattr(self, field), field)
        if all(getattr(self, field) is None for field in ("ge", "gt", "le", "lt")):
            raise ValueError("give at least one bound: '>=', '>', '<=' or '<'")
        lower = max((v for v in (self.ge, self.gt) if v is not None), default=None)
        upper = min((v for v in (self.le, self.lt) if v is not None), default=None)
        if lower is not None and upper is not None and lower > upper:
            raise ValueError(f"the bounds exclude every value (lower {lower} > upper {upper})")
        return self

    def bounds(self) -> list[tuple[str, float]]:
        pairs = ((">=", self.ge), (">", self.gt), ("<=", self.le), ("<", self.lt))
        return [(op, value) for op, value in pairs if value is not None]


class MetricBound(_Bounds):
    """``{"evaluation": "confusion-matrix", "task": "accuracy", "metric": "accuracy", ">=": 0.8}``."""

    evaluation: str = _SELECTOR
    task: str | None = Field(default=None, max_length=300, description="task name (or prefix*); any task when left out")
    metric: str = Field(min_length=1, max_length=300, description="metric name in the task")


class ChangeRule(_Rule):
    """Change against the baseline (the version holding the baseline alias), as MLflow's
    ``MetricThreshold(min_absolute_change, min_relative_change, greater_is_better)`` and TFMA's
    change thresholds: with higher-is-better, ``candidate - baseline >= min_absolute_change`` and
    ``(candidate - baseline) / |baseline| >= min_relative_change``; lower-is-better flips the sign.
    A negative change bound tolerates that much regression. No baseline: the rule passes."""

    evaluation: str = _SELECTOR
    task: str | None = Field(default=None, max_length=300)
    metric: str = Field(min_length=1, max_length=300)
    higher_is_better: bool = Field(default=True, description="greater_is_better in MLflow's terms")
    min_absolute_change: float | None = Field(default=None, description="least improvement, in metric units")
    min_relative_change: float | None = Field(default=None, description="least improvement, as a fraction of |baseline|")

    @model_validator(mode="after")
    def _some_change(self) -> ChangeRule:
        _finite(self.min_absolute_change, "min_absolute_change")
        _finite(self.min_relative_change, "min_relative_change")
        if self.min_absolute_change is None and self.min_relative_change is None:
            raise ValueError("give min_absolute_change and/or min_relative_change")
        return self


class GroupBound(_Bounds):
    """A bound on a per-group metric of a fairness or robustness evaluation, stored as
    ``{attribute: {metric: value}}``: e.g. ``{"attribute": "sex", "metric": "disparate_impact",
    ">=": 0.8, "<=": 1.25}``; ``"abs": true`` bounds |value| (statistical parity difference)."""

    evaluation: str | None = Field(default=None, min_length=1, max_length=300,
                                   description="selector; default: the fairness / robustness input or name prefix")
    attribute: str = Field(min_length=1, max_length=200, description="protected attribute (fairness) or attack setting (robustness, e.g. 'eps=0.03')")
    metric: str = Field(min_length=1, max_length=300)
    abs: bool = Field(default=False, description="bound the absolute value")


class DataValidationRule(_Rule):
    """The data validation evaluation exists and passed."""

    evaluation: str = Field(default="data_validation", min_length=1, max_length=300,
                            description="selector of the data validation evaluation")
    statuses: list[Status] = Field(default_factory=_only_pass, min_length=1)


class ApprovalPolicy(BaseModel):
    """Human approval after an automatic BLESSED, carried unchanged into the result manifest
    (``outputs.blessing.metadata.approval``) for the approval step (`airgenome.sequence.approval`)."""

    model_config = ConfigDict(extra="forbid")

    required: bool = Field(default=False, description="a person must approve before publishing")
    subject: str | None = Field(default=None, min_length=1, max_length=200, description="the approval's subject")
    body: str | None = Field(default=None, min_length=1, max_length=5000, description="text shown to the approver")
    timeoutMinutes: int | None = Field(default=None, ge=1, le=7 * 24 * 60,  # noqa: N815 - the approval step's name
                                       description="minutes to wait for an answer")
    default: Literal["Approve", "Reject"] | None = Field(default=None, description="the answer taken on timeout")


class BlessPolicyParameters(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    required: list[RequiredEvaluation] = Field(default_factory=list, max_length=100,
                                               description="evaluations that must exist, with allowed statuses")
    metrics: list[MetricBound] = Field(default_factory=list, max_length=200, description="metric bounds")
    changes: list[ChangeRule] = Field(default_factory=list, max_length=100,
                                      description="change against the baseline version")
    fairness: list[GroupBound] = Field(default_factory=list, max_length=100,
                                       description="bounds on {attribute: {metric: value}} of fairness evaluations")
    robustness: list[GroupBound] = Field(default_factory=list, max_length=100,
                                         description="bounds on {setting: {metric: value}} of robustness evaluations")
    data_validation: DataValidationRule | None = Field(default=None, description="data validation passed")
    baseline_alias: str = Field(default="champion", pattern=_ALIAS_PATTERN,
                                description="the alias whose holder is the baseline of change rules")
    use_store: bool = Field(default=True, description="also judge the store's evaluations that target the version")
    approval: ApprovalPolicy = Field(default_factory=ApprovalPolicy)
    on_not_blessed: Literal["skip", "fail", "record"] = Field(
        default="skip",
        description="after recording NOT_BLESSED: skip (downstream skipped), fail the step, or record only (success)",
    )
    evaluation_name: str = Field(default="blessing/policy", min_length=1, max_length=200,
                                 description="name of the evaluation the verdict is recorded as")

    @field_validator("required", "metrics", "changes", "fairness", "robustness")
    @classmethod
    def _no_duplicate_names(cls, rules: list[Any]) -> list[Any]:
        names = [rule.name for rule in rules if rule.name]
        if len(names) != len(set(names)):
            raise ValueError("rule names must be unique")
        return rules

    @model_validator(mode="after")
    def _has_rules(self) -> BlessPolicyParameters:
        if not (self.required or self.metrics or self.changes or self.fairness or self.robustness
                or self.data_validation):
            raise ValueError("a policy needs at least one rule (required, metrics, changes, fairness, "
                             "robustness or data_validation)")
        return self


EXAMPLE_POLICY: dict[str, Any] = {
    "required": [{"evaluation": "confusion-matrix", "statuses": ["pass"]}],
    "metrics": [{"evaluation": "confusion-matrix", "metric": "accuracy", ">=": 0.8}],
    "changes": [{"evaluation": "confusion-matrix", "metric": "accuracy", "min_absolute_change": -0.01}],
    "fairness": [{"attribute": "sex", "metric": "disparate_impact", ">=": 0.8, "<=": 1.25}],
    "approval": {"required": False},
}

SPECS: tuple[ComponentSpec, ...] = (
    ComponentSpec(
        name="bless.policy",
        summary="judge a model version's evaluations (wired, then the store's) against a JSON policy: "
        "required evaluations, metric bounds, change vs the champion, fairness / robustness bounds, "
        "data validation; records BLESSED / NOT_BLESSED with every reason (evaluation store, MLflow "
        "tags, model card); NOT_BLESSED skips downstream",
        load=lazy("airgenome.components.bless.policy", "run"),
        params=BlessPolicyParameters,
        inputs={
            "model": Port("model", "the model version to judge"),
            **{
                name: Port("evaluation", f"an evaluation of the version ({name})", required=False)
                for name in EVALUATION_INPUTS
            },
        },
        outputs={"blessing": Port("blessing", "the verdict with its reasons")},
        example=EXAMPLE_POLICY,
    ),
)
