"""Fixtures for the sequences API: an isolated uploads folder, and no Airflow behind it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import free_port


@pytest.fixture
def uploads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh uploads folder per test; the plugin's Airflow calls go to a closed port."""
    folder = tmp_path / "uploads"
    monkeypatch.setenv("AIRGENOME_UPLOADS_FOLDER", str(folder))
    monkeypatch.setenv("AIRGENOME_AIRFLOW_API_URL", f"http://127.0.0.1:{free_port()}")
    return folder
