"""``input.table``: the rows of one SQL query through an Airflow connection, into a table.

The connection is resolved where Airflow is — in the worker (local mode: the URL reaches the
component's process in its environment, registered with Airflow's secrets masker) or from a
Kubernetes Secret (kubernetes mode: a ``secretKeyRef``, never a literal in the pod spec) — and
the component sees only ``ctx.connection(conn_id)``, a SQLAlchemy URL. The component runtime
needs no Airflow.

The query is the user's data sent to their database, never Python: one read statement
(``SELECT`` or ``WITH``), values bound as parameters (``:name``), a row limit that fails the
step instead of filling the lake. Read-only is the database's job (give the connection a
read-only user); refusing anything but a single read statement here catches mistakes early.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from airgenome.components.context import ComponentContext, ComponentFailed, Result

MAX_SQL_CHARS = 100_000
FETCH_BATCH = 10_000
CONN_ID = re.compile(r"^[A-Za-z0-9_.\-]{1,250}$")
_COMMENTS = re.compile(r"--[^\n]*|/\*.*?\*/", re.DOTALL)
_STRINGS = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")
_READ_START = re.compile(r"^\s*(select|with)\b", re.IGNORECASE)
Scalar = str | int | float | bool | None


def _statement_text(sql: str) -> str:
    """The query without comments and string literals (to look at its shape only)."""
    return _STRINGS.sub("''", _COMMENTS.sub(" ", sql))


class TableQueryParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    conn_id: str = Field(description="the Airflow connection to query (its database URL is resolved by Airflow)")
    sql: str = Field(
        min_length=1, max_length=MAX_SQL_CHARS,
        description="one read statement (SELECT or WITH); values as :name bound from `parameters`",
    )
    parameters: dict[str, Scalar] = Field(default_factory=dict, description="values bound to the query's :name placeholders")
    max_rows: int = Field(default=1_000_000, ge=1, le=50_000_000, description="more rows than this fail the step")

    @field_validator("conn_id")
    @classmethod
    def _conn_id(cls, value: str) -> str:
        if not CONN_ID.match(value):
            raise ValueError("a connection id is 1-250 letters, digits, '_', '.' or '-'")
        return value

    @field_validator("sql")
    @classmethod
    def _one_read_statement(cls, value: str) -> str:
        shape = _statement_text(value).strip().rstrip(";").strip()
        if not shape:
            raise ValueError("the query is empty (only comments)")
        if ";" in shape:
            raise ValueError("one statement only: remove the ';' between statements")
        if not _READ_START.match(shape):
            raise ValueError("only a read query is run: start with SELECT or WITH")
        return value


def table_query(ctx: ComponentContext, params: TableQueryParameters) -> Result:
    import pandas as pd
    import sqlalchemy as sa

    from airgenome.components.files import write_table

    url = ctx.connection(params.conn_id)
    try:
        engine = sa.create_engine(url)
    except (sa.exc.ArgumentError, sa.exc.NoSuchModuleError, ImportError) as error:
        # The URL itself may carry a password: name the connection and the driver, not the URL.
        raise ComponentFailed(
            f"conn_id: connection {params.conn_id!r} is not a database this step can open "
            f"({type(error).__name__}: {_driver_problem(error)})"
        ) from None
    rows: list[tuple[Any, ...]] = []
    try:
        with engine.connect() as connection:
            cursor = connection.execute(sa.text(params.sql), params.parameters)
            columns = list(cursor.keys())
            while True:
                batch = cursor.fetchmany(FETCH_BATCH)
                if not batch:
                    break
                rows.extend(tuple(row) for row in batch)
                if len(rows) > params.max_rows:
                    raise ComponentFailed(
                        f"max_rows: the query returned more than {params.max_rows} rows; "
                        "narrow the query or raise max_rows"
                    )
    except sa.exc.DBAPIError as error:
        raise ComponentFailed(f"sql: the database refused the query: {_first_line(error.orig)}") from None
    except sa.exc.StatementError as error:  # e.g. a :name without a value in `parameters`
        raise ComponentFailed(f"parameters: {_first_line(error.orig or error)}") from None
    finally:
        engine.dispose()
    frame = pd.DataFrame.from_records(rows, columns=columns)
    uri, facts = write_table(ctx.output("table"), frame)
    result = Result(metrics={"rows": len(frame), "columns": len(columns)})
    result.add_output("table", uri, "table", **facts)
    return result


def _first_line(error: object) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _driver_problem(error: Exception) -> str:
    text = _first_line(error)
    return re.sub(r"\w+://\S+", "<url>", text)  # never echo a URL (it may hold a password)
