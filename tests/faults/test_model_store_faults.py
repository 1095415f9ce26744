"""The model store unreachable or locked: a clear error (503, naming the store and the cause),
no half-registered model version, and saving again registers the version normally.

Real MLflow on real SQLite files: the registry in its own database, in a folder that goes away
mid-save (an unmounted volume; the tracking store stays); and a registry URI pointing at a
closed loopback port, through the SDK and through the plugin's API. (A locked SQLite registry
is not tested here: MLflow sets ``busy_timeout`` to 20 s, so a lock shorter than that is waited
out and a longer one fails through the same path as the unreachable case.)
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airgenome.errors import Unavailable
from tests.conftest import PluginClient, free_port

pytestmark = pytest.mark.slow

META = {
    "canonicalName": "/faults/iris",
    "application": "faults",
    "pipelineName": "faults",
    "pipelineRunId": "run-1",
    "pipelineStage": "model",
    "framework": "sklearn",
    "inputModality": "tabular",
    "versionName": "1.0.0",
    "predictionType": "classification",
}


@pytest.fixture(scope="module")
def model() -> Any:
    from sklearn.datasets import load_iris
    from sklearn.linear_model import LogisticRegression

    features, labels = load_iris(return_X_y=True)
    return LogisticRegression(max_iter=300).fit(features, labels)


@dataclass
class Stores:
    tracking: str
    registry: str
    registry_db: Path
    artifacts: Path

    def model_store(self) -> Any:
        from airgenome.models.client import ModelStore

        return ModelStore(self.tracking, registry_uri=self.registry, artifacts=str(self.artifacts))

    def versions(self) -> list[tuple[int, str]]:
        """(version, run id) of every registered version, read by a fresh MLflow client."""
        from mlflow import MlflowClient

        client = MlflowClient(tracking_uri=self.tracking, registry_uri=self.registry)
        return sorted((int(v.version), v.run_id) for v in client.search_model_versions())

    def runs(self) -> dict[str, str]:
        """run id -> status of the store's runs."""
        from mlflow import MlflowClient

        from airgenome.models.mlflow_backend import EXPERIMENT

        client = MlflowClient(tracking_uri=self.tracking, registry_uri=self.registry)
        experiment = client.get_experiment_by_name(EXPERIMENT)
        if experiment is None:
            return {}
        return {r.info.run_id: r.info.status for r in client.search_runs([experiment.experiment_id])}


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Fresh MLflow databases take seconds to migrate: migrate a pair once, copy it per test."""
    from mlflow import MlflowClient

    folder = tmp_path_factory.mktemp("migrated")
    client = MlflowClient(tracking_uri=f"sqlite:///{folder / 'mlflow.db'}", registry_uri=f"sqlite:///{folder / 'registry.db'}")
    client.search_experiments(max_results=1)
    client.search_registered_models(max_results=1)
    return folder


@pytest.fixture
def stores(tmp_path: Path, migrated: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Stores]:
    # A connection per use (as after a server restart), so a registry that went away is noticed.
    monkeypatch.setenv("MLFLOW_SQLALCHEMYSTORE_POOLCLASS", "NullPool")
    for folder, name in (("tracking", "mlflow.db"), ("registry", "registry.db")):
        (tmp_path / folder).mkdir()
        shutil.copy(migrated / name, tmp_path / folder / name)
    registry_db = tmp_path / "registry" / "registry.db"
    yield Stores(
        tracking=f"sqlite:///{tmp_path / 'tracking' / 'mlflow.db'}",
        registry=f"sqlite:///{registry_db}",
        registry_db=registry_db,
        artifacts=tmp_path / "artifacts",
    )


def test_a_registry_gone_mid_save_registers_nothing_and_the_retry_registers_version_1(
    stores: Stores, model: Any
) -> None:
    store = stores.model_store()
    assert store.backend  # opened while the registry was there
    volume, away = stores.registry_db.parent, stores.registry_db.parent.with_name("registry.away")
    volume.rename(away)  # as an unmounted volume or a dead database server

    with pytest.raises(Unavailable) as raised:
        store.save_model(model, META)  # the run and its files are written, then registering fails
    away.rename(volume)  # the registry is back

    assert raised.value.status_code == 503
    assert raised.value.message.startswith(
        f"saving /faults/iris: model store error at {stores.tracking} (registry {stores.registry}): "
    ), raised.value.message
    assert raised.value.message.endswith("(sqlite3.OperationalError) unable to open database file")
    assert "Background on this error" not in raised.value.message
    # The run that logged the files is marked FAILED; no version points at anything.
    assert stores.versions() == []
    (failed_run,) = stores.runs()
    assert stores.runs()[failed_run] == "FAILED"

    record = store.save_model(model, META)  # the step's retry

    assert record.version == 1
    assert stores.versions() == [(1, record.run_id)]
    assert record.run_id != failed_run
    assert stores.runs()[record.run_id] == "FINISHED"
    loaded = store.load_model(record.id)
    assert list(loaded.predict([[5.1, 3.5, 1.4, 0.2]])) == list(model.predict([[5.1, 3.5, 1.4, 0.2]]))


def test_a_registry_at_a_closed_port_is_a_clear_503_and_nothing_is_stored(
    stores: Stores, model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own retries wait minutes
    registry = f"http://127.0.0.1:{free_port()}"
    stores.registry = registry
    store = stores.model_store()

    with pytest.raises(Unavailable) as raised:
        store.save_model(model, META)

    message = raised.value.message
    assert message.startswith(
        f"opening the model store: model store error at {stores.tracking} (registry {registry}): "
        f"API request to {registry}/api/2.0/mlflow/registered-models/search failed"
    ), message
    assert "Connection refused" in message
    assert stores.runs() == {}  # nothing was written before the registry answered


def test_the_models_api_answers_503_naming_the_unreachable_registry(
    plugin_client: PluginClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Was a 500: opening the store raised MLflow's own exception, which no handler maps."""
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    registry = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("AIRGENOME_MODEL_REGISTRY_URI", registry)

    response = plugin_client.client.get("/api/v1/models", headers=plugin_client.headers())  # type: ignore[attr-defined]

    assert response.status_code == 503
    detail = response.json()["detail"]
    assert detail.startswith("opening the model store: model store error at ")
    assert f"(registry {registry}): " in detail and "Connection refused" in detail
