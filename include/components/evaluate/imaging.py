"""Shared parts of the trusted-AI evaluations (fairness, robustness, explanations).

- the judged model: its store record and `GenomeEstimator` from the ``model`` input;
- pictures from an ``images`` input (``<class>/<file>`` plus ``split.json``), read through the
  lake's file system, checked against the model's input size;
- `KerasImageModel`: a Keras image classifier as one `tf.function` forward pass from 0..255
  pixels (scaled to the model's ``pixel_range``, then the estimator's preprocessor) to
  class probabilities with at least two columns (a single sigmoid becomes ``[1-p, p]``);
- PNG pictures without matplotlib (Pillow): tile grids with captions and bar charts;
- the evaluation's result manifest.

Heavy libraries are imported inside functions.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from airgenome.components.context import ComponentContext, ComponentFailed, Result

SPLIT_FILE = "split.json"


# --------------------------------------------------------------------------- the model


def load_model(ctx: ComponentContext) -> tuple[Any, Any]:
    """(store record, GenomeEstimator) of the ``model`` input."""
    version = ctx.model_version("model")
    store = ctx.model_store()
    try:
        record = store.get_model(version)
    except Exception as error:  # noqa: BLE001 - NotFound and backend errors alike name the input
        raise ComponentFailed(f"inputs.model: model version {version!r} not found ({error})") from None
    return record, store.load_record(record)


def framework_of(estimator: Any) -> str | None:
    return getattr(estimator, "framework", None)


# --------------------------------------------------------------------------- images


def _relative(path: Any, where: str) -> str:
    if not isinstance(path, str) or not path or path.startswith("/") or "\\" in path:
        raise ComponentFailed(f"{where}: {path!r} is not a relative <class>/<file> path")
    parts = path.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise ComponentFailed(f"{where}: {path!r} is not a relative <class>/<file> path")
    return path


def read_split(images_uri: str, where: str = "inputs.images") -> dict[str, Any]:
    from airgenome.components.files import read_bytes

    try:
        split = json.loads(read_bytes(f"{images_uri.rstrip('/')}/{SPLIT_FILE}"))
    except FileNotFoundError:
        raise ComponentFailed(f"{where}: no {SPLIT_FILE} at the root of {images_uri}") from None
    except ValueError as error:
        raise ComponentFailed(f"{where}: {SPLIT_FILE} is not valid JSON ({error})") from None
    if not isinstance(split, dict) or not isinstance(split.get("classes"), list):
        raise ComponentFailed(f"{where}: {SPLIT_FILE} has no list of classes")
    return split


def split_paths(split: dict[str, Any], subset: str, where: str = "inputs.images") -> list[str]:
    """The relative paths of the subset (``validation`` or ``all`` = train + validation)."""
    keys = ("validation",) if subset == "validation" else ("train", "validation")
    paths: list[str] = []
    for key in keys:
        items = split.get(key) or []
        if not isinstance(items, list):
            raise ComponentFailed(f"{where}: {SPLIT_FILE}.{key} is not a list")
        paths.extend(_relative(item, f"{where}: {SPLIT_FILE}.{key}") for item in items)
    if not paths:
        raise ComponentFailed(f"{where}: the {subset} subset of {SPLIT_FILE} lists no images")
    return paths


def sample_indices(count: int, size: int, seed: int) -> np.ndarray:
    """At most ``size`` indices out of ``count``, seeded, in ascending order."""
    if count <= size:
        return np.arange(count)
    return np.sort(np.random.default_rng(seed).choice(count, size=size, replace=False))


def class_of(path: str) -> str:
    return path.split("/", 1)[0]


def label_indices(labels: Sequence[Any], classes: Sequence[str], where: str) -> np.ndarray:
    """Class names -> indices into the model's classes; a label outside them is an error."""
    index = {name: i for i, name in enumerate(classes)}
    unknown = sorted({str(label) for label in labels} - set(index))
    if unknown:
        raise ComponentFailed(
            f"{where}: label(s) {', '.join(map(repr, unknown[:5]))} are not among the model's classes "
            f"({', '.join(classes)})"
        )
    return np.asarray([index[str(label)] for label in labels], dtype=int)


def load_pictures(
    images_uri: str,
    paths: Sequence[str],
    *,
    height: int,
    width: int,
    channels: int,
    resize: bool,
    where: str = "inputs.images",
) -> np.ndarray:
    """(n, height, width, channels) float32 pixels in 0..255."""
    import io

    from PIL import Image

    from airgenome.components.files import read_bytes

    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(paths), height, width, channels), dtype=np.float32)
    base = images_uri.rstrip("/")
    for i, path in enumerate(paths):
        try:
            picture: Any = Image.open(io.BytesIO(read_bytes(f"{base}/{path}")))
            picture.load()
        except FileNotFoundError:
            raise ComponentFailed(f"{where}: {path} is listed but missing") from None
        except Exception as error:  # noqa: BLE001 - Pillow raises many types for bad files
            raise ComponentFailed(f"{where}: {path} is not a readable image ({type(error).__name__})") from None
        if picture.size != (width, height):
            if not resize:
                raise ComponentFailed(
                    f"parameters.resize: {path} is {picture.size[0]}x{picture.size[1]}, the model expects "
                    f"{width}x{height} (width x height); set resize to true or give pictures of that size"
                )
            picture = picture.resize((width, height), Image.Resampling.BILINEAR)
        array = np.asarray(picture.convert(mode), dtype=np.float32)
        out[i] = array[:, :, None] if array.ndim == 2 else array
    return out


def load_masks(masks_uri: str, paths: Sequence[str], *, height: int, width: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(masks (n, h, w) bool, present (n,) bool): a missing mask file means no mask for that image."""
    import io

    from PIL import Image

    from airgenome.components.files import read_bytes

    masks = np.zeros((len(paths), height, width), dtype=bool)
    present = np.zeros(len(paths), dtype=bool)
    base = masks_uri.rstrip("/")
    for i, path in enumerate(paths):
        try:
            picture: Any = Image.open(io.BytesIO(read_bytes(f"{base}/{path}")))
            picture.load()
        except FileNotFoundError:
            continue
        except Exception as error:  # noqa: BLE001
            raise ComponentFailed(f"inputs.masks: {path} is not a readable image ({type(error).__name__})") from None
        if picture.size != (width, height):
            picture = picture.resize((width, height), Image.Resampling.NEAREST)
        array = np.asarray(picture.convert("L"), dtype=np.float32) / 255.0
        masks[i] = array > threshold
        present[i] = True
    return masks, present


@dataclass
class ImageSet:
    pixels: np.ndarray  # (n, h, w, c) float32, 0..255
    labels: np.ndarray  # (n,) indices into classes
    paths: list[str]
    classes: list[str]


def load_image_set(
    ctx: ComponentContext, model: KerasImageModel, params: Any, *, sample_size: int | None, seed: int = 0
) -> ImageSet:
    """The subset of the ``images`` input (seeded sample), labels by folder, checked against the model."""
    images = ctx.input("images").uri
    split = read_split(images)
    paths = split_paths(split, params.subset)
    if sample_size is not None:
        paths = [paths[i] for i in sample_indices(len(paths), sample_size, seed)]
    classes = model.classes or [str(c) for c in split["classes"]]
    if len(classes) != model.n_classes:
        raise ComponentFailed(
            f"inputs.model: the model has {model.n_classes} outputs but {len(classes)} classes "
            f"({', '.join(classes)})"
        )
    labels = label_indices([class_of(p) for p in paths], classes, "inputs.images")
    pixels = load_pictures(
        images, paths, height=model.height, width=model.width, channels=model.channels, resize=params.resize
    )
    return ImageSet(pixels=pixels, labels=labels, paths=list(paths), classes=list(classes))


# --------------------------------------------------------------------------- Keras image models


class KerasImageModel:
    """A Keras image classifier seen from 0..255 pixels: probabilities and log-probabilities."""

    def __init__(self, estimator: Any, pixel_range: tuple[float, float] = (0.0, 255.0)) -> None:
        import tensorflow as tf

        if framework_of(estimator) != "keras":
            raise ComponentFailed(f"inputs.model: expected a Keras image model, got {framework_of(estimator) or type(estimator.estimator).__name__}")
        network = estimator.estimator
        shape = tuple(network.input_shape)
        if len(shape) != 4 or any(s is None for s in shape[1:]):
            raise ComponentFailed(f"inputs.model: expects input of shape {shape}, not fixed-size images (batch, h, w, c)")
        self.estimator = estimator
        self.network = network
        self.height, self.width, self.channels = int(shape[1]), int(shape[2]), int(shape[3])
        self.low, self.high = float(pixel_range[0]), float(pixel_range[1])
        self.preprocess = estimator.data_preprocessor
        outputs = int(network.output_shape[-1])
        self.single_sigmoid = outputs == 1
        self.n_classes = 2 if self.single_sigmoid else outputs
        self.classes = estimator.target_classes
        self.outputs_probabilities = self._outputs_probabilities()
        signature = tf.TensorSpec((None, self.height, self.width, self.channels), tf.float32)
        self.predict_function = tf.function(self.probabilities, input_signature=[signature])

    def _outputs_probabilities(self) -> bool:
        activation = getattr(self.network.layers[-1], "activation", None)
        name = getattr(activation, "__name__", "")
        if name in ("softmax", "sigmoid"):
            return True
        if name == "linear":
            return False
        probe = np.asarray(self.network(np.zeros((1, self.height, self.width, self.channels), "float32"), training=False))
        return bool(probe.min() >= 0 and (self.single_sigmoid or abs(probe.sum() - 1) < 1e-3))

    def model_input(self, pixels: Any) -> Any:
        """0..255 pixels -> what the network takes (scaled, then the stored preprocessor)."""
        scaled = pixels if (self.low, self.high) == (0.0, 255.0) else self.low + pixels * ((self.high - self.low) / 255.0)
        return self.preprocess(scaled) if self.preprocess is not None else scaled

    def network_output(self, model_input: Any) -> Any:
        out = self.network(model_input, training=False)
        return out[0] if isinstance(out, (list, tuple)) else out

    def to_probabilities(self, out: Any) -> Any:
        import tensorflow as tf

        if self.single_sigmoid:
            p = out if self.outputs_probabilities else tf.sigmoid(out)
            return tf.concat([1.0 - p, p], axis=-1)
        return out if self.outputs_probabilities else tf.nn.softmax(out, axis=-1)

    def probabilities(self, pixels: Any) -> Any:
        return self.to_probabilities(self.network_output(self.model_input(pixels)))

    def log_probabilities(self, pixels: Any) -> Any:
        """Logits for ART's loss (log p for probability outputs: no clipping, gradients survive)."""
        import tensorflow as tf

        return tf.math.log(self.probabilities(pixels) + 1e-12)

    def class_scores(self, out: Any) -> Any:
        """Centred log-probabilities (= logits up to a shared shift) from the network's output:
        what Grad-CAM differentiates; unlike probabilities they do not saturate."""
        import tensorflow as tf

        if self.outputs_probabilities:
            logp = tf.math.log(tf.maximum(self.to_probabilities(out), 1e-37))
        elif self.single_sigmoid:
            logp = tf.concat([tf.math.log_sigmoid(-out), tf.math.log_sigmoid(out)], axis=-1)
        else:
            logp = tf.nn.log_softmax(out, axis=-1)
        return logp - tf.reduce_mean(logp, axis=-1, keepdims=True)

    def predict(self, pixels: np.ndarray, batch_size: int = 64) -> np.ndarray:
        if len(pixels) == 0:
            return np.zeros((0, self.n_classes), dtype=np.float32)
        parts = [
            np.asarray(self.predict_function(np.ascontiguousarray(pixels[i : i + batch_size], dtype=np.float32)))
            for i in range(0, len(pixels), batch_size)
        ]
        return np.concatenate(parts)


def image_model(estimator: Any, pixel_range: tuple[float, float]) -> KerasImageModel:
    if getattr(estimator, "modality", None) != "image":
        raise ComponentFailed(f"inputs.model: this is a {estimator.modality} model; an images input needs an image model")
    return KerasImageModel(estimator, pixel_range)


# --------------------------------------------------------------------------- pictures


def to_rgb8(pixels: np.ndarray) -> np.ndarray:
    """(h, w, c) 0..255 floats -> (h, w, 3) uint8."""
    array = np.clip(np.asarray(pixels), 0, 255).astype(np.uint8)
    if array.ndim == 2:
        array = array[:, :, None]
    if array.shape[2] == 1:
        array = np.repeat(array, 3, axis=2)
    return array[:, :, :3]


def grid_png(tiles: Sequence[np.ndarray], captions: Sequence[str], *, columns: int, title: str = "", tile: int = 128) -> bytes:
    """Tiles (uint8 RGB) in a grid, each scaled to ``tile`` px with its caption below."""
    import io

    from PIL import Image, ImageDraw

    columns = max(1, min(columns, len(tiles) or 1))
    rows = max(1, math.ceil(len(tiles) / columns))
    caption_h, title_h, pad = 26, (20 if title else 0), 4
    canvas = Image.new("RGB", (columns * (tile + pad) + pad, title_h + rows * (tile + caption_h + pad) + pad), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((pad, 4), title, fill="black")
    for k, (pixels, caption) in enumerate(zip(tiles, captions, strict=False)):
        r, c = divmod(k, columns)
        x = pad + c * (tile + pad)
        y = title_h + pad + r * (tile + caption_h + pad)
        picture = Image.fromarray(to_rgb8(pixels)).resize((tile, tile), Image.Resampling.NEAREST)
        canvas.paste(picture, (x, y))
        for line_no, line in enumerate(caption.split("\n")[:2]):
            draw.text((x, y + tile + 1 + 12 * line_no), line[: tile // 6], fill="black")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def bar_chart_png(title: str, rows: Sequence[tuple[str, float, str, bool | None]], *, span: float = 1.0) -> bytes:
    """Horizontal bars around zero: (label, value, shown text, passed: True/False/None)."""
    import io

    from PIL import Image, ImageDraw

    label_w, bar_w, text_w, row_h, top = 260, 360, 120, 20, 28
    canvas = Image.new("RGB", (label_w + bar_w + text_w, top + row_h * max(1, len(rows)) + 10), "white")
    draw = ImageDraw.Draw(canvas)
    draw.text((6, 6), title, fill="black")
    zero = label_w + bar_w // 2
    draw.line([(zero, top - 4), (zero, top + row_h * len(rows))], fill="gray")
    for i, (label, value, text, passed) in enumerate(rows):
        y = top + i * row_h
        draw.text((6, y + 4), label[:42], fill="black")
        length = 0.0 if not math.isfinite(value) else max(-1.0, min(1.0, value / span)) * (bar_w // 2 - 4)
        colour = {True: (60, 160, 80), False: (210, 60, 50), None: (90, 110, 200)}[passed]
        x0, x1 = sorted((zero, zero + int(length)))
        draw.rectangle([x0, y + 3, max(x1, x0 + 1), y + row_h - 3], fill=colour)
        draw.text((label_w + bar_w + 6, y + 4), text, fill="black")
    buffer = io.BytesIO()
    canvas.save(buffer, format="PNG")
    return buffer.getvalue()


def save_picture(ctx: ComponentContext, filename: str, data: bytes) -> str:
    """Write a PNG under this step's ``evaluation`` output folder; returns its URI."""
    from airgenome.components.files import write_bytes

    uri = ctx.output("evaluation", filename)
    write_bytes(uri, data)
    return uri


# --------------------------------------------------------------------------- results


def finite(value: Any, what: str) -> float:
    """A metric value, or a clear failure instead of a silently stored NaN / infinity."""
    number = float(value)
    if not math.isfinite(number):
        raise ComponentFailed(f"{what} is undefined ({number}) on this data")
    return number


def evaluation_result(
    ctx: ComponentContext,
    run: Any,
    record: Any,
    *,
    metrics: dict[str, Any],
    pictures: Sequence[str],
    gate: bool,
) -> Result:
    version = str(record["id"]) if record is not None else None
    print(json.dumps({"evaluation": run.id, "status": run.status, "model": version}))
    if gate and run.status == 0:
        raise ComponentFailed(f"evaluation {run.id} failed and the step gates on it (parameters.gate)")
    result = Result(evaluation_ids=[str(run.id)], model_version=version, metrics=metrics)
    result.add_output(
        "evaluation", f"evaluations:/{run.id}", "evaluation", id=str(run.id), status=run.status, pictures=list(pictures)
    )
    return result


def evaluation_store(ctx: ComponentContext) -> Any:
    from airgenome.evaluations.store import get_evaluation_store

    return get_evaluation_store(ctx.stores.evaluation_store_uri)


TaskBody = Any  # Callable[[EvaluationTask], None]


def save_evaluation(
    ctx: ComponentContext,
    *,
    name: str,
    record: Any,
    tasks: Sequence[tuple[str, Any, TaskBody]],
    parameters: Any,
    dataset: str | None,
    modality: str | None,
    framework: str | None,
) -> Any:
    """One Genome evaluation run from precomputed ``(task name, segment, body(t))`` triples.

    Everything that can fail on bad input is computed before this is called, so a bad input
    fails the step without writing a run; a body only records metrics, expectations, pictures.
    """
    from airgenome.evaluations import GenomeEvaluationRun, evaluation, task

    def method(body: TaskBody) -> Any:
        def run_task(self: Any, t: Any, data: Any) -> None:
            body(t)

        return run_task

    data_ref = {"ref": dataset} if dataset and "://" in dataset else None
    members = {
        f"task_{index:03d}": task(name=task_name, dataset=data_ref, segment=segment)(method(body))
        for index, (task_name, segment, body) in enumerate(tasks)
    }
    target = str(record["id"]) if record is not None else None
    cls = type("TrustEvaluation", (GenomeEvaluationRun,), members)
    cls = evaluation(
        name=name,
        versionName="1.0",
        code=f"airgenome.components.{ctx.component}",
        targetModel=target,
        parameters=parameters,
        application=ctx.step.application,
        pipelineName=ctx.step.pipeline_name,
        pipelineStage=ctx.step.step_name,
        pipelineRunId=ctx.step.run_id,
        inputModality=modality,
        framework=framework,
    )(cls)
    return cls(evaluation_store(ctx), target=record if record is not None else None).to_run()
