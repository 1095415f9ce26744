"""Airflow hook for the evaluation store (connection type ``airgenome_evaluation_store``).

The connection names the store's database by its extras, read by name:

- ``uri``: a SQLAlchemy URL (``sqlite:////data/evaluations.db``,
  ``postgresql+psycopg2://user:pw@db/evaluations``).

With no ``uri`` extra, a connection with a host is read as a Postgres URL built from its
fields (host, port, login, password, schema = database). With no connection at all, the
hook uses the settings (``AIRGENOME_EVALUATION_STORE_URI``, embedded default: SQLite
under ``$AIRGENOME_HOME/stores``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from airflow.exceptions import AirflowNotFoundException
from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from airgenome.evaluations.store import EvaluationStore


class EvaluationStoreHook(BaseHook):
    conn_name_attr = "evaluation_store_conn_id"
    default_conn_name = "airgenome_evaluation_store_default"
    conn_type = "airgenome_evaluation_store"
    hook_name = "airgenome evaluation store"

    def __init__(self, evaluation_store_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evaluation_store_conn_id = evaluation_store_conn_id

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        return {
            "hidden_fields": [],
            "relabeling": {"schema": "Database"},
            "placeholders": {"extra": '{"uri": "postgresql+psycopg2://user:pw@db:5432/evaluations"}'},
        }

    def get_uri(self) -> str:
        """The store URI from the connection, or from the settings when there is none."""
        from airgenome.settings import store_locations

        try:
            conn = self.get_connection(self.evaluation_store_conn_id)
        except AirflowNotFoundException:
            return store_locations().evaluation_store_uri
        extras = conn.extra_dejson
        uri = extras.get("uri")
        if uri:
            return str(uri)
        if conn.host:
            from sqlalchemy.engine import URL

            return URL.create(
                "postgresql+psycopg2",
                username=conn.login or None,
                password=conn.password or None,
                host=conn.host,
                port=conn.port or None,
                database=conn.schema or None,
            ).render_as_string(hide_password=False)
        return store_locations().evaluation_store_uri

    def get_conn(self) -> EvaluationStore:
        from airgenome.evaluations.store import get_evaluation_store

        return get_evaluation_store(self.get_uri())

    def test_connection(self) -> tuple[bool, str]:
        try:
            self.get_conn().search(limit=1)
        except Exception as error:  # noqa: BLE001 - reported to the UI, not raised
            return False, f"{type(error).__name__}: {error}"
        return True, "evaluation store reachable"
