"""The model store interface and how a backend is chosen (by URI scheme, MLflow-style).

`ModelStoreBackend` only stores and finds: a model directory plus validated metadata in,
records out. Serialising estimators is `airgenome.models.serialization`'s job, and the
user-facing SDK is `airgenome.models.client.ModelStore`.

Backends are created once per location and shared (the plugin serves many requests from
threads); they must be thread-safe.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path

from airgenome.errors import InvalidInput
from airgenome.models.metadata import ModelMetadata
from airgenome.models.records import ModelPage, ModelRecord, ModelSearch
from airgenome.settings import store_locations


class ModelStoreBackend(ABC):
    """Where model versions live. Every lookup of something absent raises NotFound."""

    uri: str

    @abstractmethod
    def create_version(
        self, model_dir: Path, metadata: ModelMetadata, extra_tags: Mapping[str, str]
    ) -> ModelRecord:
        """Store ``model_dir`` as a new version of ``metadata.canonical_name``'s model."""

    @abstractmethod
    def get_version(self, name: str, version: int) -> ModelRecord: ...

    @abstractmethod
    def latest_version(self, name: str) -> ModelRecord: ...

    @abstractmethod
    def version_by_alias(self, name: str, alias: str) -> ModelRecord: ...

    @abstractmethod
    def model_exists(self, name: str) -> bool: ...

    @abstractmethod
    def list_versions(self, name: str) -> list[ModelRecord]:
        """All versions of one registered model, newest first."""

    @abstractmethod
    def search(self, search: ModelSearch, limit: int, page_token: str | None) -> ModelPage: ...

    @abstractmethod
    def set_alias(self, name: str, alias: str, version: int) -> None: ...

    @abstractmethod
    def delete_alias(self, name: str, alias: str) -> None: ...

    @abstractmethod
    def set_tag(self, name: str, version: int, key: str, value: str) -> None: ...

    @abstractmethod
    def set_system_tag(self, name: str, version: int, key: str, value: str) -> None:
        """An ``airgenome.*`` tag the platform writes (blessing, approval, deployment), which
        `set_tag` refuses to users."""

    @abstractmethod
    def model_path(self, record: ModelRecord, scratch: Path) -> Path:
        """A local directory with the version's files (in place, or downloaded into scratch)."""

    @abstractmethod
    def read_text(self, record: ModelRecord, filename: str) -> str | None:
        """One small file of the stored model directory, or None if it is absent."""


BackendFactory = Callable[[str, str | None, str | None], ModelStoreBackend]


def _mlflow_backend(uri: str, registry_uri: str | None, artifacts: str | None) -> ModelStoreBackend:
    from airgenome.models.mlflow_backend import MlflowModelStore

    return MlflowModelStore(uri, registry_uri=registry_uri, artifact_location=artifacts)


# URI scheme -> backend. Every scheme MLflow's tracking/registry stores understand.
BACKENDS: dict[str, BackendFactory] = {
    scheme: _mlflow_backend
    for scheme in ("sqlite", "postgresql", "mysql", "mssql", "http", "https", "databricks")
}

_lock = threading.Lock()
_backends: dict[tuple[str, str | None, str | None], ModelStoreBackend] = {}


def get_backend(
    uri: str | None = None, *, registry_uri: str | None = None, artifacts: str | None = None
) -> ModelStoreBackend:
    """The shared backend for a location (default: `airgenome.settings.store_locations()`)."""
    if uri is None:
        locations = store_locations()
        uri = locations.model_store_uri
        artifacts = artifacts or locations.model_artifacts
        registry_uri = registry_uri or locations.model_registry_uri
    scheme = uri.split(":", 1)[0].split("+", 1)[0].lower()
    factory = BACKENDS.get(scheme)
    if factory is None:
        raise InvalidInput(
            f"model store URI {uri!r}: unsupported scheme {scheme!r} "
            f"(one of {', '.join(sorted(BACKENDS))})",
            details=[{"field": "model_store_uri", "message": f"unsupported scheme {scheme!r}"}],
        )
    key = (uri, registry_uri, artifacts)
    with _lock:
        backend = _backends.get(key)
        if backend is None:
            backend = factory(uri, registry_uri, artifacts)
            _backends[key] = backend
        return backend
