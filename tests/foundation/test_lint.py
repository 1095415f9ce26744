"""`make lint` is part of the suite: ruff (incl. banned heavy imports at module level in
dags/ plugins/ operators/), mypy (strict for the airgenome package), import-linter layers over
every folder of the namespace (`tests.import_layers`: a plain `lint-imports` cannot see
operators/, hooks/ and plugins/ through the package-dir mapping)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.mark.parametrize(
    "command",
    [["ruff", "check", "."], ["python", "-m", "tests.import_layers"], ["mypy"]],
    ids=["ruff", "import-linter", "mypy"],
)
def test_lint_is_clean(command: list[str]) -> None:
    result = subprocess.run(
        [str(BIN / command[0]), *command[1:]], cwd=ROOT, capture_output=True, text=True, timeout=900
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


@pytest.mark.parametrize(
    ("folder", "module", "source", "expected"),
    [
        ("operators", "airgenome.operators._layer_probe", "from airgenome.cli import main\n",
         "airgenome.operators is not allowed to import airgenome.cli"),
        ("hooks", "airgenome.hooks._layer_probe", "import airgenome.operators.pod\n",
         "airgenome.hooks is not allowed to import airgenome.operators"),
        ("plugins", "airgenome.plugins._layer_probe", "from airgenome.embedded import stack\n",
         "airgenome.plugins is not allowed to import airgenome.embedded"),
        ("include", "airgenome.models._layer_probe", "from airgenome.evaluations import store\n",
         "airgenome.models is not allowed to import airgenome.evaluations"),
    ],
    ids=["operators", "hooks", "plugins", "include"],
)
def test_layers_see_every_folder(tmp_path: Path, folder: str, module: str, source: str, expected: str) -> None:
    """A back-edge planted in each folder is reported: the contracts really see them all."""
    from tests import import_layers

    view = import_layers.build_view(tmp_path / "view")
    (view.joinpath(*module.split(".")).with_suffix(".py")).write_text(source)
    result = import_layers.run(view=view)
    assert result.returncode == 1, result.stdout[-2000:]
    assert expected in " ".join(result.stdout.split())
    assert f"{module} ->" in result.stdout
