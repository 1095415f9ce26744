"""Serving files out of the lake (evaluation pictures, HTML reports), and nothing else.

The plugin never serves a URI a client names: routes look a stored URI up (an evaluation
record, a report found for a model version) and read it only when it lies under the
configured lake root (`airgenome.settings.lake_root`). ``.``/``..`` segments, other schemes or
hosts, symlinks leading out of a ``file://`` lake and oversized files are refused.
"""

from __future__ import annotations

import os
import posixpath
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from airgenome.errors import AirgenomeError, NotFound

MAX_PICTURE_BYTES = 20 * 1024 * 1024
MAX_REPORT_BYTES = 50 * 1024 * 1024
# Raster images only by default; SVG can carry scripts, so it is served with a sandboxing CSP.
PICTURE_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp", "image/svg+xml"})
# Pictures and reports never run scripts or load anything from elsewhere.
PICTURE_CSP = "default-src 'none'; style-src 'unsafe-inline'; sandbox"
REPORT_CSP = (
    "default-src 'none'; img-src data:; style-src 'unsafe-inline'; font-src data:; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'self'; sandbox"
)


class Forbidden(AirgenomeError):
    """A stored URI outside the lake: never read, 403."""

    status_code = 403


@dataclass(frozen=True)
class LakeFile:
    uri: str
    fs: Any
    path: str


def _root() -> str:
    from airgenome.components.lake import normalise_root
    from airgenome.settings import lake_root

    return normalise_root(lake_root())


def check_lake_uri(uri: str, what: str = "file") -> LakeFile:
    """The file behind ``uri`` when it lies under the lake root; `Forbidden` otherwise."""
    from airgenome.components.lake import normalise_root

    if not isinstance(uri, str) or not uri or "\x00" in uri or "\\" in uri:
        raise Forbidden(f"{what}: not a lake URI")
    root = _root()
    try:
        normalised = normalise_root(uri)
    except ValueError as error:
        raise Forbidden(f"{what}: {error}") from None
    path = urlsplit(normalised).path
    segments = unquote(path).split("/")
    if any(segment in (".", "..") for segment in segments) or unquote(path) != path:
        raise Forbidden(f"{what}: '.', '..' and escaped characters are not allowed in a lake path")
    if not normalised.startswith(root + "/"):
        raise Forbidden(f"{what}: {_shown(normalised)} is outside the lake")
    if normalised.startswith("file://"):
        local = urlsplit(normalised).path
        real_root = os.path.realpath(urlsplit(root).path)
        real = os.path.realpath(local)
        if os.path.commonpath([real_root, real]) != real_root or real == real_root:
            raise Forbidden(f"{what}: {_shown(normalised)} leads outside the lake")
        from fsspec.implementations.local import LocalFileSystem

        return LakeFile(normalised, LocalFileSystem(), real)
    import fsspec

    fs, fs_path = fsspec.core.url_to_fs(normalised)
    return LakeFile(normalised, fs, posixpath.normpath(fs_path))


def _shown(uri: str) -> str:
    return uri if len(uri) <= 300 else uri[:299] + "…"


def read_lake_file(uri: str, *, max_bytes: int, what: str = "file") -> bytes:
    """The bytes of a lake file (checked as above); 404 when missing, 413 when too large."""
    found = check_lake_uri(uri, what)
    try:
        info = found.fs.info(found.path)
    except (FileNotFoundError, OSError):
        raise NotFound(f"{what}: {_shown(found.uri)} is not in the lake (any more)") from None
    if info.get("type") != "file":
        raise NotFound(f"{what}: {_shown(found.uri)} is not a file")
    size = int(info.get("size") or 0)
    if size > max_bytes:
        raise TooLarge(f"{what}: {size} bytes; the plugin serves at most {max_bytes}")
    with found.fs.open(found.path, "rb") as handle:
        data: bytes = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"{what}: more than {max_bytes} bytes")
    return data


class TooLarge(AirgenomeError):
    status_code = 413


def list_lake_files(folder_uri: str, suffix: str, *, limit: int = 200) -> list[str]:
    """URIs of files ending with ``suffix`` anywhere below a lake folder (sorted)."""
    try:
        found = check_lake_uri(folder_uri, "folder")
    except Forbidden:
        return []
    try:
        paths = found.fs.find(found.path)
    except (FileNotFoundError, OSError):
        return []
    prefix = found.uri
    base = found.path.rstrip("/")
    uris = []
    for path in sorted(paths):
        if not path.endswith(suffix):
            continue
        relative = path[len(base):].lstrip("/")
        if any(segment.startswith(".") for segment in relative.split("/")):
            continue  # temporary files of atomic writes
        uris.append(f"{prefix}/{relative}")
        if len(uris) >= limit:
            break
    return uris
