"""Run import-linter over EVERY folder of the `airgenome` namespace.

The package-dir mapping in pyproject.toml (``airgenome`` = include/, ``airgenome.operators`` =
operators/, ...) is invisible to a plain ``lint-imports``: grimp locates ``airgenome`` at
include/ and never scans operators/, hooks/ or plugins/ (and refuses them as root packages:
they are not top-level). So this builds the package as it is installed — one ``airgenome``
tree assembled from the mapping, files copied with their mtimes — in a temporary folder, and
runs ``lint-imports`` with that tree first on the path and the project's contracts.

    python -m tests.import_layers          # what `make lint` and tests/foundation/test_lint.py run
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def package_dirs(root: Path = ROOT) -> dict[str, Path]:
    """``[tool.setuptools.package-dir]``: package name -> source folder."""
    config = tomllib.loads((root / "pyproject.toml").read_text())
    mapping: dict[str, str] = config["tool"]["setuptools"]["package-dir"]
    return {name: root / folder for name, folder in mapping.items()}


def build_view(target: Path, root: Path = ROOT) -> Path:
    """Assemble the installed layout of every mapped package under ``target``; returns it."""
    mapping = package_dirs(root)
    # Deeper packages last, so a mapped subpackage replaces whatever its parent has there.
    for name in sorted(mapping, key=lambda n: n.count(".")):
        source = mapping[name]
        destination = target.joinpath(*name.split("."))
        if destination.exists():
            shutil.rmtree(destination)
        shutil.copytree(
            source,
            destination,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
        )
    return target


def run(extra_args: Sequence[str] = (), view: Path | None = None) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` over the assembled view (built in a temporary folder unless given)."""
    with tempfile.TemporaryDirectory(prefix="airgenome-layers-") as scratch:
        tree = view if view is not None else build_view(Path(scratch))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tree), env.get("PYTHONPATH")]))
        return subprocess.run(
            [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", *extra_args],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )


def main(argv: Sequence[str] | None = None) -> int:
    result = run(list(sys.argv[1:] if argv is None else argv))
    sys.stdout.write(result.stdout)
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    raise SystemExit(main())
