"""filter.rows, transform.apply and transform.columns through the one runtime entrypoint."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest

from airgenome.components import registry
from airgenome.components.files import read_table
from airgenome.components.runtime import EXIT_OK, EXIT_SKIP, main
from tests.components.data_tables.conftest import claimed_metadata, env


def _run(tmp_path: Path, component: str, parameters: dict, table_uri: str) -> tuple[int, dict]:
    code = main([component], env(tmp_path, parameters, table_uri))
    manifest_path = tmp_path / "result.json"
    return code, json.loads(manifest_path.read_text()) if manifest_path.exists() else {}


def test_filter_rows_runs_claimeds_predicate(tmp_path: Path, metadata_uri: str) -> None:
    code, manifest = _run(tmp_path, "filter.rows", {"predicate": "~metadata.filename.str.contains('.gz')"}, metadata_uri)
    assert code == EXIT_OK
    assert manifest["metrics"] == {"rows_in": 8, "rows_out": 5}
    table = read_table(manifest["outputs"]["table"]["uri"])
    assert not table.filename.str.endswith(".gz").any() and len(table) == 5
    assert manifest["outputs"]["table"]["metadata"]["rows"] == 5


@pytest.mark.parametrize(("on_empty", "expected"), [("skip", EXIT_SKIP), ("fail", 1), ("keep", EXIT_OK)])
def test_no_rows_left(tmp_path: Path, metadata_uri: str, on_empty: str, expected: int) -> None:
    code, _ = _run(tmp_path, "filter.rows", {"predicate": "metadata.age > 1000", "on_empty": on_empty}, metadata_uri)
    assert code == expected
    written = tmp_path / "out" / "table" / "table.parquet"
    assert written.exists() == (on_empty == "keep")


def test_a_missing_column_fails_naming_it_and_the_tables_columns(
    tmp_path: Path, metadata_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _run(tmp_path, "filter.rows", {"predicate": "metadata.findings == 'x'"}, metadata_uri)
    assert code == 1
    assert "parameters.predicate: column 'findings' not in the table (its columns: patientid, filename, finding, age, sex)" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_transform_apply_runs_claimeds_transform(tmp_path: Path, metadata_uri: str) -> None:
    parameters = {"column": "finding", "expression": "x.replace('/', '_')", "output_column": "label"}
    code, manifest = _run(tmp_path, "transform.apply", parameters, metadata_uri)
    assert code == EXIT_OK
    table = read_table(manifest["outputs"]["table"]["uri"])
    assert table["label"].tolist() == [f.replace("/", "_") for f in claimed_metadata()["finding"]]
    assert table["finding"].tolist() == claimed_metadata()["finding"].tolist()


def test_transform_columns_operations_in_order(tmp_path: Path, metadata_uri: str) -> None:
    operations = [
        {"op": "rename", "columns": {"finding": "label"}},
        {"op": "fillna", "columns": {"age": 0, "sex": "U"}},
        {"op": "cast", "columns": {"age": "int64"}},
        {"op": "bin", "column": "age", "edges": [-1, 18, 65, 130], "labels": ["child", "adult", "senior"]},
        {"op": "one_hot", "column": "sex"},
        {"op": "drop", "columns": ["patientid"]},
    ]
    code, manifest = _run(tmp_path, "transform.columns", {"operations": operations}, metadata_uri)
    assert code == EXIT_OK
    table = read_table(manifest["outputs"]["table"]["uri"])
    assert list(table.columns) == ["filename", "label", "age", "age_bin", "sex_F", "sex_M", "sex_U"]
    assert table["age"].tolist() == [65, 52, 0, 74, 30, 45, 61, 38]
    assert table["age_bin"].tolist()[:4] == ["adult", "adult", "child", "senior"]  # (18, 65]
    assert table["sex_U"].tolist() == [0, 0, 0, 0, 1, 0, 0, 0]


def test_transform_columns_names_the_missing_column_at_run(
    tmp_path: Path, metadata_uri: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _ = _run(tmp_path, "transform.columns", {"operations": [{"op": "drop", "columns": ["age", "gender"]}]}, metadata_uri)
    assert code == 1
    assert "parameters.operations[0].columns: column 'gender' not in the table (its columns: patientid, filename" in capsys.readouterr().err


def test_transform_columns_bad_operations_are_refused_at_upload_by_path() -> None:
    _, problems = registry.get("transform.columns").validate_parameters(
        {"operations": [{"op": "bin", "column": "a", "edges": [0, 1], "labels": ["x", "y"]}, {"op": "explode", "column": "a"}, {"op": "rename", "columns": {"a": "c", "b": "c"}}]}
    )
    paths = {p.path: p.message for p in problems}
    assert "bins need 1 labels" in paths["operations[0].bin"]
    assert "operations[1]" in paths
    assert "same new name" in paths["operations[2].rename.columns"]


def test_examples_validate() -> None:
    for name in ("filter.rows", "transform.apply", "transform.columns", "spark.apply"):
        spec = registry.get(name)
        assert spec.validate_parameters(spec.example)[1] == [], name


def test_output_is_parquet_without_an_index(tmp_path: Path, metadata_uri: str) -> None:
    code, manifest = _run(tmp_path, "filter.rows", {"predicate": "metadata.age > 50"}, metadata_uri)
    assert code == EXIT_OK
    assert list(pd.read_parquet(manifest["outputs"]["table"]["uri"].removeprefix("file://")).columns) == list(claimed_metadata().columns)
