"""evaluate.data-validation: Great Expectations suites on a table, stored as Genome evaluations.

Great Expectations is imported once for the module (seconds; tens of seconds on a busy machine).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from airgenome.components import registry
from airgenome.components.data.file_specs import GX_EXPECTATIONS
from airgenome.components.runtime import EXIT_SKIP
from airgenome.evaluations import FAIL, PASS
from airgenome.evaluations.store import get_evaluation_store

from .helpers import run

pytestmark = pytest.mark.slow  # the first test imports Great Expectations

COMPONENT = "evaluate.data-validation"
PASSING = [
    {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "finding"}},
    {"expectation": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": 0, "max_value": 120}},
    {"type": "expect_column_values_to_be_in_set", "kwargs": {"column": "sex", "value_set": ["M", "F"]}},
    {"expectation": "ExpectTableRowCountToBeBetween", "kwargs": {"min_value": 10}, "name": "enough rows"},
]


@pytest.fixture
def table(tmp_path: Path) -> dict[str, Any]:
    frame = pd.DataFrame(
        {
            "patientid": [f"p{i:03d}" for i in range(40)],
            "sex": ["M", "F"] * 20,
            "age": [20 + i for i in range(40)],
            "finding": ["Pneumonia/Viral/COVID-19", "No Finding"] * 20,
        }
    )
    bad = frame.copy()
    bad.loc[[3, 7, 11], "age"] = [150, -2, 999]
    bad.loc[5, "finding"] = None
    for name, data in (("good", frame), ("bad", bad)):
        data.to_parquet(tmp_path / f"{name}.parquet", index=False)
    return {name: {"table": {"uri": f"file://{tmp_path / name}.parquet", "kind": "table"}} for name in ("good", "bad")}


def _stored(tmp_path: Path, manifest: dict[str, Any] | None = None) -> Any:
    store = get_evaluation_store(f"sqlite:///{tmp_path / 'evaluations.db'}")
    if manifest is not None:
        return store.get(manifest["evaluation_ids"][0])
    page = store.search(limit=5)
    return store.get(next(iter(page)).id)


def test_the_allow_list_is_in_the_installed_great_expectations() -> None:
    from great_expectations.expectations.registry import _registered_expectations

    assert set(GX_EXPECTATIONS) <= set(_registered_expectations)
    assert "expect_query_results_to_match_comparison" not in GX_EXPECTATIONS


def test_a_passing_suite_is_stored_with_one_task_per_expectation(tmp_path: Path, table: dict[str, Any]) -> None:
    code, manifest = run(tmp_path, COMPONENT, {"suite": PASSING}, table["good"])
    assert code == 0 and manifest is not None
    assert manifest["outputs"]["evaluation"]["metadata"]["status"] == PASS
    assert manifest["metrics"]["failed"] == 0 and manifest["metrics"]["expectations"] == 4
    run_record = _stored(tmp_path, manifest)
    assert run_record.status == PASS and run_record.name == "data-validation/data-validation"
    assert [t.name for t in run_record.tasks] == [
        "expect_column_values_to_not_be_null(finding)",
        "expect_column_values_to_be_between(age)",
        "expect_column_values_to_be_in_set(sex)",
        "enough rows",
    ]
    assert all(t.status == PASS and t.kind == "task" for t in run_record.tasks)
    assert run_record.tasks[0].data_ref == {"ref": table["good"]["table"]["uri"], "refType": "table"}
    assert run_record.tasks[1].metrics["element_count"] == 40 and run_record.tasks[1].metrics["unexpected_count"] == 0
    assert run_record.tasks[3].metrics["observed_value"] == 40
    assert run_record.tasks[0].expectations[0].recipe == "{success:True} = True"
    assert run_record.pipeline_name == "p" and run_record.framework == "great_expectations"


def test_a_failing_suite_recorded_keeps_unexpected_rows_as_prototypes(tmp_path: Path, table: dict[str, Any]) -> None:
    code, manifest = run(tmp_path, COMPONENT, {"suite": PASSING, "on_failure": "record", "max_prototypes": 2},
                         {**table["bad"], "model": {"uri": "models:/v-42", "kind": "model", "metadata": {"version": "v-42"}}})
    assert code == 0 and manifest is not None
    assert manifest["outputs"]["evaluation"]["metadata"]["status"] == FAIL and manifest["metrics"]["failed"] == 2
    run_record = _stored(tmp_path, manifest)
    assert run_record.status == FAIL and run_record.target_model.id == "v-42"
    tasks = [t for t in run_record.tasks if t.kind == "task"]
    assert [t.status for t in tasks] == [FAIL, FAIL, PASS, PASS]
    age = tasks[1]
    assert age.metrics["unexpected_count"] == 3
    prototypes = [t for t in run_record.tasks if t.kind == "prototype" and t.parent == age.position]
    assert [p.prototype_ref for p in prototypes] == [{"ref": "row-3", "refType": "row"}, {"ref": "row-7", "refType": "row"}]
    assert prototypes[0].metrics["value"] == 150 and prototypes[0].metrics["record"]["patientid"] == "p003"
    null_rows = [t for t in run_record.tasks if t.kind == "prototype" and t.parent == tasks[0].position]
    assert [p.prototype_ref["ref"] for p in null_rows] == ["row-5"]


def test_unexpected_rows_can_be_named_by_an_id_column(tmp_path: Path, table: dict[str, Any]) -> None:
    suite = [PASSING[1]]
    code, manifest = run(tmp_path, COMPONENT, {"suite": suite, "on_failure": "record", "id_column": "patientid"}, table["bad"])
    assert code == 0 and manifest is not None
    refs = [t.prototype_ref["ref"] for t in _stored(tmp_path, manifest).tasks if t.kind == "prototype"]
    assert refs == ["p003", "p007", "p011"]


def test_a_failing_suite_fails_or_skips_the_step_and_is_still_stored(
    tmp_path: Path, table: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    code, manifest = run(tmp_path, COMPONENT, {"suite": PASSING}, table["bad"])
    assert code == 1 and manifest is None
    err = capsys.readouterr().err
    stored = _stored(tmp_path)
    assert f"data validation failed (evaluation {stored.id}): 2 of 4 expectations" in err
    assert stored.status == FAIL
    code, manifest = run(tmp_path, COMPONENT, {"suite": PASSING, "on_failure": "skip"}, table["bad"])
    assert code == EXIT_SKIP and manifest is not None and manifest["outcome"] == "skip"
    assert "data validation failed (evaluation" in manifest["message"]


def test_bad_kwargs_and_columns_are_named_by_path_before_anything_is_stored(
    tmp_path: Path, table: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    suite = [
        {"expectation": "expect_column_values_to_be_between", "kwargs": {"column": "age", "min_value": "young"}},
        {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "finding", "mostly": 3}},
        {"expectation": "expect_column_values_to_be_in_set", "kwargs": {"column": "sex", "valueset": ["M"]}},
    ]
    assert run(tmp_path, COMPONENT, {"suite": suite}, table["good"])[0] == 1
    err = capsys.readouterr().err
    assert "parameters.suite[0].kwargs.min_value: value is not a valid float" in err
    assert "parameters.suite[1].kwargs.mostly: ensure this value is less than or equal to 1.0" in err
    assert "parameters.suite[2].kwargs" in err
    suite = [{"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "diagnosis"}}]
    assert run(tmp_path, COMPONENT, {"suite": suite}, table["good"])[0] == 1
    assert "parameters.suite[0].kwargs.column: column 'diagnosis' is not in the table" in capsys.readouterr().err
    assert not (tmp_path / "evaluations.db").exists() or len(get_evaluation_store(
        f"sqlite:///{tmp_path / 'evaluations.db'}").search(limit=5)) == 0


def test_suites_are_checked_at_upload_without_great_expectations() -> None:
    spec = registry.get(COMPONENT)
    _, problems = spec.validate_parameters(
        {
            "suite": [
                {"expectation": "expect_column_values_to_be_nul", "kwargs": {"column": "a"}},
                {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": "a", "row_condition": "x>1"}},
                {"expectation": "expect_query_results_to_match_comparison", "kwargs": {}},
                {"expectation": "expect_column_values_to_not_be_null", "kwargs": {"column": 3}},
            ],
            "on_failure": "ignore",
        }
    )
    by_path = {p.path: p.message for p in problems}
    assert set(by_path) == {"suite[0].expectation", "suite[1].kwargs", "suite[2].expectation", "suite[3].kwargs", "on_failure"}
    assert "did you mean expect_column_values_to_be_null" in by_path["suite[0].expectation"]
    assert "row_condition cannot be set here" in by_path["suite[1].kwargs"]
    assert spec.validate_parameters({"suite": []})[1][0].path == "suite"
