"""Trusted-AI evaluation components vs the raw library calls they make (same process, same data).

Prints only; run from the repository root: `.venv/bin/python tests/bench/bench_trust_eval.py`.

- Grad-CAM: `BatchGradCam` (one `tf.function` over a batch) per image vs one image at a time
  in eager mode (GradientTape around the same feature/output model). Goal >= 5x faster.
- evaluate.fairness on a table with predictions vs AIF360 called directly (BinaryLabelDataset
  + ClassificationMetric + the six metrics and per-group rates, per attribute). Goal <= 1.2x.
- evaluate.robustness (FGSM + PGD at three eps on a CNN) vs the ART calls on pixels already in
  memory (TensorFlowV2Classifier, the attacks, predictions). Goal <= 1.2x.

Imports are warmed before timing; the component side includes reading its inputs, loading the
model from the store, drawing and writing pictures and saving the evaluation run.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
SIZE = 64
REPEATS = 3
# BENCH_TRUST_PARTS=fairness (or gradcam,robustness) runs a part; all three by default.
PARTS = set(filter(None, os.environ.get("BENCH_TRUST_PARTS", "gradcam,robustness,fairness").split(",")))


def best(function: Any, repeats: int = REPEATS) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return min(times)


def cnn() -> Any:
    import keras

    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(32, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(64, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )


def bench_gradcam(model: Any, pixels: np.ndarray) -> None:
    import tensorflow as tf

    from airgenome.components.evaluate.explanations import BatchGradCam
    from airgenome.components.evaluate.imaging import KerasImageModel
    from airgenome.explain.image import feature_and_output_model
    from airgenome.models.estimator import GenomeEstimator

    wrapped = KerasImageModel(GenomeEstimator(model, modality="image", target_classes=["a", "b"]))
    batch = BatchGradCam(wrapped)
    classes = np.ones(len(pixels), dtype=int)
    batch(pixels, classes, batch_size=64)  # trace once
    batched = best(lambda: batch(pixels, classes, batch_size=64)) / len(pixels)

    grad_model, _ = feature_and_output_model(model, (None, SIZE, SIZE, 3))

    def eager_one(picture: np.ndarray) -> np.ndarray:
        x = tf.constant(picture[None])
        with tf.GradientTape() as tape:
            features, out = grad_model(x, training=False)
            score = out[0, 1]
        grads = tape.gradient(score, features)
        weights = tf.reduce_mean(grads, axis=(0, 1, 2))
        cam = tf.nn.relu(tf.reduce_sum(features[0] * weights, axis=-1))
        cam = cam / (tf.reduce_max(cam) + 1e-12)
        return np.asarray(tf.image.resize(cam[..., None], (SIZE, SIZE))[..., 0])

    eager_one(pixels[0])
    subset = pixels[:16]
    eager = best(lambda: [eager_one(p) for p in subset]) / len(subset)
    print(f"grad-cam per image: batch {batched * 1000:.2f} ms, eager one at a time {eager * 1000:.2f} ms "
          f"-> {eager / batched:.1f}x faster (goal >= 5x)")


def fairness_table(rows: int) -> Any:
    import pandas as pd

    rng = np.random.default_rng(0)
    sex = rng.choice(["M", "F"], size=rows)
    age = rng.integers(20, 90, size=rows)
    label = rng.integers(0, 2, size=rows)
    prediction = np.where(rng.random(rows) < 0.85, label, 1 - label)
    prediction[(sex == "F") & (label == 1) & (rng.random(rows) < 0.3)] = 0
    return pd.DataFrame({"sex": sex, "age": age, "finding": label, "predicted": prediction})


def bench_fairness(runner: Any, work: Path) -> None:
    for rows in (20_000, 200_000):
        fairness_once(runner, work, rows)


def fairness_once(runner: Any, work: Path, rows: int) -> None:
    import pandas as pd
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric

    from airgenome.components.context import InputRef
    from airgenome.components.files import write_table

    frame = fairness_table(rows)
    uri, _ = write_table(f"file://{work}/fair-{rows}", frame)
    params = {"label": "finding", "prediction": "predicted", "favorable": 1,
              "protected": {"sex": ["M"], "age": {"min": 0, "max": 59}}}

    def component() -> None:
        runner("evaluate.fairness", params, table=InputRef(uri, "table"))

    def raw() -> None:
        y = frame["finding"].to_numpy(float)
        p = frame["predicted"].to_numpy(float)
        for name, privileged in (("sex", frame["sex"].to_numpy() == "M"), ("age", frame["age"].to_numpy() <= 59)):
            truth = pd.DataFrame({name: privileged.astype(float), "label": y})
            guess = truth.assign(label=p)
            kw: dict[str, Any] = {"favorable_label": 1.0, "unfavorable_label": 0.0, "label_names": ["label"],
                                  "protected_attribute_names": [name]}
            metric = ClassificationMetric(BinaryLabelDataset(df=truth, **kw), BinaryLabelDataset(df=guess, **kw),
                                          unprivileged_groups=[{name: 0.0}], privileged_groups=[{name: 1.0}])
            for m in ("statistical_parity_difference", "disparate_impact", "equal_opportunity_difference",
                      "average_odds_difference", "error_rate_difference", "theil_index"):
                getattr(metric, m)()
            for flag in (True, False):
                metric.accuracy(privileged=flag), metric.true_positive_rate(privileged=flag), metric.false_positive_rate(privileged=flag)

    component()
    raw()
    c, r = best(component), best(raw)
    print(f"fairness, {rows} rows x 2 attributes: component {c * 1000:.0f} ms, raw aif360 {r * 1000:.0f} ms -> {c / r:.2f}x (goal <= 1.2x)")


def bench_robustness(runner: Any, model_ref: Any, images_ref: Any, pixels: np.ndarray, labels: np.ndarray) -> None:
    import tensorflow as tf
    from art.attacks.evasion import FastGradientMethod, ProjectedGradientDescent
    from art.estimators.classification import TensorFlowV2Classifier

    model_obj = runner.model
    eps = [0.01, 0.03, 0.1]
    params = {"attacks": ["fgsm", "pgd"], "eps": eps, "sample_size": len(pixels), "subset": "all", "pgd_max_iter": 10, "pairs": 4}

    def component() -> None:
        runner("evaluate.robustness", params, model=model_ref, images=images_ref)

    def raw() -> None:
        @tf.function(input_signature=[tf.TensorSpec((None, SIZE, SIZE, 3), tf.float32)])
        def compiled(x: Any) -> Any:
            return tf.math.log(model_obj(x, training=False) + 1e-12)

        def forward(x: Any, training: bool = False) -> Any:
            return compiled(x)

        classifier = TensorFlowV2Classifier(model=forward, nb_classes=2, input_shape=(SIZE, SIZE, 3),
                                            loss_object=tf.keras.losses.CategoricalCrossentropy(from_logits=True), clip_values=(0.0, 255.0))
        onehot = np.eye(2, dtype=np.float32)[labels]
        classifier.predict(pixels, batch_size=64)
        for e in eps:
            for attack in (FastGradientMethod(classifier, eps=e * 255, eps_step=e * 255, batch_size=64),
                           ProjectedGradientDescent(classifier, eps=e * 255, eps_step=e * 255 / 4, max_iter=10, batch_size=64, verbose=False)):
                classifier.predict(attack.generate(pixels, y=onehot), batch_size=64)

    component()
    raw()
    c, r = best(component, 2), best(raw, 2)
    print(f"robustness, {len(pixels)} images, FGSM+PGD(10) x 3 eps: component {c:.2f} s, raw ART {r:.2f} s -> {c / r:.2f}x (goal <= 1.2x)")


def main() -> None:
    from PIL import Image

    from airgenome.components.context import InputRef
    from airgenome.settings import StoreLocations
    from tests.components.trust_eval.conftest import Runner

    work = Path(tempfile.mkdtemp(prefix="bench-trust-"))
    stores = StoreLocations.under(work / "stores")
    os.environ.update(stores.as_env())
    runner = Runner(stores, work / "lake")
    if "fairness" in PARTS:
        bench_fairness(runner, work)
    if not PARTS & {"gradcam", "robustness"}:
        return

    rng = np.random.default_rng(0)
    count = 128
    pixels = rng.integers(0, 90, size=(count, SIZE, SIZE, 3)).astype(np.uint8)
    labels = np.arange(count) % 2
    for i in np.flatnonzero(labels == 1):
        y, x = rng.integers(0, SIZE - 12, size=2)
        pixels[i, y : y + 12, x : x + 12] = 230
    model = cnn()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(pixels.astype("float32"), labels, epochs=3, verbose=0)
    if "gradcam" in PARTS:
        bench_gradcam(model, pixels.astype("float32"))
    if "robustness" not in PARTS:
        return

    from airgenome.models.client import ModelStore
    from airgenome.models.estimator import GenomeEstimator

    store = ModelStore(stores.model_store_uri, artifacts=stores.model_artifacts, registry_uri=stores.model_registry_uri)
    record = store.save_model(GenomeEstimator(model, modality="image", target_classes=["empty", "square"]),
                              {"canonicalName": "/bench/trust/cnn", "application": "bench", "pipelineName": "bench",
                               "pipelineRunId": "bench-1", "pipelineStage": "train", "framework": "keras",
                               "inputModality": "image", "versionName": "1", "predictionType": "classification"})
    images = work / "images"
    paths = []
    for i, picture in enumerate(pixels):
        rel = f"{['empty', 'square'][labels[i]]}/img-{i:04d}.png"
        (images / rel).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(images / rel)
        paths.append(rel)
    (images / "split.json").write_text(json.dumps({"seed": 1, "validation_fraction": 0.0, "classes": ["empty", "square"],
                                                   "train": paths, "validation": []}))
    version = str(record["id"])
    runner.model = model
    bench_robustness(runner, InputRef(f"models:/{version}", "model", {"version": version}),
                     InputRef(f"file://{images}", "images"), pixels.astype(np.float32), labels)


if __name__ == "__main__":
    main()
