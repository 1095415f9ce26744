"""`ModelStore`: Genome's model-store SDK (save, load, search, aliases, tags, cards).

Inside a sequence step the store's location comes from the step environment
(``AIRGENOME_MODEL_STORE_URI``, ``AIRGENOME_MODEL_ARTIFACTS``); ``ModelStore()`` with no
arguments uses it, so Genome's examples run unchanged.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airgenome.errors import InvalidInput, NotFound
from airgenome.models.estimator import GenomeEstimator, detect_framework, infer_prediction_type
from airgenome.models.metadata import validate_metadata
from airgenome.models.records import (
    ModelPage,
    ModelRecord,
    ModelSearch,
    check_page_size,
    parse_version_id,
    registered_name,
)
from airgenome.models.serialization import EXPLANATIONS_FILE, GENOME_FILE, read_model_dir, write_model_dir
from airgenome.models.store import ModelStoreBackend, get_backend

if TYPE_CHECKING:
    from airgenome.models.cards import CardEvaluations, ModelCard


def _step_lineage() -> dict[str, str]:
    """What the sequence step environment says about where this model was made."""
    lineage = {}
    for variable, tag in (
        ("STEP_NAME", "airgenome.stepName"),
        ("STEP_TYPE", "airgenome.stepType"),
        ("DEPLOYMENT", "airgenome.deployment"),
    ):
        value = os.environ.get(variable)
        if value:
            lineage[tag] = value[:500]
    return lineage


def _step_datasets() -> list[Any]:
    raw = os.environ.get("DATASETS")
    if not raw:
        return []
    try:
        value = json.loads(raw)
    except ValueError:
        return []
    return value if isinstance(value, list) else []


class ModelStore:
    """Save, version, find and load Genome models."""

    def __init__(
        self,
        uri: str | None = None,
        *,
        artifacts: str | None = None,
        registry_uri: str | None = None,
        backend: ModelStoreBackend | None = None,
    ) -> None:
        self._backend = backend
        self._uri = uri
        self._artifacts = artifacts
        self._registry_uri = registry_uri
        self.last_timings: dict[str, float] = {}

    @property
    def backend(self) -> ModelStoreBackend:
        if self._backend is None:
            self._backend = get_backend(
                self._uri, registry_uri=self._registry_uri, artifacts=self._artifacts
            )
        return self._backend

    # -- save ---------------------------------------------------------------------------

    def save_model(self, estimator: GenomeEstimator | Any, meta: Mapping[str, Any]) -> ModelRecord:
        """Validate ``meta``, store the model in its framework's MLflow flavour, register a version.

        ``estimator`` is a GenomeEstimator, or a bare model (wrapped with the metadata's
        inputModality). Returns the new version's record: ``record["id"]`` is its id.
        """
        if not isinstance(estimator, GenomeEstimator):
            modality = meta.get("inputModality") if isinstance(meta, Mapping) else None
            estimator = GenomeEstimator(
                estimator, modality=modality if modality in ("tabular", "image", "text") else "tabular"
            )
        detected = detect_framework(estimator.estimator)
        metadata = validate_metadata(
            meta,
            inferred_prediction_type=infer_prediction_type(estimator.estimator),
            estimator_modality=estimator.modality,
            detected_framework=detected,
        )
        if not metadata.datasets:
            metadata = metadata.model_copy(update={"datasets": _step_datasets()})
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="airgenome-model-") as scratch:
            model_dir = Path(scratch) / "model"
            manifest = write_model_dir(estimator, metadata.framework, model_dir)
            serialised = time.perf_counter()
            extra = {
                "airgenome.flavour": str(manifest["flavour"]),
                "airgenome.estimatorClass": str(manifest["estimatorClass"]),
                "airgenome.hasGlobalExplanations": str(manifest["hasGlobalExplanations"]).lower(),
                **_step_lineage(),
            }
            record = self.backend.create_version(model_dir, metadata, extra)
        finished = time.perf_counter()
        self.last_timings = {"serialise_s": serialised - started, "store_s": finished - serialised}
        return record

    # -- find ---------------------------------------------------------------------------

    def _name_for(self, model: str) -> str:
        """A registered name, or the registered name of a canonicalName (with or without
        its leading slash, as URL paths lose it)."""
        if "/" not in model and ":" not in model and self.backend.model_exists(model):
            return model
        for candidate in (model, "/" + model.lstrip("/")):
            name = registered_name(candidate)
            if self.backend.model_exists(name):
                return name
        raise NotFound(f"no model named {model!r} (by registered name or canonicalName)")

    def get_model(
        self,
        model_id: str | None = None,
        *,
        canonical_name: str | None = None,
        name: str | None = None,
        version: int | str | None = None,
        alias: str | None = None,
    ) -> ModelRecord:
        """One version's record: by id (``name/3``), or by model (canonicalName or registered
        name) plus a version number, ``"latest"``, or an alias (default: latest)."""
        if model_id is not None:
            if canonical_name or name:
                raise InvalidInput("give either a model id or a model name, not both")
            try:
                registered, number = parse_version_id(model_id)
            except NotFound:
                return self.get_model(canonical_name=model_id, version=version, alias=alias)
            if self.backend.model_exists(registered):
                return self.backend.get_version(registered, number)
            return self.get_model(canonical_name=model_id, version=version, alias=alias)
        model = name or canonical_name
        if not model:
            raise InvalidInput(
                "which model? give an id, a canonicalName or a name",
                details=[{"field": "canonicalName", "message": "is required"}],
            )
        resolved = self._name_for(model)
        if alias:
            return self.backend.version_by_alias(resolved, alias)
        if version is None or str(version) == "latest":
            return self.backend.latest_version(resolved)
        text = str(version)
        if text.startswith("@"):
            return self.backend.version_by_alias(resolved, text[1:])
        # '²'.isdigit() is True but int('²') fails, and int() refuses 4300+ digits: no such version
        if not (text.isascii() and text.isdigit()) or len(text) > 19:
            raise NotFound(f"model {model!r} has no version {text!r} (a number, 'latest' or '@alias')")
        return self.backend.get_version(resolved, int(text))

    def load_model(
        self,
        model_id: str | None = None,
        *,
        canonical_name: str | None = None,
        name: str | None = None,
        version: int | str | None = None,
        alias: str | None = None,
    ) -> GenomeEstimator:
        """Load a version back as a GenomeEstimator (the native model is ``.estimator``).

        Loading runs the deserialisers of the stored flavour: trust the store's writers.
        """
        record = self.get_model(model_id, canonical_name=canonical_name, name=name, version=version, alias=alias)
        return self.load_record(record)

    def load_record(self, record: ModelRecord) -> GenomeEstimator:
        started = time.perf_counter()
        with tempfile.TemporaryDirectory(prefix="airgenome-load-") as scratch:
            estimator = read_model_dir(self.backend.model_path(record, Path(scratch)))
        self.last_timings = {"load_s": time.perf_counter() - started}
        return estimator

    def search_models(
        self,
        *,
        limit: int = 50,
        page_token: str | None = None,
        **filters: str | None,
    ) -> ModelPage:
        """One page of versions matching every filter (canonicalName, application,
        pipelineName, pipelineRunId, pipelineStage, versionName, framework, inputModality,
        predictionType, name (registered), q (free text)); newest first."""
        try:
            search = ModelSearch(**{key: value for key, value in filters.items() if value is not None})
        except ValueError as error:
            raise InvalidInput(f"unknown search filter: {error}") from error
        return self.backend.search(search, check_page_size(limit), page_token)

    search = search_models

    def iter_models(self, **filters: str | None) -> Iterator[ModelRecord]:
        """Every matching version, page by page (no cap)."""
        token: str | None = None
        while True:
            page = self.search_models(limit=200, page_token=token, **filters)
            yield from page.items
            token = page.next_page_token
            if not token:
                return

    def versions(self, model: str) -> list[ModelRecord]:
        """All versions of one model (canonicalName or registered name), newest first."""
        return self.backend.list_versions(self._name_for(model))

    # -- aliases and tags ----------------------------------------------------------------

    def set_alias(self, model_id: str, alias: str) -> ModelRecord:
        """Point ``alias`` (e.g. ``champion``) at the version ``model_id``."""
        record = self.get_model(model_id)
        self.backend.set_alias(record.name, alias, record.version)
        return self.backend.get_version(record.name, record.version)

    def delete_alias(self, model: str, alias: str) -> None:
        self.backend.delete_alias(self._name_for(model), alias)

    def set_tag(self, model_id: str, key: str, value: str) -> ModelRecord:
        """Tag one version (e.g. ``blessed`` = ``true`` from a blessing step)."""
        record = self.get_model(model_id)
        self.backend.set_tag(record.name, record.version, key, value)
        return self.backend.get_version(record.name, record.version)

    def set_system_tag(self, record: ModelRecord, key: str, value: str) -> None:
        """Write one ``airgenome.*`` tag: platform bookkeeping (a blessing verdict, an approval,
        a deployment), which `set_tag` refuses to users. Values are cut to 4,000 characters."""
        self.backend.set_system_tag(record.name, record.version, key, value)

    # -- stored documents ------------------------------------------------------------------

    def global_explanations(self, record: ModelRecord) -> dict[str, Any] | None:
        text = self.backend.read_text(record, EXPLANATIONS_FILE)
        return json.loads(text) if text else None

    def manifest(self, record: ModelRecord) -> dict[str, Any] | None:
        text = self.backend.read_text(record, GENOME_FILE)
        return json.loads(text) if text else None

    def card(self, record: ModelRecord, evaluations: CardEvaluations | None = None) -> ModelCard:
        """The model card of one version (metadata, lineage, explanations, blessing, and the
        ``evaluations`` that judged it: `airgenome.evaluations.cards.model_card` looks them up)."""
        from airgenome.models.cards import build_card, not_looked_up

        return build_card(
            record,
            manifest=self.manifest(record),
            explanations=self.global_explanations(record),
            evaluations=evaluations if evaluations is not None else not_looked_up(),
        )


def lookup_model(model_id: str) -> tuple[str, str] | None:
    """(canonicalName, version) of a version id in the configured store; None when unknown.

    For other stores that link to model versions (e.g. the evaluation store's targets).
    """
    try:
        registered, number = parse_version_id(model_id)
        record = ModelStore().backend.get_version(registered, number)
    except (NotFound, InvalidInput):
        return None
    return record.canonical_name, str(record.version)
