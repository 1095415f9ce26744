"""Training throughput: the train.image-classifier component vs a raw Keras ``fit`` of the same
model on the same images, in the same process, runs alternated.

Data: N synthetic grayscale PNGs (bright vs dark squares, two classes) in class folders with
the component's computed 80/20 split. Both sides train the same architecture (built by the
component's own `build_model`, same seed) for E epochs with the same batch size, optimizer and
validation images; the raw side reads the files with a plain tf.data pipeline (decode, resize,
cache, shuffle, batch, prefetch) and calls ``model.fit`` directly. Measured with the same
per-epoch timer: training images per second over the epochs after the first (the first
traces the graph and decodes the files), the whole fit, and the component's end-to-end wall
time (split, fit, model store save). Prints only; never asserts.

    .venv/bin/python tests/bench/bench_training.py [--images 400] [--size 64] [--epochs 4] [--runs 2]
        [--architecture small-cnn]

Goal (issue 11): the component's training throughput within 5 % of raw Keras.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def raw_keras(folder: Path, params: Any, classes: list[str], train: list[str], validation: list[str]) -> dict[str, float]:
    """What a Keras user writes by hand: tf.data over the files, the same model, ``fit``."""
    import keras
    import tensorflow as tf

    from airgenome.components.train.images import EpochTimer, build_model, make_optimizer

    height, width, channels = params.image_shape
    index = {c: i for i, c in enumerate(classes)}

    def dataset(files: list[str], shuffle: bool) -> Any:
        paths = [str(folder / f) for f in files]
        labels = tf.one_hot([index[f.split("/")[0]] for f in files], len(classes))

        def load(path: Any, label: Any) -> Any:
            image = tf.io.decode_image(tf.io.read_file(path), channels=channels, expand_animations=False)
            image = tf.image.resize(image, (height, width))
            image.set_shape((height, width, channels))
            return image, label

        data = tf.data.Dataset.from_tensor_slices((paths, labels)).map(load, num_parallel_calls=tf.data.AUTOTUNE)
        data = data.cache()
        if shuffle:
            data = data.shuffle(len(paths), seed=params.seed)
        return data.batch(params.batch_size).prefetch(tf.data.AUTOTUNE)

    keras.backend.clear_session()
    keras.utils.set_random_seed(params.seed)
    model = build_model(params, len(classes))
    model.compile(optimizer=make_optimizer(params.optimizer, params.learning_rate), loss=params.loss, metrics=["accuracy"])
    timer = EpochTimer()
    started = time.perf_counter()
    history = model.fit(dataset(train, True), validation_data=dataset(validation, False), epochs=params.epochs,
                        verbose=0, callbacks=[timer], shuffle=False)
    fit = time.perf_counter() - started
    steady = timer.train_seconds[1:] or timer.train_seconds
    return {
        "images_per_second": len(train) / statistics.mean(steady),
        "fit_seconds": fit,
        "val_accuracy": float(history.history["val_accuracy"][-1]),
    }


def component(folder: Path, home: Path, parameters: dict[str, Any], run: int) -> dict[str, float]:
    import keras

    from airgenome.components.runtime import main
    from airgenome.settings import StoreLocations

    keras.backend.clear_session()
    result = home / f"result-{run}.json"
    env = {
        "PIPELINE_NAME": "bench-training",
        "PIPELINE_RUNID": f"run-{run}",
        "STEP_NAME": "train",
        "AIRGENOME_HOME": str(home),
        "AIRGENOME_LAKE_ROOT": str(home / "lake"),
        "AIRGENOME_RESULT_PATH": str(result),
        "PARAMETERS": json.dumps(parameters),
        "AIRGENOME_INPUTS": json.dumps({"images": {"uri": folder.as_uri(), "kind": "images"}}),
        **StoreLocations.under(home / "stores").as_env(),
    }
    started = time.perf_counter()
    code = main(["train.image-classifier"], env)
    wall = time.perf_counter() - started
    if code != 0:
        raise SystemExit(f"component failed with exit {code}")
    metrics = json.loads(result.read_text())["metrics"]
    return {
        "images_per_second": float(metrics["train_images_per_second"]),
        "fit_seconds": float(metrics["fit_seconds"]),
        "wall_seconds": wall,
        "val_accuracy": float(metrics.get("val_accuracy", float("nan"))),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=400)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--architecture", default="small-cnn")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from airgenome.components.train.image_data import read_split
    from airgenome.components.train.images import ImageClassifierParameters
    from tests.components.train_eval.helpers import square_images

    scratch = Path(tempfile.mkdtemp(prefix="bench-training-"))
    folder = square_images(scratch / "images", args.images // 2, sizes=(args.size,), seed=0)
    parameters = {
        "architecture": args.architecture,
        "image_shape": [args.size, args.size, 1 if args.architecture == "small-cnn" else 3],
        "epochs": args.epochs,
        "batch_size": 32,
        "learning_rate": 0.002,
        "alpha": 0.35,
        "seed": 123,
    }
    params = ImageClassifierParameters.model_validate(parameters)
    split = read_split(str(folder))
    print(f"{args.images} images {args.size}px, {len(split.train)} train / {len(split.validation)} validation, "
          f"{args.architecture}, {args.epochs} epochs, batch 32, {os.cpu_count()} CPUs", flush=True)
    import tensorflow as tf  # noqa: F401 - imported once, outside the timings

    raws, components = [], []
    for run in range(args.runs):  # alternated: a busy machine slows both alike
        raws.append(raw_keras(folder, params, split.classes, split.train, split.validation))
        components.append(component(folder, scratch / "home", parameters, run))
        print(f"run {run}: raw {raws[-1]['images_per_second']:.0f} img/s, component "
              f"{components[-1]['images_per_second']:.0f} img/s", flush=True)

    def median(rows: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rows)

    raw_ips, comp_ips = median(raws, "images_per_second"), median(components, "images_per_second")
    print(f"training throughput (median of {args.runs}, epochs 2..{args.epochs}):")
    print(f"  raw keras fit      {raw_ips:8.1f} images/s   fit {median(raws, 'fit_seconds'):6.2f} s   "
          f"val_accuracy {median(raws, 'val_accuracy'):.3f}")
    print(f"  component          {comp_ips:8.1f} images/s   fit {median(components, 'fit_seconds'):6.2f} s   "
          f"val_accuracy {median(components, 'val_accuracy'):.3f}")
    print(f"  overhead           {100 * (raw_ips / comp_ips - 1):+.1f} % time per image (goal <= 5 %)")
    print(f"  whole fit ratio    {median(components, 'fit_seconds') / median(raws, 'fit_seconds'):.3f}x")
    print(f"  component end to end {median(components, 'wall_seconds'):.2f} s (split, fit, store save)")


if __name__ == "__main__":
    main()
