"""The plugin's FastAPI app factory: API routers, pages and authenticated docs."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from airgenome import __version__
from airgenome.errors import AirgenomeError
from airgenome.explain.share import plugin_requests
from airgenome.plugins.deps import authenticated_user
from airgenome.plugins.routers import health

URL_PREFIX = "/airgenome"


def _routers() -> list[APIRouter]:
    # Imported here so that building the plugin class stays cheap for Airflow.
    from airgenome.plugins.pages import components as components_page
    from airgenome.plugins.pages import evaluations as evaluations_page
    from airgenome.plugins.pages import home
    from airgenome.plugins.pages import lineage as lineage_page
    from airgenome.plugins.pages import models as models_page
    from airgenome.plugins.pages import sequences as sequences_page
    from airgenome.plugins.routers import (
        components,
        evaluations,
        explain,
        genome_compat,
        lineage,
        models,
        sequences,
        visualizations,
    )

    return [
        health.router,
        home.router,
        sequences.router,
        genome_compat.router,
        sequences_page.router,
        evaluations.router,
        evaluations_page.router,
        explain.router,
        visualizations.router,
        # Before the model routes: their {name:path} would swallow .../lineage and .../reports.
        lineage.router,
        lineage_page.router,
        models.router,
        models_page.router,
        components.router,
        components_page.router,
    ]


def create_app() -> FastAPI:
    # Docs are re-added below behind authentication: FastAPI's own docs routes bypass
    # app-level dependencies.
    app = FastAPI(
        title="airgenome",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(authenticated_user)],
    )
    for router in _routers():
        app.include_router(router)
    app.add_middleware(CountInFlight)

    @app.exception_handler(AirgenomeError)
    async def airgenome_error(request: Request, error: AirgenomeError) -> JSONResponse:
        return JSONResponse(error.to_dict(), status_code=error.status_code)

    app.add_exception_handler(RequestValidationError, request_validation_error)

    @app.get("/openapi.json", include_in_schema=False)
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get("/docs", include_in_schema=False)
    def docs(request: Request) -> HTMLResponse:
        root = request.scope.get("root_path", "")
        return get_swagger_ui_html(openapi_url=f"{root}/openapi.json", title="airgenome API")

    @app.api_route(
        "/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    def not_found(path: str) -> JSONResponse:
        # Registered last: unknown paths still demand a signed-in user (401 before 404).
        return JSONResponse({"detail": f"no such airgenome resource: /{path}"}, status_code=404)

    return app


class CountInFlight:
    """Counts the requests the plugin app is serving (`airgenome.explain.share.plugin_requests`):
    explanations yield Airflow's event loop only while others are in flight."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        plugin_requests.count += 1
        try:
            await self.app(scope, receive, send)
        finally:
            plugin_requests.count -= 1


def route_table(app: FastAPI) -> list[dict[str, Any]]:
    """Every (path, methods) the app serves — used by the auth test that walks them all."""
    table = []
    for route in app.routes:
        methods = sorted(getattr(route, "methods", None) or [])
        table.append({"path": getattr(route, "path", ""), "methods": methods})
    return table


async def request_validation_error(request: Request, error: Exception) -> JSONResponse:
    """FastAPI's own 422 (``{"detail": [{"loc", "msg", "input", ...}]}``), but always renderable.

    FastAPI echoes the offending ``input``; a JSON ``1e999`` arrives as ``inf`` (and ``NaN`` as
    nan), which strict JSON cannot encode, and a ``\\ud800`` escape as a lone surrogate, which
    UTF-8 cannot: its default handler then failed with a 500. Those inputs are echoed as text.
    """
    errors = error.errors() if isinstance(error, RequestValidationError) else []
    return JSONResponse({"detail": _renderable(jsonable_encoder(errors))}, status_code=422)


def _renderable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list):
        return [_renderable(item) for item in value]
    if isinstance(value, dict):
        return {_renderable(key): _renderable(item) for key, item in value.items()}
    return value
