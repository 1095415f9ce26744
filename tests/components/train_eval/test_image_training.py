"""train.image-classifier and evaluate.confusion-matrix on images (one TensorFlow import here).

Two trainings per module: a tiny MobileNetV2 (saves, loads, predicts the same) and the small
CNN on bright vs dark squares (learns them; the confusion matrix sees the same split).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from airgenome.components.lake import local_path
from airgenome.components.runtime import EXIT_BAD_INPUT
from tests.components.train_eval.helpers import images_input, run, square_images

pytest.importorskip("tensorflow")

CNN = {
    "architecture": "small-cnn",
    "image_shape": [32, 32, 1],
    "epochs": 6,
    "batch_size": 16,
    "learning_rate": 0.003,
    "seed": 7,
}


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("train-eval-images")


@pytest.fixture(scope="module")
def squares(root: Path) -> Path:
    """40 images a class, 32 and 40 px mixed (resized by the pipeline), with a split.json."""
    folder = square_images(root / "squares", 40, sizes=(32, 40), seed=1)
    files = {c: sorted(f"{c}/{p.name}" for p in (folder / c).iterdir()) for c in ("bright", "dark")}
    split = {
        "seed": 123,
        "validation_fraction": 0.2,
        "classes": ["bright", "dark"],
        "train": files["bright"][:32] + files["dark"][:32],
        "validation": files["bright"][32:] + files["dark"][32:],
    }
    (folder / "split.json").write_text(json.dumps(split))
    return folder


@pytest.fixture(scope="module")
def cnn(root: Path, squares: Path) -> dict[str, Any]:
    code, manifest = run("train.image-classifier", root, "train-cnn", CNN, images_input(squares))
    assert code == 0, manifest
    return manifest


@pytest.fixture(scope="module")
def mobilenet(root: Path) -> Iterator[tuple[dict[str, Any], Any]]:
    """A tiny MobileNetV2 (alpha 0.35, 32 px, 1 epoch of 2 eager steps, no validation: tracing its
    training graph took minutes on the busy test machine); the estimator given to the store is kept."""
    from airgenome.models.client import ModelStore

    folder = square_images(root / "tiny", 8, seed=2)
    files = sorted(f"{p.parent.name}/{p.name}" for p in folder.glob("*/*.png"))
    split = {"classes": ["bright", "dark"], "train": files, "validation": []}
    (folder / "split.json").write_text(json.dumps(split))
    saved: list[Any] = []
    original = ModelStore.save_model

    def keep(self: Any, estimator: Any, meta: Any) -> Any:
        saved.append(estimator)
        return original(self, estimator, meta)

    parameters = {"architecture": "mobilenet-v2", "alpha": 0.35, "image_shape": [32, 32, 3], "epochs": 1,
                  "batch_size": 8, "seed": 3, "run_eagerly": True}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(ModelStore, "save_model", keep)
        code, manifest = run("train.mobilenet-v2", root, "train-mobilenet", parameters, images_input(folder))
    assert code == 0, manifest
    yield manifest, saved[0]


def _store(root: Path) -> Any:
    from airgenome.models.client import ModelStore
    from airgenome.settings import StoreLocations

    stores = StoreLocations.under(root / "stores")
    return ModelStore(stores.model_store_uri, artifacts=stores.model_artifacts)


@pytest.mark.slow
def test_a_tiny_mobilenet_v2_saves_loads_from_the_store_and_predicts_the_same(
    root: Path, mobilenet: tuple[dict[str, Any], Any]
) -> None:
    manifest, trained = mobilenet
    version = manifest["outputs"]["model"]["metadata"]["version"]
    assert manifest["outputs"]["model"]["uri"] == f"models:/{version}"
    record = _store(root).get_model(version)
    assert (record.framework, record.input_modality, record.prediction_type) == ("keras", "image", "classification")
    assert record.tags["architecture"] == "mobilenet-v2" and record.tags["gradcamLayer"] == "out_relu"
    loaded = _store(root).load_record(record)
    assert loaded.target_classes == ["bright", "dark"]
    batch = np.random.default_rng(0).uniform(0, 255, (6, 32, 32, 3)).astype("float32")
    # Direct calls: predict() would trace MobileNetV2 twice more.
    same = loaded.estimator(batch, training=False), trained.estimator(batch, training=False)
    np.testing.assert_allclose(np.asarray(same[0]), np.asarray(same[1]), rtol=1e-5, atol=1e-6)
    # Training from scratch sets MobileNetV2's BatchNorm momentum to 0.9 (Keras' 0.999 breaks inference).
    import keras

    momenta = {x.momentum for x in loaded.estimator.layers if isinstance(x, keras.layers.BatchNormalization)}
    assert momenta == {0.9}


def test_the_small_cnn_learns_bright_vs_dark_squares(root: Path, cnn: dict[str, Any]) -> None:
    metrics = cnn["metrics"]
    assert metrics["val_accuracy"] >= 0.9, metrics["history"]
    assert metrics["train_images"] == 64 and metrics["validation_images"] == 16
    assert len(metrics["history"]["loss"]) == CNN["epochs"]
    assert metrics["device"] == "/CPU:0" and 50_000 < metrics["parameters"] < 70_000
    record = _store(root).get_model(cnn["model_version"])
    assert record.tags["splitSource"] == "split.json"
    assert record.pipeline_stage == "train-cnn" and record.pipeline_run_id == "manual__1"
    assert json.loads(record.tags["lineage.inputs"])["images"].endswith("/squares")
    training = json.loads(Path(local_path(record.tags["trainingCurves"]) or "").read_text())
    assert training["curves"]["val_accuracy"] == metrics["history"]["val_accuracy"]


def test_the_confusion_matrix_judges_the_split_s_validation_images(
    root: Path, cnn: dict[str, Any], squares: Path
) -> None:
    from airgenome.evaluations.store import get_evaluation_store
    from airgenome.settings import StoreLocations

    wired = {"model": cnn["outputs"]["model"], **images_input(squares)}
    expectations = {"accuracy": {">=": 0.9}, "recall.dark": {">=": 0.9}}
    code, manifest = run("evaluate.confusion-matrix", root, "confusion", {"expectations": expectations}, wired)
    assert code == 0, manifest
    metrics = manifest["metrics"]
    # The same 16 validation images the training held out: the same accuracy.
    assert metrics["n_examples"] == 16
    assert metrics["accuracy"] == pytest.approx(cnn["metrics"]["val_accuracy"], abs=1e-6)
    assert sum(map(sum, metrics["confusion_matrix"])) == 16
    evaluation = manifest["outputs"]["evaluation"]["metadata"]
    run_record = get_evaluation_store(StoreLocations.under(root / "stores").evaluation_store_uri).get(evaluation["id"])
    assert run_record.target_model.id == cnn["model_version"] and run_record.status == 1
    overall = run_record.tasks[0]
    assert overall.pictures[0]["name"] == "confusion matrix"
    picture = Path(local_path(overall.pictures[0]["uri"]) or "")
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [t.segment for t in run_record.tasks if t.kind == "task"][1:] == [{"class": "bright"}, {"class": "dark"}]
    import pandas as pd

    predictions = pd.read_parquet(local_path(manifest["outputs"]["predictions"]["uri"]))
    assert list(predictions.columns) == ["id", "image", "label", "prediction", "confidence", "correct"]
    split = json.loads((squares / "split.json").read_text())
    assert predictions["id"].tolist() == split["validation"]


def test_images_of_a_class_the_model_does_not_know_are_refused(
    root: Path, cnn: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    folder = square_images(root / "three", 3, classes=("bright", "dark", "medium"))
    wired = {"model": cnn["outputs"]["model"], **images_input(folder)}
    code, _ = run("evaluate.confusion-matrix", root, "confusion-unknown", {"split": "all"}, wired)
    assert code == 1
    assert "inputs.images: classes medium are not among the model's classes (bright, dark)" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("layout", "message"),
    [
        ("empty", "inputs.images: no images (PNG/JPEG)"),
        ("one-class", "a classifier needs images of at least two classes"),
        ("missing-file", "split.json lists files the folder does not hold: dark/gone.png"),
    ],
)
def test_bad_image_folders_fail_with_a_clear_message(
    root: Path, layout: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = root / f"bad-{layout}"
    folder.mkdir()
    if layout == "one-class":
        square_images(folder, 4, classes=("bright",))
    elif layout == "missing-file":
        square_images(folder, 2)
        split = {"classes": ["bright", "dark"], "train": ["bright/bright-000.png"], "validation": ["dark/gone.png"]}
        (folder / "split.json").write_text(json.dumps(split))
    code, _ = run("train.image-classifier", root, f"train-{layout}", CNN, images_input(folder))
    assert code == 1
    assert message in capsys.readouterr().err


def test_bad_parameters_are_refused_by_path_before_anything_runs(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = root / "squares-unused"
    parameters = {"image_shape": "__import__('os').system('true')", "weights": "imagenet", "architecture": "small-cnn"}
    code, _ = run("train.image-classifier", root, "train-bad", parameters, images_input(folder))
    assert code == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "parameters.image_shape: Value error, expected [height, width, channels]" in err
    assert "parameters.weights: Value error, imagenet weights exist only for the mobilenet architectures" in err
