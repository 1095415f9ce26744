"""Reading and writing lake objects from components (fsspec; no Airflow).

Outputs are written to a temporary name and moved into place, so a reader (or an asset
event) never sees half a file; `describe` gives the event extra: bytes, sha256, rows, schema.
A write that fails (a full disk: ``ENOSPC``) removes its temporary file, so it neither
leaves litter nor keeps holding the space it took.
"""

from __future__ import annotations

import contextlib
import hashlib
import uuid
from typing import Any

TABLE_FILE = "table.parquet"


def filesystem(uri: str) -> tuple[Any, str]:
    import fsspec

    fs, path = fsspec.core.url_to_fs(uri)
    return fs, path


def write_bytes(uri: str, data: bytes) -> dict[str, Any]:
    fs, path = filesystem(uri)
    parent = path.rsplit("/", 1)[0]
    fs.makedirs(parent, exist_ok=True)
    temporary = f"{parent}/.{uuid.uuid4().hex}.tmp"
    try:
        with fs.open(temporary, "wb") as handle:
            handle.write(data)
        fs.mv(temporary, path)
    except BaseException:
        with contextlib.suppress(Exception):
            fs.rm(temporary)
        raise
    return {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def read_bytes(uri: str) -> bytes:
    fs, path = filesystem(uri)
    with fs.open(path, "rb") as handle:
        data: bytes = handle.read()
    return data


def table_schema(frame: Any) -> dict[str, str]:
    return {str(name): str(dtype) for name, dtype in frame.dtypes.items()}


def write_table(uri_folder: str, frame: Any) -> tuple[str, dict[str, Any]]:
    """A DataFrame as Parquet in ``uri_folder``; returns (file URI, event metadata)."""
    import io

    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)  # Spark 4 refuses ns
    uri = f"{uri_folder}/{TABLE_FILE}"
    facts = write_bytes(uri, buffer.getvalue())
    return uri, {**facts, "rows": int(len(frame)), "schema": table_schema(frame)}


def read_table(uri: str) -> Any:
    """A table input: a Parquet or CSV file, or a folder holding ``table.parquet``."""
    import io

    import pandas as pd

    target = uri
    if not uri.endswith((".parquet", ".csv")):
        target = f"{uri.rstrip('/')}/{TABLE_FILE}"
    data = read_bytes(target)
    if target.endswith(".csv"):
        return pd.read_csv(io.BytesIO(data))
    return pd.read_parquet(io.BytesIO(data))
