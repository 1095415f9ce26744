"""Sequence files -> plans, with every broken file reported and none hiding another.

Pure: reading, validating and planning only (no Airflow); `airgenome.build.loader` turns
the plans into DAGs.

Two tiny DAG files call this module (see README, "Loader: one broken file never hides another"):

- ``dags/sequences_loader.py`` -> `airgenome.build.loader.publish_dags`: one DAG per valid ``*.json`` in the bundle's
  ``sequences/`` folder and in the uploads folder. It never raises for a bad file, so one
  broken sequence cannot take the others down with it.
- ``dags/sequences_errors.py`` -> `raise_broken_sequences`: raises one error naming every
  broken file and each of its field paths, which Airflow records as that file's import error
  (the UI's "DAG import errors"). When every sequence is valid it defines nothing.

Parsing reads the files and nothing else: no network, no database, no heavy imports.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from airgenome import settings
from airgenome.components import registry
from airgenome.errors import AirgenomeError, InvalidInput
from airgenome.sequence.plan import Plan, dag_id_of_name, plan_sequence
from airgenome.sequence.validate import parse_sequence

SHIPPED_FOLDER_NAME = "sequences"


@dataclass(frozen=True)
class LoadedSequence:
    path: Path
    plan: Plan

    @property
    def dag_id(self) -> str:
        return self.plan.dag_id


@dataclass(frozen=True)
class BrokenSequence:
    path: Path
    message: str
    errors: list[dict[str, Any]]
    status_code: int

    def to_dict(self) -> dict[str, Any]:
        return {"path": str(self.path), "detail": self.message, "errors": self.errors}


class SequenceFilesInvalid(InvalidInput):
    """Raised by the errors DAG file: one entry per broken sequence file."""


def sequence_folders(loader_file: str | os.PathLike[str] | None = None) -> list[Path]:
    """The shipped folder (beside the loader file, else the configured DAG folder) and uploads."""
    base = Path(loader_file).resolve().parent if loader_file else settings.dags_folder()
    return [base / SHIPPED_FOLDER_NAME, settings.uploads_folder()]


def sequence_files(folders: list[Path]) -> list[Path]:
    """``*.json`` files, folder by folder, sorted by name; hidden (temp) files are skipped."""
    files: list[Path] = []
    for folder in folders:
        if folder.is_dir():
            files.extend(
                sorted(p for p in folder.glob("*.json") if p.is_file() and not p.name.startswith("."))
            )
    return files


def _modified(path: Path) -> datetime:
    # Whole seconds: the fallback "created at" of files without createdAt (stable until edited).
    return datetime.fromtimestamp(int(path.stat().st_mtime), tz=UTC)


# Per-process cache: (path, mtime_ns, size, mode, registry generation) -> plan or error. Files
# are replaced atomically by uploads, so a changed file always has a new mtime or size; a
# component installed or described since gives the registry a new generation. A task process
# inherits the scheduler's (`airgenome.build.loader.warm_up`).
_CACHE: dict[tuple[str, int, int, str, int], Plan | BrokenSequence] = {}
_CACHE_LIMIT = 4096


def _load_one(path: Path, mode: str) -> Plan | BrokenSequence:
    try:
        stat = path.stat()
    except OSError as error:
        return BrokenSequence(path, f"{path}: cannot read ({error.strerror})", [], 422)
    key = (str(path), stat.st_mtime_ns, stat.st_size, mode, registry.REGISTRY.generation)
    cached = _CACHE.get(key)
    if cached is not None:
        return cached
    result: Plan | BrokenSequence
    try:
        seq = parse_sequence(path.read_bytes(), mode=mode)
        result = plan_sequence(seq, created_at_fallback=_modified(path))
    except AirgenomeError as error:
        result = BrokenSequence(path, error.message, list(error.details), error.status_code)
    except OSError as error:
        result = BrokenSequence(path, f"cannot read ({error.strerror})", [], 422)
    if len(_CACHE) >= _CACHE_LIMIT:
        _CACHE.clear()
    _CACHE[key] = result
    return result


def _may_define(path: Path, dag_id: str) -> bool:
    """False only when the file plainly names another pipeline: it cannot own ``dag_id``.

    A file that is not a JSON object with a string pipelineName is validated in full.
    """
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return True
    name = data.get("pipelineName") if isinstance(data, dict) else None
    return not isinstance(name, str) or dag_id_of_name(name) == dag_id


def scan(
    folders: list[Path], *, mode: str | None = None, only: str | None = None
) -> tuple[list[LoadedSequence], list[BrokenSequence]]:
    """Validate and plan every sequence file; a DAG id used twice breaks the later file.

    ``only`` (a task's process, which needs one DAG): files that plainly name another pipeline
    are not validated, which cannot change who owns ``only`` (the first valid file naming it).
    """
    from airgenome.sequence.config import execution_mode

    try:
        chosen = mode or execution_mode()
    except InvalidInput as error:  # a bad platform setting breaks every file, visibly
        return [], [BrokenSequence(p, error.message, [], 422) for p in sequence_files(folders)]
    with registry.REGISTRY.pinned():
        return _scan(folders, chosen, only)


def _scan(folders: list[Path], chosen: str, only: str | None) -> tuple[list[LoadedSequence], list[BrokenSequence]]:
    loaded: list[LoadedSequence] = []
    broken: list[BrokenSequence] = []
    owners: dict[str, Path] = {}
    for path in sequence_files(folders):
        if only is not None and not _may_define(path, only):
            continue
        result = _load_one(path, chosen)
        if isinstance(result, BrokenSequence):
            broken.append(result)
            continue
        if result.dag_id in owners:
            message = f"DAG id {result.dag_id!r} is already defined by {owners[result.dag_id]}"
            broken.append(
                BrokenSequence(
                    path,
                    f"invalid sequence (1 error):\n  pipelineName: {message}",
                    [{"loc": "pipelineName", "msg": message}],
                    409,
                )
            )
            continue
        owners[result.dag_id] = path
        loaded.append(LoadedSequence(path, result))
    return loaded, broken


def load_errors(folders: list[Path] | None = None) -> list[BrokenSequence]:
    """Every broken sequence file with its field errors (for the upload API and pages)."""
    return scan(folders or sequence_folders())[1]


def error_for(path: Path, folders: list[Path] | None = None) -> BrokenSequence | None:
    """The error of one sequence file, or None when it loads."""
    target = path.resolve()
    return next((b for b in load_errors(folders) if b.path.resolve() == target), None)


def describe(broken: list[BrokenSequence]) -> str:
    blocks = [f"{b.path}:\n{b.message}" for b in broken]
    count = len(broken)
    return (
        f"{count} sequence file{'s' if count != 1 else ''} could not become DAGs "
        "(every other sequence loaded):\n\n" + "\n\n".join(blocks)
    )


def raise_broken_sequences(loader_file: str, folders: list[Path] | None = None) -> None:
    """Raise `SequenceFilesInvalid` naming every broken file and field path; else return."""
    broken = load_errors(folders or sequence_folders(loader_file))
    if broken:
        raise SequenceFilesInvalid(
            describe(broken),
            details=[{"path": str(b.path), "errors": b.errors, "detail": b.message} for b in broken],
        )
