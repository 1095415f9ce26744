"""A fresh SQLite evaluation store per test, chosen the way users choose it: by URI."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airgenome.evaluations.store import EvaluationStore, get_evaluation_store


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Nothing lands in the checkout; the model store is absent unless a test creates one."""
    home = tmp_path / "home"
    monkeypatch.setenv("AIRGENOME_HOME", str(home))
    monkeypatch.setenv("AIRGENOME_MODEL_STORE_URI", f"sqlite:///{home / 'stores' / 'mlflow.db'}")
    monkeypatch.setenv("AIRGENOME_MODEL_ARTIFACTS", str(home / "stores" / "artifacts"))
    return home


@pytest.fixture
def store_uri(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'stores' / 'evaluations.db'}"


@pytest.fixture
def store(store_uri: str) -> Iterator[EvaluationStore]:
    store = get_evaluation_store(store_uri)
    yield store
    store.close()
