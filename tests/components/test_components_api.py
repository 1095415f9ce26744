"""The plugin's component catalogue: API and page, in-process behind Airflow's real auth manager."""

from __future__ import annotations

import json
from collections.abc import Iterator
from html import escape
from pathlib import Path

import pytest
from pydantic import BaseModel, Field

from airgenome.components import registry
from airgenome.components.registry import ComponentSpec, Port, lazy

XSS = "<script>alert('x')</script>"
XSS_ESCAPED = "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;"
EVIL_NAME = "filter.evil<script>"
KEYS = {
    "name",
    "category",
    "version",
    "summary",
    "parameters",
    "inputs",
    "outputs",
    "images",
    "resources",
    "extra",
    "aliases",
    "source",
    "example",
}


class EvilParameters(BaseModel):
    predicate: str = Field(description=f"rows to keep {XSS}")
    limit: int | None = Field(default=10, ge=1, le=500, description="at most this many rows")


EVIL = ComponentSpec(
    name=EVIL_NAME,
    summary=f"keeps rows {XSS}",
    load=lazy("airgenome.components.genome", "noop"),
    version="9.9.9",
    params=EvilParameters,
    inputs={"table": Port("table", f"rows {XSS}")},
    outputs={"table": Port("table", "the kept rows"), "report": Port("report", required=False)},
    example={"predicate": XSS},
)


@pytest.fixture
def catalogue(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The built-ins, one broken descriptor file and one spec whose text is hostile HTML."""
    folder = tmp_path / "components"
    folder.mkdir()
    broken = folder / "broken.json"
    broken.write_text("[]")
    monkeypatch.setenv("AIRGENOME_COMPONENTS_FOLDER", str(folder))
    registry.REGISTRY.reload()
    registry.names()  # load the built-ins and the folder first
    registry.REGISTRY.register(EVIL)
    yield broken
    registry.REGISTRY.reload()


def test_list_is_every_spec_and_the_problems(plugin_client, catalogue: Path) -> None:
    response = plugin_client.client.get("/api/v1/components", headers=plugin_client.headers("viewer"))
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"items", "problems"}
    assert body["problems"] == [f"{catalogue}: a descriptor is a JSON object"]
    assert body["items"] == [spec.to_dict() for spec in registry.specs()]
    assert [item["name"] for item in body["items"]] == registry.names()
    assert all(set(item) == KEYS for item in body["items"])

    by_name = {item["name"]: item for item in body["items"]}
    echo = by_name["genome.echo"]
    assert (echo["category"], echo["version"], echo["inputs"], echo["outputs"], echo["source"]) == (
        "genome",
        "0.1.0",
        {},
        {},
        "builtin",
    )
    assert echo["example"] == {
        "stepName": "genome-echo",
        "component": "genome.echo",
        "parameters": {"greeting": "hello", "outputFile": "/tmp/echo.json"},
    }

    dataset = by_name["input.sklearn-dataset"]
    assert dataset["category"] == "input"
    assert dataset["inputs"] == {}
    assert dataset["outputs"] == {
        "table": {"kind": "table", "description": "the data set with its target column", "required": True}
    }
    assert dataset["example"] == {
        "stepName": "input-sklearn-dataset",
        "component": "input.sklearn-dataset",
        "parameters": {"dataset": "iris", "target_column": "species"},
    }
    assert dataset["parameters"]["additionalProperties"] is False
    assert dataset["parameters"]["properties"]["dataset"] == {
        "default": "iris",
        "description": "a data set bundled with scikit-learn (no download)",
        "enum": ["diabetes", "iris", "wine", "breast_cancer"],
        "title": "Dataset",
        "type": "string",
    }


def test_one_component_by_name_and_by_alias(plugin_client, catalogue: Path) -> None:
    headers = plugin_client.headers("viewer")
    response = plugin_client.client.get("/api/v1/components/input.sklearn-dataset", headers=headers)
    assert response.status_code == 200
    assert response.json() == registry.get("input.sklearn-dataset").to_dict()

    alias = plugin_client.client.get("/api/v1/components/sklearn.train-forest", headers=headers)
    assert alias.status_code == 200
    assert alias.json()["name"] == "train.sklearn-forest"
    assert alias.json()["aliases"] == ["sklearn.train-forest"]


def test_registered_spec_is_served_as_data(plugin_client, catalogue: Path) -> None:
    response = plugin_client.client.get(f"/api/v1/components/{EVIL_NAME}", headers=plugin_client.headers())
    assert response.status_code == 200
    evil = response.json()
    assert evil == EVIL.to_dict()
    assert (evil["category"], evil["version"], evil["summary"]) == ("filter", "9.9.9", f"keeps rows {XSS}")
    assert evil["outputs"] == {
        "table": {"kind": "table", "description": "the kept rows", "required": True},
        "report": {"kind": "report", "description": "", "required": False},
    }


def test_unknown_name_is_404_json(plugin_client, catalogue: Path) -> None:
    response = plugin_client.client.get("/api/v1/components/filter.nope", headers=plugin_client.headers())
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/json"
    assert response.json() == {
        "detail": f"'filter.nope' is not a known component (known: {', '.join(registry.names())})"
    }


@pytest.mark.parametrize("path", ["/api/v1/components", "/api/v1/components/genome.echo", "/components"])
def test_anonymous_and_bad_tokens_are_refused(plugin_client, path: str) -> None:
    assert plugin_client.client.get(path).status_code == 401
    bad = plugin_client.client.get(path, headers={"Authorization": "Bearer nope"})
    assert bad.status_code == 403
    assert bad.json() == {"detail": "Invalid JWT token"}


def test_page_groups_by_category_and_shows_details(plugin_client, catalogue: Path) -> None:
    response = plugin_client.client.get("/components", headers=plugin_client.headers("viewer"))
    assert response.status_code == 200
    html = response.text
    for name in registry.names():
        if name != EVIL_NAME:
            assert f"<tr id='component-{name}'><td><strong>{name}</strong></td>" in html
    # Categories in the registry's order, each with its own table.
    present = {spec.category for spec in registry.specs()}
    assert {"input", "filter", "train", "evaluate", "genome"} <= present
    headings = [f"<h2 id='category-{c}'>{c}</h2>" for c in registry.CATEGORIES if c in present]
    assert [html.index(h) for h in headings] == sorted(html.index(h) for h in headings)
    assert html.count("<table class='components'>") == len(present)
    assert f"{len(registry.names())} components in {len(present)} categories" in html
    # Ports with their kinds; the parameter schema as a table; the example step as JSON.
    assert "<td><ul><li title='the data set with its target column'><code>table</code>: <em>table</em></li></ul></td>" in html
    assert (
        "<tr><td><code>dataset</code></td>"
        "<td>one of &quot;diabetes&quot;, &quot;iris&quot;, &quot;wine&quot;, &quot;breast_cancer&quot;</td>"
        "<td><code>&quot;iris&quot;</code></td>"
        "<td>a data set bundled with scikit-learn (no download)</td><td>no</td></tr>"
    ) in html
    assert (
        "<tr><td><code>limit</code></td><td>integer | null (≥ 1, ≤ 1000000)</td>"
        "<td><code>null</code></td><td>keep the first N rows</td><td>no</td></tr>"
    ) in html
    example = escape(json.dumps(registry.get("input.sklearn-dataset").example_step(), indent=2))
    assert f"<pre>{example}</pre>" in html
    assert "&quot;component&quot;: &quot;input.sklearn-dataset&quot;" in example
    assert "<summary>Parameters and example step of input.sklearn-dataset</summary>" in html
    assert "Other parameters are accepted too." in html  # genome.echo passes unknown ones on
    assert (
        "<tr><td><code>skip</code></td><td>boolean</td><td><code>false</code></td>"
        "<td>end the step as skipped instead</td><td>no</td></tr>"
    ) in html
    # Load problems are shown, escaped like everything else.
    assert f"<li>{catalogue}: a descriptor is a JSON object</li>" in html


def test_page_escapes_names_summaries_and_schemas(plugin_client, catalogue: Path) -> None:
    html = plugin_client.client.get("/components", headers=plugin_client.headers()).text
    assert XSS not in html
    assert "<script" not in html
    assert "<strong>filter.evil&lt;script&gt;</strong>" in html
    assert f"<td>keeps rows {XSS_ESCAPED}</td>" in html
    assert f"<li title='rows {XSS_ESCAPED}'><code>table</code>: <em>table</em></li>" in html
    assert "<li title=''><code>report</code>: <em>report</em> (optional)</li>" in html
    assert (
        "<tr><td><code>predicate</code></td><td>string</td><td></td>"
        f"<td>rows to keep {XSS_ESCAPED}</td><td>yes</td></tr>"
    ) in html
    assert "<td>integer | null (≥ 1, ≤ 500)</td><td><code>10</code></td>" in html
    assert f"&quot;predicate&quot;: &quot;{XSS_ESCAPED}&quot;" in html


def test_page_is_in_the_navigation_and_on_home(plugin_client) -> None:
    from airgenome.plugins.plugin import AirgenomePlugin

    home = plugin_client.client.get("/", headers=plugin_client.headers()).text
    assert "<a href='/airgenome/components'>Components</a>" in home
    assert '<a href="/airgenome/components">Components</a>' in home  # the header's navigation
    view = next(v for v in AirgenomePlugin.external_views if v["name"] == "Components")
    assert view == {
        "name": "Components",
        "href": "/airgenome/components",
        "destination": "nav",
        "category": "airgenome",
        "url_route": "airgenome-components",
    }
