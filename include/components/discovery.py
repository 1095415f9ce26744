"""Components from outside this package: entry points and descriptor files.

- Python packages declare ``[project.entry-points."airgenome.components"]`` whose object is a
  `ComponentSpec` or a list of them (the package's own code; a sequence still names only the
  component's public name).
- Descriptor files (``*.json``, see `airgenome.components.descriptor`) in the DAG bundle's
  ``components/`` folder, or the ``components_folder`` setting.

A broken entry point or descriptor never hides the others: it is reported in
``REGISTRY.problems`` (and by ``airgenome components``).
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import entry_points
from pathlib import Path

from airgenome.components.registry import ENTRY_POINT_GROUP, ComponentSpec


def entry_point_specs() -> tuple[list[ComponentSpec], list[str]]:
    specs: list[ComponentSpec] = []
    problems: list[str] = []
    for point in entry_points(group=ENTRY_POINT_GROUP):
        source = f"entry-point:{point.name}"
        try:
            loaded = point.load()
        except Exception as error:  # a third party's import error must not break ours
            problems.append(f"{source}: {type(error).__name__}: {error}")
            continue
        items = loaded if isinstance(loaded, list | tuple) else [loaded]
        for item in items:
            if not isinstance(item, ComponentSpec):
                problems.append(f"{source}: {type(item).__name__} is not a ComponentSpec")
                continue
            specs.append(_with_source(item, source))
    return specs, problems


def _with_source(spec: ComponentSpec, source: str) -> ComponentSpec:
    from dataclasses import replace

    return replace(spec, source=source)


def descriptor_folder() -> Path:
    from airgenome import settings

    return settings.path("components_folder") or settings.dags_folder() / "components"


def descriptor_specs() -> tuple[list[ComponentSpec], list[str]]:
    from airgenome.components.descriptor import DescriptorError, load_descriptor_file

    folder = descriptor_folder()
    specs: list[ComponentSpec] = []
    problems: list[str] = []
    if not folder.is_dir():
        return specs, problems
    for path in sorted(folder.glob("*.json")):
        try:
            specs.append(load_descriptor_file(path))
        except DescriptorError as error:
            problems.append(str(error))
    return specs, problems


def sources_signature() -> tuple[object, ...]:
    """What the discovered components depend on, cheaply (~0.1 ms): the import-path folders
    that hold distributions, with their mtime and link count (installing or removing one adds
    or removes its ``.dist-info`` folder there, which changes both, even within one clock tick),
    and the descriptor folder's ``*.json`` files with their inode, mtime and size.

    A folder without distributions does not count: Airflow puts the DAG bundle on the import
    path of a task, which must not make the task rebuild what it inherited from the scheduler.
    """
    folders = []
    for entry in sys.path:
        path = entry or os.getcwd()  # '' is the working directory, wherever that is now
        stamp = _stamp(path)
        if stamp is not None and _holds_distributions(path, stamp):
            folders.append((path, stamp))
    folder = descriptor_folder()
    try:
        with os.scandir(folder) as found:
            files: tuple[tuple[str, tuple[int, int, int] | None], ...] | None = tuple(sorted(
                (entry.name, _stamp(entry.path, size=True)) for entry in found if entry.name.endswith(".json")
            ))
    except OSError:
        files = None
    return (tuple(folders), str(folder), files)


DISTRIBUTION_SUFFIXES = (".dist-info", ".egg-info", ".egg")
# (folder, its stamp) -> whether it holds a distribution: listed again only once it changed.
_HOLDS: dict[tuple[str, tuple[int, int, int]], bool] = {}


def _holds_distributions(path: str, stamp: tuple[int, int, int]) -> bool:
    key = (path, stamp)
    if key not in _HOLDS:
        try:
            with os.scandir(path) as found:
                _HOLDS[key] = any(entry.name.endswith(DISTRIBUTION_SUFFIXES) for entry in found)
        except OSError:  # a zip archive on the path, or a file: counted as it is
            _HOLDS[key] = True
    return _HOLDS[key]


def _stamp(path: str, size: bool = False) -> tuple[int, int, int] | None:
    try:
        found = os.stat(path)
    except OSError:
        return None
    return (found.st_ino, found.st_mtime_ns, found.st_size if size else found.st_nlink)
