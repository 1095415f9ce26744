"""Genome's Python examples (seed 003) run with only their imports and dataset loaders changed."""

from __future__ import annotations

import runpy
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).parent / "seed_examples"


def test_tabular_forest_example(store, monkeypatch: pytest.MonkeyPatch) -> None:
    # The step environment the sequencer gives Genome's one-step pipeline "pipe-1".
    for key, value in {
        "CANONICAL_NAME": "/housing/ca/forest-1",
        "APPLICATION": "search",
        "PIPELINE_NAME": "pipe-1",
        "PIPELINE_RUNID": "manual__2026-11-22T10:00:00+00:00",
        "STEP_NAME": "step-housing",
        "STEP_TYPE": "model",
        "DATASETS": "[]",
    }.items():
        monkeypatch.setenv(key, value)
    namespace = runpy.run_path(str(EXAMPLES / "tabular_forest.py"))

    record = store.get_model(canonical_name="/housing/ca/forest-1")
    assert record.metadata == {
        "canonicalName": "/housing/ca/forest-1",
        "application": "search",
        "pipelineName": "pipe-1",
        "pipelineRunId": "manual__2026-11-22T10:00:00+00:00",
        "pipelineStage": "step-housing",
        "versionName": "1.2.3",
        "framework": "sklearn",
        "inputModality": "tabular",
        "predictionType": "regression",  # inferred: the seed's tabular example leaves it out
    }
    assert record.tags["airgenome.stepName"] == "step-housing"
    explanations = store.global_explanations(record)
    assert explanations["explainedRows"] == 1200 and explanations["method"] == "tree"
    loaded = store.load_model(record.id)
    data = namespace["dataset_train"].data
    np.testing.assert_array_equal(loaded.estimator.predict(data), namespace["forest_model"].predict(data))


def test_text_example(store) -> None:
    namespace = runpy.run_path(str(EXAMPLES / "text_forest.py"))
    record = store.get_model(canonical_name="/classifier/text/randomforest")
    assert (record.version_name, record.input_modality, record.prediction_type) == (
        "sklearn-text.1.2.2",
        "text",
        "classification",
    )
    loaded = store.load_model(record.id)
    texts = namespace["twenty_train"].data[:10]
    np.testing.assert_array_equal(loaded.predict(texts), namespace["pipe"].predict_proba(texts))
    assert loaded.target_classes == ["alt.atheism", "soc.religion.christian", "comp.graphics", "sci.med"]


@pytest.mark.slow
def test_image_example(store) -> None:
    namespace = runpy.run_path(str(EXAMPLES / "image_mobilenet.py"))
    record = store.get_model(canonical_name="/classifier/mobilenet/v2")
    assert (record.framework, record.input_modality, record.version_name) == ("keras", "image", "test.1.2")
    loaded = store.load_model(record.id)
    images = np.random.default_rng(0).uniform(0, 255, (2, 224, 224, 3)).astype("float32")
    np.testing.assert_allclose(loaded.predict(images), namespace["genome"].predict(images), rtol=1e-4, atol=1e-5)
    assert loaded.data_preprocessor is namespace["preprocess_input"]


def test_demo_model(store) -> None:
    from airgenome.models.demo import DEMO_CANONICAL_NAME, train_demo_model

    record = train_demo_model(pipeline_run_id="demo-run-1")
    assert record.canonical_name == DEMO_CANONICAL_NAME
    assert record.metadata == {
        "canonicalName": "/diabetes/progression/forest-1",
        "application": "search",
        "pipelineName": "pipe-1",
        "pipelineRunId": "demo-run-1",
        "pipelineStage": "model",
        "versionName": "1.2.3",
        "framework": "sklearn",
        "inputModality": "tabular",
        "predictionType": "regression",
    }
    card = store.card(record)
    assert card.explanations.available and card.explanations.explained_rows == 300
    assert card.lineage.datasets == [{"ref": "sklearn://diabetes", "refType": "sklearn"}]
    loaded = store.load_model(record.id)
    assert loaded.estimator.n_estimators == 120 and loaded.estimator.max_depth == 5
