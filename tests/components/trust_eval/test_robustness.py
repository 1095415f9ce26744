"""evaluate.robustness: ART attacks on the tiny CNN and on scikit-learn models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from airgenome.components.context import ComponentFailed, InputRef
from airgenome.components.files import write_table
from airgenome.components.lake import local_path
from airgenome.errors import InvalidInput
from airgenome.evaluations.store import get_evaluation_store

from .conftest import Runner

pytestmark = pytest.mark.slow  # TensorFlow, ART and a CNN trained in the package fixture


@pytest.fixture(scope="module")
def attacked(run: Runner, cnn: dict[str, Any]) -> Any:
    params = {"attacks": ["fgsm", "pgd"], "eps": [0.0, 0.02, 0.1, 0.3], "sample_size": 40, "pgd_max_iter": 5,
              "subset": "all", "pairs": 3, "expectations": {"0.02": {"accuracy": {">=": 0.5}}, "0.3": {"accuracy": {">=": 0.9}}}}
    return run("evaluate.robustness", params, model=cnn["model_ref"], images=cnn["images_ref"])


def test_adversarial_accuracy_falls_as_eps_grows_and_eps_0_is_clean(attacked: Any) -> None:
    metrics = attacked.metrics
    clean = metrics["clean_accuracy"]
    assert clean >= 0.85 and metrics["examples"] == 40
    for attack in ("fgsm", "pgd"):
        curve = [metrics["adversarial"][attack][eps]["accuracy"] for eps in ("0", "0.02", "0.1", "0.3")]
        assert curve[0] == clean, attack  # a zero budget changes nothing
        assert all(b <= a for a, b in zip(curve, curve[1:], strict=False)), (attack, curve)
        assert curve[-1] < clean - 0.3, (attack, curve)
    assert metrics["adversarial"]["pgd"]["0.1"]["accuracy"] <= metrics["adversarial"]["fgsm"]["0.1"]["accuracy"] + 0.05


def test_the_evaluation_is_linked_with_expectations_prototypes_and_pairs(run: Runner, cnn: dict[str, Any], attacked: Any) -> None:
    stored = get_evaluation_store(run.stores.evaluation_store_uri).get(attacked.evaluation_ids[0])
    assert stored.target_model.id == cnn["version"] and attacked.model_version == cnn["version"]
    assert stored.status == 0  # accuracy at eps 0.3 >= 0.9 cannot hold
    by_name = {t.name: t for t in stored.tasks if t.kind == "task"}
    strong = by_name["robustness/fgsm/eps=0.3"]
    assert strong.expectations[0].recipe.startswith("{accuracy:") and strong.status == 0
    assert by_name["robustness/fgsm/eps=0"].status == -1
    prototypes = [t for t in stored.tasks if t.kind == "prototype"]
    assert prototypes, "flipped examples become prototypes"
    first = prototypes[0]
    assert first.metrics["clean_prediction"] != first.metrics["adversarial_prediction"]
    assert first.prototype_ref["ref"].endswith(".png") and first.pictures
    for uri in attacked.outputs["evaluation"].metadata["pictures"]:
        assert Path(local_path(uri) or "").read_bytes().startswith(b"\x89PNG")


def _table_model(run: Runner, estimator: Any, frame: pd.DataFrame, tmp_path: Path, name: str) -> tuple[InputRef, InputRef]:
    from airgenome.models.client import ModelStore
    from airgenome.models.estimator import GenomeEstimator

    stores = run.stores
    store = ModelStore(stores.model_store_uri, artifacts=stores.model_artifacts, registry_uri=stores.model_registry_uri)
    features = [c for c in frame.columns if c != "target"]
    kind = "classification" if hasattr(estimator, "classes_") else "regression"
    record = store.save_model(
        GenomeEstimator(estimator, feature_names=features),
        {"canonicalName": f"/tests/trust/{name}", "application": "trust", "pipelineName": "trust", "pipelineRunId": "run-1",
         "pipelineStage": "train", "framework": "sklearn", "inputModality": "tabular", "versionName": "1.0", "predictionType": kind},
    )
    uri, _ = write_table(f"file://{tmp_path}/{name}", frame)
    version = str(record["id"])
    return InputRef(f"models:/{version}", "model", {"version": version}), InputRef(uri, "table")


@pytest.fixture(scope="module")
def iris() -> pd.DataFrame:
    from sklearn.datasets import load_iris

    return load_iris(as_frame=True).frame


def test_a_linear_scikit_learn_model_is_attacked_with_gradients(run: Runner, iris: pd.DataFrame, tmp_path: Path) -> None:
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(max_iter=500).fit(iris.drop(columns="target").to_numpy(), iris["target"])
    model_ref, table = _table_model(run, model, iris, tmp_path, "logistic")
    result = run("evaluate.robustness", {"attacks": ["fgsm"], "eps": [0.0, 0.2], "label": "target", "sample_size": 150},
                 model=model_ref, table=table)
    fgsm = result.metrics["adversarial"]["fgsm"]
    assert fgsm["0"]["accuracy"] == result.metrics["clean_accuracy"]
    assert fgsm["0.2"]["accuracy"] < result.metrics["clean_accuracy"]


def test_a_forest_is_refused_for_gradient_attacks_and_attacked_black_box(run: Runner, iris: pd.DataFrame, tmp_path: Path) -> None:
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(n_estimators=10, random_state=0).fit(iris.drop(columns="target").to_numpy(), iris["target"])
    model_ref, table = _table_model(run, model, iris, tmp_path, "forest")
    with pytest.raises(ComponentFailed, match=r"^parameters.attacks: fgsm need\(s\) the model's loss gradients; RandomForestClassifier has none"):
        run("evaluate.robustness", {"attacks": ["fgsm"], "eps": [0.1]}, model=model_ref, table=table)
    result = run("evaluate.robustness", {"attacks": ["hopskipjump"], "eps": [0.0, 0.5], "sample_size": 12,
                                          "hsj_max_iter": 2, "hsj_max_eval": 50}, model=model_ref, table=table)
    hsj = result.metrics["adversarial"]["hopskipjump"]
    assert hsj["0"]["accuracy"] == result.metrics["clean_accuracy"]
    assert hsj["0.5"]["accuracy"] <= hsj["0"]["accuracy"]


def test_a_regressor_cannot_be_attacked(run: Runner, iris: pd.DataFrame, tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(iris.drop(columns="target").to_numpy(), iris["target"])
    model_ref, table = _table_model(run, model, iris, tmp_path, "regressor")
    with pytest.raises(ComponentFailed, match="^inputs.model: LinearRegression cannot be attacked"):
        run("evaluate.robustness", {"attacks": ["hopskipjump"]}, model=model_ref, table=table)


def test_pictures_of_another_size_are_refused_without_resize(run: Runner, cnn: dict[str, Any], tmp_path: Path) -> None:
    from PIL import Image

    from .conftest import write_image_folder

    pixels = np.zeros((4, 40, 40, 3), dtype=np.uint8)
    images, _, _ = write_image_folder(tmp_path, pixels, np.array([0, 1, 0, 1]), None, validation_every=1)
    assert Image.open(images / "empty/img-0000.png").size == (40, 40)
    with pytest.raises(ComponentFailed, match=r"^parameters.resize: empty/img-0000.png is 40x40, the model expects 32x32"):
        run("evaluate.robustness", {"resize": False}, model=cnn["model_ref"], images=InputRef(f"file://{images}", "images"))


def test_parameters_are_refused_at_upload_by_path() -> None:
    from airgenome.components import registry

    spec = registry.get("evaluate.robustness")
    with pytest.raises(InvalidInput) as caught:
        spec.parse_parameters({"attacks": ["deepfool"], "eps": [0.5, 2.0], "expectations": {"0.07": {"accuracy": {">=": 0.5}}}})
    text = str(caught.value)
    assert "parameters.attacks[0]" in text and "parameters.eps: Value error, 2.0 is not a fraction" in text
