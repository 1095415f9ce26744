"""The evaluation store interface, its search query, and the backend chosen by URI.

    store = get_evaluation_store()                 # settings: AIRGENOME_EVALUATION_STORE_URI
    store.save(run)                                # one transaction: all of the run or nothing
    store.get(run_id)                              # NotFound (404) when unknown
    store.search(model_id="...", status="fail", since=..., limit=20, offset=0)

A store is created once per URI (and per process) and is safe to share between threads.
"""

from __future__ import annotations

import os
import re
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from airgenome.errors import InvalidInput
from airgenome.evaluations.records import STATUS_NAMES, EvaluationPage, EvaluationRunRecord

MAX_LIMIT = 500
DEFAULT_LIMIT = 50
_STATUS_BY_NAME = {name: code for code, name in STATUS_NAMES.items()}


@dataclass(frozen=True)
class EvaluationQuery:
    """Validated search filters; every bad field is reported at once, by name."""

    model: str | None = None  # a model version id or a model name
    model_id: str | None = None
    model_name: str | None = None
    model_version: str | None = None
    name: str | None = None
    status: int | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int = DEFAULT_LIMIT
    offset: int = 0

    @classmethod
    def parse(cls, **filters: Any) -> EvaluationQuery:
        """From Python values or query-string text (status pass/fail/none or 1/0/-1, ISO times)."""
        errors: list[dict[str, str]] = []

        def bad(field: str, message: str) -> None:
            errors.append({"field": field, "message": message})

        unknown = sorted(set(filters) - set(cls.__dataclass_fields__))
        for field in unknown:
            bad(field, "unknown filter")
        texts: dict[str, str | None] = {}
        for field in ("model", "model_id", "model_name", "model_version", "name"):
            value = filters.get(field)
            if value is not None and (not isinstance(value, str) or not value):
                bad(field, f"expected a non-empty string, got {value!r}")
                value = None
            texts[field] = value
        status = _parse_status(filters.get("status"), bad)
        since = _parse_time("since", filters.get("since"), bad)
        until = _parse_time("until", filters.get("until"), bad)
        if since and until and since > until:
            bad("until", "must not be before since")
        limit = _parse_int("limit", filters.get("limit"), DEFAULT_LIMIT, 1, MAX_LIMIT, bad)
        offset = _parse_int("offset", filters.get("offset"), 0, 0, None, bad)
        if errors:
            listed = "; ".join(f"{e['field']}: {e['message']}" for e in errors)
            raise InvalidInput(f"invalid evaluation filters: {listed}", details=errors)
        return cls(
            model=texts["model"],
            model_id=texts["model_id"],
            model_name=texts["model_name"],
            model_version=texts["model_version"],
            name=texts["name"],
            status=status,
            since=since,
            until=until,
            limit=limit,
            offset=offset,
        )


Bad = Callable[[str, str], None]


def _parse_status(value: object, bad: Bad) -> int | None:
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.lower() in _STATUS_BY_NAME:
        return _STATUS_BY_NAME[value.lower()]
    try:
        code = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    except ValueError:
        code = None
    if code in STATUS_NAMES:
        return code
    bad("status", f"expected pass, fail, none (or 1, 0, -1), got {value!r}")
    return None


def _parse_time(field: str, value: object, bad: Bad) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        text = value.strip().replace("Z", "+00:00").replace("z", "+00:00")
        # An unescaped "+hh:mm" offset arrives from a query string as " hh:mm".
        text = re.sub(r"(\d) (\d{2}:\d{2})$", r"\1+\2", text) if "T" in text else text
        try:
            value = datetime.fromisoformat(text)
        except ValueError:
            bad(field, f"expected an ISO 8601 time like 2026-01-31T12:00:00Z, got {value!r}")
            return None
    if not isinstance(value, datetime):
        bad(field, f"expected a datetime, got {type(value).__name__}")
        return None
    # A time without zone is UTC, as stored.
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _parse_int(
    field: str, value: object, default: int, low: int, high: int | None, bad: Bad
) -> int:
    if value is None or value == "":
        return default
    try:
        number = int(value) if isinstance(value, int | str) and not isinstance(value, bool) else None
    except ValueError:
        number = None
    if number is None or number < low or (high is not None and number > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        bad(field, f"expected an integer {bounds}, got {value!r}")
        return default
    return number


class EvaluationStore(ABC):
    """What every evaluation store backend provides."""

    @abstractmethod
    def save(self, run: EvaluationRunRecord) -> EvaluationRunRecord:
        """Store the run with all its tasks in one transaction; return the stored run."""

    @abstractmethod
    def get(self, run_id: str) -> EvaluationRunRecord:
        """The run with its tasks; `NotFound` when no run has this id."""

    @abstractmethod
    def query(self, query: EvaluationQuery) -> EvaluationPage:
        """Runs matching the query, newest first."""

    def search(self, **filters: Any) -> EvaluationPage:
        """`query` with keyword filters (see `EvaluationQuery`); iterate it for the summaries."""
        return self.query(EvaluationQuery.parse(**filters))

    @abstractmethod
    def close(self) -> None:
        """Release connections (the cache hands out a new store afterwards)."""


# A scheme maps to its backend factory: an explicit table, never an import string from a URI.
def _sql_backend(uri: str) -> EvaluationStore:
    from airgenome.evaluations.sql_backend import SqlEvaluationStore

    return SqlEvaluationStore(uri)


BACKENDS: dict[str, Callable[[str], EvaluationStore]] = {
    "sqlite": _sql_backend,
    "postgresql": _sql_backend,
    "postgres": _sql_backend,
    "mysql": _sql_backend,
}

_stores: dict[tuple[int, str], EvaluationStore] = {}
_stores_lock = threading.Lock()


def get_evaluation_store(uri: str | None = None) -> EvaluationStore:
    """The store at `uri` (default: settings), created once per URI in this process."""
    if uri is None:
        from airgenome.settings import store_locations

        uri = store_locations().evaluation_store_uri
    scheme = uri.partition(":")[0].partition("+")[0].lower()
    if scheme not in BACKENDS:
        raise InvalidInput(
            f"evaluation_store_uri: unsupported scheme {scheme!r}; expected one of {sorted(BACKENDS)}"
        )
    key = (os.getpid(), uri)  # connections never cross a fork
    with _stores_lock:
        store = _stores.get(key)
        if store is None:
            store = _stores[key] = BACKENDS[scheme](uri)
        return store


def reset_evaluation_stores() -> None:
    """Close and forget every cached store (tests, and processes that change settings)."""
    with _stores_lock:
        stores = list(_stores.values())
        _stores.clear()
    for store in stores:
        store.close()
