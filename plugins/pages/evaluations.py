"""Evaluation pages: a filtered list of runs, and one run as a tree of tasks and prototypes."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import quote, urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from airgenome.errors import InvalidInput, NotFound
from airgenome.plugins.deps import CanReadDags, CurrentUser
from airgenome.plugins.pages.layout import esc, page

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[CanReadDags])

FILTERS = ("model", "name", "status", "since", "until")
PICTURE_STYLE = (
    ".pictures{display:flex;flex-wrap:wrap;gap:.8rem;margin:.4rem 0}"
    ".picture{margin:0;background:#fff;border:1px solid #dde1e6;border-radius:4px;padding:.4rem;max-width:420px}"
    ".picture img{max-width:400px;max-height:400px;display:block}.picture figcaption{font-size:.85rem}"
)
PAGE_SIZE = 25


def _badge(status_name: str) -> str:
    return f"<span class='{esc(status_name)}'>{esc(status_name)}</span>"


def _filter_form(root: str, values: dict[str, str]) -> str:
    status = values.get("status", "")
    options = "".join(
        f"<option value='{value}'{' selected' if status == value else ''}>{label}</option>"
        for value, label in (("", "any"), ("pass", "pass"), ("fail", "fail"), ("none", "none"))
    )

    def box(field: str, hint: str) -> str:
        return (
            f"<label>{field} <input name='{field}' value='{esc(values.get(field, ''))}' "
            f"placeholder='{esc(hint)}'></label> "
        )

    return (
        f"<form class='card' method='get' action='{esc(root)}/evaluations'>"
        + box("model", "model id or name")
        + box("name", "evaluation name")
        + f"<label>status <select name='status'>{options}</select></label> "
        + box("since", "2026-01-31T00:00:00Z")
        + box("until", "2026-12-31T00:00:00Z")
        + "<button type='submit'>Filter</button></form>"
    )


def _page_link(root: str, values: dict[str, str], offset: int, label: str) -> str:
    query = urlencode({**{k: v for k, v in values.items() if v}, "offset": offset})
    return f"<a href='{esc(root)}/evaluations?{esc(query)}'>{esc(label)}</a>"


@router.get("/evaluations", response_class=HTMLResponse)
def evaluations_page(request: Request, user: CurrentUser) -> HTMLResponse:
    from airgenome.evaluations.store import get_evaluation_store

    root = request.scope.get("root_path", "")
    values = {field: request.query_params.get(field, "").strip() for field in FILTERS}
    offset = request.query_params.get("offset", "0")
    form = _filter_form(root, values)
    try:
        result = get_evaluation_store().search(
            **{field: value for field, value in values.items() if value},
            limit=PAGE_SIZE,
            offset=offset,
        )
    except InvalidInput as error:
        problems = "".join(
            f"<li>{esc(d.get('field'))}: {esc(d.get('message'))}</li>" for d in error.details
        )
        body = form + f"<div class='error'>{esc(error.message)}<ul>{problems}</ul></div>"
        response = page("Evaluations", body, root)
        response.status_code = 422
        return response

    rows = "".join(
        "<tr>"
        f"<td>{esc(item.created_at.strftime('%Y-%m-%d %H:%M:%S UTC'))}</td>"
        f"<td><a href='{esc(root)}/evaluations/{esc(quote(item.id, safe=''))}'>{esc(item.name)}</a></td>"
        f"<td>{esc(item.version_name or '')}</td>"
        f"<td>{esc(item.target_model.id or '')}"
        + (
            f"<br><small>{esc(item.target_model.name or '')} {esc(item.target_model.version or '')}</small>"
            if item.target_model.name or item.target_model.version
            else ""
        )
        + "</td>"
        f"<td>{_badge(item.to_dict()['statusName'])}</td>"
        f"<td>{item.task_count} tasks, {item.prototype_count} prototypes</td>"
        "</tr>"
        for item in result
    )
    table = (
        "<table><tr><th>created</th><th>evaluation</th><th>version</th><th>model</th>"
        f"<th>status</th><th>tasks</th></tr>{rows}</table>"
        if rows
        else "<p>No evaluation runs match.</p>"
    )
    nav = []
    if result.offset > 0:
        nav.append(_page_link(root, values, max(result.offset - PAGE_SIZE, 0), "← newer"))
    if result.next_offset is not None:
        nav.append(_page_link(root, values, result.next_offset, "older →"))
    shown = f"{result.offset + 1}–{result.offset + len(result)}" if len(result) else "0"
    body = form + f"<p>{esc(shown)} of {result.total} runs</p>" + table + f"<p>{' · '.join(nav)}</p>"
    return page("Evaluations", body, root)


def _value(value: Any) -> str:
    return esc(value if isinstance(value, str) else json.dumps(value))


def _pictures_html(task: dict[str, Any]) -> str:
    """The task's pictures inline, each linking to its full size (served by the plugin)."""
    figures = "".join(
        "<figure class='picture'>"
        f"<a href='{esc(p['url'])}'><img src='{esc(p['url'])}' alt='{esc(p.get('caption') or p['name'])}' loading='lazy'></a>"
        f"<figcaption><strong>{esc(p['name'])}</strong>"
        + (f" — {esc(p['caption'])}" if p.get("caption") else "")
        + "</figcaption></figure>"
        for p in task.get("pictures") or []
        if p.get("url")
    )
    return f"<div class='pictures'>{figures}</div>" if figures else ""


def _task_html(task: dict[str, Any]) -> str:
    head = f"{_badge(task['statusName'])} <strong>{esc(task['name'])}</strong>"
    if task["prototypeRef"]:
        ref = task["prototypeRef"]
        head += f" — prototype <code>{esc(ref['refType'])}:{esc(ref['ref'])}</code>"
    elif task["dataRef"]:
        head += f" — dataset <code>{esc(task['dataRef']['ref'])}</code>"
    if task["segment"] is not None:
        head += f" — segment <code>{_value(task['segment'])}</code>"
    metrics = "".join(
        f"<li><code>{esc(name)}</code> = {_value(value)}</li>" for name, value in task["metrics"].items()
    )
    expectations = "".join(
        f"<li>{_badge(e['statusName'])} <code>{esc(e['recipe'])}</code>"
        + (f" — {esc(e['message'])}" if e["message"] else "")
        + "</li>"
        for e in task["expectations"]
    )
    parts = [head]
    if metrics:
        parts.append(f"<div>metrics<ul>{metrics}</ul></div>")
    if expectations:
        parts.append(f"<div>expectations<ul>{expectations}</ul></div>")
    elif not task["error"]:
        parts.append("<div class='none'>no expectations</div>")
    if task["error"]:
        parts.append(f"<div class='error'>{esc(task['error'])}</div>")
    parts.append(_pictures_html(task))
    prototypes = task.get("prototypes") or []
    if prototypes:
        parts.append("<ul>" + "".join(f"<li>{_task_html(p)}</li>" for p in prototypes) + "</ul>")
    return "".join(parts)


@router.get("/evaluations/{evaluation_id}", response_class=HTMLResponse)
def evaluation_page(evaluation_id: str, request: Request, user: CurrentUser) -> HTMLResponse:
    from airgenome.evaluations.store import get_evaluation_store

    root = request.scope.get("root_path", "")
    from airgenome.plugins.routers.evaluations import with_picture_urls

    try:
        run = with_picture_urls(get_evaluation_store().get(evaluation_id).to_dict(), root)
    except NotFound as error:
        response = page("Evaluation not found", f"<div class='error'>{esc(error.message)}</div>", root)
        response.status_code = 404
        return response
    model = run["targetModel"]
    facts = (
        ("id", run["id"]),
        ("status", None),
        ("version", run["versionName"]),
        ("code", run["code"]),
        ("model", " ".join(str(v) for v in (model["id"], model["name"], model["version"]) if v)),
        ("created", run["createdAt"]),
        ("pipeline", " / ".join(str(v) for v in (run["pipelineName"], run["pipelineStage"], run["pipelineRunId"]) if v)),
        ("parameters", None if run["parameters"] is None else json.dumps(run["parameters"])),
    )
    rows = "".join(
        f"<tr><th>{esc(label)}</th><td>{_badge(run['statusName']) if label == 'status' else esc(value)}</td></tr>"
        for label, value in facts
        if label == "status" or value
    )
    tree = "".join(f"<li>{_task_html(task)}</li>" for task in run["tasks"])
    pictures = sum(len(t["pictures"]) + sum(len(p["pictures"]) for p in t["prototypes"]) for t in run["tasks"])
    body = (
        f"<style>{PICTURE_STYLE}</style>"
        f"<p><a href='{esc(root)}/evaluations'>← all evaluations</a></p>"
        f"<table class='card'>{rows}</table>"
        f"<h2>Tasks ({run['taskCount']} tasks, {run['prototypeCount']} prototypes, {pictures} pictures)</h2>"
        f"<ul class='tree'>{tree}</ul>"
    )
    return page(f"Evaluation {run['name']}", body, root)
