"""A model version's lineage and its HTML reports over HTTP.

Permission: read DAGs (`CanReadDags`), as for models and evaluations; the Airflow part of the
lineage is read with the caller's own token, so Airflow's own checks decide what it shows.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from airgenome.errors import NotFound
from airgenome.plugins.deps import CanReadDags, CurrentUser

if TYPE_CHECKING:
    from airgenome.models.records import ModelRecord
    from airgenome.plugins.lineage import Links
    from airgenome.sequence.airflow_api import AirflowApi

router = APIRouter(prefix="/api/v1/models", tags=["lineage"], dependencies=[CanReadDags])

_REPORT_ID = re.compile(r"^[0-9a-f]{16}$")


def links_for(request: Request) -> Links:
    from airgenome.plugins.lineage import Links
    from airgenome.plugins.routers.sequences import airflow_root

    return Links(request.scope.get("root_path", ""), airflow_root(request))


@contextmanager
def airflow_for(request: Request) -> Iterator[AirflowApi | None]:
    """Airflow's REST API as the caller (None when the caller sent no token we can forward)."""
    from airgenome.plugins.routers.sequences import airflow_api, caller_token

    if not caller_token(request):
        yield None
        return
    with airflow_api(request) as api:
        yield api


def version_record(name: str, version: str) -> ModelRecord:
    from airgenome.plugins.routers.models import model_store

    return model_store().get_model(name=name, version=version)


def lineage_of(request: Request, name: str, version: str) -> dict[str, Any]:
    from airgenome.plugins.lineage import build_lineage
    from airgenome.plugins.routers.models import model_store

    store = model_store()
    record = store.get_model(name=name, version=version)
    with airflow_for(request) as api:
        return build_lineage(store, record, links_for(request), api)


def reports_of(request: Request, record: ModelRecord) -> tuple[list[dict[str, Any]], str | None]:
    from airgenome.plugins.lineage import reports_for

    with airflow_for(request) as api:
        return reports_for(record, links_for(request), api)


@router.get("/{name:path}/versions/{version}/lineage")
def lineage(name: str, version: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    """dataset assets → step runs → model version → evaluations → blessing → approval → deployment,
    with links into Airflow's run and task pages and the plugin's pages (`graph` holds them
    as nodes and edges)."""
    return lineage_of(request, name, version)


@router.get("/{name:path}/versions/{version}/reports")
def reports(name: str, version: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    """The version's HTML reports (``publish.report`` outputs), each with the `url` that serves it."""
    record = version_record(name, version)
    items, note = reports_of(request, record)
    return {"model": record.id, "items": items, "note": note}


@router.get(
    "/{name:path}/versions/{version}/reports/{report_id}",
    response_class=Response,
    responses={200: {"content": {"text/html": {}}, "description": "the report, as written to the lake"}},
)
def report(name: str, version: str, report_id: str, request: Request, user: CurrentUser) -> Response:
    """One report, read from the lake (only under its root) and served with a strict CSP:
    no scripts, nothing loaded from elsewhere (pictures are inline data: URIs)."""
    from airgenome.plugins.lake_files import MAX_REPORT_BYTES, REPORT_CSP, read_lake_file

    if not _REPORT_ID.match(report_id):
        raise NotFound(f"no report {report_id[:40]!r} (report ids are 16 hex digits from the reports list)")
    record = version_record(name, version)
    items, _ = reports_of(request, record)
    chosen = next((item for item in items if item["id"] == report_id), None)
    if chosen is None:
        raise NotFound(f"model version {record.id} has no report {report_id}")
    data = read_lake_file(chosen["uri"], max_bytes=MAX_REPORT_BYTES, what="report")
    return Response(
        data,
        media_type="text/html; charset=utf-8",
        headers={
            "Content-Security-Policy": REPORT_CSP,
            "X-Content-Type-Options": "nosniff",
            "X-Frame-Options": "SAMEORIGIN",
            "Referrer-Policy": "no-referrer",
            "Cache-Control": "private, no-cache",
        },
    )
