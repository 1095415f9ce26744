"""Genome's tabular example on offline data: a 120-tree forest (depth 5) on scikit-learn's
bundled diabetes set (California housing needs a download), global SHAP explanations over a
sample, saved with full metadata. Used by ``make demo`` and as a smoke test of the store.
"""

from __future__ import annotations

import os
from typing import Any

from airgenome.models.client import ModelStore
from airgenome.models.estimator import GenomeEstimator
from airgenome.models.records import ModelRecord

DEMO_CANONICAL_NAME = "/diabetes/progression/forest-1"


def train_demo_model(
    store: ModelStore | None = None,
    *,
    canonical_name: str = DEMO_CANONICAL_NAME,
    application: str = "search",
    pipeline_name: str = "pipe-1",
    pipeline_run_id: str | None = None,
    sample_size: int = 300,
    seed: int = 0,
) -> ModelRecord:
    """Train, explain and save the demo forest; returns the new version's record."""
    import numpy as np
    from sklearn.datasets import load_diabetes
    from sklearn.ensemble import RandomForestRegressor

    dataset = load_diabetes()
    forest = RandomForestRegressor(n_estimators=120, max_depth=5, random_state=seed)
    forest.fit(dataset.data, dataset.target)
    model = GenomeEstimator(
        forest, target_classes=["progression"], feature_names=dataset.feature_names, modality="tabular"
    )
    rows = np.random.default_rng(seed).choice(dataset.data.shape[0], min(sample_size, dataset.data.shape[0]), replace=False)
    model.explainer.sampleExplanations(dataset.data[rows, :])
    meta: dict[str, Any] = {
        "canonicalName": canonical_name,
        "application": application,
        "pipelineName": pipeline_name,
        "pipelineRunId": pipeline_run_id or os.environ.get("PIPELINE_RUNID") or "demo-run",
        "pipelineStage": os.environ.get("STEP_NAME") or "model",
        "framework": "sklearn",
        "inputModality": "tabular",
        "versionName": "1.2.3",
        "predictionType": "regression",
        "description": "Random forest (120 trees, depth 5) on scikit-learn's diabetes data.",
        "datasets": [{"ref": "sklearn://diabetes", "refType": "sklearn"}],
    }
    return (store or ModelStore()).save_model(model, meta)
