"""The model store over HTTP: search versions, read one version with its card.

``{name}`` is a model's canonicalName (slashes allowed, as a path: ``/models/housing/ca/
forest-1/versions/3``; the leading slash may be dropped or sent as ``%2F``) or its MLflow
registered name. ``{version}`` is a number, ``latest`` or ``@alias``.

Permission: reading models needs DAG read permission (`CanReadDags`). Models are outputs of
pipeline runs and their cards expose pipeline lineage, so whoever may read the pipelines
may read what they produced (Airflow's auth managers have no model resource of their own;
the evaluation API uses the same mapping).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel

from airgenome.models.cards import ModelCard
from airgenome.models.records import MAX_PAGE_SIZE, ModelPage, ModelRecord
from airgenome.plugins.deps import CanReadDags

if TYPE_CHECKING:
    from airgenome.models.client import ModelStore

router = APIRouter(prefix="/api/v1/models", tags=["models"], dependencies=[CanReadDags])


class ModelVersionDetail(BaseModel):
    record: ModelRecord
    card: ModelCard


class ModelVersions(BaseModel):
    items: list[ModelRecord]


def model_store() -> ModelStore:
    """The SDK client over the shared backend for the configured location."""
    from airgenome.models.client import ModelStore

    return ModelStore()


@router.get("", response_model=ModelPage, response_model_by_alias=True)
def search_models(
    canonical_name: Annotated[str | None, Query(alias="canonicalName")] = None,
    application: str | None = None,
    pipeline_name: Annotated[str | None, Query(alias="pipelineName")] = None,
    pipeline_run_id: Annotated[str | None, Query(alias="pipelineRunId")] = None,
    pipeline_stage: Annotated[str | None, Query(alias="pipelineStage")] = None,
    version_name: Annotated[str | None, Query(alias="versionName")] = None,
    framework: str | None = None,
    input_modality: Annotated[str | None, Query(alias="inputModality")] = None,
    prediction_type: Annotated[str | None, Query(alias="predictionType")] = None,
    name: str | None = None,
    q: Annotated[str | None, Query(description="free text over Genome's metadata")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    page_token: Annotated[str | None, Query(alias="pageToken")] = None,
) -> ModelPage:
    """Model versions matching every filter, newest first; follow ``nextPageToken``."""
    page: ModelPage = model_store().search_models(
        limit=limit,
        page_token=page_token,
        canonicalName=canonical_name,
        application=application,
        pipelineName=pipeline_name,
        pipelineRunId=pipeline_run_id,
        pipelineStage=pipeline_stage,
        versionName=version_name,
        framework=framework,
        inputModality=input_modality,
        predictionType=prediction_type,
        name=name,
        q=q,
    )
    return page


@router.get("/{name:path}/versions/{version}/card.html", response_class=HTMLResponse)
def model_card_html(name: str, version: str, request: Request) -> HTMLResponse:
    from airgenome.evaluations.cards import model_card as full_card
    from airgenome.models.cards import render_card_document

    store = model_store()
    record = store.get_model(name=name, version=version)
    return HTMLResponse(render_card_document(full_card(store, record), request.scope.get("root_path", "")))


@router.get("/{name:path}/versions/{version}/card", response_model=ModelCard, response_model_by_alias=True)
def model_card(name: str, version: str) -> ModelCard:
    from airgenome.evaluations.cards import model_card as full_card

    store = model_store()
    return full_card(store, store.get_model(name=name, version=version))


@router.get("/{name:path}/versions/{version}", response_model=ModelVersionDetail, response_model_by_alias=True)
def model_version(name: str, version: str) -> ModelVersionDetail:
    from airgenome.evaluations.cards import model_card as full_card

    store = model_store()
    record = store.get_model(name=name, version=version)
    return ModelVersionDetail(record=record, card=full_card(store, record))


@router.get("/{name:path}/versions", response_model=ModelVersions, response_model_by_alias=True)
def model_versions(name: str) -> ModelVersions:
    return ModelVersions(items=model_store().versions(name))
