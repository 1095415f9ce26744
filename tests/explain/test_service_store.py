"""The explain service keeps the configured model store while its settings stay the same."""

from __future__ import annotations

import pytest

from airgenome.explain.service import ExplainService
from airgenome.settings import StoreLocations


def test_the_default_store_is_kept_until_its_settings_change(
    tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for key, value in StoreLocations.under(tmp_path / "a").as_env().items():
        monkeypatch.setenv(key, value)
    service = ExplainService()
    first = service.store
    assert service.store is first  # its backend, once resolved, is kept with it

    for key, value in StoreLocations.under(tmp_path / "b").as_env().items():
        monkeypatch.setenv(key, value)
    assert service.store is not first
    assert service.store is service.store
