"""Sequences: upload Genome JSON that becomes a DAG, validate it, run it, list it, delete it.

Order of checks on every upload: size (413, before anything is parsed), emptiness (422),
content type (415), then the sequencer's own validation (422 with every field path) —
and only a valid spec is written. Airflow is reached through its REST API with the
caller's own token (see the README, "How the plugin talks to Airflow").
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import BaseModel, Field

from airgenome import settings
from airgenome.errors import AirgenomeError, InvalidInput, PayloadTooLarge, Unavailable
from airgenome.plugins.deps import CanEditDags, CanReadDags, CanTriggerDags
from airgenome.sequence.airflow_api import AirflowApi
from airgenome.sequence.uploads import StoredSequence, UploadStore, check_dag_id

router = APIRouter(tags=["sequences"])

PREFIX = "/api/v1/sequences"
PLUGIN_PREFIX = "/airgenome"  # the plugin's mount (plugins/app.py URL_PREFIX)


def save_wait_s() -> float:
    """How long `save` waits for the DAG before answering (the DAG still appears later if not)."""
    return settings.number("sequence_save_wait_s") or 0.0


def run_wait_s() -> float:
    """How long `run` waits for the DAG to exist before giving up with 503."""
    return settings.number("sequence_run_wait_s") or 0.0


JSON_TYPES = ("application/json", "text/json")
BODY_DOC = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "description": "A Genome sequence (pipelineName, application, steps, ...)",
                }
            }
        },
    }
}


# -- response models ------------------------------------------------------------------------
class FieldError(BaseModel):
    loc: str
    msg: str


class ValidationResult(BaseModel):
    valid: bool
    dag_id: str
    pipeline_name: str
    schedule: str | None
    tasks: list[str] = Field(description="task ids of the DAG the sequence becomes, in order")


class RunSummary(BaseModel):
    run_id: str
    state: str | None
    run_type: str | None = None
    run_after: datetime | None = None
    start_date: datetime | None = None
    end_date: datetime | None = None
    conf: dict[str, Any] | None = None


class SavedSequence(BaseModel):
    dag_id: str
    replaced: bool
    file: str
    parse_requested: bool
    visible: bool = Field(description="the DAG already reflects this upload")
    dag_url: str
    warning: str | None = None


class TriggeredRun(SavedSequence):
    run_id: str
    run_state: str | None
    run_url: str


class SequenceSummary(BaseModel):
    dag_id: str
    origin: str = Field(description="'upload' (API/page) or 'bundled' (dags/sequences)")
    file: str
    updated_at: datetime
    dag_url: str
    latest_run: RunSummary | None = None


class SequenceList(BaseModel):
    sequences: list[SequenceSummary]
    airflow_error: str | None = None


class DagState(BaseModel):
    is_paused: bool
    is_stale: bool
    last_parsed_time: datetime | None
    has_import_errors: bool
    timetable_summary: str | None


class SequenceDetail(SequenceSummary):
    source: str
    dag: DagState | None
    runs: list[RunSummary]
    airflow_error: str | None = None


class Deleted(BaseModel):
    dag_id: str
    deleted: bool
    parse_requested: bool


# -- request plumbing -----------------------------------------------------------------------
async def sequence_body(request: Request) -> bytes:
    """The raw body, refused past the byte limit BEFORE anything parses it."""
    from airgenome.sequence.config import limits

    limit = limits().max_body_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"body: {declared} bytes is over the {limit}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"body: more than the {limit}-byte limit")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body.strip():
        raise InvalidInput(
            "body: empty; send the sequence as a JSON object",
            details=[{"loc": "body", "msg": "empty body"}],
        )
    media_type = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    if media_type and media_type not in JSON_TYPES and not media_type.endswith("+json"):
        raise UnsupportedMediaType(
            f"content-type: {media_type!r} is not JSON; send application/json"
        )
    return body


class UnsupportedMediaType(InvalidInput):
    status_code = status.HTTP_415_UNSUPPORTED_MEDIA_TYPE


Body = Annotated[bytes, Depends(sequence_body)]


@dataclass(frozen=True)
class Checked:
    dag_id: str
    pipeline_name: str
    schedule: str | None
    tasks: list[str]


def check_sequence(raw: bytes) -> Checked:
    """The sequencer's full validation (every offending field in one 422) and the plan."""
    from airgenome.sequence.plan import plan_sequence
    from airgenome.sequence.validate import parse_sequence

    try:
        sequence = parse_sequence(raw)  # the configured execution mode
    except RecursionError:  # json.loads on pathologically nested input
        raise InvalidInput(
            "$: nested too deeply to be a sequence",
            details=[{"loc": "$", "msg": "nested too deeply to be a sequence"}],
        ) from None
    _refuse_lone_surrogates(raw)
    plan = plan_sequence(sequence)
    return Checked(
        dag_id=check_dag_id(plan.dag_id),
        pipeline_name=sequence.pipelineName,
        # An asset schedule shows as its text ("assets: a, b"); strings as written.
        schedule=sequence.schedule if isinstance(sequence.schedule, str) or plan.schedule is None else plan.schedule.text,
        tasks=[task.task_id for task in plan.tasks],
    )


def _refuse_lone_surrogates(raw: bytes) -> None:
    """A JSON escape like \\ud800 decodes to half a UTF-16 pair: not text, so it cannot be stored."""

    def find(value: Any, path: str) -> str | None:
        if isinstance(value, str):
            return None if value.isascii() or _is_text(value) else path
        items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
        for key, item in items:
            if isinstance(key, str) and not _is_text(key):
                return f"{path}.{key!r}"
            found = find(item, f"{path}[{key}]" if isinstance(key, int) else f"{path}.{key}")
            if found:
                return found
        return None

    try:
        where = find(json.loads(raw), "$")
    except RecursionError:
        raise InvalidInput(
            "$: nested too deeply to be a sequence",
            details=[{"loc": "$", "msg": "nested too deeply to be a sequence"}],
        ) from None
    if where:
        loc = where.removeprefix("$.") if where != "$" else "$"
        raise InvalidInput(
            f"{loc}: contains a lone UTF-16 surrogate (an escape like \\ud800 without its pair); send valid Unicode",
            details=[{"loc": loc, "msg": "lone surrogate: not valid Unicode text"}],
        )


def _is_text(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def with_created_at(raw: bytes, uploads: UploadStore, dag_id: str) -> bytes:
    """Stamp ``createdAt`` (a duration schedule's first run is one period after it).

    A replacement keeps the original creation time; a spec that sets its own is stored as sent.
    """
    document = json.loads(raw)
    if document.get("createdAt") is not None:
        return raw
    created = datetime.now(UTC).isoformat()
    try:
        previous = json.loads(uploads.get(dag_id).read_bytes())
        if isinstance(previous, dict) and isinstance(previous.get("createdAt"), str):
            created = previous["createdAt"]
    except (AirgenomeError, ValueError):
        pass  # new, bundled or unreadable: created now
    document["createdAt"] = created
    from airgenome.sequence.config import limits

    pretty = (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if len(pretty) <= limits().max_body_bytes:
        return pretty
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def store() -> UploadStore:
    return UploadStore()


def caller_token(request: Request) -> str:
    """The caller's own Airflow token: the bearer header, else the UI's `_token` cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    return request.cookies.get("_token", "")


def airflow_root(request: Request) -> str:
    """Airflow's own path prefix as seen by the browser (our mount minus /airgenome)."""
    root = str(request.scope.get("root_path", "")).rstrip("/")
    return root[: -len(PLUGIN_PREFIX)] if root.endswith(PLUGIN_PREFIX) else root


def airflow_api_url(request: Request) -> str:
    """Loopback to the api-server that serves this very request (or AIRGENOME_AIRFLOW_API_URL)."""
    configured = settings.string("airflow_api_url")
    if configured:
        return configured.rstrip("/")
    host, port = request.scope.get("server") or ("127.0.0.1", 8080)
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    if ":" in str(host):
        host = f"[{host}]"
    return f"{request.url.scheme}://{host}:{port}{airflow_root(request)}"


def airflow_api(request: Request) -> AirflowApi:
    return AirflowApi(airflow_api_url(request), caller_token(request))


def dag_url(request: Request, dag_id: str) -> str:
    return f"{airflow_root(request)}/dags/{dag_id}"


def run_url(request: Request, dag_id: str, run_id: str) -> str:
    return f"{airflow_root(request)}/dags/{dag_id}/runs/{run_id}"


# The loader DAG file (dags/sequences_loader.py) defines every sequence DAG, all tagged so.
LOADER_FILE = "sequences_loader.py"
LOADER_TAGS = ["sequence"]


# -- actions (shared with the Genome-compatible routes) -------------------------------------
def save(request: Request, api: AirflowApi, raw: bytes, wait_s: float) -> SavedSequence:
    """Validate, write atomically, ask the DAG processor to parse now, wait up to `wait_s`."""
    checked = check_sequence(raw)  # raises before anything is written
    uploads = store()
    content = with_created_at(raw, uploads, checked.dag_id)
    if content is not raw:
        check_sequence(content)  # what is stored is exactly what was validated
    stored, replaced = uploads.write(checked.dag_id, content)
    warning = None
    try:
        outcome = api.parse_and_wait(checked.dag_id, stored.modified, wait_s, LOADER_TAGS, LOADER_FILE)
        requested, visible = outcome.requested, outcome.visible
        if not visible:
            warning = (
                f"saved; Airflow has not shown DAG {checked.dag_id!r} within {wait_s:.0f}s "
                "(it appears at the next parse)"
            )
    except AirgenomeError as error:  # the file is saved either way; say why Airflow lags
        requested, visible = False, False
        warning = f"saved; could not ask Airflow to parse it now: {error}"
    return SavedSequence(
        dag_id=checked.dag_id,
        replaced=replaced,
        file=stored.path.name,
        parse_requested=requested,
        visible=visible,
        dag_url=dag_url(request, checked.dag_id),
        warning=warning,
    )


def save_and_run(request: Request, raw: bytes, conf: dict[str, Any] | None = None) -> TriggeredRun:
    with airflow_api(request) as api:
        wait_s = run_wait_s()
        saved = save(request, api, raw, wait_s)
        if not saved.visible:
            raise Unavailable(
                f"sequence saved as {saved.file}, but Airflow did not show DAG "
                f"{saved.dag_id!r} within {wait_s:.0f}s; trigger it later "
                f"(POST /api/v2/dags/{saved.dag_id}/dagRuns). {saved.warning or ''}".strip()
            )
        api.unpause(saved.dag_id)
        run = api.trigger(saved.dag_id, conf)
    run_id = str(run["dag_run_id"])
    return TriggeredRun(
        **saved.model_dump(),
        run_id=run_id,
        run_state=run.get("state"),
        run_url=run_url(request, saved.dag_id, run_id),
    )


def _run_summary(run: dict[str, Any]) -> RunSummary:
    return RunSummary(
        run_id=str(run.get("dag_run_id")),
        state=run.get("state"),
        run_type=run.get("run_type"),
        run_after=run.get("run_after"),
        start_date=run.get("start_date"),
        end_date=run.get("end_date"),
        conf=run.get("conf"),
    )


def _summary(request: Request, stored: StoredSequence) -> SequenceSummary:
    return SequenceSummary(
        dag_id=stored.dag_id,
        origin=stored.origin,
        file=stored.path.name,
        updated_at=datetime.fromtimestamp(stored.modified, UTC),
        dag_url=dag_url(request, stored.dag_id),
    )


def list_sequences(request: Request) -> SequenceList:
    items = [_summary(request, stored) for stored in store().list_all()]
    error = None
    if items:
        try:
            with airflow_api(request) as api:
                latest = api.latest_runs([item.dag_id for item in items])
            for item in items:
                if item.dag_id in latest:
                    item.latest_run = _run_summary(latest[item.dag_id])
        except AirgenomeError as failure:  # the files are listed even when Airflow is away
            error = str(failure)
    return SequenceList(sequences=items, airflow_error=error)


def sequence_detail(request: Request, dag_id: str, runs_limit: int = 10) -> SequenceDetail:
    stored = store().get(dag_id)
    summary = _summary(request, stored)
    source = stored.read_bytes().decode("utf-8", errors="replace")
    dag_state: DagState | None = None
    runs: list[RunSummary] = []
    error = None
    try:
        with airflow_api(request) as api:
            dag = api.get_dag(dag_id)
            if dag is not None:
                dag_state = DagState.model_validate(dag, from_attributes=False)
                runs = [_run_summary(run) for run in api.recent_runs(dag_id, runs_limit)]
    except AirgenomeError as failure:
        error = str(failure)
    if runs:
        summary.latest_run = runs[0]
    return SequenceDetail(
        **summary.model_dump(), source=source, dag=dag_state, runs=runs, airflow_error=error
    )


# -- routes ---------------------------------------------------------------------------------
@router.post(
    f"{PREFIX}/validate",
    response_model=ValidationResult,
    dependencies=[CanReadDags],
    openapi_extra=BODY_DOC,
    responses={413: {}, 415: {}, 422: {}},
)
def validate(raw: Body) -> ValidationResult:
    """Validate a sequence and show the DAG it would become; writes nothing."""
    checked = check_sequence(raw)
    return ValidationResult(
        valid=True,
        dag_id=checked.dag_id,
        pipeline_name=checked.pipeline_name,
        schedule=checked.schedule,
        tasks=checked.tasks,
    )


@router.post(
    PREFIX,
    response_model=SavedSequence,
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanEditDags],
    openapi_extra=BODY_DOC,
    responses={409: {}, 413: {}, 415: {}, 422: {}},
)
def create_or_replace(request: Request, raw: Body) -> SavedSequence:
    """Create or replace a sequence (a schedule included); its DAG appears at once."""
    with airflow_api(request) as api:
        return save(request, api, raw, save_wait_s())


@router.post(
    f"{PREFIX}/run",
    response_model=TriggeredRun,
    status_code=status.HTTP_201_CREATED,
    dependencies=[CanEditDags, CanTriggerDags],
    openapi_extra=BODY_DOC,
    responses={409: {}, 413: {}, 415: {}, 422: {}, 503: {}},
)
def create_and_run(request: Request, raw: Body) -> TriggeredRun:
    """Create or replace a sequence, then trigger it now (Genome's /compute/sequencer/run)."""
    return save_and_run(request, raw)


@router.get(PREFIX, response_model=SequenceList, dependencies=[CanReadDags])
def list_all(request: Request) -> SequenceList:
    return list_sequences(request)


@router.get(
    f"{PREFIX}/{{dag_id}}",
    response_model=SequenceDetail,
    dependencies=[CanReadDags],
    responses={404: {}},
)
def get_one(request: Request, dag_id: str) -> SequenceDetail:
    return sequence_detail(request, dag_id)


@router.delete(
    f"{PREFIX}/{{dag_id}}",
    response_model=Deleted,
    dependencies=[CanEditDags],
    responses={404: {}, 409: {}},
)
def delete(request: Request, dag_id: str) -> Deleted:
    """Remove the uploaded file; its DAG goes stale at the next parse (run history is kept)."""
    store().delete(dag_id)
    requested = False
    with airflow_api(request) as api:
        try:
            # The DAG still exists in Airflow until the next parse: its file token works.
            token = api.parse_token(dag_id, LOADER_TAGS, LOADER_FILE)
            if token is not None:
                requested = api.request_parse(token)
        except AirgenomeError:
            requested = False
    return Deleted(dag_id=dag_id, deleted=True, parse_requested=requested)
