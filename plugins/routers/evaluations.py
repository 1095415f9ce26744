"""Evaluation runs: search them, read one with its tasks, prototypes and expectations.

Reading evaluations needs DAG read permission (`CanReadDags`): evaluations are produced by
pipeline steps, so whoever may see the pipelines may see their results.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

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


@router.get("/{evaluation_id}", response_model=EvaluationOut)
def get_evaluation(evaluation_id: str, user: CurrentUser) -> dict[str, Any]:
    """One run: its tasks, each with its prototypes, metrics and expectations (recipes)."""
    from airgenome.evaluations.store import get_evaluation_store

    return get_evaluation_store().get(evaluation_id).to_dict()
