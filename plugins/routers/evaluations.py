"""Evaluation runs: search them, read one with its tasks, prototypes and expectations.

Reading evaluations needs DAG read permission (`CanReadDags`): evaluations are produced by
pipeline steps, so whoever may see the pipelines may see their results.
"""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel

from airgenome.errors import InvalidInput, NotFound
from airgenome.plugins.deps import CanReadDags, CurrentUser

router = APIRouter(prefix="/api/v1/evaluations", tags=["evaluations"], dependencies=[CanReadDags])


class TargetModelOut(BaseModel):
    id: str | None
    name: str | None
    version: str | None


class EvaluationSummaryOut(BaseModel):
    id: str
    name: str
    versionName: str | None  # noqa: N815 - Genome's wire names
    status: int
    statusName: str  # noqa: N815
    createdAt: str  # noqa: N815
    targetModel: TargetModelOut  # noqa: N815
    taskCount: int  # noqa: N815
    prototypeCount: int  # noqa: N815


class EvaluationPageOut(BaseModel):
    items: list[EvaluationSummaryOut]
    total: int
    limit: int
    offset: int
    nextOffset: int | None  # noqa: N815


class ExpectationOut(BaseModel):
    recipe: str
    operator: str
    var: str | None
    value: Any
    expected: Any
    expectedVar: str | None  # noqa: N815
    status: int
    statusName: str  # noqa: N815
    message: str | None


class PictureOut(BaseModel):
    name: str
    uri: str
    caption: str | None
    mediaType: str  # noqa: N815
    url: str | None = None  # where the plugin serves it (GET, signed in)


class TaskOut(BaseModel):
    position: int
    name: str
    kind: str
    parent: int | None
    status: int
    statusName: str  # noqa: N815
    prototypeRef: dict[str, Any] | None  # noqa: N815
    dataRef: dict[str, Any] | None  # noqa: N815
    segment: Any
    metrics: dict[str, Any]
    expectations: list[ExpectationOut]
    error: str | None
    pictures: list[PictureOut] = []


class TopTaskOut(TaskOut):
    prototypes: list[TaskOut]


class EvaluationOut(EvaluationSummaryOut):
    code: str | None
    parameters: Any
    application: str | None
    pipelineName: str | None  # noqa: N815
    pipelineStage: str | None  # noqa: N815
    pipelineRunId: str | None  # noqa: N815
    inputModality: str | None  # noqa: N815
    framework: str | None
    tasks: list[TopTaskOut]


# Filters arrive as text and are validated by the store's query parser, so a bad one is a
# 422 naming the field in the same shape as every other airgenome error.
Text = Annotated[str | None, Query()]


@router.get("", response_model=EvaluationPageOut)
def list_evaluations(
    user: CurrentUser,
    model: Text = None,
    model_id: Text = None,
    model_name: Text = None,
    model_version: Text = None,
    name: Text = None,
    status: Text = None,
    since: Text = None,
    until: Text = None,
    limit: Text = None,
    offset: Text = None,
) -> dict[str, Any]:
    """Runs newest first; `model` matches a model version id or a model name."""
    from airgenome.evaluations.store import get_evaluation_store

    page = get_evaluation_store().search(
        model=model or None,
        model_id=model_id or None,
        model_name=model_name or None,
        model_version=model_version or None,
        name=name or None,
        status=status,
        since=since,
        until=until,
        limit=limit,
        offset=offset,
    )
    return page.to_dict()


def picture_url(root: str, evaluation_id: str, position: int, index: int) -> str:
    return f"{root}/api/v1/evaluations/{quote(evaluation_id, safe='')}/tasks/{position}/pictures/{index}"


def with_picture_urls(run: dict[str, Any], root: str) -> dict[str, Any]:
    """The run's API shape with each picture's `url` (tasks and their prototypes)."""
    for task in run["tasks"]:
        for item in (task, *task.get("prototypes", [])):
            item["pictures"] = [
                {**picture, "url": picture_url(root, run["id"], item["position"], index)}
                for index, picture in enumerate(item.get("pictures") or [])
            ]
    return run


@router.get("/{evaluation_id}", response_model=EvaluationOut)
def get_evaluation(evaluation_id: str, request: Request, user: CurrentUser) -> dict[str, Any]:
    """One run: its tasks, each with its prototypes, metrics, expectations (recipes) and pictures."""
    from airgenome.evaluations.store import get_evaluation_store

    return with_picture_urls(get_evaluation_store().get(evaluation_id).to_dict(), request.scope.get("root_path", ""))


def _whole_number(field: str, text: str) -> int:
    if not text.isdigit() or len(text) > 9:
        raise InvalidInput(f"{field}: {text[:40]!r} is not a whole number >= 0",
                           details=[{"field": field, "message": "must be a whole number >= 0"}])
    return int(text)


@router.get(
    "/{evaluation_id}/tasks/{position}/pictures/{index}",
    response_class=Response,
    responses={200: {"content": {"image/png": {}}, "description": "the picture, as stored"}},
)
def get_picture(evaluation_id: str, position: str, index: str, user: CurrentUser) -> Response:
    """A picture of a task (or prototype) at ``position`` in the run, by its ``index``.

    The URI comes from the stored record, never from the request, and is read only when it
    lies under the lake root; the stored image media type is served with ``nosniff``."""
    from airgenome.evaluations.store import get_evaluation_store
    from airgenome.plugins.lake_files import MAX_PICTURE_BYTES, PICTURE_CSP, PICTURE_TYPES, read_lake_file

    at, number = _whole_number("position", position), _whole_number("index", index)
    run = get_evaluation_store().get(evaluation_id)
    task = next((t for t in run.tasks if t.position == at), None)
    if task is None:
        raise NotFound(f"evaluation {evaluation_id} has no task at position {at}")
    if number >= len(task.pictures):
        raise NotFound(f"task {task.name!r} of evaluation {evaluation_id} has {len(task.pictures)} picture(s); no index {number}")
    picture = task.pictures[number]
    media_type = str(picture.get("mediaType") or "")
    if media_type not in PICTURE_TYPES:
        raise NotFound(f"picture {picture.get('name')!r} has media type {media_type!r}, which the plugin does not serve")
    data = read_lake_file(str(picture.get("uri") or ""), max_bytes=MAX_PICTURE_BYTES, what="picture")
    return Response(
        data,
        media_type=media_type,
        headers={
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": PICTURE_CSP,
            "Cache-Control": "private, max-age=300",
        },
    )
