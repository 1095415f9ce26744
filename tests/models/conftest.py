"""A throwaway model store (and evaluation store) per test module, via the settings' env vars."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from airgenome.settings import StoreLocations


@pytest.fixture(scope="module")
def store_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    base: Path = tmp_path_factory.mktemp("model-store")
    env = StoreLocations.under(base).as_env()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        yield env


@pytest.fixture(scope="module")
def store(store_env: dict[str, str]):
    from airgenome.models.client import ModelStore

    return ModelStore()


def meta(**overrides: str) -> dict[str, str]:
    """Complete Genome metadata for a tabular sklearn regressor; override per test."""
    base = {
        "canonicalName": "/tests/forest",
        "application": "search",
        "pipelineName": "pipe-1",
        "pipelineRunId": "run-1",
        "pipelineStage": "model",
        "framework": "sklearn",
        "inputModality": "tabular",
        "versionName": "1.0.0",
        "predictionType": "regression",
    }
    base.update(overrides)
    return base
