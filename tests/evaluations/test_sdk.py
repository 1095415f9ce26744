"""Matchers, task statuses, failures inside tasks, prototypes and the run's aggregate status."""

from __future__ import annotations

import numpy as np
import pytest

from airgenome.errors import InvalidInput
from airgenome.evaluations import (
    FAIL,
    NO_EXPECTATIONS,
    PASS,
    EvaluationStore,
    EvaluationTask,
    GenomeEvaluationRun,
    evaluation,
    task,
)
from airgenome.evaluations.datasets import DataRef, register_dataset_resolver, unregister_dataset_resolver
from airgenome.evaluations.records import aggregate_status


def _check(value, matcher: str, expected, var=None, expected_var=None):
    t = EvaluationTask("t")
    returned = getattr(t.expect(value, var=var), matcher)(expected, var=expected_var)
    assert returned is t  # matchers chain back to the task
    (record,) = t.expectations
    return record


@pytest.mark.parametrize(
    ("value", "matcher", "expected", "status", "recipe"),
    [
        (0.7, "toBeLess", 0.76, PASS, "0.7 < 0.76"),
        (0.76, "toBeLess", 0.76, FAIL, "0.76 < 0.76"),
        (0.76, "toBeLessOrEqual", 0.76, PASS, "0.76 <= 0.76"),
        (0.77, "toBeLessOrEqual", 0.76, FAIL, "0.77 <= 0.76"),
        (0.82, "toBeGreater", 0.52, PASS, "0.82 > 0.52"),
        (0.52, "toBeGreater", 0.52, FAIL, "0.52 > 0.52"),
        (0.52, "toBeGreaterOrEqual", 0.52, PASS, "0.52 >= 0.52"),
        (0.51, "toBeGreaterOrEqual", 0.52, FAIL, "0.51 >= 0.52"),
        (3, "toBe", 3, PASS, "3 = 3"),
        (3, "toBe", 3.0, PASS, "3 = 3.0"),
        (3, "toBe", "3", FAIL, "3 = '3'"),
        ([1, 0], "toBe", [1, 0], PASS, "[1, 0] = [1, 0]"),
        ([1, 0], "toBe", [0, 1], FAIL, "[1, 0] = [0, 1]"),
        (1.24, "toBe", [1, 0], FAIL, "1.24 = [1, 0]"),
        ({"a": 1}, "toBe", {"a": 1}, PASS, "{'a': 1} = {'a': 1}"),
        ([1, 2, 3], "toContain", 2, PASS, "[1, 2, 3] contains 2"),
        ([1, 2, 3], "toContain", 4, FAIL, "[1, 2, 3] contains 4"),
        ([[1, 0]], "toContain", [1, 0], PASS, "[[1, 0]] contains [1, 0]"),
        ("genome store", "toContain", "ome st", PASS, "'genome store' contains 'ome st'"),
        ("genome", "toContain", "Genome", FAIL, "'genome' contains 'Genome'"),
        ({"f1": 1}, "toContain", "f1", PASS, "{'f1': 1} contains 'f1'"),
        ("", "toContain", "", PASS, "'' contains ''"),
    ],
)
def test_matchers(value, matcher: str, expected, status: int, recipe: str) -> None:
    record = _check(value, matcher, expected)
    assert (record.status, record.recipe, record.message) == (status, recipe, None)


def test_numpy_values_compare_and_store_as_plain_json() -> None:
    same = _check(np.array([1, 0]), "toBe", [1, 0])
    differ = _check(np.array([1, 0]), "toBe", np.array([1, 1]))
    scalar = _check(np.float64(0.25), "toBeLess", 0.5, var="loss")
    assert (same.status, differ.status, scalar.status) == (PASS, FAIL, PASS)
    assert (same.value, scalar.value, scalar.recipe) == ([1, 0], 0.25, "{loss:0.25} < 0.5")
    assert type(scalar.value) is float


def test_incomparable_values_fail_the_expectation_and_say_why() -> None:
    record = _check(0.7, "toBeLess", "high", var="split")
    assert record.status == FAIL
    assert record.recipe == "{split:0.7} < 'high'"
    assert record.message == "TypeError: '<' not supported between instances of 'float' and 'str'"
    not_a_container = _check(5, "toContain", 1)
    assert not_a_container.message == "TypeError: argument of type 'int' is not iterable"


def test_to_raise() -> None:
    def divide() -> float:
        return 5 / 0

    passed = _check(divide, "toRaise", ZeroDivisionError, var="myFunction")
    assert (passed.status, passed.recipe, passed.message) == (
        PASS,
        "{myFunction:divide} raises ZeroDivisionError",
        None,
    )
    subclass = _check(divide, "toRaise", ArithmeticError)
    assert subclass.status == PASS
    either = _check(divide, "toRaise", (KeyError, ZeroDivisionError))
    assert (either.status, either.recipe) == (PASS, "divide raises (KeyError, ZeroDivisionError)")

    wrong = _check(lambda: {}["k"], "toRaise", ZeroDivisionError)
    assert (wrong.status, wrong.message) == (FAIL, "raised KeyError: 'k'")
    silent = _check(lambda: 1, "toRaise", ZeroDivisionError)
    assert (silent.status, silent.message) == (FAIL, "returned without raising")
    not_callable = _check(5, "toRaise", ZeroDivisionError)
    assert (not_callable.status, not_callable.message) == (FAIL, "toRaise needs a callable to call, got int")
    not_an_error = _check(divide, "toRaise", 3)
    assert (not_an_error.status, not_an_error.message) == (FAIL, "toRaise expects an exception class, got 3")

    same_args = _check(lambda: int("x"), "toRaise", ValueError("invalid literal for int() with base 10: 'x'"))
    other_args = _check(lambda: int("x"), "toRaise", ValueError("other"))
    assert (same_args.status, other_args.status) == (PASS, FAIL)
    assert _check(divide, "toThrow", ZeroDivisionError).status == PASS  # Genome's other spelling


def test_task_status() -> None:
    t = EvaluationTask("t")
    assert t.status == NO_EXPECTATIONS
    t.add_metric("m", 1)
    assert t.status == NO_EXPECTATIONS  # metrics alone judge nothing
    t.expect(1).toBe(1)
    assert t.status == PASS
    t.expect(1).toBe(2)
    assert t.status == FAIL
    errored = EvaluationTask("e")
    errored.fail(ValueError("boom"))
    assert (errored.status, errored.error) == (FAIL, "ValueError: boom")


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ([PASS, PASS], PASS),
        ([PASS, FAIL, PASS], FAIL),
        ([PASS, NO_EXPECTATIONS], PASS),
        ([NO_EXPECTATIONS, FAIL], FAIL),
        ([NO_EXPECTATIONS, NO_EXPECTATIONS], NO_EXPECTATIONS),
        ([], NO_EXPECTATIONS),
    ],
)
def test_aggregate_status(statuses: list[int], expected: int) -> None:
    assert aggregate_status(statuses) == expected


@evaluation(name="edge/cases", versionName="0.1", targetModel="m/1", parameters={"threshold": 0.5})
class EdgeCases(GenomeEvaluationRun):
    @task
    def first(self, t, dataset):
        t.add_metric("accuracy", 0.9).expect(0.9, var="accuracy").toBeGreaterOrEqual(0.5)

    @task(name="explodes", segment={"age": ">40"})
    def second(self, t, dataset):
        t.add_metric("before", 1)
        t.prototype(ref=7).expect(1).toBe(1)
        raise RuntimeError("model file missing")

    @task()
    def nothing_expected(self, t, dataset):
        t.add_metric("rows", 100)

    def not_a_task(self, t, dataset):
        raise AssertionError("only @task methods run")


def test_an_exception_fails_its_task_only_and_is_recorded(store: EvaluationStore) -> None:
    run = EdgeCases(store).to_run()
    assert [(t.name, t.kind, t.status, t.error) for t in run.tasks] == [
        ("first", "task", PASS, None),
        ("explodes", "task", FAIL, "RuntimeError: model file missing"),
        ("explodes", "prototype", PASS, None),  # what ran before the error is kept
        ("nothing_expected", "task", NO_EXPECTATIONS, None),
    ]
    assert run.tasks[1].metrics == {"before": 1}
    assert run.tasks[1].segment == {"age": ">40"}
    assert run.tasks[2].prototype_ref == {"ref": "7", "refType": "id"}
    assert run.status == FAIL
    assert run.parameters == {"threshold": 0.5}
    assert store.get(run.id) == run


@evaluation(name="only/metrics")
class OnlyMetrics(GenomeEvaluationRun):
    @task
    def metrics(self, t, dataset):
        t.add_metric("rows", 3)


def test_a_run_without_expectations_has_status_minus_one(store: EvaluationStore) -> None:
    run = OnlyMetrics(store).to_run()
    assert (run.status, [t.status for t in run.tasks]) == (NO_EXPECTATIONS, [NO_EXPECTATIONS])
    assert run.target_model.id is None


@evaluation(name="inherits")
class Inherits(EdgeCases):
    def second(self, t, dataset):  # overridden without @task: no longer a task
        raise AssertionError("not a task any more")

    @task
    def extra(self, t, dataset):
        t.expect("abc").toContain("b")


def test_tasks_run_in_definition_order_base_first(store: EvaluationStore) -> None:
    assert [name for name, _ in Inherits.task_specs()] == ["first", "nothing_expected", "extra"]
    run = Inherits(store).to_run()
    assert (run.name, run.status) == ("inherits", PASS)


def test_pipeline_context_comes_from_the_step_environment(store: EvaluationStore, monkeypatch) -> None:
    monkeypatch.setenv("APPLICATION", "search")
    monkeypatch.setenv("PIPELINE_NAME", "pipe-1")
    monkeypatch.setenv("STEP_NAME", "evaluate")
    monkeypatch.setenv("PIPELINE_RUNID", "manual__1")
    run = OnlyMetrics(store).to_run()
    assert (run.application, run.pipeline_name, run.pipeline_stage, run.pipeline_run_id) == (
        "search",
        "pipe-1",
        "evaluate",
        "manual__1",
    )


def test_target_can_be_a_model_store_record(store: EvaluationStore) -> None:
    record = {"id": "housing~ab12/2", "canonicalName": "/housing/ca/forest-1", "versionName": "1.2.3"}
    run = OnlyMetrics(store, target=record).to_run()
    assert run.target_model.to_dict() == {
        "id": "housing~ab12/2",
        "name": "/housing/ca/forest-1",
        "version": "1.2.3",
    }
    assert [s.id for s in store.search(model_name="/housing/ca/forest-1", model_version="1.2.3")] == [run.id]


def test_dataset_argument_is_the_ref_or_the_resolved_data(store: EvaluationStore) -> None:
    seen: dict[str, object] = {}

    @evaluation(name="datasets")
    class Datasets(GenomeEvaluationRun):
        @task(dataset={"ref": "mllake://datasets/benchmark/x"})
        def by_ref(self, t, dataset):
            seen["by_ref"] = dataset

        @task(dataset="sklearn://iris")
        def bundled(self, t, dataset):
            t.expect(dataset.data.shape).toBe((150, 4))

        @task(dataset={"ref": "memory://rows"})
        def registered(self, t, dataset):
            t.expect(dataset).toBe([1, 2, 3])

        @task(dataset="sklearn://no-such-set")
        def unknown(self, t, dataset):
            raise AssertionError("not reached: resolving fails first")

    register_dataset_resolver("memory", lambda ref: [1, 2, 3])
    try:
        run = Datasets(store).to_run()
    finally:
        unregister_dataset_resolver("memory")
    assert seen["by_ref"] == DataRef(ref="mllake://datasets/benchmark/x", refType="mllake")
    assert seen["by_ref"]["ref"] == "mllake://datasets/benchmark/x"  # Genome reads refs like dicts
    assert [(t.name, t.status) for t in run.tasks] == [
        ("by_ref", NO_EXPECTATIONS),
        ("bundled", PASS),
        ("registered", PASS),
        ("unknown", FAIL),
    ]
    assert run.tasks[3].error == (
        "InvalidInput: dataset.ref: unknown sklearn dataset 'no-such-set'; known: "
        "['breast_cancer', 'diabetes', 'digits', 'iris', 'linnerud', 'wine']"
    )
    assert run.tasks[1].data_ref == {"ref": "sklearn://iris", "refType": "sklearn"}


def test_bad_declarations_are_refused_naming_the_field() -> None:
    with pytest.raises(InvalidInput, match=r"@evaluation.name: expected a non-empty string, got ''"):
        evaluation(name="")
    with pytest.raises(InvalidInput, match=r"@evaluation.versionName: expected a string, got int"):
        evaluation(name="x", versionName=3)  # type: ignore[arg-type]
    with pytest.raises(InvalidInput, match=r"@task.dataset.ref: expected a non-empty string, got None"):
        task(dataset={"name": "x"})
    with pytest.raises(InvalidInput, match=r"@task.dataset: expected \{'ref': 'scheme://...'\}, got int"):
        task(dataset=3)
    with pytest.raises(InvalidInput, match=r"must be a subclass of GenomeEvaluationRun"):
        evaluation(name="x")(dict)

    class Undecorated(GenomeEvaluationRun):
        pass

    with pytest.raises(InvalidInput, match=r"Undecorated: decorate the class with @evaluation"):
        Undecorated(None)
    with pytest.raises(InvalidInput, match=r"target: expected the model version id, got an empty string"):
        OnlyMetrics(None, target="").to_run()


def test_misuse_inside_a_task_fails_that_task(store: EvaluationStore) -> None:
    @evaluation(name="misuse")
    class Misuse(GenomeEvaluationRun):
        @task
        def nested_prototype(self, t, dataset):
            t.prototype(ref="a").prototype(ref="b")

        @task
        def bad_metric(self, t, dataset):
            t.add_metric("", 1)

    run = Misuse(store).to_run()
    assert [(t.kind, t.status, t.error) for t in run.tasks] == [
        ("task", FAIL, "InvalidInput: prototype: a prototype cannot have prototypes of its own"),
        ("prototype", NO_EXPECTATIONS, None),
        ("task", FAIL, "InvalidInput: add_metric.name: expected a non-empty string, got ''"),
    ]
