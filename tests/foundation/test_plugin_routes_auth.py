"""Every plugin route refuses anonymous callers and serves signed-in ones."""

from __future__ import annotations

import re

import pytest

from airgenome.plugins.app import create_app, route_table

# Path parameters get a harmless sample value; the route may then 404/422, never 401.
SAMPLE = re.compile(r"\{[^}]+\}")


def _routes() -> list[tuple[str, str]]:
    pairs = []
    for route in route_table(create_app()):
        for method in route["methods"]:
            if method in ("HEAD", "OPTIONS"):
                continue
            pairs.append((method, SAMPLE.sub("sample", route["path"])))
    return sorted(set(pairs))


ROUTES = _routes()


def test_route_table_is_not_empty() -> None:
    paths = {path for _, path in ROUTES}
    assert {"/docs", "/openapi.json", "/api/v1/health", "/"} <= paths
    # Pictures, lineage and reports (the walk below covers them like every other route).
    assert {
        "/api/v1/evaluations/sample/tasks/sample/pictures/sample",
        "/api/v1/models/sample/versions/sample/lineage",
        "/api/v1/models/sample/versions/sample/reports",
        "/api/v1/models/sample/versions/sample/reports/sample",
        "/models/sample/versions/sample/lineage",
        "/models/sample/versions/sample/reports",
    } <= paths


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_anonymous_gets_401(plugin_client, method: str, path: str) -> None:
    response = plugin_client.client.request(method, path)
    assert response.status_code == 401, response.text


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_signed_in_is_not_401(plugin_client, method: str, path: str) -> None:
    response = plugin_client.client.request(method, path, headers=plugin_client.headers("admin"))
    assert response.status_code != 401, response.text
    assert response.status_code < 500, response.text


def test_bad_token_is_rejected(plugin_client) -> None:
    response = plugin_client.client.get("/api/v1/health", headers={"Authorization": "Bearer nope"})
    assert response.status_code == 403
    assert response.json() == {"detail": "Invalid JWT token"}


def test_health_names_the_user(plugin_client) -> None:
    response = plugin_client.client.get("/api/v1/health", headers=plugin_client.headers("viewer"))
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "version": "0.1.0", "user": "viewer"}


def test_unknown_path_is_401_then_404(plugin_client) -> None:
    assert plugin_client.client.get("/no/such/page").status_code == 401
    response = plugin_client.client.get("/no/such/page", headers=plugin_client.headers())
    assert response.status_code == 404
    assert response.json() == {"detail": "no such airgenome resource: /no/such/page"}


def test_cookie_write_from_other_site_is_refused(plugin_client) -> None:
    token = plugin_client.tokens["admin"]
    response = plugin_client.client.post(
        "/no/such/page", cookies={"_token": token}, headers={"Origin": "http://evil.example"}
    )
    assert response.status_code == 403
    assert response.json() == {"detail": "cross-site request from evil.example"}
