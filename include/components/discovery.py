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
