"""The uploads folder: sequence files written atomically, named after their DAG id.

Files are the bytes the user sent (after validation), so the DAG loader parses exactly
what was validated. A write goes to a temp file in the same folder (``.<dag_id>.<rand>.tmp``,
which the loader's ``*.json`` glob never matches), is fsynced, then renamed into place:
a reader sees the old file or the new one, never a torn one, and a crash mid-write leaves
at most a stray temp file. Sequences shipped in the DAG bundle (``dags/sequences``) are
listed too but are read-only here: they belong to the source checkout.
"""

from __future__ import annotations

import contextlib
import os
import re
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from airgenome import settings
from airgenome.errors import Conflict, InvalidInput, NotFound

# Airflow's own dag_id alphabet; a leading dot would hide the file from the loader.
DAG_ID = re.compile(r"^[A-Za-z0-9_\-][A-Za-z0-9_.\-]{0,249}$")
SUFFIX = ".json"
TEMP_MAX_AGE_S = 3600.0

Origin = Literal["upload", "bundled"]


@dataclass(frozen=True)
class StoredSequence:
    dag_id: str
    path: Path
    origin: Origin
    modified: float  # epoch seconds of the last write

    def read_bytes(self) -> bytes:
        try:
            return self.path.read_bytes()
        except FileNotFoundError:  # deleted between listing and reading
            raise NotFound(f"sequence {self.dag_id!r} does not exist") from None


def check_dag_id(dag_id: str) -> str:
    if not DAG_ID.match(dag_id):
        raise InvalidInput(
            f"dag_id: {dag_id!r} must be 1-250 letters, digits, '_', '-' or '.'",
            details=[{"loc": "dag_id", "msg": "not a valid DAG id"}],
        )
    return dag_id


def _is_inside(path: Path, folder: Path) -> bool:
    try:
        path.relative_to(folder)
    except ValueError:
        return False
    return True


class UploadStore:
    """Write, list, read and delete uploaded sequence files."""

    def __init__(self, folder: Path | None = None, bundled: Path | None = None) -> None:
        self.folder = (folder or settings.uploads_folder()).resolve()
        self.bundled = (bundled or settings.dags_folder() / "sequences").resolve()
        dags = settings.dags_folder().resolve()
        if _is_inside(self.folder, dags) or _is_inside(self.folder, settings.REPO_ROOT / "dags"):
            # Uploads would then land in the source checkout and be parsed as bundle files.
            raise InvalidInput(
                f"uploads folder {self.folder} is inside the DAG bundle {dags}; "
                "set AIRGENOME_UPLOADS_FOLDER to a folder outside it"
            )

    # -- paths ---------------------------------------------------------------------------
    def path_for(self, dag_id: str) -> Path:
        return self.folder / f"{check_dag_id(dag_id)}{SUFFIX}"

    def _bundled_index(self) -> dict[str, Path]:
        """DAG id -> shipped file (a shipped file's name need not match its pipelineName)."""
        if not self.bundled.is_dir():
            return {}
        from airgenome.sequence.loader import scan

        loaded, broken = scan([self.bundled])
        index = {item.dag_id: item.path for item in loaded}
        for item in broken:  # not a DAG, but its name is still taken by the bundle
            index.setdefault(item.path.name[: -len(SUFFIX)], item.path)
        return index

    def _bundled_path(self, dag_id: str) -> Path | None:
        return self._bundled_index().get(dag_id)

    # -- reads ---------------------------------------------------------------------------
    def get(self, dag_id: str) -> StoredSequence:
        path = self.path_for(dag_id)
        for origin, candidate in (("upload", path), ("bundled", self._bundled_path(dag_id))):
            if candidate is None:
                continue
            try:
                stat = candidate.stat()
            except FileNotFoundError:
                continue
            return StoredSequence(dag_id, candidate, origin, stat.st_mtime)  # type: ignore[arg-type]
        raise NotFound(f"sequence {dag_id!r} does not exist")

    def list_all(self) -> list[StoredSequence]:
        found: dict[str, StoredSequence] = {}
        for dag_id, path in self._bundled_index().items():
            with contextlib.suppress(FileNotFoundError):
                found[dag_id] = StoredSequence(dag_id, path, "bundled", path.stat().st_mtime)
        if self.folder.is_dir():
            for path in self.folder.glob(f"*{SUFFIX}"):
                dag_id = path.name[: -len(SUFFIX)]
                if not DAG_ID.match(dag_id):
                    continue
                try:
                    modified = path.stat().st_mtime
                except FileNotFoundError:
                    continue
                # An upload never shadows a bundled file (writes refuse it); keep the bundled one.
                found.setdefault(dag_id, StoredSequence(dag_id, path, "upload", modified))
        return sorted(found.values(), key=lambda item: item.dag_id)

    # -- writes --------------------------------------------------------------------------
    def write(self, dag_id: str, content: bytes) -> tuple[StoredSequence, bool]:
        """Atomically create or replace ``<dag_id>.json``; returns (stored, replaced)."""
        target = self.path_for(dag_id)
        shipped = self._bundled_path(dag_id)
        if shipped is not None:
            raise Conflict(
                f"dag_id {dag_id!r} belongs to the sequence shipped as {shipped}; "
                "choose another pipelineName",
                details=[{"loc": "pipelineName", "msg": f"DAG id {dag_id!r} is already taken"}],
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        replaced = target.exists()
        # A 250-character DAG id plus the affixes would pass the file system's 255-byte name limit.
        fd, temp_name = tempfile.mkstemp(dir=self.folder, prefix=f".{dag_id[:200]}.", suffix=".tmp")
        temp = Path(temp_name)
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(content)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(temp, 0o644)
            os.replace(temp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                temp.unlink()
            raise
        self._fsync_folder()
        self._sweep_stale_temps()
        return StoredSequence(dag_id, target, "upload", target.stat().st_mtime), replaced

    def delete(self, dag_id: str) -> StoredSequence:
        stored = self.get(dag_id)
        if stored.origin == "bundled":
            raise Conflict(
                f"sequence {dag_id!r} is shipped in the DAG bundle ({stored.path}); "
                "remove it from the source checkout instead"
            )
        try:
            stored.path.unlink()
        except FileNotFoundError:
            raise NotFound(f"sequence {dag_id!r} does not exist") from None
        self._fsync_folder()
        return stored

    def _fsync_folder(self) -> None:
        # Makes the rename itself durable (the new directory entry survives a power cut).
        fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def _sweep_stale_temps(self) -> None:
        """Remove temp files left by writers that crashed long ago (never a live writer's)."""
        cutoff = time.time() - TEMP_MAX_AGE_S
        for temp in self.folder.glob(".*.tmp"):
            with contextlib.suppress(FileNotFoundError):
                if temp.stat().st_mtime < cutoff:
                    temp.unlink()
