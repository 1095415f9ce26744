"""Genome's evaluation SDK: `@evaluation`, `@task`, `t.add_metric`, `t.expect(...)`, prototypes.

    @evaluation(name="test/skill/better-than-last", versionName="1.2", targetModel="model-id")
    class TrainTestEvaluation(GenomeEvaluationRun):
        @task(dataset={"ref": "mllake://datasets/benchmark/california-housing-test"})
        def evaluateTrainTestSplit(self, t, dataset):
            t.add_metric("f2", 2.34).expect(0.7, var="my_split").toBeLess(0.76)

    run = TrainTestEvaluation(None, target=saved_model["id"]).to_run()

`to_run()` runs every task in definition order, judges it (1 pass, 0 fail, -1 no
expectations; prototypes are tasks of their own), saves the whole run in ONE store
transaction and returns the stored `EvaluationRunRecord`. An exception inside a task
fails that task with the error recorded; the other tasks still run.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from airgenome.errors import InvalidInput
from airgenome.evaluations.datasets import DataRef, parse_data_ref, resolve_dataset
from airgenome.evaluations.records import (
    FAIL,
    NO_EXPECTATIONS,
    PASS,
    EvaluationRunRecord,
    ExpectationRecord,
    TargetModel,
    TaskRecord,
    aggregate_status,
    jsonable,
)

if TYPE_CHECKING:
    from airgenome.evaluations.store import EvaluationStore

log = logging.getLogger(__name__)

_TASK_MARK = "__airgenome_task__"
_EVALUATION_MARK = "__airgenome_evaluation__"
_SHOWN_CHARS = 200  # a recipe shows values, not whole datasets

C = TypeVar("C", bound=type)
F = TypeVar("F", bound=Callable[..., Any])


# --------------------------------------------------------------------------- expectations


def _display(value: Any) -> str:
    if isinstance(value, type):
        text = value.__name__
    elif isinstance(value, tuple) and value and all(isinstance(v, type) for v in value):
        text = "(" + ", ".join(v.__name__ for v in value) + ")"
    elif isinstance(value, str):
        text = repr(value)
    elif callable(value):
        text = getattr(value, "__name__", type(value).__name__)
    else:
        text = str(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 1] + "…"


def _operand(value: Any, var: str | None) -> str:
    # Genome's recipe notation: a named value shows as {name:value}.
    return "{" + f"{var}:{_display(value)}" + "}" if var else _display(value)


Verdict = tuple[bool, str | None]


def _equal(actual: Any, expected: Any) -> Verdict:
    result = actual == expected
    if isinstance(result, bool):
        return result, None
    import numpy  # element-wise results (numpy, pandas): equal means same shape and values

    return bool(numpy.array_equal(actual, expected)), None


def _compare(check: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Verdict]:
    return lambda actual, expected: (bool(check(actual, expected)), None)


def _contains(actual: Any, expected: Any) -> Verdict:
    return expected in actual, None


def _raises(actual: Any, expected: Any) -> Verdict:
    """`actual` is called; it passes when it raises `expected` (a class, tuple of classes or instance)."""
    instance = expected if isinstance(expected, BaseException) else None
    kinds = expected if isinstance(expected, tuple) else (type(instance) if instance else expected,)
    if not all(isinstance(kind, type) and issubclass(kind, BaseException) for kind in kinds):
        return False, f"toRaise expects an exception class, got {_display(expected)}"
    if not callable(actual):
        return False, f"toRaise needs a callable to call, got {type(actual).__name__}"
    try:
        actual()
    except kinds as error:
        if instance is not None and error.args != instance.args:
            return False, f"raised {type(error).__name__}{error.args}, expected args {instance.args}"
        return True, None
    except Exception as error:  # noqa: BLE001 - the wrong exception is a failed expectation
        return False, f"raised {type(error).__name__}: {error}"
    return False, "returned without raising"


class Expectation:
    """`t.expect(value, var=...)`; each matcher records a checked expectation and returns `t`."""

    def __init__(self, task: EvaluationTask, value: Any, var: str | None) -> None:
        self._task = task
        self.value = value
        self.var = var

    def _check(
        self,
        operator: str,
        expected: Any,
        var: str | None,
        verdict: Callable[[Any, Any], Verdict],
    ) -> EvaluationTask:
        try:
            passed, message = verdict(self.value, expected)
        except Exception as error:  # noqa: BLE001 - e.g. 0.7 < "a": the expectation fails, says why
            passed, message = False, f"{type(error).__name__}: {error}"
        self._task.expectations.append(
            ExpectationRecord(
                recipe=f"{_operand(self.value, self.var)} {operator} {_operand(expected, var)}",
                operator=operator,
                var=self.var,
                value=jsonable(self.value),
                expected=jsonable(expected),
                expected_var=var,
                status=PASS if passed else FAIL,
                message=message,
            )
        )
        return self._task

    def toBe(self, expected: Any, var: str | None = None) -> EvaluationTask:  # noqa: N802
        return self._check("=", expected, var, _equal)

    def toBeLess(self, expected: Any, var: str | None = None) -> EvaluationTask:  # noqa: N802
        return self._check("<", expected, var, _compare(lambda a, b: a < b))

    def toBeLessOrEqual(self, expected: Any, var: str | None = None) -> EvaluationTask:  # noqa: N802
        return self._check("<=", expected, var, _compare(lambda a, b: a <= b))

    def toBeGreater(self, expected: Any, var: str | None = None) -> EvaluationTask:  # noqa: N802
        return self._check(">", expected, var, _compare(lambda a, b: a > b))

    def toBeGreaterOrEqual(self, expected: Any, var: str | None = None) -> EvaluationTask:  # noqa: N802
        return self._check(">=", expected, var, _compare(lambda a, b: a >= b))

    def toContain(self, expected: Any, var: str | None = None) -> EvaluationTask:  # noqa: N802
        return self._check("contains", expected, var, _contains)

    def toRaise(self, expected: Any, var: str | None = None) -> EvaluationTask:  # noqa: N802
        return self._check("raises", expected, var, _raises)

    # Genome spells it both ways.
    toThrow = toRaise


# --------------------------------------------------------------------------- tasks


class EvaluationTask:
    """The `t` a task receives: metrics, expectations and prototypes (per-record sub-tasks)."""

    def __init__(
        self,
        name: str,
        dataset: DataRef | None = None,
        segment: Any = None,
        prototype_ref: dict[str, str] | None = None,
    ) -> None:
        self.name = name
        self.dataset = dataset
        self.segment = segment
        self.prototype_ref = prototype_ref
        self.metrics: dict[str, Any] = {}
        self.expectations: list[ExpectationRecord] = []
        self.prototypes: list[EvaluationTask] = []
        self.error: str | None = None
        self.pictures: list[dict[str, Any]] = []

    def add_metric(self, name: str, value: Any) -> EvaluationTask:
        if not isinstance(name, str) or not name:
            raise InvalidInput(f"add_metric.name: expected a non-empty string, got {name!r}")
        self.metrics[name] = jsonable(value)
        return self

    def expect(self, value: Any, var: str | None = None) -> Expectation:
        if var is not None and not isinstance(var, str):
            raise InvalidInput(f"expect.var: expected a string, got {var!r}")
        return Expectation(self, value, var)

    def prototype(self, ref: object = None, refType: str = "id", name: str | None = None) -> EvaluationTask:  # noqa: N803
        """A sub-task judging one record (`ref`) with its own metrics and expectations."""
        if self.prototype_ref is not None:
            raise InvalidInput("prototype: a prototype cannot have prototypes of its own")
        if ref is None or (isinstance(ref, str) and not ref):
            raise InvalidInput("prototype.ref: the record's reference is required")
        clone = EvaluationTask(
            name or self.name,
            dataset=self.dataset,
            segment=self.segment,
            prototype_ref={"ref": str(ref), "refType": str(refType)},
        )
        self.prototypes.append(clone)
        return clone

    def add_picture(
        self, name: str, uri: str, caption: str | None = None, media_type: str = "image/png"
    ) -> EvaluationTask:
        """Attach a picture already written elsewhere (the lake): the record keeps its URI."""
        if not isinstance(name, str) or not name or len(name) > 200:
            raise InvalidInput(f"add_picture.name: expected a non-empty string of at most 200 characters, got {name!r}")
        if not isinstance(uri, str) or "://" not in uri:
            raise InvalidInput(f"add_picture.uri: expected an absolute URI (file://, s3://, ...), got {uri!r}")
        if not media_type.startswith("image/"):
            raise InvalidInput(f"add_picture.media_type: expected image/*, got {media_type!r}")
        self.pictures.append({"name": name, "uri": uri, "caption": caption, "mediaType": media_type})
        return self

    def fail(self, error: BaseException) -> None:
        self.error = f"{type(error).__name__}: {error}"

    @property
    def status(self) -> int:
        if self.error is not None or any(e.status == FAIL for e in self.expectations):
            return FAIL
        return PASS if self.expectations else NO_EXPECTATIONS

    def __repr__(self) -> str:
        kind = f"prototype {self.prototype_ref['ref']} of " if self.prototype_ref else ""
        return (
            f"<EvaluationTask {kind}{self.name!r} metrics={self.metrics} "
            f"expectations={[e.recipe for e in self.expectations]}>"
        )

    def to_record(self, position: int, parent: int | None) -> TaskRecord:
        return TaskRecord(
            position=position,
            name=self.name,
            kind="prototype" if self.prototype_ref else "task",
            status=self.status,
            parent=parent,
            prototype_ref=self.prototype_ref,
            data_ref=self.dataset.to_dict() if self.dataset else None,
            segment=self.segment,
            metrics=dict(self.metrics),
            expectations=tuple(self.expectations),
            error=self.error,
            pictures=tuple(self.pictures),
        )


# --------------------------------------------------------------------------- decorators


@dataclass(frozen=True)
class TaskSpec:
    name: str
    dataset: DataRef | None
    segment: Any


@dataclass(frozen=True)
class EvaluationSpec:
    name: str
    version_name: str | None
    code: str | None
    target_model: str | None
    parameters: Any
    application: str | None
    pipeline_name: str | None
    pipeline_stage: str | None
    pipeline_run_id: str | None
    input_modality: str | None
    framework: str | None


def _optional_text(field: str, value: object) -> str | None:
    if value is None or isinstance(value, str):
        return value
    raise InvalidInput(f"@evaluation.{field}: expected a string, got {type(value).__name__}")


def evaluation(
    name: str,
    versionName: str | None = None,  # noqa: N803 - Genome's argument names
    code: str | None = None,
    targetModel: str | None = None,  # noqa: N803
    parameters: Any = None,
    application: str | None = None,
    pipelineName: str | None = None,  # noqa: N803
    pipelineStage: str | None = None,  # noqa: N803
    pipelineRunId: str | None = None,  # noqa: N803
    inputModality: str | None = None,  # noqa: N803
    framework: str | None = None,
) -> Callable[[C], C]:
    """Declare a `GenomeEvaluationRun` subclass as an evaluation named `name`.

    Pipeline context left out here is read when the run starts from the step's Genome
    environment (APPLICATION, PIPELINE_NAME, STEP_NAME, PIPELINE_RUNID).
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidInput(f"@evaluation.name: expected a non-empty string, got {name!r}")
    texts = {
        "versionName": versionName,
        "code": code,
        "targetModel": targetModel,
        "application": application,
        "pipelineName": pipelineName,
        "pipelineStage": pipelineStage,
        "pipelineRunId": pipelineRunId,
        "inputModality": inputModality,
        "framework": framework,
    }
    checked = {field: _optional_text(field, value) for field, value in texts.items()}
    spec = EvaluationSpec(
        name=name,
        version_name=checked["versionName"],
        code=checked["code"],
        target_model=checked["targetModel"],
        parameters=jsonable(parameters),
        application=checked["application"],
        pipeline_name=checked["pipelineName"],
        pipeline_stage=checked["pipelineStage"],
        pipeline_run_id=checked["pipelineRunId"],
        input_modality=checked["inputModality"],
        framework=checked["framework"],
    )

    def decorate(cls: C) -> C:
        if not (isinstance(cls, type) and issubclass(cls, GenomeEvaluationRun)):
            raise InvalidInput(f"@evaluation: {cls!r} must be a subclass of GenomeEvaluationRun")
        setattr(cls, _EVALUATION_MARK, spec)
        return cls

    return decorate


def task(
    name: str | Callable[..., Any] | None = None, dataset: object = None, segment: Any = None
) -> Any:
    """Declare a method `(self, t, dataset)` as an evaluation task (`@task` or `@task(...)`)."""
    if callable(name):  # bare @task
        return task()(name)
    if name is not None and (not isinstance(name, str) or not name):
        raise InvalidInput(f"@task.name: expected a non-empty string, got {name!r}")
    data_ref = parse_data_ref(dataset, "@task.dataset")
    segment_value = jsonable(segment)

    def decorate(func: F) -> F:
        if not callable(func):
            raise InvalidInput(f"@task: {func!r} is not a method")
        setattr(func, _TASK_MARK, TaskSpec(name or func.__name__, data_ref, segment_value))
        return func

    return decorate


# --------------------------------------------------------------------------- runs


TargetSpec = str | Mapping[str, Any] | Any | None


def _target_model(target: TargetSpec) -> TargetModel:
    """A version id string, or a model-store record (``{"id": ..., ...}``) as returned by save_model.

    The name is the model's canonicalName and the version the model store's version number
    (``versionName``, Genome's free-form label, when a plain dict has no ``version``).
    """
    if target is None:
        return TargetModel(id=None)
    if isinstance(target, str):
        if not target:
            raise InvalidInput("target: expected the model version id, got an empty string")
        return describe_model(target)
    if isinstance(target, Mapping) or callable(getattr(target, "get", None)):
        # A dict, or the model store's record (dict-like: record["id"], record.get(...)).
        model_id = target.get("id")
        if not isinstance(model_id, str) or not model_id:
            raise InvalidInput(f"target.id: expected the model version id, got {model_id!r}")
        name = target.get("canonicalName") or target.get("name")
        version = target.get("version") or target.get("versionName")
        if name is None and version is None:
            return describe_model(model_id)
        return TargetModel(
            id=model_id,
            name=None if name is None else str(name),
            version=None if version is None else str(version),
        )
    raise InvalidInput(f"target: expected a model version id or record, got {type(target).__name__}")


def describe_model(model_id: str) -> TargetModel:
    """The model's name and version when the model store knows the id; the bare id otherwise."""
    from airgenome.evaluations.model_link import lookup_model

    found = lookup_model(model_id)
    return TargetModel(id=model_id, name=found[0], version=found[1]) if found else TargetModel(id=model_id)


class GenomeEvaluationRun:
    """Base class of an evaluation; subclass it, decorate with `@evaluation`, add `@task`s."""

    def __init__(self, store: EvaluationStore | None = None, target: TargetSpec = None) -> None:
        spec = getattr(type(self), _EVALUATION_MARK, None)
        if not isinstance(spec, EvaluationSpec):
            raise InvalidInput(f"{type(self).__name__}: decorate the class with @evaluation(name=...)")
        self.spec = spec
        self.store = store
        self.target = target if target is not None else spec.target_model
        self.tasks: list[EvaluationTask] = []

    @classmethod
    def task_specs(cls) -> list[tuple[str, TaskSpec]]:
        """The class's tasks in definition order, base classes first; overrides replace."""
        found: dict[str, TaskSpec] = {}
        for klass in reversed(cls.__mro__):
            for attribute, value in vars(klass).items():
                spec = getattr(value, _TASK_MARK, None)
                if isinstance(spec, TaskSpec):
                    found[attribute] = spec
                elif attribute in found:  # overridden without @task: no longer a task
                    del found[attribute]
        return list(found.items())

    def add_task(self, task: EvaluationTask) -> None:
        self.tasks.append(task)

    def _run_task(self, attribute: str, spec: TaskSpec) -> EvaluationTask:
        t = EvaluationTask(spec.name, dataset=spec.dataset, segment=spec.segment)
        log.info("running evaluation task %s", spec.name)
        try:
            getattr(self, attribute)(t, resolve_dataset(spec.dataset))
        except Exception as error:  # noqa: BLE001 - a task's error fails that task, not the run
            log.warning("evaluation task %s failed", spec.name, exc_info=True)
            t.fail(error)
        return t

    def to_run(self) -> EvaluationRunRecord:
        """Run every task, save the run (all or nothing) and return the stored record."""
        from airgenome.evaluations.store import get_evaluation_store

        target = _target_model(self.target)
        self.tasks = []
        for attribute, task_spec in self.task_specs():
            self.add_task(self._run_task(attribute, task_spec))

        records: list[TaskRecord] = []
        for t in self.tasks:
            parent = len(records)
            records.append(t.to_record(parent, None))
            records.extend(p.to_record(len(records), parent) for p in t.prototypes)

        spec = self.spec
        run = EvaluationRunRecord(
            id=uuid.uuid4().hex,
            name=spec.name,
            status=aggregate_status(record.status for record in records),
            created_at=datetime.now(UTC),
            target_model=target,
            tasks=tuple(records),
            version_name=spec.version_name,
            code=spec.code,
            parameters=spec.parameters,
            application=spec.application or os.environ.get("APPLICATION"),
            pipeline_name=spec.pipeline_name or os.environ.get("PIPELINE_NAME"),
            pipeline_stage=spec.pipeline_stage or os.environ.get("STEP_NAME"),
            pipeline_run_id=spec.pipeline_run_id or os.environ.get("PIPELINE_RUNID"),
            input_modality=spec.input_modality,
            framework=spec.framework,
        )
        store = self.store if self.store is not None else get_evaluation_store()
        saved = store.save(run)
        log.info("evaluation %s run %s saved: status %s", spec.name, saved.id, saved.status)
        return saved


class GenomeTestRun(GenomeEvaluationRun):
    """Genome's name for an evaluation that is a test; same behaviour."""
