"""evaluate.explanations: batch Grad-CAM looks at the planted square; SHAP / LIME for tables and text."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from airgenome.components.context import ComponentFailed, InputRef
from airgenome.components.files import write_table
from airgenome.components.lake import local_path
from airgenome.evaluations.store import get_evaluation_store

from .conftest import Runner

pytestmark = pytest.mark.slow  # TensorFlow and a CNN trained in the package fixture


def test_batch_gradcam_heat_is_inside_the_planted_square(cnn: dict[str, Any]) -> None:
    from airgenome.components.evaluate.explanations import BatchGradCam, heat_inside, mean_heat
    from airgenome.components.evaluate.imaging import KerasImageModel
    from airgenome.models.estimator import GenomeEstimator

    model = KerasImageModel(GenomeEstimator(cnn["model"], modality="image", target_classes=["empty", "square"]))
    squares = cnn["labels"] == 1
    pixels, masks = cnn["pixels"][squares].astype("float32"), cnn["masks"][squares]
    heat, probabilities = BatchGradCam(model)(pixels, np.ones(len(pixels), dtype=int), batch_size=32)
    assert heat.shape == masks.shape and 0.0 <= heat.min() and heat.max() <= 1.0
    inside, outside = mean_heat(heat, masks)
    assert inside > 2 * outside, (inside, outside)
    assert np.mean(heat_inside(heat, masks)) > 2 * masks.mean()  # far more than the square's share of the picture
    # a batch gives each image its own map: the same as one image at a time
    single, _ = BatchGradCam(model)(pixels[:1], np.ones(1, dtype=int))
    np.testing.assert_allclose(single[0], heat[0], atol=1e-4)
    np.testing.assert_allclose(probabilities, cnn["model"].predict(pixels, verbose=0), atol=1e-5)


def test_the_component_reports_heat_inside_the_masks_with_overlays(run: Runner, cnn: dict[str, Any]) -> None:
    params = {"methods": ["gradcam", "lime"], "per_group": 2, "subset": "all", "min_heat_inside": 0.3,
              "lime_samples": 60, "lime_segments": 16}
    result = run("evaluate.explanations", params, model=cnn["model_ref"], images=cnn["images_ref"], masks=cnn["masks_ref"])
    gradcam = result.metrics["gradcam"]
    assert gradcam["images_with_mask"] == int((cnn["labels"] == 1).sum())
    assert gradcam["mean_heat_inside_mask"] > gradcam["mean_heat_outside_mask"]
    assert gradcam["heat_inside"] >= 0.3
    assert "heat_inside" in result.metrics["lime"] or result.metrics["lime"]["images_explained"] > 0
    stored = get_evaluation_store(run.stores.evaluation_store_uri).get(result.evaluation_ids[0])
    assert stored.target_model.id == cnn["version"]
    tasks = {t.name: t for t in stored.tasks if t.kind == "task"}
    summary = tasks["explanations/gradcam"]
    assert summary.expectations[0].var == "heat_inside" and summary.status == 1
    confident = tasks["explanations/gradcam/most_confident"]
    assert confident.pictures and Path(local_path(confident.pictures[0]["uri"]) or "").read_bytes().startswith(b"\x89PNG")
    prototypes = [t for t in stored.tasks if t.kind == "prototype"]
    assert any("heat_inside" in p.metrics for p in prototypes)


def test_masks_without_any_match_and_expectations_without_masks_are_refused(run: Runner, cnn: dict[str, Any], tmp_path: Path) -> None:
    with pytest.raises(ComponentFailed, match="^parameters.min_heat_inside: needs the masks input"):
        run("evaluate.explanations", {"min_heat_inside": 0.5}, model=cnn["model_ref"], images=cnn["images_ref"])
    (tmp_path / "nomasks").mkdir()
    with pytest.raises(ComponentFailed, match="^inputs.masks: none of the"):
        run("evaluate.explanations", {}, model=cnn["model_ref"], images=cnn["images_ref"], masks=InputRef(f"file://{tmp_path}/nomasks", "images"))
    with pytest.raises(ComponentFailed, match="^parameters.methods: shap cannot explain a image model"):
        run("evaluate.explanations", {"methods": ["shap"]}, model=cnn["model_ref"], images=cnn["images_ref"])


def _saved(run: Runner, estimator: Any, name: str, modality: str, features: list[str] | None = None) -> InputRef:
    from airgenome.models.client import ModelStore
    from airgenome.models.estimator import GenomeEstimator

    s = run.stores
    store = ModelStore(s.model_store_uri, artifacts=s.model_artifacts, registry_uri=s.model_registry_uri)
    record = store.save_model(
        GenomeEstimator(estimator, modality=modality, feature_names=features),
        {"canonicalName": f"/tests/trust/{name}", "application": "trust", "pipelineName": "trust", "pipelineRunId": "run-1",
         "pipelineStage": "train", "framework": "sklearn", "inputModality": modality, "versionName": "1.0",
         "predictionType": "classification"},
    )
    return InputRef(f"models:/{record['id']}", "model", {"version": str(record["id"])})


def test_shap_for_a_tabular_model(run: Runner, tmp_path: Path) -> None:
    from sklearn.datasets import load_iris
    from sklearn.ensemble import RandomForestClassifier

    frame = load_iris(as_frame=True).frame
    features = [c for c in frame.columns if c != "target"]
    forest = RandomForestClassifier(n_estimators=20, max_depth=3, random_state=0).fit(frame[features].to_numpy(), frame["target"])
    uri, _ = write_table(f"file://{tmp_path}/iris", frame)
    result = run("evaluate.explanations", {"per_group": 3}, model=_saved(run, forest, "iris-forest", "tabular", features), table=InputRef(uri, "table"))
    ranking = result.metrics["shap"]["mean_abs_shap"]
    assert result.metrics["shap"]["method"] == "tree"
    assert list(ranking)[0] in ("petal length (cm)", "petal width (cm)")


def test_lime_for_a_text_model(run: Runner, tmp_path: Path) -> None:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    rng = np.random.default_rng(0)
    good, bad, filler = ["great", "lovely"], ["awful", "broken"], ["the", "item", "was", "really", "quite", "a"]
    texts, labels = [], []
    for i in range(120):
        label = i % 2
        words = list(rng.choice(filler, size=5)) + [str(rng.choice(good if label else bad))]
        texts.append(" ".join(rng.permutation(words)))
        labels.append("pos" if label else "neg")
    pipeline = make_pipeline(CountVectorizer(), LogisticRegression()).fit(texts, labels)
    uri, _ = write_table(f"file://{tmp_path}/texts", pd.DataFrame({"text": texts, "target": labels}))
    result = run("evaluate.explanations", {"per_group": 2}, model=_saved(run, pipeline, "sentiment", "text"), table=InputRef(uri, "table"))
    top = result.metrics["lime"]["frequent_top_words"]
    assert set(top) & {"great", "lovely", "awful", "broken"}
