"""What an evaluation run is once it has run: plain, immutable records.

The SDK builds them, a store saves and returns them, the API and the pages read them.
Values are kept JSON-ready (see `jsonable`) so every backend stores exactly what the
SDK recorded and the API can return it without surprises (no NaN, no numpy types).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

# Genome's status codes.
PASS = 1
FAIL = 0
NO_EXPECTATIONS = -1
STATUS_NAMES: dict[int, str] = {PASS: "pass", FAIL: "fail", NO_EXPECTATIONS: "none"}

TaskKind = Literal["task", "prototype"]


def aggregate_status(statuses: Iterable[int]) -> int:
    """A run is as good as its worst judged task.

    Any failure fails; otherwise any pass passes; tasks without expectations judge
    nothing, so a run made only of them (or of nothing) has no expectations either.
    """
    seen = set(statuses)
    if FAIL in seen:
        return FAIL
    if PASS in seen:
        return PASS
    return NO_EXPECTATIONS


def jsonable(value: Any) -> Any:
    """A JSON-ready copy: numpy scalars/arrays to Python, NaN/inf to strings, others to str."""
    tolist = getattr(value, "tolist", None)  # numpy scalars and arrays, without importing numpy
    if callable(tolist) and type(value).__module__.startswith("numpy"):
        return jsonable(tolist())
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [jsonable(item) for item in items]
    if isinstance(value, type):
        return value.__name__
    if callable(value):
        return getattr(value, "__name__", type(value).__name__)
    return str(value)


@dataclass(frozen=True)
class ExpectationRecord:
    """One checked expectation, e.g. recipe ``{my_split:0.7} < 0.76``."""

    recipe: str
    operator: str
    var: str | None
    value: Any
    expected: Any
    expected_var: str | None
    status: int
    message: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "recipe": self.recipe,
            "operator": self.operator,
            "var": self.var,
            "value": self.value,
            "expected": self.expected,
            "expectedVar": self.expected_var,
            "status": self.status,
            "statusName": STATUS_NAMES[self.status],
            "message": self.message,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ExpectationRecord:
        return cls(
            recipe=data["recipe"],
            operator=data["operator"],
            var=data.get("var"),
            value=data.get("value"),
            expected=data.get("expected"),
            expected_var=data.get("expectedVar"),
            status=int(data["status"]),
            message=data.get("message"),
        )


@dataclass(frozen=True)
class TaskRecord:
    """A task, or a prototype (a per-record sub-task) of the task at `parent`."""

    position: int
    name: str
    kind: TaskKind
    status: int
    parent: int | None = None
    prototype_ref: dict[str, Any] | None = None
    data_ref: dict[str, Any] | None = None
    segment: Any = None
    metrics: dict[str, Any] = field(default_factory=dict)
    expectations: tuple[ExpectationRecord, ...] = ()
    error: str | None = None
    # Pictures the task drew (confusion matrix, fairness bars, adversarial pairs, heat maps):
    # {"name", "uri", "caption", "mediaType"}; the files live in the lake, the record keeps URIs.
    pictures: tuple[dict[str, Any], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "position": self.position,
            "name": self.name,
            "kind": self.kind,
            "parent": self.parent,
            "status": self.status,
            "statusName": STATUS_NAMES[self.status],
            "prototypeRef": self.prototype_ref,
            "dataRef": self.data_ref,
            "segment": self.segment,
            "metrics": self.metrics,
            "expectations": [expectation.to_dict() for expectation in self.expectations],
            "error": self.error,
            "pictures": [dict(picture) for picture in self.pictures],
        }


@dataclass(frozen=True)
class TargetModel:
    """The model version an evaluation judged: the model store's version id, as given."""

    id: str | None
    name: str | None = None
    version: str | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"id": self.id, "name": self.name, "version": self.version}


@dataclass(frozen=True)
class EvaluationSummary:
    """One row of a search: enough for lists and model cards."""

    id: str
    name: str
    version_name: str | None
    status: int
    created_at: datetime
    target_model: TargetModel
    task_count: int
    prototype_count: int

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "versionName": self.version_name,
            "status": self.status,
            "statusName": STATUS_NAMES[self.status],
            "createdAt": self.created_at.isoformat(),
            "targetModel": self.target_model.to_dict(),
            "taskCount": self.task_count,
            "prototypeCount": self.prototype_count,
        }


@dataclass(frozen=True)
class EvaluationRunRecord:
    """A stored evaluation run with every task and prototype, in run order."""

    id: str
    name: str
    status: int
    created_at: datetime
    target_model: TargetModel
    tasks: tuple[TaskRecord, ...]
    version_name: str | None = None
    code: str | None = None
    parameters: Any = None
    application: str | None = None
    pipeline_name: str | None = None
    pipeline_stage: str | None = None
    pipeline_run_id: str | None = None
    input_modality: str | None = None
    framework: str | None = None

    def summary(self) -> EvaluationSummary:
        prototypes = sum(1 for task in self.tasks if task.kind == "prototype")
        return EvaluationSummary(
            id=self.id,
            name=self.name,
            version_name=self.version_name,
            status=self.status,
            created_at=self.created_at,
            target_model=self.target_model,
            task_count=len(self.tasks) - prototypes,
            prototype_count=prototypes,
        )

    def to_dict(self) -> dict[str, Any]:
        """The API shape: top-level tasks with their prototypes nested under them."""
        nested: dict[int, list[dict[str, Any]]] = {}
        for task in self.tasks:
            if task.parent is not None:
                nested.setdefault(task.parent, []).append(task.to_dict())
        tasks = [
            {**task.to_dict(), "prototypes": nested.get(task.position, [])}
            for task in self.tasks
            if task.parent is None
        ]
        return {
            **self.summary().to_dict(),
            "code": self.code,
            "parameters": self.parameters,
            "application": self.application,
            "pipelineName": self.pipeline_name,
            "pipelineStage": self.pipeline_stage,
            "pipelineRunId": self.pipeline_run_id,
            "inputModality": self.input_modality,
            "framework": self.framework,
            "tasks": tasks,
        }


@dataclass(frozen=True)
class EvaluationPage:
    """One page of search results (newest first); iterating yields the summaries."""

    items: tuple[EvaluationSummary, ...]
    total: int
    limit: int
    offset: int

    @property
    def next_offset(self) -> int | None:
        following = self.offset + len(self.items)
        return following if following < self.total else None

    def __iter__(self) -> Iterator[EvaluationSummary]:
        return iter(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict[str, Any]:
        return {
            "items": [item.to_dict() for item in self.items],
            "total": self.total,
            "limit": self.limit,
            "offset": self.offset,
            "nextOffset": self.next_offset,
        }
