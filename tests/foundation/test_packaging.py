"""A regular (non-editable) install gets every subpackage: the list in pyproject is complete."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FOLDERS = {"include": "airgenome", "operators": "airgenome.operators", "hooks": "airgenome.hooks",
           "plugins": "airgenome.plugins"}


def _packages_on_disk() -> set[str]:
    found = set()
    for folder, name in FOLDERS.items():
        for init in (ROOT / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(ROOT / folder)
            found.add(".".join([name, *relative.parts]))
    return found


def test_pyproject_lists_every_package() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    assert listed == _packages_on_disk()


def test_entry_points_name_real_objects() -> None:
    from importlib.metadata import entry_points

    plugin = entry_points(group="airflow.plugins")["airgenome"].load()
    assert plugin.name == "airgenome"
    info = entry_points(group="apache_airflow_provider")["provider_info"].load()()
    assert info["package-name"] == "airgenome"
    assert {c["connection-type"] for c in info["connection-types"]} == {
        "airgenome_model_store", "airgenome_evaluation_store"}
    assert "gpu_pool" in info["config"]["airgenome"]["options"]
