"""Realtime explanations over HTTP, in Genome's request and response shapes.

``POST /api/v1/explain`` (and Genome's own ``POST /v1.0/genome/routing/explain``) takes
``application``, ``canonicalName``, optional ``version`` or ``alias`` (default: latest)
and one of ``entries`` (tabular rows), ``image`` (base64) or ``text``. The work runs in the
explain service's bounded worker pool, off the event loop; over the time limit or with the
pool full the answer is 503 with a message. Only exact SHAP of a few rows on a loaded model,
measured under 1 ms in the pool, is answered right away (cheaper than the hop to a thread).

``GET /api/v1/models/{name}/versions/{version}/explanations/global`` serves what
``sampleExplanations`` precomputed. Permission: DAG read (models are pipeline outputs,
as in the models router).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from airgenome.plugins.deps import CanReadDags

router = APIRouter(tags=["explanations"], dependencies=[CanReadDags])


def _start_preload_in_api_server() -> None:
    # Only Airflow's API server serves explanations; the scheduler, DAG processor and task
    # processes import the plugin too and must stay light.
    from airgenome.explain.service import get_service, in_api_server

    if in_api_server():
        get_service()


_start_preload_in_api_server()

GENOME_EXPLAIN_PATH = "/v1.0/genome/routing/explain"


class ExplainRequest(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "application": "search",
                    "canonicalName": "/housing/ca/forest-1",
                    "entries": [[8.3, 41, 6.9, 1.0, 322, 2.5, 37.9, -122.2]],
                }
            ]
        }
    )

    application: str | None = Field(default=None, max_length=200)
    canonical_name: str = Field(alias="canonicalName", min_length=1, max_length=500)
    version: int | str | None = Field(default=None, description="a number or 'latest' (default)")
    alias: str | None = Field(default=None, max_length=200)
    entries: list[Any] | None = Field(default=None, description="tabular rows (lists of numbers)")
    image: str | None = Field(default=None, description="base64 image (a data URL is fine too)")
    text: str | None = Field(default=None, description="the document to explain")


class TabularExplanation(BaseModel):
    expected: list[float]
    number_labels: int
    shapley: list[Any] = Field(
        description="[rows][features] for one output, [labels][rows][features] for several"
    )


class ImageExplanation(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    class_: str = Field(alias="class")
    score: float
    number_labels: int
    image: str = Field(description="Grad-CAM overlay, a PNG data URL")


class TextMetrics(BaseModel):
    score: float
    mean_KL_divergence: float  # noqa: N815 - Genome's field name


class WeightedSpans(BaseModel):
    spans: list[Any]


class TextTarget(BaseModel):
    proba: float
    score: float
    target: str
    weighted_spans: WeightedSpans


class TextExplanationBody(BaseModel):
    estimator: str
    method: str
    targets: list[TextTarget]


class TextExplanation(BaseModel):
    metrics: TextMetrics
    textExplanation: TextExplanationBody  # noqa: N815 - Genome's field name


Explanation = TabularExplanation | ImageExplanation | TextExplanation

ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"description": "unknown model, version or alias"},
    413: {"description": "image too large"},
    422: {"description": "bad input; the message names the field"},
    503: {"description": "over the time limit or the explainer is busy"},
}


async def _explain(request: ExplainRequest, accept_encoding: str | None) -> Response:
    from airgenome.explain.service import ModelRef, get_service
    from airgenome.explain.wire import encode_answer

    ref = ModelRef(
        canonical_name=request.canonical_name,
        version=None if request.version is None else str(request.version),
        alias=request.alias,
        application=request.application,
    )
    service = get_service()
    await service.loop_share.turn()  # in the API server: leave Airflow its share of the loop
    # The explainers build exactly Genome's shape, so it is not re-validated.
    answer = service.explain_inline(ref, entries=request.entries, image=request.image, text=request.text)
    if answer is not None:  # a few rows of exact SHAP on a loaded model: cheaper than a hop
        body, headers = encode_answer(answer, accept_encoding)
    else:  # encoded in the worker pool too (a Grad-CAM answer is ~200 KB), off the event loop
        body, headers = await service.pool.run(
            lambda: encode_answer(
                service.explain_sync(ref, entries=request.entries, image=request.image, text=request.text),
                accept_encoding,
            )
        )
    return Response(body, media_type="application/json", headers=headers)


@router.post("/api/v1/explain", response_model=Explanation, responses=ERRORS)
async def explain(request: Annotated[ExplainRequest, Body()], http: Request) -> Response:
    """SHAP for tabular rows, Grad-CAM for an image, LIME for a text."""
    return await _explain(request, http.headers.get("accept-encoding"))


@router.post(GENOME_EXPLAIN_PATH, response_model=Explanation, responses=ERRORS)
async def genome_explain(request: Annotated[ExplainRequest, Body()], http: Request) -> Response:
    """Genome's own path for the same explanation."""
    return await _explain(request, http.headers.get("accept-encoding"))


class ExplainerStatus(BaseModel):
    preloaded: bool
    cachedModels: int  # noqa: N815 - camelCase on the wire, as the rest of the API
    loads: int
    workers: int
    queue: int
    timeoutS: float  # noqa: N815


@router.get("/api/v1/explain/status", response_model=ExplainerStatus)
def explainer_status() -> ExplainerStatus:
    """The worker pool's bounds, the model cache and whether libraries are preloaded."""
    from airgenome.explain.service import get_service

    return ExplainerStatus(**get_service().status())


@router.get(
    "/api/v1/models/{name:path}/versions/{version}/explanations/global",
    response_model=dict[str, Any],
    responses={404: {"description": "unknown model, or no global explanations stored"}},
)
async def global_explanations(name: str, version: str) -> JSONResponse:
    """The explanations `sampleExplanations` stored with this version."""
    from airgenome.explain.service import get_service, version_ref

    service = get_service()
    document = await service.pool.run(service.global_explanations, version_ref(name, version))
    return JSONResponse(document)


def standalone_app(token_check: Any = None) -> Any:
    """The explain API on its own (`airgenome explainer`), for scaling out behind the plugin.

    Same routes, same Airflow authentication (it accepts the Airflow API's tokens: same
    auth manager and JWT settings, checked by `airgenome.plugins.tokens` with a bounded
    snapshot of the revoked tokens instead of a metadata-DB query per request), no pages.
    ``token_check``: a `TokenCheck` (tests inject a clock); default, one for this app.
    """
    from fastapi import Depends, FastAPI
    from fastapi.exceptions import RequestValidationError

    from airgenome import __version__
    from airgenome.errors import AirgenomeError
    from airgenome.plugins.app import request_validation_error
    from airgenome.plugins.deps import authenticated_user
    from airgenome.plugins.routers import health, visualizations
    from airgenome.plugins.tokens import TokenCheck

    app = FastAPI(
        title="airgenome explainer",
        version=__version__,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        dependencies=[Depends(authenticated_user)],
    )
    app.state.token_check = token_check or TokenCheck()
    for extra in (health.router, router, visualizations.router):
        app.include_router(extra)

    @app.exception_handler(AirgenomeError)
    async def airgenome_error(request: Request, error: AirgenomeError) -> JSONResponse:
        return JSONResponse(error.to_dict(), status_code=error.status_code)

    app.add_exception_handler(RequestValidationError, request_validation_error)
    return app
