"""Model visualisations as SVG: a dtreeviz tree, or a linear model's coefficients.

``GET /api/v1/models/{name}/versions/{version}/visualizations/tree?index=i`` and
``.../visualizations/coefficients`` (``{name}``/``{version}`` as in the models router:
a canonicalName with its slashes, a number, ``latest`` or ``@alias``). Rendering runs in
the explain service's worker pool; each picture is made once per version and kept.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from fastapi.responses import Response

from airgenome.plugins.deps import CanReadDags

router = APIRouter(prefix="/api/v1/models", tags=["visualizations"], dependencies=[CanReadDags])

SVG = "image/svg+xml"
RESPONSES: dict[int | str, dict[str, object]] = {
    200: {"content": {SVG: {}}, "description": "an SVG picture"},
    404: {"description": "unknown model/version, or no data sample stored"},
    422: {"description": "not a tree (or linear) model, or index out of range"},
}


def _tree(name: str, version: str, index: int, fancy: bool) -> str:
    from airgenome.explain.service import get_service, version_ref
    from airgenome.visualize.trees import tree_svg

    service = get_service()
    loaded = service.load(version_ref(name, version))
    model = loaded.model

    def render() -> str:
        return tree_svg(
            model.model,
            model.background,
            index=index,
            feature_names=model.feature_names,
            target_classes=model.target_classes,
            fancy=fancy,
        )

    return _pictures().get((loaded.key, "tree", index, fancy), render)


def _coefficients(name: str, version: str) -> str:
    from airgenome.explain.service import get_service, version_ref
    from airgenome.visualize.coefficients import coefficients_svg

    loaded = get_service().load(version_ref(name, version))
    model = loaded.model
    return _pictures().get(
        (loaded.key, "coefficients"),
        lambda: coefficients_svg(
            model.model, feature_names=model.feature_names, target_classes=model.target_classes
        ),
    )


_cache = None


def _pictures():  # type: ignore[no-untyped-def]
    global _cache
    if _cache is None:
        from airgenome.explain.cache import LoadOnceCache

        _cache = LoadOnceCache[str](64)
    return _cache


@router.get(
    "/{name:path}/versions/{version}/visualizations/tree",
    response_class=Response,
    responses=RESPONSES,
)
async def tree_view(
    name: str,
    version: str,
    index: Annotated[int, Query(ge=0, description="which tree of an ensemble")] = 0,
    fancy: Annotated[bool, Query(description="a histogram in every split node (slow)")] = False,
) -> Response:
    from airgenome.explain.service import get_service

    svg = await get_service().pool.run(_tree, name, version, index, fancy)
    return Response(svg, media_type=SVG)


@router.get(
    "/{name:path}/versions/{version}/visualizations/coefficients",
    response_class=Response,
    responses=RESPONSES,
)
async def coefficients_view(name: str, version: str) -> Response:
    from airgenome.explain.service import get_service

    svg = await get_service().pool.run(_coefficients, name, version)
    return Response(svg, media_type=SVG)
