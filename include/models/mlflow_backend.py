"""The model store on MLflow's model registry (SQLite by default, an MLflow server in production).

Everything goes through one explicit `MlflowClient` with its own tracking and registry
URIs; nothing touches MLflow's process-global state (``mlflow.set_tracking_uri``, active
runs), so one process can serve several stores from many threads.

Per saved version: a run in the ``airgenome-model-store`` experiment holds the model
directory under ``model/``; the registered model (named by `registered_name`) gets a new
version whose tags carry Genome's metadata (their own camelCase keys) plus ``airgenome.*``
bookkeeping tags. The registered model keeps the original canonicalName in a tag.

A store that cannot be reached or is locked answers `Unavailable` (503) naming the store (its
password redacted) and the cause, also when it is first opened. A save whose registration
fails leaves no model version: its run is marked FAILED (when the tracking store can still be
reached), and saving again registers the next version as if the failed save never happened.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

from airgenome.errors import InvalidInput, NotFound, Unavailable
from airgenome.models.metadata import (
    MAX_SYSTEM_TAG_CHARS,
    RESERVED_TAG_PREFIXES,
    SYSTEM_TAG_PREFIX,
    ModelMetadata,
)
from airgenome.models.records import (
    GENOME_FIELDS,
    ModelPage,
    ModelRecord,
    ModelSearch,
    check_page_size,
    registered_name,
    version_id,
)
from airgenome.models.store import ModelStoreBackend

EXPERIMENT = "airgenome-model-store"
MODEL_PATH = "model"
SEARCH_TEXT_TAG = "airgenome.searchText"
ORDER = ["creation_timestamp DESC", "name ASC", "version_number DESC"]


def _quote(value: str) -> str:
    """A string literal for MLflow's filter language (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _cause(message: object) -> str:
    """An MLflow error message without SQLAlchemy's statement, parameters and "Background" line.

    A locked SQLite registry's error quoted the whole ``[SQL: INSERT …]`` and its
    ``[parameters: …]`` (the model's metadata): noise to the user, and values that are not theirs
    to see through the API. SQLAlchemy puts those after the cause, so keep what comes before.
    """
    lines: list[str] = []
    for line in str(message).strip().splitlines():
        if line.startswith(("[SQL: ", "[parameters: ", "(Background on this error")):
            break
        lines.append(line)
    return " ".join(line.strip() for line in lines) or str(message)


def _local_path(uri: str) -> Path | None:
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    if parsed.scheme == "" and uri:
        return Path(uri)
    return None


@contextmanager
def _sqlite_init_lock(uri: str) -> Iterator[None]:
    """Serialise first opens of one SQLite store across processes.

    Parallel steps (separate processes) opening a fresh store at once race in MLflow's
    migrations (measured: "duplicate column name", alembic version mismatches).
    """
    if not uri.startswith("sqlite:///"):
        yield
        return
    import fcntl

    database = Path(uri.removeprefix("sqlite:///"))
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(database.parent / f".{database.name}.init.lock", "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class MlflowModelStore(ModelStoreBackend):
    """`ModelStoreBackend` over MLflow (registered through `airgenome.models.store.BACKENDS`)."""

    def __init__(
        self,
        tracking_uri: str,
        *,
        registry_uri: str | None = None,
        artifact_location: str | None = None,
    ) -> None:
        os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
        from mlflow import MlflowClient

        self.uri = tracking_uri
        self.registry_uri = registry_uri or tracking_uri
        self.artifact_location = self._artifact_uri(artifact_location)
        self._experiment_id: str | None = None
        from mlflow.exceptions import MlflowException

        with _sqlite_init_lock(tracking_uri):
            # Opening the stores runs MLflow's schema migrations on a fresh database.
            self.client = MlflowClient(tracking_uri=tracking_uri, registry_uri=self.registry_uri)
            try:
                self.client.search_experiments(max_results=1)
                self.client.search_registered_models(max_results=1)
            except MlflowException as error:  # whatever it says, the store cannot be used now
                raise Unavailable(
                    f"opening the model store: model store error at {self._where()}: {_cause(error.message)}"
                ) from error

    def _where(self) -> str:
        from airgenome.settings import redact_uri

        where = redact_uri(self.uri)
        if self.registry_uri != self.uri:
            where += f" (registry {redact_uri(self.registry_uri)})"
        return where

    @staticmethod
    def _artifact_uri(location: str | None) -> str | None:
        if not location:
            return None
        if "://" in location or location.startswith("mlflow-artifacts:"):
            return location
        path = Path(location).expanduser().resolve()
        path.mkdir(parents=True, exist_ok=True)
        return path.as_uri()

    # -- errors -------------------------------------------------------------------------

    @contextmanager
    def _errors(self, what: str) -> Iterator[None]:
        """MLflow's exceptions -> ours, by MLflow's error code."""
        from mlflow.exceptions import MlflowException

        try:
            yield
        except MlflowException as error:
            code = error.error_code
            # MLflow reports a missing alias as an invalid parameter "... not found".
            if code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(error.message).lower():
                raise NotFound(f"{what}: not found") from error
            if code == "INVALID_PARAMETER_VALUE":
                raise InvalidInput(f"{what}: {error.message}") from error
            raise Unavailable(f"{what}: model store error at {self._where()}: {_cause(error.message)}") from error

    # -- experiment ---------------------------------------------------------------------

    def _experiment(self) -> str:
        if self._experiment_id is None:
            from mlflow.exceptions import MlflowException

            found = self.client.get_experiment_by_name(EXPERIMENT)
            if found is None:
                try:
                    self._experiment_id = self.client.create_experiment(
                        EXPERIMENT, artifact_location=self.artifact_location
                    )
                except MlflowException as error:  # created by another process meanwhile
                    if error.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
                    found = self.client.get_experiment_by_name(EXPERIMENT)
            if found is not None:
                self._experiment_id = found.experiment_id
        assert self._experiment_id is not None
        return self._experiment_id

    # -- writes -------------------------------------------------------------------------

    def create_version(
        self, model_dir: Path, metadata: ModelMetadata, extra_tags: Mapping[str, str]
    ) -> ModelRecord:
        from mlflow.exceptions import MlflowException

        name = registered_name(metadata.canonical_name)
        tags = {
            **metadata.tags,
            **metadata.genome_tags(),
            **extra_tags,
            SEARCH_TEXT_TAG: metadata.search_text(),
            "airgenome.datasets": metadata.datasets_json(),
        }
        with self._errors(f"saving {metadata.canonical_name}"):
            run = self.client.create_run(
                self._experiment(),
                run_name=f"{metadata.canonical_name} {metadata.version_name}",
                tags={"airgenome.canonicalName": metadata.canonical_name},
            )
            run_id = run.info.run_id
            try:
                self.client.log_artifacts(run_id, str(model_dir), MODEL_PATH)
                try:
                    self.client.create_registered_model(
                        name,
                        tags={"canonicalName": metadata.canonical_name},
                        description=f"Genome model {metadata.canonical_name}",
                    )
                except MlflowException as error:
                    if error.error_code != "RESOURCE_ALREADY_EXISTS":
                        raise
                version = self.client.create_model_version(
                    name,
                    source=f"{run.info.artifact_uri}/{MODEL_PATH}",
                    run_id=run_id,
                    tags=tags,
                    description=metadata.description,
                )
            except BaseException:
                # Best effort: a store that just failed may fail this too; its error is not the cause.
                with contextlib.suppress(MlflowException):
                    self.client.set_terminated(run_id, status="FAILED")
                raise
            self.client.set_terminated(run_id)
        return self._record(version)

    def set_alias(self, name: str, alias: str, version: int) -> None:
        with self._errors(f"alias {alias!r} of {name}/{version}"):
            self.client.get_model_version(name, str(version))
            self.client.set_registered_model_alias(name, alias, str(version))

    def delete_alias(self, name: str, alias: str) -> None:
        with self._errors(f"alias {alias!r} of {name}"):
            self.client.delete_registered_model_alias(name, alias)

    def set_tag(self, name: str, version: int, key: str, value: str) -> None:
        if key in GENOME_FIELDS or key.startswith(RESERVED_TAG_PREFIXES):
            raise InvalidInput(
                f"tag {key!r} is reserved for the store's own metadata",
                details=[{"field": "key", "message": "reserved tag name"}],
            )
        with self._errors(f"tag {key!r} of {name}/{version}"):
            self.client.set_model_version_tag(name, str(version), key, value)

    def set_system_tag(self, name: str, version: int, key: str, value: str) -> None:
        if not key.startswith(SYSTEM_TAG_PREFIX) or key in GENOME_FIELDS:
            raise InvalidInput(
                f"tag {key!r} is not a platform tag (they start with {SYSTEM_TAG_PREFIX!r})",
                details=[{"field": "key", "message": "not a platform tag"}],
            )
        with self._errors(f"tag {key!r} of {name}/{version}"):
            self.client.set_model_version_tag(name, str(version), key, value[:MAX_SYSTEM_TAG_CHARS])

    # -- reads --------------------------------------------------------------------------

    def _record(self, version: Any) -> ModelRecord:
        tags = dict(version.tags or {})
        name = str(version.name)
        number = int(version.version)
        public = {key: value for key, value in tags.items() if key != SEARCH_TEXT_TAG}
        return ModelRecord(
            id=version_id(name, number),
            name=name,
            version=number,
            canonicalName=tags.get("canonicalName", name),
            application=tags.get("application"),
            pipelineName=tags.get("pipelineName"),
            pipelineRunId=tags.get("pipelineRunId"),
            pipelineStage=tags.get("pipelineStage"),
            versionName=tags.get("versionName"),
            framework=tags.get("framework"),
            inputModality=tags.get("inputModality"),
            predictionType=tags.get("predictionType"),
            aliases=sorted(getattr(version, "aliases", None) or []),
            tags=public,
            description=version.description or None,
            createdAt=datetime.fromtimestamp(int(version.creation_timestamp) / 1000, tz=UTC),
            runId=version.run_id,
            source=str(version.source),
        )

    def get_version(self, name: str, version: int) -> ModelRecord:
        if not 0 < version < 2**63:  # SQL cannot even look such a number up
            raise NotFound(f"model version {name}/{version}: not found")
        with self._errors(f"model version {name}/{version}"):
            return self._record(self.client.get_model_version(name, str(version)))

    def latest_version(self, name: str) -> ModelRecord:
        with self._errors(f"model {name}"):
            found = self.client.search_model_versions(
                f"name = {_quote(name)}", max_results=1, order_by=["version_number DESC"]
            )
        if not found:
            raise NotFound(f"model {name}: no versions found")
        return self._record(found[0])

    def version_by_alias(self, name: str, alias: str) -> ModelRecord:
        with self._errors(f"alias {alias!r} of model {name}"):
            return self._record(self.client.get_model_version_by_alias(name, alias))

    def model_exists(self, name: str) -> bool:
        from mlflow.exceptions import MlflowException

        try:
            self.client.get_registered_model(name)
        except MlflowException as error:
            if error.error_code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
                return False
            raise Unavailable(f"model {name}: model store error at {self._where()}: {_cause(error.message)}") from error
        return True

    def list_versions(self, name: str) -> list[ModelRecord]:
        records: list[ModelRecord] = []
        token: str | None = None
        with self._errors(f"versions of model {name}"):
            while True:
                page = self.client.search_model_versions(
                    f"name = {_quote(name)}",
                    max_results=1000,
                    order_by=["version_number DESC"],
                    page_token=token,
                )
                records.extend(self._record(version) for version in page)
                token = page.token
                if not token:
                    return records

    def search(self, search: ModelSearch, limit: int, page_token: str | None) -> ModelPage:
        check_page_size(limit)
        clauses = [f"tags.`{key}` = {_quote(value)}" for key, value in search.tag_filters().items()]
        if search.name:
            clauses.append(f"name = {_quote(search.name)}")
        if search.q and search.q.strip():
            clauses.append(f"tags.`{SEARCH_TEXT_TAG}` LIKE {_quote('%' + search.q.strip().lower() + '%')}")
        _check_page_token(page_token)
        try:
            with self._errors("model search"):
                page = self.client.search_model_versions(
                    " AND ".join(clauses) or None,
                    max_results=limit,
                    order_by=ORDER,
                    page_token=page_token or None,
                )
        except (ValueError, TypeError, AttributeError) as error:
            # MLflow's token parser lets some garbage escape as plain Python errors
            # (non-ASCII text, JSON that is not an object): a bad token, not a store failure.
            if not page_token:
                raise
            raise _bad_page_token() from error
        return ModelPage(items=[self._record(version) for version in page], nextPageToken=page.token)

    def model_path(self, record: ModelRecord, scratch: Path) -> Path:
        local = _local_path(record.source)
        if local is not None and local.is_dir():
            return local  # file artifact store: read in place, no copy
        if record.run_id is None:
            raise NotFound(f"model version {record.id} has no run to download from")
        with self._errors(f"downloading {record.id}"):
            return Path(self.client.download_artifacts(record.run_id, MODEL_PATH, str(scratch)))

    def read_text(self, record: ModelRecord, filename: str) -> str | None:
        local = _local_path(record.source)
        if local is not None and local.is_dir():
            path = local / filename
            return path.read_text() if path.is_file() else None
        if record.run_id is None:
            return None
        import tempfile

        from mlflow.exceptions import MlflowException

        with tempfile.TemporaryDirectory(prefix="airgenome-card-") as scratch:
            try:
                downloaded = self.client.download_artifacts(record.run_id, f"{MODEL_PATH}/{filename}", scratch)
            except (MlflowException, OSError):
                return None
            return Path(downloaded).read_text()


def _bad_page_token() -> InvalidInput:
    return InvalidInput(
        "pageToken: not a page token this model store issued; pass back nextPageToken as received",
        details=[{"field": "pageToken", "message": "not a page token this model store issued"}],
    )


def _check_page_token(token: str | None) -> None:
    """Refuse a token whose offset SQL cannot hold (MLflow's SQL store would fail on it).

    Tokens stay opaque otherwise: a remote tracking server may issue its own format.
    """
    if not token:
        return
    import base64
    import binascii
    import json

    try:
        decoded = json.loads(base64.b64decode(token, validate=True))
    except (ValueError, binascii.Error, RecursionError):
        return
    offset = decoded.get("offset") if isinstance(decoded, dict) else None
    if isinstance(offset, int | float) and not 0 <= offset < 2**62:
        raise _bad_page_token()
