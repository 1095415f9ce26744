"""Input components: a file or folder from a URL (``input.url``) and a CLAIMED-style image
repository (``input.repository``: ``metadata.csv`` plus ``images/``), into the lake.

- Sources: ``file:///path`` or ``/path`` (the worker's file system), ``http(s)://`` (streamed
  with httpx: ``max_bytes`` enforced on the Content-Length and again while reading, sha256
  recorded), ``mllake://<path>`` and URIs on the lake's own object store (same scheme as the
  lake root; other object stores are refused).
- ``expect`` checks what arrives: ``csv`` refuses an HTML page (a login or error page served
  with status 200 is the usual way a "CSV download" goes wrong) and binary data, ``parquet``
  needs Parquet's magic bytes at both ends, ``images`` needs an image content type and image
  magic bytes.
- Folders: symlinks that point out of the folder are refused, file count and total size are
  checked before anything is copied.
- Nothing half-written: a file is streamed to a temporary name next to its output and moved into
  place; a folder is built under a temporary name and renamed (`images.StagedFolder`).
"""

from __future__ import annotations

import hashlib
import io
import os
import stat
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlsplit

from airgenome.components.context import ComponentContext, ComponentFailed, Result
from airgenome.components.data.file_specs import RepositoryParameters, UrlInputParameters
from airgenome.components.data.images import (
    HEADER_BYTES,
    StagedFolder,
    _Problems,
    image_format,
    relative_image_path,
    safe_name,
)
from airgenome.components.files import filesystem, write_table
from airgenome.components.lake import LAKE_SCHEME, local_path, normalise_root, resolve_ref

CHUNK = 1 << 20
SNIFF_BYTES = 4096
CSV_TYPES = (
    "text/csv",
    "application/csv",
    "text/plain",
    "text/x-csv",
    "application/vnd.ms-excel",
    "application/octet-stream",
    "binary/octet-stream",
)
PARQUET_TYPES = ("application/octet-stream", "binary/octet-stream", "application/vnd.apache.parquet", "application/x-parquet")


def _size(value: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024  # type: ignore[assignment]
    return str(value)


# --------------------------------------------------------------------------- content checks


def looks_like_html(head: bytes) -> bool:
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    return text.startswith((b"<!doctype html", b"<html", b"<head", b"<body", b"<?xml")) or b"<html" in text[:1024]


def check_content(expect: str, head: bytes, tail: bytes | None, content_type: str | None, label: str) -> None:
    """Refuse content that is not what ``expect`` says (an HTML page instead of a CSV, ...).

    ``tail`` (the last bytes) is None while the body is still arriving."""
    if expect == "any":
        return
    media = (content_type or "").split(";")[0].strip().lower()
    if media == "text/html" or looks_like_html(head):
        raise ComponentFailed(
            f"{label}: the source is an HTML page (content type {media or 'unknown'}), not a {expect} file "
            "— a login, error or landing page is often served instead of the data; check the URL"
        )
    if expect == "csv":
        if media and media not in CSV_TYPES:
            raise ComponentFailed(f"{label}: content type {media!r} is not a CSV ({', '.join(CSV_TYPES[:3])}, ...)")
        if b"\x00" in head:
            raise ComponentFailed(f"{label}: binary data, not a CSV file")
    elif expect == "parquet":
        if media and media not in PARQUET_TYPES:
            raise ComponentFailed(f"{label}: content type {media!r} is not Parquet")
        if head[:4] != b"PAR1" or (tail is not None and tail[-4:] != b"PAR1"):
            raise ComponentFailed(f"{label}: not a Parquet file (no PAR1 magic bytes)")
    elif expect == "images":
        if media and not (media.startswith("image/") or media in ("application/octet-stream", "application/dicom")):
            raise ComponentFailed(f"{label}: content type {media!r} is not an image")
        if image_format(head[:HEADER_BYTES]) is None:
            raise ComponentFailed(f"{label}: not an image (unknown magic bytes)")


# --------------------------------------------------------------------------- streaming into the lake


class LakeFile:
    """Stream bytes to a temporary name beside ``uri`` (size-limited, hashed), then move into place."""

    def __init__(self, uri: str, max_bytes: int, label: str) -> None:
        self.uri = uri
        self.fs, self.path = filesystem(uri)
        parent = self.path.rpartition("/")[0]
        self.fs.makedirs(parent, exist_ok=True)
        self.temporary = f"{parent}/.{uuid.uuid4().hex}.tmp"
        self.handle = self.fs.open(self.temporary, "wb")
        self.digest = hashlib.sha256()
        self.size = 0
        self.head = b""
        self.tail = b""
        self.max_bytes = max_bytes
        self.label = label

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.max_bytes:
            raise ComponentFailed(f"{self.label}: larger than parameters.max_bytes ({_size(self.max_bytes)})")
        if len(self.head) < SNIFF_BYTES:
            self.head += chunk[: SNIFF_BYTES - len(self.head)]
        self.tail = (self.tail + chunk)[-8:]
        self.digest.update(chunk)
        self.handle.write(chunk)

    def commit(self) -> dict[str, Any]:
        self.handle.close()
        self.fs.mv(self.temporary, self.path)
        return {"bytes": self.size, "sha256": self.digest.hexdigest()}

    def discard(self) -> None:
        try:
            self.handle.close()
        finally:
            try:
                self.fs.rm(self.temporary)
            except FileNotFoundError:
                pass
            folder = local_path(self.uri.rpartition("/")[0])
            if folder is not None:  # a local output folder made for this file: not left behind empty
                try:
                    os.rmdir(folder)
                except OSError:
                    pass


def _http_client(timeout: float) -> Any:
    import httpx

    return httpx.Client(
        timeout=httpx.Timeout(timeout),
        follow_redirects=True,
        max_redirects=5,
        headers={"User-Agent": "airgenome-input/0.1"},
    )


@dataclass
class _Source:
    kind: str  # local | http | lake
    uri: str
    local: str | None = None


def resolve_source(url: str, lake_root: str) -> _Source:
    """Where a URL points; object stores other than the lake's are refused."""
    text = url.strip()
    if text.startswith(LAKE_SCHEME):
        try:
            text = resolve_ref(lake_root, text)
        except ValueError as error:
            raise ComponentFailed(f"parameters.url: {error}") from None
    if text.startswith("/"):
        text = "file://" + text
    scheme = urlsplit(text).scheme.lower()
    if scheme in ("http", "https"):
        return _Source("http", text)
    if scheme == "file":
        return _Source("local", text, local_path(text))
    lake_scheme = urlsplit(normalise_root(lake_root)).scheme
    if scheme != lake_scheme:
        raise ComponentFailed(
            f"parameters.url: {scheme}:// is not the lake's object store ({lake_scheme}://); "
            "only file://, http(s)://, mllake:// and the lake's own store are read"
        )
    local = local_path(text)
    return _Source("local" if local else "lake", text, local)


def _name_from(uri: str) -> str:
    name = urlsplit(uri).path.rstrip("/").rpartition("/")[2]
    return safe_name(name) if name else "download"


# --------------------------------------------------------------------------- input.url


def url_input(ctx: ComponentContext, params: UrlInputParameters) -> Result:
    started = time.perf_counter()
    source = resolve_source(params.url, ctx.lake_root)
    label = f"parameters.url ({params.url})"
    if source.kind == "http":
        return _finish(ctx, params, *_download_http(ctx, params, source.uri, label), started)
    if source.kind == "local":
        assert source.local is not None
        try:
            info = os.stat(source.local)  # the named path itself may be a link; what it holds may not
        except FileNotFoundError:
            raise ComponentFailed(f"{label}: no such file or folder") from None
        if stat.S_ISDIR(info.st_mode):
            return _copy_local_folder(ctx, params, source.local, label, started)
        if not stat.S_ISREG(info.st_mode):
            raise ComponentFailed(f"{label}: not a regular file or folder")
        if info.st_size > params.max_bytes:
            raise ComponentFailed(f"{label}: {_size(info.st_size)}, larger than parameters.max_bytes ({_size(params.max_bytes)})")
        with open(source.local, "rb") as reader:
            return _finish(ctx, params, *_stream(ctx, params, _chunks(reader), _name_from(source.uri), None, label), started)
    fs, path = filesystem(source.uri)
    if not fs.exists(path):
        raise ComponentFailed(f"{label}: no such object or prefix")
    if fs.isdir(path):
        return _copy_lake_folder(ctx, params, fs, path, label, started)
    size = int(fs.info(path).get("size") or 0)
    if size > params.max_bytes:
        raise ComponentFailed(f"{label}: {_size(size)}, larger than parameters.max_bytes ({_size(params.max_bytes)})")
    with fs.open(path, "rb") as reader:
        return _finish(ctx, params, *_stream(ctx, params, _chunks(reader), _name_from(source.uri), None, label), started)


def _chunks(reader: Any) -> Iterator[bytes]:
    while True:
        block = reader.read(CHUNK)
        if not block:
            return
        yield block


def _download_http(ctx: ComponentContext, params: UrlInputParameters, url: str, label: str) -> tuple[LakeFile, str | None]:
    import httpx

    try:
        with _http_client(params.timeout_s) as client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ComponentFailed(f"{label}: HTTP {response.status_code} {response.reason_phrase}")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > params.max_bytes:
                raise ComponentFailed(
                    f"{label}: {_size(int(declared))} (Content-Length), larger than parameters.max_bytes "
                    f"({_size(params.max_bytes)})"
                )
            content_type = response.headers.get("content-type")
            if params.expect != "any" and (content_type or "").split(";")[0].strip().lower() == "text/html":
                check_content(params.expect, b"", b"", content_type, label)
            return _stream(ctx, params, response.iter_bytes(CHUNK), _name_from(str(response.url)), content_type, label)
    except httpx.HTTPError as error:
        raise ComponentFailed(f"{label}: {type(error).__name__}: {error}") from None


def _stream(
    ctx: ComponentContext,
    params: UrlInputParameters,
    chunks: Iterator[bytes],
    name: str,
    content_type: str | None,
    label: str,
) -> tuple[LakeFile, str | None]:
    """Into a temporary lake file; checked (size, content, checksum) before it is kept."""
    # a table's source is kept beside the outputs only until it is parsed
    target = f"{ctx.output_uri}/.source-{name}" if params.as_table else ctx.output("file", name)
    sink = LakeFile(target, params.max_bytes, label)
    try:
        checked = False
        for chunk in chunks:
            sink.write(chunk)
            if not checked and len(sink.head) >= SNIFF_BYTES:
                # fail early on an HTML page, before the rest is downloaded
                check_content(params.expect, sink.head, None, content_type, label)
                checked = True
        check_content(params.expect, sink.head, sink.tail, content_type, label)
        if params.sha256 and sink.digest.hexdigest() != params.sha256.lower():
            raise ComponentFailed(f"parameters.sha256: the content's sha256 is {sink.digest.hexdigest()}")
        if sink.size == 0 and params.expect != "any":
            raise ComponentFailed(f"{label}: the source is empty")
    except BaseException:
        sink.discard()
        raise
    return sink, content_type


def _finish(ctx: ComponentContext, params: UrlInputParameters, sink: LakeFile, content_type: str | None, started: float) -> Result:
    source_facts = {"source": params.url, "content_type": content_type}
    if not params.as_table:
        facts = sink.commit()
        result = Result(metrics={"bytes": facts["bytes"], "seconds": round(time.perf_counter() - started, 3)})
        result.add_output("file", sink.uri, "file", **facts, **source_facts)
        print(f'{{"file": "{sink.uri}", "bytes": {facts["bytes"]}, "sha256": "{facts["sha256"]}"}}')
        return result
    try:
        sink.handle.close()
        with sink.fs.open(sink.temporary, "rb") as handle:
            data = handle.read()
        frame = parse_table(data, params.expect, f"parameters.url ({params.url})")
        uri, facts = write_table(ctx.output("table"), frame)
    finally:
        sink.discard()
    result = Result(metrics={"rows": facts["rows"], "bytes": sink.size, "seconds": round(time.perf_counter() - started, 3)})
    result.add_output("table", uri, "table", **facts, source_sha256=sink.digest.hexdigest(), source_bytes=sink.size, **source_facts)
    print(f'{{"table": "{uri}", "rows": {facts["rows"]}, "source_sha256": "{sink.digest.hexdigest()}"}}')
    return result


def parse_table(data: bytes, kind: str, label: str) -> Any:
    """A CSV or Parquet body as a DataFrame, with the parser's reason on a malformed one."""
    import pandas as pd

    try:
        if kind == "parquet":
            frame = pd.read_parquet(io.BytesIO(data))
        else:
            frame = pd.read_csv(io.BytesIO(data), on_bad_lines="error")
    except pd.errors.EmptyDataError:
        raise ComponentFailed(f"{label}: the {kind} has no columns (empty)") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError, OSError) as error:
        raise ComponentFailed(f"{label}: malformed {kind}: {str(error).strip()}") from None
    if frame.empty:
        raise ComponentFailed(f"{label}: the {kind} has a header but no rows")
    return frame


@dataclass
class _Listing:
    files: list[tuple[str, str, int]] = field(default_factory=list)  # (source path, relative, size)
    bytes: int = 0


def _list_local_folder(root: str, max_files: int, max_bytes: int, label: str) -> _Listing:
    """Every file below ``root``; symlinks inside the folder are followed, out of it refused."""
    real_root = os.path.realpath(root)
    listing = _Listing()
    for directory, folders, names in os.walk(root, followlinks=False):
        for name in sorted(folders):  # a linked folder: allowed only when it stays inside
            path = os.path.join(directory, name)
            if os.path.islink(path):
                target = os.path.realpath(path)
                if not (target + "/").startswith(real_root + "/"):
                    rel = os.path.relpath(path, root)
                    raise ComponentFailed(f"{label}: {rel!r} is a symlink out of the input folder (to {target})")
                folders.remove(name)  # inside: its files are listed where they really are
        for name in sorted(names):
            path = os.path.join(directory, name)
            rel = os.path.relpath(path, root)
            info = os.lstat(path)
            if stat.S_ISLNK(info.st_mode):
                target = os.path.realpath(path)
                if not target.startswith(real_root + "/"):
                    raise ComponentFailed(f"{label}: {rel!r} is a symlink out of the input folder (to {target})")
                info = os.stat(path)
                path = target
            if not stat.S_ISREG(info.st_mode):
                continue
            listing.files.append((path, rel, info.st_size))
            listing.bytes += info.st_size
            if len(listing.files) > max_files:
                raise ComponentFailed(f"{label}: more than parameters.max_files ({max_files}) files")
            if listing.bytes > max_bytes:
                raise ComponentFailed(f"{label}: more than parameters.max_bytes ({_size(max_bytes)}) in all")
    return listing


def _check_folder_files(params: UrlInputParameters, heads: Iterator[tuple[str, bytes]], label: str) -> None:
    if params.expect == "any":
        return
    if params.expect != "images":
        raise ComponentFailed(f"{label}: a folder, but expect is {params.expect!r} (a single file)")
    bad = [rel for rel, head in heads if image_format(head) is None]
    if bad:
        raise ComponentFailed(f"{label}: {len(bad)} file(s) are not images (e.g. {', '.join(bad[:5])})")


def _copy_local_folder(ctx: ComponentContext, params: UrlInputParameters, root: str, label: str, started: float) -> Result:
    import shutil

    listing = _list_local_folder(root, params.max_files, params.max_bytes, label)

    def heads() -> Iterator[tuple[str, bytes]]:
        for path, rel, _ in listing.files:
            with open(path, "rb") as handle:
                yield rel, handle.read(HEADER_BYTES)

    _check_folder_files(params, heads(), label)
    with StagedFolder(ctx.output(_folder_output(params))) as stage:
        made: set[str] = set()
        for path, rel, _ in listing.files:
            parent = rel.rpartition("/")[0]
            if stage.local is not None:
                if parent and parent not in made:
                    os.makedirs(f"{stage.local}/{parent}", exist_ok=True)
                    made.add(parent)
                shutil.copyfile(path, f"{stage.local}/{rel}")  # a copy: the source may change later
            else:
                stage.fs.put_file(path, f"{stage.path}/{rel}")
    return _folder_result(ctx, params, listing, started)


def _copy_lake_folder(ctx: ComponentContext, params: UrlInputParameters, fs: Any, path: str, label: str, started: float) -> Result:
    found = fs.find(path, detail=True)
    listing = _Listing()
    for key, info in sorted(found.items()):
        if info.get("type") != "file":
            continue
        rel = key[len(path.rstrip("/")) + 1 :]
        size = int(info.get("size") or 0)
        listing.files.append((key, rel, size))
        listing.bytes += size
        if len(listing.files) > params.max_files:
            raise ComponentFailed(f"{label}: more than parameters.max_files ({params.max_files}) files")
        if listing.bytes > params.max_bytes:
            raise ComponentFailed(f"{label}: more than parameters.max_bytes ({_size(params.max_bytes)}) in all")

    def heads() -> Iterator[tuple[str, bytes]]:
        for key, rel, _ in listing.files:
            with fs.open(key, "rb") as handle:
                yield rel, handle.read(HEADER_BYTES)

    _check_folder_files(params, heads(), label)
    with StagedFolder(ctx.output(_folder_output(params))) as stage:
        for key, rel, _ in listing.files:
            stage.fs.copy(key, f"{stage.path}/{rel}")  # one store: a server-side copy
    return _folder_result(ctx, params, listing, started)


def _folder_output(params: UrlInputParameters) -> str:
    """A folder of images is an ``images`` output (what image components take), else ``folder``."""
    return "images" if params.expect == "images" else "folder"


def _folder_result(ctx: ComponentContext, params: UrlInputParameters, listing: _Listing, started: float) -> Result:
    digest = hashlib.sha256()  # a checksum of the listing (names and sizes), not of every byte
    for _path, rel, size in listing.files:
        digest.update(f"{rel}\0{size}\n".encode())
    name = _folder_output(params)
    uri = ctx.output(name)
    result = Result(
        metrics={"files": len(listing.files), "bytes": listing.bytes, "seconds": round(time.perf_counter() - started, 3)}
    )
    result.add_output(
        name, uri, name, files=len(listing.files), bytes=listing.bytes, listing_sha256=digest.hexdigest(), source=params.url
    )
    print(f'{{"{name}": "{uri}", "files": {len(listing.files)}, "bytes": {listing.bytes}}}')
    return result


# --------------------------------------------------------------------------- input.repository


def repository_input(ctx: ComponentContext, params: RepositoryParameters) -> Result:
    started = time.perf_counter()
    base = params.source.strip().rstrip("/")
    if base.startswith("/"):
        base = "file://" + base
    scheme = urlsplit(base).scheme.lower()
    remote = scheme in ("http", "https")
    label = params.metadata_file
    if remote:
        data, _type = _fetch_http(f"{base}/{quote(params.metadata_file)}", params.max_bytes, params.timeout_s, label, "csv")
        root_local = None
    else:
        root_local = (local_path(base) or "").rstrip("/") or "/"
        if not os.path.isdir(root_local):
            raise ComponentFailed(f"parameters.source: {params.source} is not a folder")
        data = _read_local(root_local, params.metadata_file, params.max_bytes, label)
    check_content("csv", data[:SNIFF_BYTES], data[-8:], None, label)
    frame = parse_table(data, "csv", label)
    needed = [params.image_column, *params.required_columns]
    missing_columns = [c for c in dict.fromkeys(needed) if c not in frame.columns]
    if missing_columns:
        field_name = "image_column" if params.image_column in missing_columns else "required_columns"
        raise ComponentFailed(
            f"parameters.{field_name}: {label} has no column(s) {', '.join(map(repr, missing_columns))} "
            f"(columns: {', '.join(map(str, frame.columns))})"
        )
    if len(frame) > params.max_rows:
        raise ComponentFailed(f"{label}: {len(frame)} rows, more than parameters.max_rows ({params.max_rows})")

    problems = _Problems()
    wanted: dict[str, int] = {}  # relative path -> first row naming it
    for position, value in enumerate(frame[params.image_column].tolist()):
        row = position + 1
        if value is None or value != value or not str(value).strip():
            problems.add("without an image name", f"row {row}")
            continue
        relative = relative_image_path(str(value))
        if relative is None:
            raise ComponentFailed(
                f"{label} row {row} (CSV line {row + 1}): image path {str(value)!r} leaves the images folder "
                "(absolute paths, '..' and backslashes are refused)"
            )
        wanted.setdefault(relative, row)
    if len(wanted) > params.max_files:
        raise ComponentFailed(f"{label}: {len(wanted)} images listed, more than parameters.max_files ({params.max_files})")

    images_uri = ctx.output("images")
    with StagedFolder(images_uri) as stage:
        if remote:
            copied, total = _pull_http(stage, f"{base}/{quote(params.images_folder)}", wanted, params, problems)
        else:
            assert root_local is not None
            copied, total = _pull_local(stage, f"{root_local}/{params.images_folder}", wanted, params, problems)
        listed = len(wanted) + problems.counts.get("without an image name", 0)
        fraction = problems.total / max(listed, 1)
        if problems.total:
            print(f"input.repository: {problems.total} of {listed} listed images not pulled: {problems.describe()}")
        if fraction > params.max_missing_fraction:
            raise ComponentFailed(
                f"{problems.total} of {listed} listed images ({fraction:.1%}) are missing or unusable, more than "
                f"parameters.max_missing_fraction ({params.max_missing_fraction:.1%}): {problems.describe()}"
            )
        table_uri, table_facts = write_table(ctx.output("table"), frame)
    result = Result(
        metrics={
            "rows": int(len(frame)),
            "images": copied,
            "bytes": total,
            "left_out": problems.total,
            "seconds": round(time.perf_counter() - started, 3),
        }
    )
    result.add_output(
        "table",
        table_uri,
        "table",
        **table_facts,
        source=f"{params.source.rstrip('/')}/{params.metadata_file}",
        source_sha256=hashlib.sha256(data).hexdigest(),
    )
    result.add_output("images", images_uri, "images", files=copied, bytes=total, problems=problems.to_dict())
    print(f'{{"table": "{table_uri}", "images": "{images_uri}", "rows": {len(frame)}, "files": {copied}}}')
    return result


def _read_local(root: str, relative: str, max_bytes: int, label: str) -> bytes:
    path = f"{root}/{relative}"
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    if not real.startswith(real_root + "/"):
        raise ComponentFailed(f"{label}: a symlink out of the repository folder (to {real})")
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        raise ComponentFailed(f"{label}: not found in {root}") from None
    if size > max_bytes:
        raise ComponentFailed(f"{label}: {_size(size)}, larger than parameters.max_bytes ({_size(max_bytes)})")
    with open(path, "rb") as handle:
        return handle.read()


def _fetch_http(url: str, max_bytes: int, timeout: float, label: str, expect: str) -> tuple[bytes, str | None]:
    import httpx

    try:
        with _http_client(timeout) as client, client.stream("GET", url) as response:
            if response.status_code != 200:
                raise ComponentFailed(f"{label} ({url}): HTTP {response.status_code} {response.reason_phrase}")
            content_type = response.headers.get("content-type")
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ComponentFailed(f"{label}: {_size(int(declared))}, larger than parameters.max_bytes ({_size(max_bytes)})")
            buffer = bytearray()
            for chunk in response.iter_bytes(CHUNK):
                buffer += chunk
                if len(buffer) > max_bytes:
                    raise ComponentFailed(f"{label}: larger than parameters.max_bytes ({_size(max_bytes)})")
            check_content(expect, bytes(buffer[:SNIFF_BYTES]), bytes(buffer[-8:]), content_type, label)
            return bytes(buffer), content_type
    except httpx.HTTPError as error:
        raise ComponentFailed(f"{label} ({url}): {type(error).__name__}: {error}") from None


def _pull_local(
    stage: StagedFolder, images_root: str, wanted: dict[str, int], params: RepositoryParameters, problems: _Problems
) -> tuple[int, int]:
    import shutil

    if not os.path.isdir(images_root):
        raise ComponentFailed(f"parameters.images_folder: {params.images_folder!r} is not a folder in {params.source}")
    real_root = os.path.realpath(images_root)
    plan: list[tuple[str, str]] = []
    total = 0
    for relative, row in wanted.items():
        path = f"{images_root}/{relative}"
        real = os.path.realpath(path)
        if not real.startswith(real_root + "/"):
            raise ComponentFailed(f"{params.metadata_file} row {row}: {relative!r} is a symlink out of the images folder")
        try:
            info = os.stat(path)
        except FileNotFoundError:
            problems.add("missing", f"row {row}: {relative}")
            continue
        except OSError:
            problems.add("unreadable", f"row {row}: {relative}")
            continue
        if not stat.S_ISREG(info.st_mode):
            problems.add("not a file", f"row {row}: {relative}")
            continue
        total += info.st_size
        if total > params.max_bytes:
            raise ComponentFailed(f"images: more than parameters.max_bytes ({_size(params.max_bytes)}) in all")
        plan.append((real, relative))
    made: set[str] = set()
    for real, relative in plan:
        parent = relative.rpartition("/")[0]
        if stage.local is not None:
            if parent and parent not in made:
                os.makedirs(f"{stage.local}/{parent}", exist_ok=True)
                made.add(parent)
            shutil.copyfile(real, f"{stage.local}/{relative}")
        else:
            stage.fs.put_file(real, f"{stage.path}/{relative}")
    return len(plan), total


def _pull_http(
    stage: StagedFolder, images_base: str, wanted: dict[str, int], params: RepositoryParameters, problems: _Problems
) -> tuple[int, int]:
    import httpx

    lock = threading.Lock()
    state = {"bytes": 0, "files": 0}
    over = threading.Event()

    def fetch(client: httpx.Client, relative: str, row: int) -> None:
        if over.is_set():
            return
        url = f"{images_base}/{quote(relative)}"
        target = f"{stage.path}/{relative}"
        try:
            with client.stream("GET", url) as response:
                if response.status_code == 404:
                    with lock:
                        problems.add("missing", f"row {row}: {relative}")
                    return
                if response.status_code != 200:
                    with lock:
                        problems.add(f"unavailable (HTTP {response.status_code})", f"row {row}: {relative}")
                    return
                if (response.headers.get("content-type") or "").startswith("text/html"):
                    with lock:
                        problems.add("an HTML page, not a file", f"row {row}: {relative}")
                    return
                parent = target.rpartition("/")[0]
                stage.fs.makedirs(parent, exist_ok=True)
                with stage.fs.open(target, "wb") as writer:
                    for chunk in response.iter_bytes(CHUNK):
                        with lock:
                            state["bytes"] += len(chunk)
                            if state["bytes"] > params.max_bytes:
                                over.set()
                                return
                        writer.write(chunk)
                with lock:
                    state["files"] += 1
        except httpx.HTTPError as error:
            with lock:
                problems.add(f"unavailable ({type(error).__name__})", f"row {row}: {relative}")

    with _http_client(params.timeout_s) as client, ThreadPoolExecutor(params.concurrency) as pool:
        for future in [pool.submit(fetch, client, relative, row) for relative, row in wanted.items()]:
            future.result()
    if over.is_set():
        raise ComponentFailed(f"images: more than parameters.max_bytes ({_size(params.max_bytes)}) in all")
    return state["files"], state["bytes"]
