"""Images to class folders (CLAIMED's image transformer), plus the folder helpers of this area.

``transform.images-to-class-folders``: a metadata table (one row per image) and an images
folder become ``<output images>/<class>/<file>`` with ``split.json`` at the folder's root —
the layout training and evaluation components read:

    {"seed": 123, "validation_fraction": 0.2, "classes": ["COVID-19", ...],
     "train": ["COVID-19/a.png", ...], "validation": [...]}

and a table of the rows that made it with ``image`` (``<class>/<file>``), ``class`` and
``split`` columns, so evaluations can join protected attributes (sex, age) to images.

- Class names are made file-system safe (CLAIMED's ``Pneumonia/Viral/COVID-19`` becomes
  ``Pneumonia_Viral_COVID-19``); two classes that collide after that are refused.
- A row whose file is missing, unreadable or not an image (by its magic bytes), or that has no
  class, is counted and reported with examples; the step fails only when more than
  ``max_missing_fraction`` of the rows have such a problem.
- A path that leaves the images folder (``../../etc/passwd``, an absolute path) or a symlink
  fails the step naming the row (rows are numbered from 1, header not counted).
- Files are hard-linked when the images and the lake are on the same local file system (the
  images input is itself a lake output, immutable), byte-copied otherwise (server-side copies on
  one object store). The folder is built under a temporary name and renamed into place: on a
  failure there is no half folder.
"""

from __future__ import annotations

import errno
import json
import os
import random
import re
import shutil
import stat
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from airgenome.components.context import ComponentContext, ComponentFailed, Result
from airgenome.components.data.file_specs import ClassFoldersParameters
from airgenome.components.files import filesystem, read_table, write_table
from airgenome.components.lake import local_path

SPLIT_FILE = "split.json"
EXAMPLES = 5
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")

# Magic bytes of the image formats we accept (DICOM: "DICM" after a 128-byte preamble).
_MAGIC: tuple[tuple[int, bytes, str], ...] = (
    (0, b"\x89PNG\r\n\x1a\n", "png"),
    (0, b"\xff\xd8\xff", "jpeg"),
    (0, b"GIF87a", "gif"),
    (0, b"GIF89a", "gif"),
    (0, b"BM", "bmp"),
    (0, b"II*\x00", "tiff"),
    (0, b"MM\x00*", "tiff"),
    (0, b"\x00\x00\x00\x0cjP  ", "jpeg2000"),
    (128, b"DICM", "dicom"),
)
HEADER_BYTES = 132


def image_format(header: bytes) -> str | None:
    """The image format of a file's first bytes, or None when it is not an image we know."""
    for offset, magic, name in _MAGIC:
        if header[offset : offset + len(magic)] == magic:
            return name
    if header[:4] == b"RIFF" and header[8:12] == b"WEBP":
        return "webp"
    return None


def safe_name(text: str) -> str:
    """A file-system safe folder or file name: runs of other characters become ``_``."""
    cleaned = _UNSAFE.sub("_", text.strip()).strip("_") or "_"
    if cleaned.startswith("."):
        cleaned = "_" + cleaned[1:]
    return cleaned[:200]


def relative_image_path(value: str) -> str | None:
    """The normalised path inside the images folder, or None when it would leave it."""
    text = value.strip()
    if not text or text.startswith(("/", "~")) or "\\" in text or "\x00" in text or ":" in text.split("/")[0]:
        return None
    parts = [p for p in text.split("/") if p not in ("", ".")]
    if not parts or any(p == ".." for p in parts):
        return None
    return "/".join(parts)


# --------------------------------------------------------------------------- lake folders


class StagedFolder:
    """An output folder written under a temporary sibling name and moved into place on success.

    ``with StagedFolder(uri) as stage:`` write below ``stage.uri`` / ``stage.local``; leaving the
    block without an error replaces ``uri`` by it, with an error deletes it. Local folders move
    with one rename; on an object store the move is a copy then delete (readers of the final URI
    never see a partial tree either way, because nothing is written there before the move).
    """

    def __init__(self, final_uri: str) -> None:
        self.final_uri = final_uri.rstrip("/")
        parent, _, name = self.final_uri.rpartition("/")
        self.uri = f"{parent}/.{name}.tmp-{uuid.uuid4().hex[:12]}"
        self.local = local_path(self.uri)
        self.final_local = local_path(self.final_uri)
        self.fs, self.path = filesystem(self.uri)

    def __enter__(self) -> StagedFolder:
        if self.local is not None:
            os.makedirs(self.local, exist_ok=False)
        else:
            self.fs.makedirs(self.path, exist_ok=True)
        return self

    def __exit__(self, kind: Any, error: Any, trace: Any) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()

    def discard(self) -> None:
        if self.local is not None:
            shutil.rmtree(self.local, ignore_errors=True)
        else:
            try:
                self.fs.rm(self.path, recursive=True)
            except FileNotFoundError:
                pass

    def commit(self) -> None:
        if self.local is not None and self.final_local is not None:
            old = None
            if os.path.lexists(self.final_local):  # a retry replaces the earlier attempt's output
                old = f"{self.final_local}.old-{uuid.uuid4().hex[:12]}"
                os.rename(self.final_local, old)
            os.rename(self.local, self.final_local)
            if old:
                shutil.rmtree(old, ignore_errors=True)
            return
        _, final_path = filesystem(self.final_uri)
        if self.fs.exists(final_path):
            self.fs.rm(final_path, recursive=True)
        self.fs.mv(self.path, final_path, recursive=True)


@dataclass
class Placer:
    """Put files into a staged folder: hard links on one local file system, copies otherwise."""

    allow_links: bool = True
    linked: int = 0
    copied: int = 0
    bytes: int = 0
    _link_ok: bool | None = None

    def place(self, source: str, target: str, size: int) -> None:
        if self.allow_links and self._link_ok is not False:
            try:
                os.link(source, target)
                self._link_ok = True
                self.linked += 1
                self.bytes += size
                return
            except OSError as error:
                if error.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EACCES):
                    raise
                self._link_ok = False  # another file system (or links not allowed): copy from now on
        shutil.copyfile(source, target)
        self.copied += 1
        self.bytes += size

    @property
    def mode(self) -> str:
        if self.linked and self.copied:
            return "mixed"
        return "hardlink" if self.linked else "copy"


# --------------------------------------------------------------------------- the component


@dataclass
class _Problems:
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))

    def add(self, reason: str, example: str) -> None:
        self.counts[reason] += 1
        if len(self.examples[reason]) < EXAMPLES:
            self.examples[reason].append(example)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def to_dict(self) -> dict[str, Any]:
        return {r: {"count": self.counts[r], "examples": self.examples[r]} for r in sorted(self.counts)}

    def describe(self) -> str:
        return "; ".join(
            f"{self.counts[r]} {r} (e.g. {', '.join(self.examples[r])})" for r in sorted(self.counts)
        )


@dataclass
class _Row:
    position: int  # 0-based position in the table
    source: str  # relative path inside the images folder
    klass: str  # safe class name
    name: str  # safe file name inside the class folder
    size: int = 0


def _class_names(values: list[Any]) -> tuple[dict[str, str], list[str]]:
    """original -> safe class name; refuses two classes that become the same name."""
    mapping: dict[str, str] = {}
    owners: dict[str, str] = {}
    for original in sorted({str(v).strip() for v in values}):
        safe = safe_name(original)
        if safe in owners and owners[safe] != original:
            raise ComponentFailed(
                f"parameters.target_column: classes {owners[safe]!r} and {original!r} both become the "
                f"folder name {safe!r}; rename one of them first (transform.apply)"
            )
        owners[safe] = original
        mapping[original] = safe
    return mapping, sorted(owners)


def _missing(value: Any) -> bool:
    if value is None:
        return True
    try:
        return bool(value != value)  # NaN
    except Exception:  # noqa: BLE001 - arrays and other values are present
        return False


def _check_local(root: str, relative: str, row: int, parents_ok: set[str]) -> tuple[str | None, int, str | None]:
    """(problem reason or None, size, format) of one local file; refuses symlinks and escapes."""
    path = f"{root}/{relative}"
    parent = relative.rpartition("/")[0]
    if parent and parent not in parents_ok:
        real_parent = os.path.realpath(f"{root}/{parent}")
        if not (real_parent + "/").startswith(os.path.realpath(root) + "/"):
            raise ComponentFailed(f"row {row}: image path {relative!r} leaves the images folder through a symlink")
        if os.path.islink(f"{root}/{parent}") or real_parent != os.path.realpath(root) + "/" + parent:
            raise ComponentFailed(f"row {row}: image path {relative!r} goes through a symlink; symlinks are refused")
        parents_ok.add(parent)
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return "missing", 0, None
    except OSError:
        return "unreadable", 0, None
    if stat.S_ISLNK(info.st_mode):
        raise ComponentFailed(f"row {row}: image {relative!r} is a symlink; symlinks are refused")
    if not stat.S_ISREG(info.st_mode):
        return "not a file", 0, None
    try:
        descriptor = os.open(path, os.O_RDONLY)
        try:
            header = os.read(descriptor, HEADER_BYTES)
        finally:
            os.close(descriptor)
    except OSError:
        return "unreadable", 0, None
    if not header:
        return "unreadable", 0, None
    kind = image_format(header)
    return (None if kind else "not an image"), info.st_size, kind


def _check_remote(fs: Any, root: str, relative: str) -> tuple[str | None, int, str | None]:
    path = f"{root}/{relative}"
    try:
        info = fs.info(path)
    except FileNotFoundError:
        return "missing", 0, None
    except OSError:
        return "unreadable", 0, None
    if info.get("type") != "file":
        return "not a file", 0, None
    try:
        with fs.open(path, "rb") as handle:
            header = handle.read(HEADER_BYTES)
    except OSError:
        return "unreadable", 0, None
    kind = image_format(header) if header else None
    return (None if kind else ("not an image" if header else "unreadable")), int(info.get("size") or 0), kind


def split_files(by_class: dict[str, list[str]], seed: int, fraction: float) -> tuple[list[str], list[str]]:
    """A deterministic split stratified by class: each class's sorted files shuffled with the
    seed; round(n * fraction) to validation, at least one (and at least one left to train)
    when the class has two or more files and the fraction is above zero."""
    rng = random.Random(seed)
    train: list[str] = []
    validation: list[str] = []
    for klass in sorted(by_class):
        files = sorted(by_class[klass])
        rng.shuffle(files)
        count = len(files)
        take = int(round(count * fraction))
        if fraction > 0 and count >= 2:
            take = min(max(take, 1), count - 1)
        elif count < 2:
            take = 0
        validation.extend(f"{klass}/{name}" for name in files[:take])
        train.extend(f"{klass}/{name}" for name in files[take:])
    return sorted(train), sorted(validation)


def images_to_class_folders(ctx: ComponentContext, params: ClassFoldersParameters) -> Result:
    started = time.perf_counter()
    table_ref, images_ref = ctx.input("table"), ctx.input("images")
    frame = read_table(table_ref.uri)
    for field_name in ("target_column", "image_column"):
        column = getattr(params, field_name)
        if column not in frame.columns:
            raise ComponentFailed(
                f"parameters.{field_name}: column {column!r} is not in the table "
                f"(columns: {', '.join(map(str, frame.columns))})"
            )
    if frame.empty:
        raise ComponentFailed("inputs.table: the table has no rows")
    if len(frame) > params.max_rows:
        raise ComponentFailed(f"inputs.table: {len(frame)} rows, more than parameters.max_rows ({params.max_rows})")

    targets = frame[params.target_column].tolist()
    images = frame[params.image_column].tolist()
    present = [t for t in targets if not _missing(t) and str(t).strip()]
    mapping, classes = _class_names(present)

    root_uri = images_ref.uri.rstrip("/")
    root_local = local_path(root_uri)
    if root_local is not None:
        if os.path.islink(root_local):
            raise ComponentFailed(f"inputs.images: {root_uri} is a symlink; symlinks are refused")
        if not os.path.isdir(root_local):
            raise ComponentFailed(f"inputs.images: {root_uri} is not a folder")
        root_local = root_local.rstrip("/")
        fs, root_path = None, root_local
    else:
        fs, root_path = filesystem(root_uri)
        if not fs.isdir(root_path):
            raise ComponentFailed(f"inputs.images: {root_uri} is not a folder")

    problems = _Problems()
    kept: list[_Row] = []
    claimed: dict[str, tuple[str, int]] = {}  # "<class>/<name>" -> (source, row)
    duplicates = 0
    formats: dict[str, int] = defaultdict(int)
    parents_ok: set[str] = set()
    for position, (target, image) in enumerate(zip(targets, images, strict=True)):
        row = position + 1
        if _missing(image) or not str(image).strip():
            problems.add("without an image name", f"row {row}")
            continue
        relative = relative_image_path(str(image))
        if relative is None:
            raise ComponentFailed(
                f"row {row}: image path {str(image)!r} leaves the images folder (absolute paths, '..' "
                "and backslashes are refused)"
            )
        if _missing(target) or not str(target).strip():
            problems.add("without a class", f"row {row}: {relative}")
            continue
        if root_local is not None:
            reason, size, kind = _check_local(root_local, relative, row, parents_ok)
        else:
            reason, size, kind = _check_remote(fs, root_path, relative)
        if reason is not None:
            problems.add(reason, f"row {row}: {relative}")
            continue
        formats[kind or "?"] += 1
        klass = mapping[str(target).strip()]
        name = safe_name(relative.rpartition("/")[2])
        key = f"{klass}/{name}"
        if key in claimed:
            if claimed[key][0] == relative:
                duplicates += 1  # the same image listed twice for the same class
                continue
            raise ComponentFailed(
                f"row {row}: {relative!r} and row {claimed[key][1]}'s {claimed[key][0]!r} both become "
                f"{key!r} in class folder {klass!r}; file names must be unique within a class"
            )
        claimed[key] = (relative, row)
        kept.append(_Row(position, relative, klass, name, size))

    rows = len(frame)
    fraction = problems.total / rows
    if problems.total:
        print(f"images-to-class-folders: {problems.total} of {rows} rows left out: {problems.describe()}")
    if fraction > params.max_missing_fraction:
        raise ComponentFailed(
            f"{problems.total} of {rows} rows ({fraction:.1%}) have no usable image, more than "
            f"parameters.max_missing_fraction ({params.max_missing_fraction:.1%}): {problems.describe()}"
        )
    if not kept:
        raise ComponentFailed(f"no row has a usable image: {problems.describe()}")

    by_class: dict[str, list[str]] = defaultdict(list)
    for item in kept:
        by_class[item.klass].append(item.name)
    train, validation = split_files(by_class, params.seed, params.validation_fraction)
    in_validation = set(validation)
    manifest = {
        "seed": params.seed,
        "validation_fraction": params.validation_fraction,
        "classes": sorted(by_class),
        "train": train,
        "validation": validation,
    }

    placer = Placer()
    with StagedFolder(ctx.output("images")) as stage:
        if stage.local is not None and root_local is not None:
            for klass in by_class:
                os.mkdir(f"{stage.local}/{klass}")
            for item in kept:
                placer.place(f"{root_local}/{item.source}", f"{stage.local}/{item.klass}/{item.name}", item.size)
            with open(f"{stage.local}/{SPLIT_FILE}", "w", encoding="utf-8") as handle:
                json.dump(manifest, handle, indent=1)
        else:
            _place_remote(stage, root_uri, kept, manifest, placer)
    images_uri = ctx.output("images")

    keep_positions = [item.position for item in kept]
    out = frame.iloc[keep_positions].reset_index(drop=True).copy()
    out["image"] = [f"{item.klass}/{item.name}" for item in kept]
    out["class"] = [item.klass for item in kept]
    out["split"] = ["validation" if f"{item.klass}/{item.name}" in in_validation else "train" for item in kept]
    table_uri, table_facts = write_table(ctx.output("table"), out)

    counts = {klass: len(names) for klass, names in sorted(by_class.items())}
    metrics: dict[str, Any] = {
        "rows": rows,
        "images": len(kept),
        "classes": len(by_class),
        "train": len(train),
        "validation": len(validation),
        "left_out": problems.total,
        "duplicates": duplicates,
        "placement": placer.mode,
        "seconds": round(time.perf_counter() - started, 3),
    }
    result = Result(metrics=metrics)
    result.add_output(
        "images",
        images_uri,
        "images",
        files=len(kept),
        bytes=placer.bytes,
        classes=counts,
        class_names={safe: original for original, safe in mapping.items() if safe != original and safe in by_class},
        formats=dict(formats),
        split=SPLIT_FILE,
        problems=problems.to_dict(),
        placement=placer.mode,
    )
    result.add_output("table", table_uri, "table", **table_facts)
    if params.zip:
        archive_uri, facts = _write_zip(ctx, images_uri, kept, manifest)
        result.add_output("archive", archive_uri, "file", **facts)
    print(json.dumps({"images": images_uri, **{k: v for k, v in metrics.items() if k != "seconds"}}))
    return result


def _place_remote(stage: StagedFolder, root_uri: str, kept: list[_Row], manifest: dict[str, Any], placer: Placer) -> None:
    """Object stores (or a local source into a remote lake): copy file by file with fsspec."""
    source_fs, source_root = filesystem(root_uri)
    same = type(source_fs) is type(stage.fs) and getattr(source_fs, "storage_options", None) == getattr(
        stage.fs, "storage_options", None
    )
    for item in kept:
        target = f"{stage.path}/{item.klass}/{item.name}"
        if same:
            stage.fs.copy(f"{source_root}/{item.source}", target)  # server-side on one object store
        else:
            with source_fs.open(f"{source_root}/{item.source}", "rb") as reader, stage.fs.open(target, "wb") as writer:
                shutil.copyfileobj(reader, writer, 1 << 20)
        placer.copied += 1
        placer.bytes += item.size
    with stage.fs.open(f"{stage.path}/{SPLIT_FILE}", "w") as handle:
        handle.write(json.dumps(manifest, indent=1))


def _write_zip(ctx: ComponentContext, images_uri: str, kept: list[_Row], manifest: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The class folders and split.json as one zip (stored: images are compressed already)."""
    import hashlib
    import tempfile
    import zipfile

    fs, images_path = filesystem(images_uri)
    archive_uri = ctx.output("archive", "images.zip")
    target_fs, target_path = filesystem(archive_uri)
    with tempfile.TemporaryDirectory() as scratch:
        local = f"{scratch}/images.zip"
        with zipfile.ZipFile(local, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
            for item in kept:
                name = f"{item.klass}/{item.name}"
                with fs.open(f"{images_path}/{name}", "rb") as reader, archive.open(name, "w", force_zip64=True) as writer:
                    shutil.copyfileobj(reader, writer, 1 << 20)
            archive.writestr(SPLIT_FILE, json.dumps(manifest, indent=1))
        digest = hashlib.sha256()
        with open(local, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        size = os.path.getsize(local)
        parent = target_path.rpartition("/")[0]
        target_fs.makedirs(parent, exist_ok=True)
        temporary = f"{parent}/.{uuid.uuid4().hex}.tmp"
        target_fs.put_file(local, temporary)
        target_fs.mv(temporary, target_path)
    return archive_uri, {"bytes": size, "sha256": digest.hexdigest(), "files": len(kept) + 1}
