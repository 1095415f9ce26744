"""Model store pages: search, and a model version's detail (metadata, card, versions).

Extension point: the detail page appends ``airgenome.plugins.pages.model_extras.render(record,
root) -> str`` when that module exists (explanation forms, tree views); it must return
HTML with every dynamic value escaped.
"""

from __future__ import annotations

import importlib
import importlib.util
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from airgenome.errors import InvalidInput, NotFound
from airgenome.models.records import ModelRecord
from airgenome.plugins.deps import CanReadDags, CurrentUser
from airgenome.plugins.pages.layout import esc, page

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[CanReadDags])

FILTERS = ("q", "canonicalName", "application", "pipelineName", "framework", "inputModality")
PAGE_SIZE = 25
EXTRAS_MODULE = "airgenome.plugins.pages.model_extras"


def model_href(root: str, record: ModelRecord, version: int | str | None = None) -> str:
    """Link to a version's page by canonicalName (slashes kept as path segments)."""
    path = quote(record.canonical_name.lstrip("/"), safe="/")
    return f"{root}/models/{path}/versions/{version if version is not None else record.version}"


def _search_form(root: str, values: dict[str, str]) -> str:
    boxes = "".join(
        f"<label>{esc(field)} <input name='{esc(field)}' value='{esc(values.get(field, ''))}'></label> "
        for field in FILTERS
    )
    return f"<form class='card' method='get' action='{esc(root)}/models'>{boxes}<button type='submit'>Search</button></form>"


def _table(root: str, records: list[ModelRecord]) -> str:
    if not records:
        return "<p>no models match</p>"
    rows = "".join(
        "<tr>"
        f"<td><a href='{esc(model_href(root, r))}'>{esc(r.canonical_name)}</a></td>"
        f"<td>{esc(r.version)}</td><td>{esc(r.version_name)}</td><td>{esc(r.application)}</td>"
        f"<td>{esc(r.pipeline_name)}</td><td>{esc(r.framework)}</td><td>{esc(r.input_modality)}</td>"
        f"<td>{esc(r.prediction_type)}</td><td>{esc(', '.join(r.aliases))}</td>"
        f"<td>{esc(r.created_at.strftime('%Y-%m-%d %H:%M:%S'))}</td>"
        "</tr>"
        for r in records
    )
    head = "".join(
        f"<th>{h}</th>"
        for h in ("canonicalName", "version", "versionName", "application", "pipeline", "framework",
                  "modality", "prediction", "aliases", "created (UTC)")
    )
    return f"<table><tr>{head}</tr>{rows}</table>"


def _error(message: str) -> str:
    return f"<div class='error'>{esc(message)}</div>"


@router.get("/models", response_class=HTMLResponse)
def models_page(request: Request, user: CurrentUser) -> HTMLResponse:
    from airgenome.models.client import ModelStore

    root = request.scope.get("root_path", "")
    values = {field: request.query_params.get(field, "").strip() for field in FILTERS}
    token = request.query_params.get("pageToken") or None
    body = _search_form(root, values)
    try:
        result = ModelStore().search_models(
            limit=PAGE_SIZE, page_token=token, **{k: v for k, v in values.items() if v}
        )
    except (InvalidInput, NotFound) as error:
        return page("Models", body + _error(error.message), root)
    body += _table(root, result.items)
    if result.next_page_token:
        query = urlencode({**{k: v for k, v in values.items() if v}, "pageToken": result.next_page_token})
        body += f"<p><a href='{esc(root)}/models?{esc(query)}'>next page</a></p>"
    return page("Models", body, root)


def _extras(record: ModelRecord, root: str) -> str:
    if importlib.util.find_spec(EXTRAS_MODULE) is None:
        return ""
    module = importlib.import_module(EXTRAS_MODULE)
    html: str = module.render(record, root)
    return html


def _detail(request: Request, name: str, version: str | None) -> HTMLResponse:
    from airgenome.evaluations.cards import model_card
    from airgenome.models.cards import render_card_html
    from airgenome.models.client import ModelStore

    root = request.scope.get("root_path", "")
    store = ModelStore()
    try:
        record = store.get_model(name=name, version=version)
    except (NotFound, InvalidInput) as error:
        response = page("Model not found", _error(error.message), root)
        response.status_code = 404
        return response
    card = model_card(store, record)
    versions = store.versions(record.name)
    version_rows = "".join(
        f"<tr><td><a href='{esc(model_href(root, v))}'>{esc(v.version)}</a></td><td>{esc(v.version_name)}</td>"
        f"<td>{esc(', '.join(v.aliases))}</td><td>{esc(v.pipeline_run_id)}</td>"
        f"<td>{esc(v.created_at.strftime('%Y-%m-%d %H:%M:%S'))}</td></tr>"
        for v in versions
    )
    api = f"{root}/api/v1/models/{quote(record.name, safe='')}/versions/{record.version}"
    here = f"{root}/models/{quote(record.name, safe='')}/versions/{record.version}"
    every = ""
    if card.evaluations.available and card.evaluations.total > len(card.evaluations.runs):
        query = urlencode({"model": record.id})
        every = (
            f"<p>The card lists the newest {len(card.evaluations.runs)}: "
            f"<a href='{esc(root)}/evaluations?{esc(query)}'>all {card.evaluations.total} evaluations</a></p>"
        )
    body = (
        f"<p><a href='{esc(root)}/models'>all models</a> · "
        f"<a href='{esc(api)}/card'>card JSON</a> · <a href='{esc(api)}/card.html'>card HTML</a> · "
        f"<a href='{esc(here)}/lineage'>lineage</a> · <a href='{esc(here)}/reports'>reports</a> · "
        f"<a href='{esc(root)}/evaluations?{esc(urlencode({'model': record.id}))}'>evaluations</a></p>"
        + render_card_html(card, root)
        + every
        + "<section class='card'><h2>Versions</h2><table><tr><th>version</th><th>versionName</th>"
        f"<th>aliases</th><th>pipelineRunId</th><th>created (UTC)</th></tr>{version_rows}</table></section>"
        + _extras(record, root)
    )
    return page(f"{record.canonical_name} v{record.version}", body, root)


@router.get("/models/{name:path}/versions/{version}", response_class=HTMLResponse)
def model_version_page(request: Request, user: CurrentUser, name: str, version: str) -> HTMLResponse:
    return _detail(request, name, version)


@router.get("/models/{name:path}", response_class=HTMLResponse)
def model_page(request: Request, user: CurrentUser, name: str) -> HTMLResponse:
    """A model's latest version."""
    return _detail(request, name, None)
