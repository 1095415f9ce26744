"""Where step outputs live: every lake URI and asset name is built here and only here.

The lake is a root URI (``file:///…/lake`` embedded, ``s3://bucket/lake`` in production).
A run writes below ``<root>/runs/<pipeline>/<run>/<step>/<output>``; the *asset* of an
output is the run-independent ``<root>/assets/<pipeline>/<step>/<output>`` with the explicit
name ``airgenome/<pipeline>/<step>/<output>``, so Airflow's Assets view shows one node per
output and each run adds an event (extra: the run's URI, kind, size, checksum, schema).
Genome's dataRefs ``{"ref": "mllake://<path>"}`` resolve to ``<root>/<path>``.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
LAKE_SCHEME = "mllake://"


def safe_segment(text: str) -> str:
    """One path segment: characters outside ``[A-Za-z0-9._-]`` become ``_`` (no ``..``)."""
    cleaned = _UNSAFE.sub("_", text.strip()) or "_"
    return "_" + cleaned[1:] if cleaned.startswith(".") else cleaned


def normalise_root(root: str) -> str:
    """A root URI without trailing slash; a bare path becomes ``file://``; userinfo dropped."""
    text = root.strip()
    if "://" not in text:
        if not text.startswith("/"):
            raise ValueError(f"lake root {root!r} must be an absolute path or a URI like s3://bucket/lake")
        text = "file://" + text
    parts = urlsplit(text)
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        # file://tmp/x silently means host "tmp": refuse it rather than write elsewhere.
        raise ValueError(f"lake root {root!r}: a file URI needs three slashes (file:///path)")
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    # A connection id or credentials in userinfo must never reach an asset URI or a log.
    return urlunsplit((parts.scheme, host, parts.path.rstrip("/"), "", ""))


def run_output_uri(root: str, pipeline: str, run_id: str, step: str) -> str:
    """The run-scoped folder of one step's outputs."""
    return "/".join(
        (normalise_root(root), "runs", safe_segment(pipeline), safe_segment(run_id), safe_segment(step))
    )


def asset_uri(root: str, pipeline: str, step: str, output: str) -> str:
    return "/".join(
        (normalise_root(root), "assets", safe_segment(pipeline), safe_segment(step), safe_segment(output))
    )


def asset_name(pipeline: str, step: str, output: str) -> str:
    return f"airgenome/{safe_segment(pipeline)}/{safe_segment(step)}/{safe_segment(output)}"


def resolve_ref(root: str, ref: str) -> str:
    """``mllake://<path>`` -> ``<root>/<path>``; other URIs are returned as they are."""
    if not ref.startswith(LAKE_SCHEME):
        return ref
    path = ref[len(LAKE_SCHEME):].strip("/")
    segments = [s for s in path.split("/") if s]
    if any(s in (".", "..") for s in segments):
        raise ValueError(f"{ref!r}: '.' and '..' are not allowed in a lake reference")
    return "/".join((normalise_root(root), *segments))


def local_path(uri: str) -> str | None:
    """The file-system path of a ``file://`` URI (or a bare absolute path), else None."""
    if uri.startswith("/"):
        return uri
    parts = urlsplit(uri)
    if parts.scheme == "file":
        return parts.path
    return None
