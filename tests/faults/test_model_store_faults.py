"""The model store unreachable or locked: a clear error (503, naming the store and the cause),
no half-registered model version, and saving again registers the version normally.

Real MLflow on real SQLite files: the registry in its own database, in a folder that goes away
mid-save (an unmounted volume; the tracking store stays), or locked by another writer; a
registry URI pointing at a closed loopback port, through the SDK and through the plugin's API;
and a real `mlflow server` that is down at the first save and up for the retry.

MLflow waits for a locked SQLite database for 20 s: ``PRAGMA busy_timeout = 20000`` on every
session (``mlflow.store.db.utils._get_managed_session_maker``), with no setting to change it (a
``?timeout=`` in the URI is overridden by that pragma). The lock that outlasts it is therefore
waited out once, for real (~20 s).
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airgenome.errors import Unavailable
from tests.conftest import PluginClient, free_port
from tests.processes import stop_process
from tests.waiting import wait_until

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


@contextmanager
def held_lock(database: Path) -> Iterator[sqlite3.Connection]:
    """Another writer holding SQLite's exclusive lock (rollback journal: readers wait too)."""
    connection = sqlite3.connect(database, isolation_level=None)
    try:
        connection.execute("BEGIN EXCLUSIVE")
        yield connection
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        connection.close()


def _in_mlflow_registry_store(thread: threading.Thread) -> bool:
    """Whether the thread is inside MLflow's SQL registry store, where the held lock stops it."""
    frame = sys._current_frames().get(thread.ident or -1)
    while frame is not None:
        if frame.f_code.co_filename.endswith(os.path.join("model_registry", "sqlalchemy_store.py")):
            return True
        frame = frame.f_back
    return False


def test_a_registry_locked_for_less_than_mlflows_wait_is_waited_out_and_registers_one_version(
    stores: Stores, model: Any
) -> None:
    store = stores.model_store()
    assert store.backend  # opened before the lock
    outcome: dict[str, Any] = {}

    def save() -> None:
        try:
            outcome["record"] = store.save_model(model, META)
        except Exception as error:  # reported by the assertions below
            outcome["error"] = error

    saving = threading.Thread(target=save, daemon=True)
    with held_lock(stores.registry_db):
        saving.start()
        # The run and its files are written; the save then waits on the registry's lock.
        wait_until(lambda: _in_mlflow_registry_store(saving), timeout_s=60,
                   what="the save to reach the locked registry", every_s=0.02)
        assert saving.is_alive()
    saving.join(timeout=60)

    assert not saving.is_alive()
    assert "error" not in outcome, outcome.get("error")
    record = outcome["record"]
    assert record.version == 1
    assert stores.versions() == [(1, record.run_id)]
    assert stores.runs() == {record.run_id: "FINISHED"}


def test_a_registry_locked_for_longer_than_mlflows_wait_is_a_clear_503_and_the_retry_registers_version_1(
    stores: Stores, model: Any
) -> None:
    store = stores.model_store()
    assert store.backend
    with held_lock(stores.registry_db), pytest.raises(Unavailable) as raised:
        store.save_model(model, META)  # gives up after MLflow's 20 s busy timeout

    assert raised.value.status_code == 503
    # The cause, without SQLAlchemy's statement and its parameters (the model's metadata).
    assert raised.value.message == (
        f"saving /faults/iris: model store error at {stores.tracking} (registry {stores.registry}): "
        "(sqlite3.OperationalError) database is locked"
    )
    assert stores.versions() == []
    (failed_run,) = stores.runs()
    assert stores.runs() == {failed_run: "FAILED"}

    record = store.save_model(model, META)  # the step's retry, the lock released

    assert record.version == 1
    assert stores.versions() == [(1, record.run_id)]
    assert stores.runs() == {failed_run: "FAILED", record.run_id: "FINISHED"}


@contextmanager
def mlflow_server(port: int, folder: Path, backend: Path) -> Iterator[str]:
    """A real `mlflow server` on 127.0.0.1:port (tracking, registry and artifacts), stopped by
    its process group; the backend is a copy of an already migrated database."""
    folder.mkdir()
    shutil.copy(backend, folder / "mlflow.db")
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "MLFLOW_DISABLE_TELEMETRY": "true"}  # no calls out of the machine
    with (folder / "server.log").open("wb") as log:
        process = subprocess.Popen(
            [str(Path(sys.executable).parent / "mlflow"), "server", "--host", "127.0.0.1", "--port", str(port),
             "--backend-store-uri", f"sqlite:///{folder / 'mlflow.db'}",
             "--artifacts-destination", str(folder / "artifacts"), "--workers", "1"],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env,
            start_new_session=True,  # its own process group: uvicorn's worker is stopped with it
        )
    try:
        wait_until(lambda: process.poll() is not None or _healthy(url), timeout_s=180,
                   what=f"mlflow server on {url} (log: {folder / 'server.log'})", every_s=0.2)
        assert process.poll() is None, (folder / "server.log").read_text()[-3000:]
        yield url
    finally:
        stop_process(process)


def _healthy(url: str) -> bool:
    import httpx

    try:
        return httpx.get(f"{url}/health", timeout=5).status_code == 200
    except httpx.TransportError:
        return False


def test_an_mlflow_server_down_then_back_stores_nothing_then_exactly_one_version(
    tmp_path: Path, migrated: Path, model: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airgenome.models.client import ModelStore

    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own retries wait minutes
    port = free_port()
    server = f"http://127.0.0.1:{port}"
    # Only its readers are used: the server holds the registry database and the artifacts.
    stores = Stores(tracking=server, registry=server, registry_db=tmp_path / "server", artifacts=tmp_path / "server")
    store = ModelStore(server)  # tracking and registry on the server, artifacts proxied by it

    with pytest.raises(Unavailable) as raised:
        store.save_model(model, META)  # nothing listens on the port yet

    assert raised.value.status_code == 503
    message = raised.value.message
    assert message.startswith(
        f"opening the model store: model store error at {server}: "
        f"API request to {server}/api/2.0/mlflow/experiments/search failed"
    ), message
    assert "Connection refused" in message

    with mlflow_server(port, tmp_path / "server", migrated / "registry.db"):
        assert stores.versions() == []  # the failed save reached nothing
        assert stores.runs() == {}

        record = store.save_model(model, META)  # the step's retry, on the same store object

        assert record.version == 1
        assert stores.versions() == [(1, record.run_id)]
        assert stores.runs() == {record.run_id: "FINISHED"}
        loaded = store.load_model(record.id)
        assert list(loaded.predict([[5.1, 3.5, 1.4, 0.2]])) == list(model.predict([[5.1, 3.5, 1.4, 0.2]]))
