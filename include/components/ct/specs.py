"""Component specs of this area (registered by airgenome.components.catalogue). Keep this cheap to
import: parameter models only; implementations import their heavy libraries inside functions."""

from __future__ import annotations

from airgenome.components.registry import ComponentSpec

SPECS: tuple[ComponentSpec, ...] = ()
