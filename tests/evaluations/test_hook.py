"""EvaluationStoreHook reads its connection's extras by name, and falls back to the settings."""

from __future__ import annotations

import json

from airgenome.evaluations.store import get_evaluation_store
from airgenome.hooks.evaluation_store import EvaluationStoreHook


def test_uri_extra_names_the_store(monkeypatch, store_uri: str) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_EVALS_TEST",
        json.dumps({"conn_type": "airgenome_evaluation_store", "extra": {"uri": store_uri}}),
    )
    hook = EvaluationStoreHook("evals_test")
    assert hook.get_uri() == store_uri
    assert hook.get_conn() is get_evaluation_store(store_uri)
    assert hook.test_connection() == (True, "evaluation store reachable")


def test_connection_fields_make_a_postgres_url(monkeypatch) -> None:
    monkeypatch.setenv(
        "AIRFLOW_CONN_EVALS_PG",
        json.dumps(
            {
                "conn_type": "airgenome_evaluation_store",
                "host": "db.internal",
                "port": 5432,
                "login": "genome",
                "password": "p@ss",
                "schema": "evaluations",
            }
        ),
    )
    assert EvaluationStoreHook("evals_pg").get_uri() == (
        "postgresql+psycopg2://genome:p%40ss@db.internal:5432/evaluations"
    )


def test_no_connection_means_the_settings(monkeypatch, tmp_path) -> None:
    uri = f"sqlite:///{tmp_path / 'settings.db'}"
    monkeypatch.setenv("AIRGENOME_EVALUATION_STORE_URI", uri)
    assert EvaluationStoreHook("no_such_connection").get_uri() == uri
