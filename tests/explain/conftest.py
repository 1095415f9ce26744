"""A model store with one model per explainer, saved through the real SDK (MLflow on SQLite)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from airgenome.settings import StoreLocations
from tests.explain import models

META = {
    "application": "search",
    "pipelineName": "pipe-explain",
    "pipelineRunId": "run-1",
    "pipelineStage": "model",
    "versionName": "1.0.0",
}


@pytest.fixture(scope="module")
def explain_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """The store the plugin reads (env vars), one per test module."""
    base: Path = tmp_path_factory.mktemp("explain-store")
    env = StoreLocations.under(base).as_env()
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        from airgenome.models.client import ModelStore

        yield ModelStore()


def save(store: Any, estimator: Any, canonical_name: str, **meta: str) -> Any:
    return store.save_model(estimator, {**META, "canonicalName": canonical_name, **meta})


@pytest.fixture(scope="module")
def tabular_models(explain_store: Any) -> dict[str, Any]:
    from airgenome.models.estimator import GenomeEstimator

    x, _ = models.tabular_data()
    saved: dict[str, Any] = {}
    specs = {
        "forest": (models.forest(), "sklearn", "regression"),
        "xgboost": (models.xgboost_regressor(), "xgboost", "regression"),
        "classifier": (models.forest_classifier(), "sklearn", "classification"),
        "logistic": (models.logistic(), "sklearn", "classification"),
        "knn": (models.knn(), "sklearn", "regression"),
    }
    for key, (model, framework, kind) in specs.items():
        estimator = GenomeEstimator(
            model,
            modality="tabular",
            feature_names=models.FEATURES,
            target_classes=["low", "mid", "high"] if key == "classifier" else None,
        )
        estimator.explainer.sampleExplanations(x[:150])
        record = save(
            explain_store,
            estimator,
            f"/tests/explain/{key}",
            framework=framework,
            inputModality="tabular",
            predictionType=kind,
        )
        saved[key] = {"model": model, "record": record}
    return saved


@pytest.fixture(scope="module")
def text_model(explain_store: Any) -> dict[str, Any]:
    from airgenome.models.estimator import GenomeEstimator

    pipe = models.text_pipeline("logistic")
    estimator = GenomeEstimator(
        pipe, modality="text", estimator_predict="predict_proba", target_classes=models.TOPICS
    )
    record = save(
        explain_store,
        estimator,
        "/tests/explain/text",
        framework="sklearn",
        inputModality="text",
        predictionType="classification",
    )
    return {"model": pipe, "record": record}


@pytest.fixture(scope="module")
def image_model(explain_store: Any) -> dict[str, Any]:
    pytest.importorskip("tensorflow")
    from airgenome.models.estimator import GenomeEstimator

    network = models.cnn()
    estimator = GenomeEstimator(network, modality="image", target_classes=["background", "square"])
    record = save(
        explain_store,
        estimator,
        "/tests/explain/cnn",
        framework="keras",
        inputModality="image",
        predictionType="classification",
    )
    return {"model": network, "record": record}


def png_base64(array: Any) -> str:
    import base64
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.uint8(np.clip(array, 0, 255))).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
