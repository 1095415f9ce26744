"""Component tests run against the documented platform defaults and a fresh registry."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airgenome.components import registry


@pytest.fixture(autouse=True)
def _defaults(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name in ("EXECUTION_MODE", "GPU_SLOTS", "ALLOWED_IMAGES", "COMPONENTS_FOLDER", "LAKE_ROOT"):
        monkeypatch.delenv(f"AIRGENOME_{name}", raising=False)
        monkeypatch.delenv(f"AIRFLOW__AIRGENOME__{name}", raising=False)
    yield
    registry.REGISTRY.reload()
