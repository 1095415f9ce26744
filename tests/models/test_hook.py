"""ModelStoreHook: the store's location from an Airflow connection (extras by name) or the settings."""

from __future__ import annotations

import json

import pytest

from airgenome.hooks.model_store import ModelStoreHook


def _connection(monkeypatch: pytest.MonkeyPatch, conn_id: str, **fields: object) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps({"conn_type": "airgenome_model_store", **fields}))


def test_extras_are_read_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(
        monkeypatch,
        "models_prod",
        extra={
            "tracking_uri": "http://mlflow.internal:5000",
            "registry_uri": "postgresql://registry/db",
            "artifact_location": "s3://models/",
        },
    )
    hook = ModelStoreHook("models_prod")
    assert hook.store_env() == {
        "AIRGENOME_MODEL_STORE_URI": "http://mlflow.internal:5000",
        "AIRGENOME_MODEL_ARTIFACTS": "s3://models/",
        "AIRGENOME_MODEL_REGISTRY_URI": "postgresql://registry/db",
    }


def test_a_host_is_an_mlflow_server(monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(monkeypatch, "models_host", host="mlflow.example", port=5443, schema="https")
    location = ModelStoreHook("models_host").get_location()
    assert (location.tracking_uri, location.registry_uri, location.artifact_location) == (
        "https://mlflow.example:5443",
        None,
        None,
    )


def test_no_connection_means_the_settings(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("AIRGENOME_MODEL_STORE_URI", f"sqlite:///{tmp_path}/m.db")
    monkeypatch.setenv("AIRGENOME_MODEL_ARTIFACTS", str(tmp_path / "art"))
    hook = ModelStoreHook("airgenome_model_store_missing")
    assert hook.store_env() == {
        "AIRGENOME_MODEL_STORE_URI": f"sqlite:///{tmp_path}/m.db",
        "AIRGENOME_MODEL_ARTIFACTS": str(tmp_path / "art"),
    }
    ok, message = hook.test_connection()
    assert (ok, message) == (True, "model store reachable")


def test_unsupported_scheme_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    _connection(monkeypatch, "models_bad", extra={"tracking_uri": "ftp://nowhere"})
    ok, message = ModelStoreHook("models_bad").test_connection()
    assert not ok
    assert message == "InvalidInput: model store URI 'ftp://nowhere': unsupported scheme 'ftp' (one of databricks, http, https, mssql, mysql, postgresql, sqlite)"
