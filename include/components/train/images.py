"""``train.image-classifier`` (alias ``train.mobilenet-v2``): CLAIMED's training component.

A Keras 3 image classifier over a class-folder ``images`` input (see image_data.py), saved
to the model store in the keras flavour with Genome metadata, its training curves and its
lineage. Three architectures:

- ``mobilenet-v2``: CLAIMED's model — MobileNetV2 without its top, global average pooling,
  dropout, a softmax layer. Faithful; the right choice with a GPU or with ImageNet weights.
  From scratch on a few hundred images and 2 CPUs it stayed at chance here.
- ``mobilenet-v2-blocks``: MobileNetV2 cut at ``cut_layer`` (e.g. ``block_3_expand_relu``)
  plus the same small head: 0.86 in ~14 s on the synthetic CT slices (2 CPUs).
- ``small-cnn``: four 3x3 convolutions (16-32-64-64), ~61k parameters: 0.93-0.94 in ~12 s.

Contract of the saved model: it takes float pixels 0..255 of shape ``image_shape``; the
scaling each architecture expects is its own first layer (``Rescaling``: [-1, 1] for
MobileNetV2, [0, 1] for the CNN), so Grad-CAM, LIME, ART and serving feed raw pixels and
no preprocessing function has to travel with the model. Its output is a softmax over the
classes in ``target_classes`` order. The last convolutional feature map's layer name is in
the version's tag ``gradcamLayer``.

``image_shape`` is a list of ints (a string like ``"(224, 224, 3)"`` is parsed with a
regular expression): never ``exec`` — CLAIMED built ``input_shape`` with ``exec``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationInfo, field_validator

from airgenome.components.context import ComponentContext, ComponentFailed, Result

ARCHITECTURES = ("mobilenet-v2", "mobilenet-v2-blocks", "small-cnn")
IMAGENET_ALPHAS = (0.35, 0.5, 0.75, 1.0, 1.3, 1.4)
# MobileNetV2's BatchNormalization momentum is 0.999: after a few hundred steps from scratch
# its moving statistics are still near their initial values and inference collapses to
# one class (measured here); 0.9 fixes it.
SCRATCH_BATCHNORM_MOMENTUM = 0.9
_SHAPE_TEXT = re.compile(r"^\s*[\(\[]?\s*(\d{1,5})\s*,\s*(\d{1,5})\s*,\s*(\d{1,5})\s*,?\s*[\)\]]?\s*$")
_CUT_LAYER = re.compile(r"^block_([1-9]|1[0-6])_(expand_relu|depthwise_relu|project_BN|add)$")

Side = Annotated[StrictInt, Field(ge=32, le=1024, description="pixels")]
Channels = Literal[1, 3]


class ImageClassifierParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    architecture: Literal["mobilenet-v2", "mobilenet-v2-blocks", "small-cnn"] = Field(
        default="mobilenet-v2",
        description="mobilenet-v2 (CLAIMED's; GPU or ImageNet weights), mobilenet-v2-blocks (MobileNetV2 "
        "cut at cut_layer + a small head), small-cnn (~61k parameters; converges on 2 CPUs)",
    )
    image_shape: tuple[Side, Side, Channels] = Field(
        default=(96, 96, 3),
        description="[height, width, channels] the model takes; images are resized to it "
        "(channels 1 = grayscale, 3 = RGB)",
    )
    batch_size: int = Field(default=32, ge=1, le=1024)
    epochs: int = Field(default=10, ge=1, le=1000)
    optimizer: Literal["adam", "adamw", "sgd", "rmsprop", "nadam", "adagrad"] = "adam"
    learning_rate: float = Field(default=0.001, gt=0.0, le=1.0)
    loss: Literal["categorical_crossentropy", "sparse_categorical_crossentropy"] = Field(
        default="categorical_crossentropy", description="CLAIMED used categorical_crossentropy (one-hot labels)"
    )
    alpha: float = Field(
        default=1.0, gt=0.0, le=1.4, description="MobileNetV2 width multiplier (ignored by small-cnn)"
    )
    weights: Literal["imagenet"] | None = Field(
        default=None,
        description="null: from scratch; imagenet: pretrained MobileNetV2 weights, downloaded by Keras "
        "(needs network access on the worker; mobilenet variants only)",
    )
    cut_layer: str = Field(
        default="block_3_expand_relu",
        description="mobilenet-v2-blocks: the MobileNetV2 layer the model is cut at "
        "(block_<1-16>_expand_relu | depthwise_relu | project_BN | add)",
    )
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0, description="dropout before the softmax layer")
    batchnorm_momentum: float | None = Field(
        default=None,
        gt=0.0,
        lt=1.0,
        description="momentum of every BatchNormalization layer; null: 0.9 when training from scratch "
        "(Keras' 0.999 breaks inference after few steps), Keras' own with imagenet weights",
    )
    seed: int = Field(default=123, ge=0, le=2**31 - 1, description="seeds Python, NumPy, TensorFlow and the shuffle")
    validation_fraction: float = Field(
        default=0.2, ge=0.0, lt=1.0, description="held out per class when the input has no split.json"
    )
    run_eagerly: bool = Field(
        default=False,
        description="Keras' run_eagerly: no graph tracing. Tracing MobileNetV2's training step costs "
        "minutes on busy CPUs; for a handful of steps (smoke runs, tests) eager is faster, for real "
        "training slower",
    )
    deterministic: bool = Field(
        default=False, description="TensorFlow's op determinism (bitwise-repeatable runs; slower on GPU)"
    )
    canonical_name: str | None = Field(
        default=None, min_length=1, max_length=300, description="the model's canonicalName (default: the step's)"
    )
    version_name: str | None = Field(default=None, min_length=1, max_length=100, description="Genome's versionName")

    @field_validator("image_shape", mode="before")
    @classmethod
    def _shape_from_text(cls, value: Any) -> Any:
        # CLAIMED passed "(224, 224, 3)" as a string (and exec'd it): parse, never execute.
        if isinstance(value, str):
            match = _SHAPE_TEXT.match(value)
            if not match:
                raise ValueError("expected [height, width, channels], e.g. [64, 64, 3]")
            return [int(v) for v in match.groups()]
        return value

    @field_validator("cut_layer")
    @classmethod
    def _known_cut(cls, value: str) -> str:
        if not _CUT_LAYER.match(value):
            raise ValueError(
                "expected a MobileNetV2 layer block_<1-16>_<expand_relu|depthwise_relu|project_BN|add>, "
                "e.g. block_3_expand_relu"
            )
        return value

    @field_validator("weights")
    @classmethod
    def _weights_fit_the_model(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value == "imagenet":
            data = info.data
            if data.get("architecture") == "small-cnn":
                raise ValueError("imagenet weights exist only for the mobilenet architectures")
            shape = data.get("image_shape")
            if shape is not None and shape[2] != 3:
                raise ValueError("imagenet weights need image_shape with 3 channels")
            if data.get("alpha") is not None and data["alpha"] not in IMAGENET_ALPHAS:
                raise ValueError(f"imagenet weights exist for alpha {', '.join(map(str, IMAGENET_ALPHAS))}")
        return value


# --------------------------------------------------------------------------- models


def gradcam_layer(architecture: str, cut_layer: str) -> str:
    return {"mobilenet-v2": "out_relu", "mobilenet-v2-blocks": cut_layer, "small-cnn": "conv_4"}[architecture]


def build_model(params: ImageClassifierParameters, num_classes: int) -> Any:
    """The Keras model of ``params`` (not compiled): raw pixels in, softmax out."""
    import keras

    shape = tuple(int(v) for v in params.image_shape)
    inputs = keras.Input(shape=shape, name="image")
    if params.architecture == "small-cnn":
        x = keras.layers.Rescaling(1.0 / 255, name="scale")(inputs)
        for index, filters in enumerate((16, 32, 64, 64), start=1):
            x = keras.layers.Conv2D(filters, 3, padding="same", activation="relu", name=f"conv_{index}")(x)
            if index < 4:
                x = keras.layers.MaxPooling2D(name=f"pool_{index}")(x)
    else:
        scaled = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="scale")(inputs)
        base = keras.applications.MobileNetV2(
            input_tensor=scaled, include_top=False, weights=params.weights, alpha=params.alpha
        )
        if params.architecture == "mobilenet-v2-blocks":
            try:
                x = base.get_layer(params.cut_layer).output
            except ValueError:
                raise ComponentFailed(
                    f"parameters.cut_layer: MobileNetV2 has no layer {params.cut_layer!r}"
                ) from None
        else:
            x = base.output
        momentum = params.batchnorm_momentum
        if momentum is None and params.weights is None:
            momentum = SCRATCH_BATCHNORM_MOMENTUM
        if momentum is not None:
            for layer in base.layers:
                if isinstance(layer, keras.layers.BatchNormalization):
                    layer.momentum = momentum
    x = keras.layers.GlobalAveragePooling2D(name="pool")(x)
    if params.dropout > 0:
        x = keras.layers.Dropout(params.dropout, name="dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name=params.architecture.replace("-", "_"))


def make_optimizer(name: str, learning_rate: float) -> Any:
    import keras

    classes = {
        "adam": keras.optimizers.Adam,
        "adamw": keras.optimizers.AdamW,
        "sgd": keras.optimizers.SGD,
        "rmsprop": keras.optimizers.RMSprop,
        "nadam": keras.optimizers.Nadam,
        "adagrad": keras.optimizers.Adagrad,
    }
    return classes[name](learning_rate=learning_rate)


def select_device(gpus: int) -> str:
    """``/GPU:0`` when the step has a GPU and TensorFlow sees one; otherwise ``/CPU:0``."""
    import tensorflow as tf

    visible = tf.config.list_physical_devices("GPU")
    if gpus > 0 and visible:
        return "/GPU:0"
    if gpus > 0:
        print("the step asked for a GPU but TensorFlow sees none: training on the CPU")
    elif visible:
        try:  # a CPU step leaves the GPUs to others (only possible before TensorFlow starts)
            tf.config.set_visible_devices([], "GPU")
        except RuntimeError:
            pass
    return "/CPU:0"


def _float(value: Any) -> float:
    return round(float(value), 6)


# --------------------------------------------------------------------------- run


def train_image_classifier(ctx: ComponentContext, params: ImageClassifierParameters) -> Result:
    import keras
    import tensorflow as tf

    from airgenome.components.files import write_bytes
    from airgenome.components.train.image_data import (
        check_trainable,
        decode_error,
        image_dataset,
        labels_of,
        local_folder,
        read_split,
    )
    from airgenome.models.estimator import GenomeEstimator

    images = ctx.input("images")
    started = time.perf_counter()
    keras.utils.set_random_seed(params.seed)
    if params.deterministic:
        tf.config.experimental.enable_op_determinism()
    device = select_device(ctx.gpus)
    with local_folder(images.uri) as root:
        split = read_split(root, seed=params.seed, fraction=params.validation_fraction)
        check_trainable(split)
        classes = split.classes
        index = {name: i for i, name in enumerate(classes)}
        one_hot = params.loss == "categorical_crossentropy"
        common = {"image_shape": params.image_shape, "batch_size": params.batch_size,
                  "num_classes": len(classes), "one_hot": one_hot}
        train_ds = image_dataset(
            root, split.train, [index[c] for c in labels_of(split.train)], shuffle_seed=params.seed, **common
        )
        val_ds = (
            image_dataset(root, split.validation, [index[c] for c in labels_of(split.validation)], **common)
            if split.validation
            else None
        )
        with tf.device(device):
            model = build_model(params, len(classes))
            model.compile(
                optimizer=make_optimizer(params.optimizer, params.learning_rate),
                loss=params.loss,
                metrics=["accuracy"],
                run_eagerly=params.run_eagerly,
            )
            timer = EpochTimer()
            fit_started = time.perf_counter()
            try:
                history = model.fit(
                    train_ds, validation_data=val_ds, epochs=params.epochs, verbose=2, callbacks=[timer],
                    shuffle=False,  # the dataset shuffles itself (seeded)
                )
            except tf.errors.InvalidArgumentError as error:
                raise decode_error(error) from None
            fit_seconds = time.perf_counter() - fit_started
    curves = {name: [_float(v) for v in values] for name, values in history.history.items()}
    curves["epoch_seconds"] = [round(s, 3) for s in timer.seconds]
    curves["train_seconds"] = [round(s, 3) for s in timer.train_seconds]
    n_train = len(split.train)
    steady = timer.train_seconds[1:] or timer.train_seconds  # epoch 1 includes tracing and decoding
    metrics: dict[str, Any] = {
        "train_images": n_train,
        "validation_images": len(split.validation),
        "classes": list(classes),
        "epochs": params.epochs,
        "parameters": int(model.count_params()),
        "device": device,
        "fit_seconds": round(fit_seconds, 3),
        "train_images_per_second": round(n_train / (sum(steady) / len(steady)), 1) if sum(steady) > 0 else None,
    }
    for name in ("loss", "accuracy", "val_loss", "val_accuracy"):
        if curves.get(name):
            metrics[name] = curves[name][-1]
    print(json.dumps({k: v for k, v in metrics.items() if k != "classes"}))

    step = ctx.step
    canonical = params.canonical_name or step.canonical_name or f"/sequence/{step.pipeline_name}/{step.step_name}"
    training = {
        "architecture": params.architecture,
        "parameters": params.model_dump(mode="json"),
        "classes": list(classes),
        "split": {**split.to_dict(), "train": len(split.train), "validation": len(split.validation)},
        "curves": curves,
        "metrics": metrics,
        "lineage": {"inputs": {"images": images.uri}, "pipelineRunId": step.run_id, "step": step.step_name},
    }
    curves_uri = ctx.output("model", "training.json")
    write_bytes(curves_uri, json.dumps(training, indent=1, sort_keys=True).encode())
    tags = {
        "architecture": params.architecture,
        "imageShape": ",".join(str(v) for v in params.image_shape),
        "inputScale": "0-255",
        "gradcamLayer": gradcam_layer(params.architecture, params.cut_layer),
        "weights": params.weights or "none",
        "splitSource": split.source,
        "trainingCurves": curves_uri,
        "lineage.inputs": json.dumps({"images": images.uri}),
        "lineage.step": step.step_name,
        "lineage.run": step.run_id,
    }
    for name in ("accuracy", "val_accuracy", "loss", "val_loss"):
        if name in metrics:
            tags[f"score.{name}"] = str(metrics[name])
    curves_text = json.dumps(curves, sort_keys=True)
    if len(curves_text) <= 5000:
        tags["curves"] = curves_text
    estimator = GenomeEstimator(model, modality="image", target_classes=classes)
    store = ctx.model_store()
    record = store.save_model(
        estimator,
        {
            "canonicalName": canonical,
            "application": step.application,
            "pipelineName": step.pipeline_name,
            "pipelineRunId": step.run_id,
            "pipelineStage": step.step_name,
            "versionName": params.version_name or f"{params.architecture}-{params.image_shape[0]}px",
            "framework": "keras",
            "inputModality": "image",
            "predictionType": "classification",
            "description": f"{params.architecture} image classifier over {len(classes)} classes "
            f"({', '.join(classes)[:300]})",
            "datasets": [{"ref": images.uri, "kind": "images"}],
            "tags": tags,
        },
    )
    version = str(record["id"])
    metrics["total_seconds"] = round(time.perf_counter() - started, 3)
    metrics["history"] = curves
    print(f"saved model version {version}")
    result = Result(metrics=metrics, model_version=version)
    result.add_output(
        "model",
        f"models:/{version}",
        "model",
        version=version,
        canonicalName=canonical,
        framework="keras",
        classes=list(classes),
        imageShape=list(params.image_shape),
        training=curves_uri,
    )
    return result


def _epoch_timer_class() -> Any:
    import keras

    class _EpochTimer(keras.callbacks.Callback):  # type: ignore[misc]
        """Per-epoch wall seconds, whole epoch and its training part (before validation)."""

        def __init__(self) -> None:
            super().__init__()
            self.seconds: list[float] = []
            self.train_seconds: list[float] = []
            self._start = 0.0
            self._train: float | None = None

        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self._start = time.perf_counter()
            self._train = None

        def on_test_begin(self, logs: Any = None) -> None:
            if self._train is None:
                self._train = time.perf_counter() - self._start

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            total = time.perf_counter() - self._start
            self.seconds.append(total)
            self.train_seconds.append(self._train if self._train is not None else total)

    return _EpochTimer


def EpochTimer() -> Any:  # noqa: N802 - reads as the class it builds
    """Per-epoch wall seconds (the first epoch includes tracing and decoding)."""
    return _epoch_timer_class()()
