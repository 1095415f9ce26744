"""Shared fixtures of the trusted-AI evaluation tests: throwaway stores, a lake, synthetic
pictures where a bright square decides the class (so the region masks are known), and a tiny
Keras CNN trained on them for a few seconds and saved through the model store."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from airgenome.components import registry
from airgenome.components.context import ComponentContext, InputRef, Result, StepInfo
from airgenome.components.runtime import run_component
from airgenome.settings import StoreLocations

SIZE = 32
SQUARE = 8
CLASSES = ("empty", "square")


@pytest.fixture(scope="package")
def stores(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StoreLocations]:
    base: Path = tmp_path_factory.mktemp("trust-stores")
    locations = StoreLocations.under(base)
    with pytest.MonkeyPatch.context() as patch:
        for key, value in locations.as_env().items():
            patch.setenv(key, value)
        yield locations


class Runner:
    """Runs a registered component in this process, as the runtime does (validation included)."""

    def __init__(self, stores: StoreLocations, lake: Path) -> None:
        self.stores = stores
        self.lake = lake
        self.count = 0

    def context(self, name: str, inputs: dict[str, InputRef]) -> ComponentContext:
        self.count += 1
        step = f"step-{self.count}"
        return ComponentContext(
            component=name,
            step=StepInfo(pipeline_name="trust", run_id="run-1", step_name=step),
            inputs=inputs,
            output_uri=f"file://{self.lake}/runs/trust/run-1/{step}",
            stores=self.stores,
            lake_root=f"file://{self.lake}",
        )

    def __call__(self, name: str, params: dict[str, Any], **inputs: InputRef) -> Result:
        spec = registry.get(name)
        return run_component(spec, self.context(name, inputs), params)


@pytest.fixture(scope="package")
def run(stores: StoreLocations, tmp_path_factory: pytest.TempPathFactory) -> Runner:
    return Runner(stores, tmp_path_factory.mktemp("lake"))


def square_images(count: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(pixels uint8 (n, 32, 32, 3), labels 0 empty / 1 square, masks bool (n, 32, 32))."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 90, size=(count, SIZE, SIZE, 3)).astype(np.uint8)
    labels = np.arange(count) % 2
    masks = np.zeros((count, SIZE, SIZE), dtype=bool)
    for i in np.flatnonzero(labels == 1):
        y, x = rng.integers(0, SIZE - SQUARE, size=2)
        pixels[i, y : y + SQUARE, x : x + SQUARE] = 230
        masks[i, y : y + SQUARE, x : x + SQUARE] = True
    return pixels, labels, masks


def write_image_folder(root: Path, pixels: np.ndarray, labels: np.ndarray, masks: np.ndarray | None, validation_every: int = 3) -> tuple[Path, Path, list[str]]:
    """images/<class>/<file>.png + split.json, masks/<class>/<file>.png (square images only)."""
    from PIL import Image

    images, mask_root = root / "images", root / "masks"
    paths, train, validation = [], [], []
    for i, (picture, label) in enumerate(zip(pixels, labels, strict=True)):
        rel = f"{CLASSES[label]}/img-{i:04d}.png"
        (images / CLASSES[label]).mkdir(parents=True, exist_ok=True)
        Image.fromarray(picture).save(images / rel)
        if masks is not None and label == 1:
            (mask_root / CLASSES[label]).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.uint8(masks[i]) * 255).save(mask_root / rel)
        (validation if i % validation_every == 0 else train).append(rel)
        paths.append(rel)
    split = {"seed": 123, "validation_fraction": 1 / validation_every, "classes": list(CLASSES), "train": train, "validation": validation}
    (images / "split.json").write_text(json.dumps(split))
    return images, mask_root, paths


@pytest.fixture(scope="package")
def cnn(stores: StoreLocations, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A tiny CNN that learned 'bright square => square', saved in the model store; data on disk."""
    import keras

    from airgenome.models.client import ModelStore
    from airgenome.models.estimator import GenomeEstimator

    keras.utils.set_random_seed(0)
    pixels, labels, masks = square_images(400, seed=1)
    model = keras.Sequential(
        [
            keras.Input((SIZE, SIZE, 3)),
            keras.layers.Rescaling(1 / 255),
            keras.layers.Conv2D(8, 3, padding="same", activation="relu"),
            keras.layers.MaxPooling2D(),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.Conv2D(16, 3, padding="same", activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(2, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(pixels.astype("float32"), labels, epochs=6, batch_size=32, verbose=0)
    store = ModelStore(stores.model_store_uri, artifacts=stores.model_artifacts, registry_uri=stores.model_registry_uri)
    record = store.save_model(
        GenomeEstimator(model, modality="image", target_classes=list(CLASSES)),
        {
            "canonicalName": "/tests/trust/square-cnn",
            "application": "trust",
            "pipelineName": "trust",
            "pipelineRunId": "run-1",
            "pipelineStage": "train",
            "framework": "keras",
            "inputModality": "image",
            "versionName": "1.0",
            "predictionType": "classification",
        },
    )
    root = tmp_path_factory.mktemp("square-data")
    test_pixels, test_labels, test_masks = square_images(120, seed=2)
    images, mask_root, paths = write_image_folder(root, test_pixels, test_labels, test_masks)
    version = str(record["id"])
    return {
        "model": model,
        "version": version,
        "model_ref": InputRef(f"models:/{version}", "model", {"version": version}),
        "images_ref": InputRef(f"file://{images}", "images"),
        "masks_ref": InputRef(f"file://{mask_root}", "images"),
        "pixels": test_pixels,
        "labels": test_labels,
        "masks": test_masks,
        "paths": paths,
        "root": root,
    }
