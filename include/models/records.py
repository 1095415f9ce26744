"""What the model store hands out: version records, search pages and search filters.

Records use Genome's camelCase names on the wire (``canonicalName``...) and are dict-like
(``saved_model["id"]`` as in Genome's examples). A version's id is ``<registeredName>/<version>``:
registered names can contain neither ``/`` nor ``:``, so the split is unambiguous and
``models:/<id>`` is the MLflow URI of the same version.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airgenome.errors import InvalidInput, NotFound

# Genome's metadata, in the order cards and pages show it.
GENOME_FIELDS = (
    "canonicalName",
    "application",
    "pipelineName",
    "pipelineRunId",
    "pipelineStage",
    "versionName",
    "framework",
    "inputModality",
    "predictionType",
)

# A canonicalName that is already a plain MLflow name is registered as itself.
_PLAIN_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
_SLUG_JUNK = re.compile(r"[^A-Za-z0-9._-]+")


def registered_name(canonical_name: str) -> str:
    """The MLflow registered-model name for a Genome canonicalName (a pure function).

    MLflow names cannot contain ``/`` or ``:``, so ``/housing/ca/forest-1`` becomes
    ``housing.ca.forest-1~<10 hex of sha256>``: readable, and the ``~`` (never in a plain
    name) plus the hash keep distinct canonicalNames apart (``/a/b`` vs ``a.b`` vs ``a/b``).
    The original canonicalName is kept in the version's tags.
    """
    if _PLAIN_NAME.match(canonical_name):
        return canonical_name
    slug = _SLUG_JUNK.sub(".", canonical_name.strip("/")).strip(".")[:160] or "model"
    digest = hashlib.sha256(canonical_name.encode("utf-8")).hexdigest()[:10]
    return f"{slug}~{digest}"


def version_id(name: str, version: int) -> str:
    return f"{name}/{version}"


def parse_version_id(model_id: str) -> tuple[str, int]:
    """``name/3`` (or ``models:/name/3``) -> (name, 3); anything else is a 404 for that id."""
    text = model_id.removeprefix("models:/")
    name, sep, version = text.rpartition("/")
    if not sep or not name or "/" in name or not version.isdigit():
        raise NotFound(f"no model version with id {model_id!r} (ids look like <name>/<version>)")
    return name, int(version)


class ModelRecord(BaseModel):
    """One registered model version with its Genome metadata."""

    model_config = ConfigDict(populate_by_name=True)

    id: str
    name: str = Field(description="MLflow registered-model name")
    version: int
    canonical_name: str = Field(alias="canonicalName")
    application: str | None = None
    pipeline_name: str | None = Field(default=None, alias="pipelineName")
    pipeline_run_id: str | None = Field(default=None, alias="pipelineRunId")
    pipeline_stage: str | None = Field(default=None, alias="pipelineStage")
    version_name: str | None = Field(default=None, alias="versionName")
    framework: str | None = None
    input_modality: str | None = Field(default=None, alias="inputModality")
    prediction_type: str | None = Field(default=None, alias="predictionType")
    aliases: list[str] = Field(default_factory=list)
    tags: dict[str, str] = Field(default_factory=dict)
    description: str | None = None
    created_at: datetime = Field(alias="createdAt")
    run_id: str | None = Field(default=None, alias="runId")
    source: str = Field(description="artifact URI of the stored model directory")

    # Dict-like access, as Genome's SDK returned plain dicts: record["id"], record["canonicalName"].
    def _as_dict(self) -> dict[str, Any]:
        return self.model_dump(by_alias=True, mode="json")

    def __getitem__(self, key: str) -> Any:
        data = self._as_dict()
        if key in data:
            return data[key]
        return self.model_dump(mode="json")[key]

    def get(self, key: str, default: Any = None) -> Any:
        try:
            return self[key]
        except KeyError:
            return default

    def keys(self) -> list[str]:
        return list(self._as_dict())

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key, _MISSING) is not _MISSING

    def __iter__(self) -> Iterator[str]:  # type: ignore[override]
        return iter(self.keys())

    @property
    def metadata(self) -> dict[str, str | None]:
        data = self._as_dict()
        return {field: data.get(field) for field in GENOME_FIELDS}


_MISSING = object()


class ModelPage(BaseModel):
    """One page of a search; pass ``next_page_token`` back for the next one."""

    model_config = ConfigDict(populate_by_name=True)

    items: list[ModelRecord]
    next_page_token: str | None = Field(default=None, alias="nextPageToken")


MAX_PAGE_SIZE = 1000


class ModelSearch(BaseModel):
    """Search filters; every given filter must match (AND). ``q`` is free text."""

    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    canonical_name: str | None = Field(default=None, alias="canonicalName")
    application: str | None = None
    pipeline_name: str | None = Field(default=None, alias="pipelineName")
    pipeline_run_id: str | None = Field(default=None, alias="pipelineRunId")
    pipeline_stage: str | None = Field(default=None, alias="pipelineStage")
    version_name: str | None = Field(default=None, alias="versionName")
    framework: str | None = None
    input_modality: str | None = Field(default=None, alias="inputModality")
    prediction_type: str | None = Field(default=None, alias="predictionType")
    name: str | None = None
    q: str | None = None

    def tag_filters(self) -> dict[str, str]:
        """Exact-match filters keyed by the version tag that holds them."""
        data = self.model_dump(by_alias=True, exclude_none=True, exclude={"q", "name"})
        return {key: str(value) for key, value in data.items()}


def check_page_size(limit: int) -> int:
    if not 1 <= limit <= MAX_PAGE_SIZE:
        raise InvalidInput(
            f"limit: must be between 1 and {MAX_PAGE_SIZE}, got {limit}",
            details=[{"field": "limit", "message": f"must be between 1 and {MAX_PAGE_SIZE}"}],
        )
    return limit
