"""The components page: the registry's catalogue, grouped by category.

Same content as ``GET /api/v1/components`` and ``airgenome components --json`` (it reads the
same dicts): per component its name, version, summary and ports with their kinds, and an
expandable detail with the parameter schema as a table and an example sequence step.
Names, summaries and schemas may come from third-party packages or descriptor files, so
every value goes through `esc`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from airgenome.plugins.deps import CanReadDags, CurrentUser
from airgenome.plugins.pages.layout import esc, page
from airgenome.plugins.routers.components import catalogue

router = APIRouter(tags=["pages"], include_in_schema=False, dependencies=[CanReadDags])

COLUMNS = ("name", "version", "summary", "inputs", "outputs")
# JSON Schema keywords shown beside a parameter's type.
CONSTRAINTS = (
    ("minimum", "≥"),
    ("exclusiveMinimum", ">"),
    ("maximum", "≤"),
    ("exclusiveMaximum", "<"),
    ("minLength", "min length"),
    ("maxLength", "max length"),
    ("pattern", "pattern"),
)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def schema_type(schema: Any, defs: Mapping[str, Any] | None = None) -> str:
    """A JSON Schema as a short type: ``integer``, ``string | null``, ``one of "a", "b"``."""
    if not isinstance(schema, Mapping):
        return "any"
    defs = defs or {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        name = ref.rsplit("/", 1)[-1]
        target = defs.get(name)
        return schema_type(target, defs) if isinstance(target, Mapping) else name
    if isinstance(schema.get("enum"), list):
        return "one of " + ", ".join(_json(value) for value in schema["enum"])
    if "const" in schema:
        return f"constant {_json(schema['const'])}"
    for combinator in ("anyOf", "oneOf"):
        members = schema.get(combinator)
        if isinstance(members, list) and members:
            return " | ".join(schema_type(member, defs) for member in members)
    kind = schema.get("type")
    if isinstance(kind, list):
        return " | ".join(str(k) for k in kind)
    if kind == "array" and isinstance(schema.get("items"), Mapping):
        return f"array of {schema_type(schema['items'], defs)}"
    return str(kind) if kind else "any"


def _constraints(schema: Mapping[str, Any]) -> str:
    # Pydantic puts bounds on the non-null member of ``X | None``.
    parts = [schema, *(m for m in schema.get("anyOf", []) if isinstance(m, Mapping))]
    found = [f"{label} {_json(part[key])}" for part in parts for key, label in CONSTRAINTS if key in part]
    return f" ({', '.join(found)})" if found else ""


def parameter_rows(schema: Mapping[str, Any]) -> list[dict[str, str]]:
    """One row per property: name, type, default, description, required (all plain text)."""
    properties = schema.get("properties")
    if not isinstance(properties, Mapping):
        return []
    required = schema.get("required")
    required_names = set(required) if isinstance(required, list) else set()
    defs = schema.get("$defs") if isinstance(schema.get("$defs"), Mapping) else {}
    rows = []
    for name, prop in properties.items():
        prop = prop if isinstance(prop, Mapping) else {}
        rows.append(
            {
                "name": str(name),
                "type": schema_type(prop, defs) + _constraints(prop),
                "default": _json(prop["default"]) if "default" in prop else "",
                "description": str(prop.get("description", "")),
                "required": "yes" if name in required_names else "no",
            }
        )
    return rows


def _code(text: str) -> str:
    return f"<code>{esc(text)}</code>" if text else ""


def _parameters_table(schema: Mapping[str, Any]) -> str:
    rows = parameter_rows(schema)
    open_ended = schema.get("additionalProperties", True) is not False
    note = "<p class='none'>Other parameters are accepted too.</p>" if open_ended and schema else ""
    if not rows:
        return "<p class='none'>No parameters.</p>" + note
    head = "".join(f"<th>{h}</th>" for h in ("name", "type", "default", "description", "required"))
    body = "".join(
        "<tr>"
        f"<td><code>{esc(row['name'])}</code></td><td>{esc(row['type'])}</td>"
        f"<td>{_code(row['default'])}</td>"
        f"<td>{esc(row['description'])}</td><td>{esc(row['required'])}</td>"
        "</tr>"
        for row in rows
    )
    return f"<table class='parameters'><tr>{head}</tr>{body}</table>" + note


def _ports(ports: Mapping[str, Any]) -> str:
    if not ports:
        return "<span class='none'>none</span>"
    items = "".join(
        f"<li title='{esc(port.get('description', ''))}'><code>{esc(name)}</code>: "
        f"<em>{esc(port.get('kind'))}</em>{'' if port.get('required', True) else ' (optional)'}</li>"
        for name, port in ports.items()
    )
    return f"<ul>{items}</ul>"


def _facts(item: Mapping[str, Any]) -> str:
    images = item.get("images") or {}
    resources = item.get("resources") or {}
    facts = [
        ("source", item.get("source")),
        ("install", f"airgenome[{item['extra']}]" if item.get("extra") else "airgenome"),
        ("aliases", ", ".join(item.get("aliases") or []) or None),
        ("CPU image", images.get("cpu")),
        ("GPU image", images.get("gpu")),
        ("resources", ", ".join(f"{k} {v}" for k, v in resources.items() if v) or None),
    ]
    return "<p>" + " · ".join(f"{label}: <code>{esc(value)}</code>" for label, value in facts if value) + "</p>"


def _component_rows(item: Mapping[str, Any]) -> str:
    name = str(item.get("name", ""))
    parameters = item.get("parameters")
    schema: Mapping[str, Any] = parameters if isinstance(parameters, Mapping) else {}
    example = json.dumps(item.get("example", {}), indent=2, ensure_ascii=False)
    return (
        f"<tr id='component-{esc(name)}'>"
        f"<td><strong>{esc(name)}</strong></td><td>{esc(item.get('version', ''))}</td>"
        f"<td>{esc(item.get('summary', ''))}</td>"
        f"<td>{_ports(item.get('inputs') or {})}</td><td>{_ports(item.get('outputs') or {})}</td>"
        "</tr>"
        f"<tr class='detail'><td colspan='{len(COLUMNS)}'><details>"
        f"<summary>Parameters and example step of {esc(name)}</summary>"
        f"{_facts(item)}<h4>Parameters</h4>{_parameters_table(schema)}"
        f"<h4>Example step</h4><pre>{esc(example)}</pre>"
        "</details></td></tr>"
    )


def _categories(items: list[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    from airgenome.components.registry import CATEGORIES

    groups: dict[str, list[dict[str, Any]]] = {}
    for item in items:
        groups.setdefault(str(item.get("category", "")), []).append(item)
    order = [c for c in CATEGORIES if c in groups] + sorted(set(groups) - set(CATEGORIES))
    return [(category, groups[category]) for category in order]


def render(items: list[dict[str, Any]], problems: list[str]) -> str:
    """The page body (HTML, every value escaped)."""
    groups = _categories(items)
    body = [
        f"<p>{len(items)} components in {len(groups)} categories. "
        "The same catalogue as <code>airgenome components --json</code> and "
        "<code>GET api/v1/components</code>.</p>"
    ]
    if problems:
        lines = "".join(f"<li>{esc(problem)}</li>" for problem in problems)
        body.append(f"<div class='error'>Components that could not be loaded:<ul>{lines}</ul></div>")
    head = "".join(f"<th>{h}</th>" for h in COLUMNS)
    for category, members in groups:
        rows = "".join(_component_rows(item) for item in members)
        body.append(
            f"<h2 id='category-{esc(category)}'>{esc(category)}</h2>"
            f"<table class='components'><tr>{head}</tr>{rows}</table>"
        )
    return "".join(body)


@router.get("/components", response_class=HTMLResponse)
def components_page(request: Request, user: CurrentUser) -> HTMLResponse:
    root = request.scope.get("root_path", "")
    items, problems = catalogue()
    return page("Components", render(items, problems), root)
