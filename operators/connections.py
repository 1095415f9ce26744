"""Airflow connections for components that query a database (``input.table``).

A component spec names the parameters that hold Airflow connection ids
(`ComponentSpec.connections`). The worker resolves each one — local mode: through Airflow
(`BaseHook.get_connection`: the metadata database, ``AIRFLOW_CONN_*`` or a secrets backend) to a
SQLAlchemy URL handed to the component's process in its environment, the URL and password
registered with Airflow's secrets masker first; kubernetes mode: a ``secretKeyRef`` to the key
named like the connection in the Secret named by the ``connections_secret_name`` setting, so no
URL is ever in a pod spec. The component sees ``ctx.connection(conn_id)`` either way.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from airgenome.components.context import connection_variable
from airgenome.errors import InvalidInput

# Airflow connection types whose SQLAlchemy dialect has another name.
DIALECTS = {"postgres": "postgresql", "postgresql": "postgresql", "mysql": "mysql", "mssql": "mssql+pymssql",
            "oracle": "oracle", "sqlite": "sqlite", "duckdb": "duckdb", "snowflake": "snowflake", "trino": "trino"}


def connection_ids(spec: Any, parameters: Mapping[str, Any]) -> list[str]:
    """The connection ids a step's parameters name (the spec says which parameters hold them)."""
    found = []
    for name in getattr(spec, "connections", ()) or ():
        value = parameters.get(name)
        if isinstance(value, str) and value:
            found.append(value)
    return sorted(set(found))


def sqlalchemy_url(conn: Any) -> str:
    """A SQLAlchemy URL from an Airflow connection.

    ``extra.sqlalchemy_url`` wins when set; a ``sqlite`` connection's host is the database file
    (the SQLite provider's convention); otherwise type, login, password, host, port and schema.
    """
    from sqlalchemy.engine import URL

    extra = conn.extra_dejson or {}
    explicit = extra.get("sqlalchemy_url")
    if isinstance(explicit, str) and explicit:
        return explicit
    conn_type = (conn.conn_type or "").lower()
    if conn_type == "sqlite":
        if not conn.host:
            raise InvalidInput(f"connection {conn.conn_id!r}: a sqlite connection needs its file path as host")
        return f"sqlite:///{conn.host}"
    if conn_type not in DIALECTS:
        raise InvalidInput(
            f"connection {conn.conn_id!r}: type {conn_type!r} has no known SQLAlchemy dialect; "
            "set extra.sqlalchemy_url"
        )
    url = URL.create(
        drivername=DIALECTS[conn_type],
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    )
    return url.render_as_string(hide_password=False)


def resolve_for_worker(conn_ids: list[str]) -> dict[str, str]:
    """Environment variables carrying each connection's URL, masked in logs before use."""
    if not conn_ids:
        return {}
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException
    from airflow.sdk.log import mask_secret

    env: dict[str, str] = {}
    for conn_id in conn_ids:
        try:
            conn = BaseHook.get_connection(conn_id)
        except AirflowNotFoundException:
            raise InvalidInput(f"conn_id: Airflow has no connection {conn_id!r}") from None
        url = sqlalchemy_url(conn)
        if conn.password:
            mask_secret(conn.password)
        mask_secret(url)
        env[connection_variable(conn_id)] = url
    return env


def secret_references(conn_ids: list[str]) -> dict[str, str]:
    """Pod environment variable -> key in the connections Secret (kubernetes mode)."""
    return {connection_variable(conn_id): conn_id for conn_id in conn_ids}
