"""A third-party component package as pip would leave it: a module and its `.dist-info` with an
`airgenome.components` entry point, in a folder that goes on the import path."""

from __future__ import annotations

from pathlib import Path


def install_component_package(root: Path, package: str, entry_point: str, code: str) -> None:
    """`root/package/__init__.py` holding `code` (which defines `SPEC`), and the distribution's
    metadata declaring `entry_point = package:SPEC`."""
    (root / package).mkdir(parents=True)
    (root / package / "__init__.py").write_text(code)
    info = root / f"{package}-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {package.replace('_', '-')}\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[airgenome.components]\n{entry_point} = {package}:SPEC\n")
