"""Airflow hook for the model store (connection type ``airgenome_model_store``).

The connection's extras are read by name:

- ``tracking_uri``: the MLflow store (``http://mlflow:5000``, ``postgresql://...``,
  ``sqlite:////data/mlflow.db``);
- ``registry_uri``: the model registry, when it differs from the tracking store;
- ``artifact_location``: where model files go (``s3://bucket/models``, a folder); leave it
  out for an MLflow server that proxies artifacts.

With no ``tracking_uri`` extra, a connection with a host is read as an MLflow server URL
(``https`` when the schema says so, else ``http``; host and port). With no connection at all
the hook uses the settings (``AIRGENOME_MODEL_STORE_URI`` / ``AIRGENOME_MODEL_ARTIFACTS``,
embedded default: SQLite and a folder under ``$AIRGENOME_HOME/stores``).

`store_env()` is what a step needs in its environment to reach the same store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airgenome.models.client import ModelStore


@dataclass(frozen=True)
class ModelStoreLocation:
    tracking_uri: str
    registry_uri: str | None
    artifact_location: str | None


class ModelStoreHook(BaseHook):
    conn_name_attr = "model_store_conn_id"
    default_conn_name = "airgenome_model_store_default"
    conn_type = "airgenome_model_store"
    hook_name = "airgenome model store (MLflow)"

    def __init__(self, model_store_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model_store_conn_id = model_store_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": ["login", "password"],
            "relabeling": {"host": "MLflow server host", "schema": "Scheme (http/https)"},
            "placeholders": {
                "extra": '{"tracking_uri": "http://mlflow:5000", "artifact_location": "s3://models/"}'
            },
        }

    def get_location(self) -> ModelStoreLocation:
        """Where the store is: from the connection, or the settings when there is none."""
        from airgenome.settings import store_locations

        defaults = store_locations()
        try:
            conn = self.get_connection(self.model_store_conn_id)
        except AirflowNotFoundException:
            return ModelStoreLocation(defaults.model_store_uri, None, defaults.model_artifacts)
        extras = conn.extra_dejson
        tracking = extras.get("tracking_uri")
        if not tracking and conn.host:
            scheme = "https" if (conn.schema or "").lower() == "https" else "http"
            port = f":{conn.port}" if conn.port else ""
            tracking = f"{scheme}://{conn.host}{port}"
        if not tracking:
            return ModelStoreLocation(
                defaults.model_store_uri,
                extras.get("registry_uri") or None,
                extras.get("artifact_location") or defaults.model_artifacts,
            )
        return ModelStoreLocation(
            str(tracking),
            str(extras["registry_uri"]) if extras.get("registry_uri") else None,
            str(extras["artifact_location"]) if extras.get("artifact_location") else None,
        )

    def store_env(self) -> dict[str, str]:
        """The step environment variables naming this store (read by ``ModelStore()``)."""
        location = self.get_location()
        env = {"AIRGENOME_MODEL_STORE_URI": location.tracking_uri}
        if location.artifact_location:
            env["AIRGENOME_MODEL_ARTIFACTS"] = location.artifact_location
        if location.registry_uri:
            env["AIRGENOME_MODEL_REGISTRY_URI"] = location.registry_uri
        return env

    def get_conn(self) -> ModelStore:
        from airgenome.models.client import ModelStore

        location = self.get_location()
        return ModelStore(
            location.tracking_uri,
            registry_uri=location.registry_uri,
            artifacts=location.artifact_location,
        )

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.get_conn().search_models(limit=1)
        except Exception as error:  # noqa: BLE001 - reported to the UI, not raised
            return False, f"{type(error).__name__}: {error}"
        return True, "model store reachable"
