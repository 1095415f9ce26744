"""The lineage page of a model version, and its reports list.

Columns left to right: dataset assets → step runs → model version → evaluations → blessing →
approval → deployment; every node links to its page (Airflow's run and task pages, the
plugin's model and evaluation pages). Everything dynamic goes through `layout.esc`.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from airgenome.errors import InvalidInput, NotFound
from airgenome.plugins.deps import CanReadDags, CurrentUser
from airgenome.plugins.pages.layout import esc, page

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[CanReadDags])

COLUMNS = (
    ("dataset", "Datasets and assets"),
    ("step", "Step runs"),
    ("model", "Model version"),
    ("evaluation", "Evaluations"),
    ("blessing", "Blessing"),
    ("approval", "Approval"),
    ("deployment", "Deployment"),
)
STYLE = (
    ".flow{display:flex;gap:.6rem;align-items:flex-start;overflow-x:auto}"
    ".flow .col{min-width:150px;flex:1}.flow h3{font-size:.9rem;margin:.2rem 0}"
    ".node{background:#fff;border:1px solid #dde1e6;border-radius:4px;padding:.3rem .5rem;margin:.3rem 0;"
    "font-size:.85rem;word-break:break-word}.node.model{border-color:#017cee;border-width:2px}"
    ".arrow{align-self:center;color:#6b7280}"
)


def _state_class(state: Any) -> str:
    text = str(state).lower()
    if text in ("success", "pass", "true", "approve", "blessed"):
        return "pass"
    if text in ("failed", "fail", "false", "reject", "not_blessed", "upstream_failed"):
        return "fail"
    return "none"


def _node(item: dict[str, Any]) -> str:
    label = esc(item["label"])
    inner = f"<a href='{esc(item['url'])}'>{label}</a>" if item.get("url") else label
    state = item.get("state")
    badge = f" <span class='{_state_class(state)}'>{esc(state)}</span>" if state not in (None, "") else ""
    return f"<div class='node {esc(item['kind'])}'>{inner}{badge}</div>"


def _flow(graph: dict[str, Any]) -> str:
    columns = []
    for kind, title in COLUMNS:
        nodes = [n for n in graph["nodes"] if n["kind"] == kind]
        body = "".join(_node(n) for n in nodes) or "<div class='none'>—</div>"
        columns.append(f"<div class='col'><h3>{esc(title)}</h3>{body}</div>")
    return "<div class='flow card'>" + "<div class='arrow'>→</div>".join(columns) + "</div>"


def _link(url: Any, text: Any) -> str:
    return f"<a href='{esc(url)}'>{esc(text)}</a>" if url else esc(text)


def _details(lineage: dict[str, Any]) -> str:
    parts = []
    model = lineage["model"]
    parts.append(
        "<section class='card'><h2>Model version</h2><table>"
        f"<tr><th>version</th><td>{_link(model['url'], model['id'])}</td></tr>"
        f"<tr><th>pipeline</th><td>{esc(model['pipelineName'] or '')}</td></tr>"
        f"<tr><th>run</th><td>{_link(model['runUrl'], model['pipelineRunId'] or '')}</td></tr>"
        f"<tr><th>step</th><td>{_link(model['taskUrl'], model['pipelineStage'] or '')}</td></tr>"
        f"<tr><th>aliases</th><td>{esc(', '.join(model['aliases']))}</td></tr></table></section>"
    )
    airflow = lineage["airflow"]
    if not airflow["available"]:
        parts.append(f"<div class='card none'>Airflow's part is missing: {esc(airflow['note'])}</div>")
    if lineage["steps"]:
        rows = "".join(
            f"<tr><td>{_link(s['url'], s['taskId'])}</td><td class='{_state_class(s['state'])}'>{esc(s['state'])}</td>"
            f"<td>{esc(s['startDate'] or '')}</td><td>{esc(s['endDate'] or '')}</td></tr>"
            for s in lineage["steps"]
        )
        parts.append(
            "<section class='card'><h2>Step runs</h2><table><tr><th>task</th><th>state</th><th>started</th>"
            f"<th>ended</th></tr>{rows}</table></section>"
        )
    events = lineage["assets"]["consumed"] + lineage["assets"]["produced"]
    if events:
        rows = "".join(
            f"<tr><td>{esc(e['name'])}</td><td>{_link(e['sourceUrl'], e['sourceTaskId'] or '')}</td>"
            f"<td>{esc(e['timestamp'] or '')}</td><td><code>{esc(json.dumps(e['extra'], sort_keys=True)[:300])}</code></td></tr>"
            for e in events
        )
        parts.append(
            "<section class='card'><h2>Asset events</h2><table><tr><th>asset</th><th>produced by</th>"
            f"<th>when</th><th>extra</th></tr>{rows}</table></section>"
        )
    judged = lineage["evaluations"] + lineage["blessing"]["evaluations"] + lineage["approval"]["evaluations"]
    if judged:
        rows = "".join(
            f"<tr><td>{_link(e['url'], e['name'])}</td><td class='{_state_class(e['statusName'])}'>{esc(e['statusName'])}</td>"
            f"<td>{esc(e['createdAt'])}</td><td>{_link(e['taskUrl'] or e['runUrl'], e['pipelineStage'] or e['pipelineRunId'] or '')}</td></tr>"
            for e in judged
        )
        parts.append(
            "<section class='card'><h2>Evaluations, blessing and approval</h2><table><tr><th>evaluation</th>"
            f"<th>status</th><th>created</th><th>Airflow task</th></tr>{rows}</table></section>"
        )
    approval = lineage["approval"]
    if approval["decision"]:
        parts.append(
            f"<div class='card'>Approval: <span class='{_state_class(approval['decision'])}'>{esc(approval['decision'])}</span>"
            f" by {esc(approval['by'])} at {esc(approval['at'])} ({_link(approval.get('taskUrl'), approval['run'])})</div>"
        )
    return "".join(parts)


def _lookup_error(error: NotFound | InvalidInput, root: str) -> HTMLResponse:
    response = page("Model not found", f"<div class='error'>{esc(error.message)}</div>", root)
    response.status_code = 404
    return response


@router.get("/models/{name:path}/versions/{version}/lineage", response_class=HTMLResponse)
def lineage_page(request: Request, user: CurrentUser, name: str, version: str) -> HTMLResponse:
    from airgenome.plugins.routers.lineage import lineage_of

    root = request.scope.get("root_path", "")
    try:
        lineage = lineage_of(request, name, version)
    except (NotFound, InvalidInput) as error:
        return _lookup_error(error, root)
    model = lineage["model"]
    body = (
        f"<style>{STYLE}</style><p>{_link(model['url'], '← the model version')} · "
        f"<a href='{esc(model['url'])}/reports'>reports</a></p>"
        + _flow(lineage["graph"])
        + _details(lineage)
    )
    return page(f"Lineage of {model['canonicalName']} v{model['version']}", body, root)


@router.get("/models/{name:path}/versions/{version}/reports", response_class=HTMLResponse)
def reports_page(request: Request, user: CurrentUser, name: str, version: str) -> HTMLResponse:
    from airgenome.plugins.routers.lineage import reports_of, version_record

    root = request.scope.get("root_path", "")
    try:
        record = version_record(name, version)
    except (NotFound, InvalidInput) as error:
        return _lookup_error(error, root)
    items, note = reports_of(request, record)
    rows = "".join(
        f"<tr><td><a href='{esc(r['url'])}'>{esc(r['name'])}</a></td><td>{esc(r['step'] or '')}</td>"
        f"<td><code>{esc(r['uri'])}</code></td></tr>"
        for r in items
    )
    table = (
        f"<table><tr><th>report</th><th>step</th><th>in the lake</th></tr>{rows}</table>"
        if rows
        else "<p>No reports for this version (a <code>publish.report</code> step writes them).</p>"
    )
    body = table + (f"<p class='none'>{esc(note)}</p>" if note else "")
    return page(f"Reports of {record.canonical_name} v{record.version}", body, root)
