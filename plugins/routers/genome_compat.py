"""Genome's own sequencer paths, so Genome clients work unchanged against the plugin.

``POST /v1.0/genome/compute/sequencer`` creates or replaces a (scheduled) sequence and
``POST /v1.0/genome/compute/sequencer/run`` also triggers it now — the same actions as
``/api/v1/sequences`` and ``/api/v1/sequences/run``, with the same checks.
"""

from __future__ import annotations

from fastapi import APIRouter, Request, status

from airgenome.plugins.deps import CanEditDags, CanTriggerDags
from airgenome.plugins.routers.sequences import (
    BODY_DOC,
    Body,
    SavedSequence,
    TriggeredRun,
    airflow_api,
    save,
    save_and_run,
    save_wait_s,
)

router = APIRouter(tags=["genome"])

GENOME_PREFIX = "/v1.0/genome/compute/sequencer"


@router.post(
    GENOME_PREFIX,
    response_model=SavedSequence,
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanEditDags],
    openapi_extra=BODY_DOC,
    responses={409: {}, 413: {}, 415: {}, 422: {}},
)
def genome_sequencer(request: Request, raw: Body) -> SavedSequence:
    """Genome's create-a-pipeline (schedule optional); the DAG appears at once."""
    with airflow_api(request) as api:
        return save(request, api, raw, save_wait_s())


@router.post(
    f"{GENOME_PREFIX}/run",
    response_model=TriggeredRun,
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanEditDags, CanTriggerDags],
    openapi_extra=BODY_DOC,
    responses={409: {}, 413: {}, 415: {}, 422: {}, 503: {}},
)
def genome_sequencer_run(request: Request, raw: Body) -> TriggeredRun:
    """Genome's create-a-pipeline-run: saves the sequence, then triggers it now."""
    return save_and_run(request, raw)
