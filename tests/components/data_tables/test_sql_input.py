"""input.table: one read query through an Airflow connection into a table; the connection's URL
reaches the component from the worker (masked) or from a Kubernetes Secret (a reference)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from airgenome.components import registry
from airgenome.components.context import connection_variable
from airgenome.components.files import read_table
from airgenome.components.runtime import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, main
from airgenome.errors import InvalidInput
from tests.components.data_tables.conftest import env

QUERY = "SELECT patientid, finding, age FROM metadata WHERE age >= :min_age ORDER BY patientid"


@pytest.fixture
def warehouse(tmp_path: Path) -> Path:
    path = tmp_path / "warehouse.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE metadata (patientid INTEGER, finding TEXT, age REAL)")
        db.executemany("INSERT INTO metadata VALUES (?, ?, ?)", [
            (1, "Pneumonia/Viral/COVID-19", 65.0), (2, "No Finding", 30.0),
            (3, "Pneumonia/Viral/SARS", None), (4, "Pneumonia/Viral/COVID-19", 74.0),
        ])
    return path


def _run(tmp_path: Path, parameters: dict[str, Any], url: str | None) -> tuple[int, dict[str, Any]]:
    extra = {connection_variable("warehouse"): url} if url else {}
    code = main(["input.table"], env(tmp_path, parameters, **extra))
    result = tmp_path / "result.json"
    return code, (json.loads(result.read_text()) if result.exists() else {})


def test_a_query_with_bound_values_becomes_a_table(tmp_path: Path, warehouse: Path) -> None:
    code, manifest = _run(tmp_path, {"conn_id": "warehouse", "sql": QUERY, "parameters": {"min_age": 60}},
                          f"sqlite:///{warehouse}")
    assert code == EXIT_OK
    table = read_table(manifest["outputs"]["table"]["uri"])
    assert table.to_dict("records") == [
        {"patientid": 1, "finding": "Pneumonia/Viral/COVID-19", "age": 65.0},
        {"patientid": 4, "finding": "Pneumonia/Viral/COVID-19", "age": 74.0},
    ]
    assert manifest["metrics"] == {"rows": 2, "columns": 3}
    assert manifest["outputs"]["table"]["metadata"]["rows"] == 2


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM metadata", "only a read query is run: start with SELECT or WITH"),
        ("SELECT 1; DROP TABLE metadata", "one statement only"),
        ("/* SELECT */ UPDATE metadata SET age = 0", "only a read query is run"),
        ("-- nothing", "the query is empty"),
    ],
)
def test_anything_but_one_read_statement_is_refused_before_the_database_is_opened(
    tmp_path: Path, warehouse: Path, sql: str, message: str
) -> None:
    spec = registry.get("input.table")
    with pytest.raises(InvalidInput, match=r"steps\[0\]\.parameters\.sql: .*" + message.split(":")[0]):
        spec.parse_parameters({"conn_id": "warehouse", "sql": sql}, where="steps[0].parameters")
    code, _ = _run(tmp_path, {"conn_id": "warehouse", "sql": sql}, f"sqlite:///{warehouse}")
    assert code == EXIT_BAD_INPUT
    with sqlite3.connect(warehouse) as db:  # nothing ran
        assert db.execute("SELECT count(*) FROM metadata").fetchone() == (4,)


def test_a_semicolon_inside_a_string_is_not_a_second_statement(tmp_path: Path, warehouse: Path) -> None:
    code, manifest = _run(tmp_path, {"conn_id": "warehouse", "sql": "SELECT 'a;b' AS text;"}, f"sqlite:///{warehouse}")
    assert code == EXIT_OK
    assert read_table(manifest["outputs"]["table"]["uri"]).to_dict("records") == [{"text": "a;b"}]


def test_errors_name_the_field_and_never_the_url(tmp_path: Path, warehouse: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _ = _run(tmp_path, {"conn_id": "warehouse", "sql": QUERY, "parameters": {"min_age": 0}, "max_rows": 2},
                   f"sqlite:///{warehouse}")
    assert code == EXIT_FAILED
    assert "max_rows: the query returned more than 2 rows" in capsys.readouterr().err

    code, _ = _run(tmp_path, {"conn_id": "warehouse", "sql": "SELECT nope FROM metadata"}, f"sqlite:///{warehouse}")
    assert code == EXIT_FAILED
    assert "sql: the database refused the query: no such column: nope" in capsys.readouterr().err

    code, _ = _run(tmp_path, {"conn_id": "warehouse", "sql": QUERY}, f"sqlite:///{warehouse}")
    assert code == EXIT_FAILED
    err = capsys.readouterr().err
    assert "parameters: A value is required for bind parameter 'min_age'" in err

    code, _ = _run(tmp_path, {"conn_id": "warehouse", "sql": QUERY}, None)
    assert code == EXIT_FAILED
    assert "conn_id: connection 'warehouse' was not given to this step" in capsys.readouterr().err

    code, _ = _run(tmp_path, {"conn_id": "warehouse", "sql": QUERY}, "nosuchdb://user:s3cret@host/db")
    err = capsys.readouterr().err
    assert code == EXIT_FAILED and "conn_id: connection 'warehouse' is not a database" in err
    assert "s3cret" not in err


def test_the_worker_resolves_an_airflow_connection_and_masks_it(monkeypatch: pytest.MonkeyPatch, warehouse: Path) -> None:
    from airgenome.operators.connections import resolve_for_worker, sqlalchemy_url

    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(warehouse)}))
    masked: list[str] = []
    monkeypatch.setattr("airflow.sdk.log.mask_secret", masked.append)
    assert resolve_for_worker(["warehouse"]) == {connection_variable("warehouse"): f"sqlite:///{warehouse}"}
    assert masked == [f"sqlite:///{warehouse}"]

    from airflow.sdk import Connection

    postgres = Connection(conn_id="dw", conn_type="postgres", login="reader", password="p@ss", host="db", port=5432,
                          schema="claimed")
    assert sqlalchemy_url(postgres) == "postgresql://reader:p%40ss@db:5432/claimed"
    with pytest.raises(InvalidInput, match="conn_id: Airflow has no connection 'missing'"):
        resolve_for_worker(["missing"])


def test_in_a_pod_the_url_is_a_secret_reference(monkeypatch: pytest.MonkeyPatch) -> None:
    from airgenome.operators.categories import InputOperator

    monkeypatch.setenv("AIRGENOME_CONNECTIONS_SECRET_NAME", "dw-connections")
    step = InputOperator(task_id="load", component="input.table", mode="kubernetes",
                         parameters={"conn_id": "warehouse", "sql": QUERY, "parameters": {"min_age": 60}})
    from airgenome.operators.pod import render_pod_manifest

    manifest = render_pod_manifest(step.pod_operator({}))
    env = {e["name"]: e for e in manifest["spec"]["containers"][0]["env"]}
    assert env[connection_variable("warehouse")] == {
        "name": "AIRGENOME_CONNECTION_WAREHOUSE",
        "valueFrom": {"secretKeyRef": {"name": "dw-connections", "key": "warehouse"}},
    }
    assert "sqlite" not in json.dumps(manifest) and "postgresql" not in json.dumps(manifest)
