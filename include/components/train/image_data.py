"""Image inputs of kind ``images``: the class-folder layout, its split and a tf.data pipeline.

The contract (written by ``transform.images-to-class-folders``): a folder URI with
``<class>/<file>`` directly under it, and ``split.json`` at its root::

    {"seed": 123, "validation_fraction": 0.2, "classes": [...sorted...],
     "train": ["<class>/<file>", ...], "validation": [...]}

Without ``split.json`` the split is computed here, deterministically: per class (sorted),
the sorted file names are permuted by ``numpy.random.default_rng(seed)`` and the first
``round(n * fraction)`` of each class (at least one when the class has two or more images)
go to validation. Training and evaluation components call the same function, so an
evaluation sees exactly the images the training held out.

Images are decoded by TensorFlow from explicit file lists (PNG / JPEG, also GIF / BMP),
resized to the model's ``[height, width]`` and given ``channels`` channels; pixel values
stay 0..255 float32 — scaling is the model's own first layer (see train/images.py).
Heavy libraries are imported inside functions.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from airgenome.components.context import ComponentFailed

SPLIT_FILE = "split.json"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif", ".bmp")
DEFAULT_SEED = 123
DEFAULT_VALIDATION_FRACTION = 0.2


@dataclass(frozen=True)
class ImageSplit:
    """Which images of a class-folder input train and which validate."""

    root: str  # a local folder
    classes: list[str]
    train: list[str]  # "<class>/<file>" relative paths
    validation: list[str]
    seed: int = DEFAULT_SEED
    validation_fraction: float = DEFAULT_VALIDATION_FRACTION
    source: str = "computed"  # "split.json" or "computed"
    skipped: list[str] = field(default_factory=list)  # files that are not images

    def to_dict(self) -> dict[str, Any]:
        return {
            "seed": self.seed,
            "validation_fraction": self.validation_fraction,
            "classes": list(self.classes),
            "train": list(self.train),
            "validation": list(self.validation),
            "source": self.source,
        }


@contextmanager
def local_folder(uri: str) -> Iterator[str]:
    """A local path for an ``images`` folder URI (remote folders are copied to a temp dir)."""
    from airgenome.components.lake import local_path

    path = local_path(uri)
    if path is not None:
        if not os.path.isdir(path):
            raise ComponentFailed(f"inputs.images: {uri!r} is not a folder")
        yield path
        return
    from airgenome.components.files import filesystem

    fs, remote = filesystem(uri)
    if not fs.isdir(remote):
        raise ComponentFailed(f"inputs.images: {uri!r} is not a folder")
    scratch = tempfile.mkdtemp(prefix="airgenome-images-")
    try:
        fs.get(remote.rstrip("/") + "/", scratch + "/", recursive=True)
        yield scratch
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _is_image(name: str) -> bool:
    return name.lower().endswith(IMAGE_SUFFIXES) and not name.startswith(".")


def scan_classes(root: str) -> dict[str, list[str]]:
    """``{class: [sorted "<class>/<file>"]}`` for every sub-folder holding images."""
    found: dict[str, list[str]] = {}
    for entry in sorted(os.listdir(root)):
        folder = os.path.join(root, entry)
        if entry.startswith(".") or not os.path.isdir(folder):
            continue
        files = sorted(f for f in os.listdir(folder) if _is_image(f) and os.path.isfile(os.path.join(folder, f)))
        if files:
            found[entry] = [f"{entry}/{f}" for f in files]
    return found


def compute_split(
    by_class: dict[str, list[str]], seed: int = DEFAULT_SEED, fraction: float = DEFAULT_VALIDATION_FRACTION
) -> tuple[list[str], list[str]]:
    """Stratified, deterministic train / validation lists (see the module docstring)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    train: list[str] = []
    validation: list[str] = []
    for cls in sorted(by_class):
        files = sorted(by_class[cls])
        order = rng.permutation(len(files))
        n_val = int(round(len(files) * fraction))
        if fraction > 0 and n_val == 0 and len(files) >= 2:
            n_val = 1
        n_val = min(n_val, len(files) - 1) if len(files) > 1 else 0
        chosen = [files[i] for i in order]
        validation.extend(chosen[:n_val])
        train.extend(chosen[n_val:])
    return train, validation


def _check_relpath(item: Any, classes: Sequence[str], where: str) -> str:
    if not isinstance(item, str) or item.count("/") != 1:
        raise ComponentFailed(f"inputs.images: {SPLIT_FILE} {where}: {item!r} is not '<class>/<file>'")
    cls, name = item.split("/")
    if cls not in classes:
        raise ComponentFailed(
            f"inputs.images: {SPLIT_FILE} {where}: {item!r} is in class {cls!r}, which is not in its classes"
        )
    if name in ("", ".", "..") or name.startswith("."):
        raise ComponentFailed(f"inputs.images: {SPLIT_FILE} {where}: {item!r} is not a file name")
    return item


def read_split(
    root: str, *, seed: int = DEFAULT_SEED, fraction: float = DEFAULT_VALIDATION_FRACTION
) -> ImageSplit:
    """The split of a class-folder input: its ``split.json``, else computed. Refuses empty
    inputs, files the manifest names but the folder lacks, and a single class."""
    manifest_path = os.path.join(root, SPLIT_FILE)
    if os.path.isfile(manifest_path):
        try:
            manifest = json.loads(open(manifest_path, encoding="utf-8").read())
        except ValueError as error:
            raise ComponentFailed(f"inputs.images: {SPLIT_FILE} is not valid JSON ({error})") from None
        if not isinstance(manifest, dict):
            raise ComponentFailed(f"inputs.images: {SPLIT_FILE} must be a JSON object")
        classes = manifest.get("classes")
        if not isinstance(classes, list) or not all(isinstance(c, str) and c for c in classes):
            raise ComponentFailed(f"inputs.images: {SPLIT_FILE} classes must be a list of names")
        lists = {}
        for key in ("train", "validation"):
            value = manifest.get(key, [])
            if not isinstance(value, list):
                raise ComponentFailed(f"inputs.images: {SPLIT_FILE} {key} must be a list")
            lists[key] = [_check_relpath(item, classes, f"{key}[{i}]") for i, item in enumerate(value)]
        missing = [p for p in lists["train"] + lists["validation"] if not os.path.isfile(os.path.join(root, p))]
        if missing:
            shown = ", ".join(missing[:5]) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
            raise ComponentFailed(f"inputs.images: {SPLIT_FILE} lists files the folder does not hold: {shown}")
        split = ImageSplit(
            root=root,
            classes=sorted(classes),
            train=lists["train"],
            validation=lists["validation"],
            seed=int(manifest.get("seed", seed)),
            validation_fraction=float(manifest.get("validation_fraction", fraction)),
            source=SPLIT_FILE,
        )
    else:
        by_class = scan_classes(root)
        train, validation = compute_split(by_class, seed, fraction)
        split = ImageSplit(
            root=root,
            classes=sorted(by_class),
            train=train,
            validation=validation,
            seed=seed,
            validation_fraction=fraction,
        )
    if not split.train and not split.validation:
        raise ComponentFailed(
            "inputs.images: no images (PNG/JPEG) in <class>/<file> folders under the input "
            f"({'its ' + SPLIT_FILE + ' lists none' if split.source == SPLIT_FILE else 'empty folder'})"
        )
    return split


def check_trainable(split: ImageSplit) -> None:
    """A classifier needs two classes with training images."""
    present = sorted({p.split("/", 1)[0] for p in split.train})
    if len(split.classes) < 2 or len(present) < 2:
        raise ComponentFailed(
            "inputs.images: a classifier needs images of at least two classes; the training "
            f"images hold {len(present)} ({', '.join(present) or 'none'})"
        )
    if not split.train:
        raise ComponentFailed("inputs.images: no training images")


def labels_of(relpaths: Sequence[str]) -> list[str]:
    return [p.split("/", 1)[0] for p in relpaths]


def image_dataset(
    root: str,
    relpaths: Sequence[str],
    labels: Sequence[int] | None,
    *,
    image_shape: Sequence[int],
    batch_size: int,
    num_classes: int | None = None,
    one_hot: bool = False,
    shuffle_seed: int | None = None,
    cache: bool = True,
) -> Any:
    """A batched tf.data pipeline over explicit files: decode, resize to ``image_shape``
    (height, width, channels), float32 pixels 0..255; with labels (indices, or one-hot)."""
    import tensorflow as tf

    height, width, channels = (int(v) for v in image_shape)
    paths = [os.path.join(root, p) for p in relpaths]

    def load(path: Any) -> Any:
        raw = tf.io.read_file(path)
        image = tf.io.decode_image(raw, channels=channels, expand_animations=False)
        image = tf.image.resize(image, (height, width))
        image.set_shape((height, width, channels))
        return image

    if labels is None:
        dataset = tf.data.Dataset.from_tensor_slices(paths).map(load, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        label_tensor = tf.constant(list(labels), dtype=tf.int32)
        if one_hot:
            label_tensor = tf.one_hot(label_tensor, int(num_classes or 0))
        dataset = tf.data.Dataset.from_tensor_slices((paths, label_tensor)).map(
            lambda p, y: (load(p), y), num_parallel_calls=tf.data.AUTOTUNE
        )
    if cache:
        dataset = dataset.cache()
    if shuffle_seed is not None:
        dataset = dataset.shuffle(max(1, len(paths)), seed=shuffle_seed, reshuffle_each_iteration=True)
    return dataset.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def decode_error(error: BaseException) -> ComponentFailed:
    """A TensorFlow decode failure as a step error naming the input."""
    text = str(error).strip().splitlines()[0][:300] if str(error).strip() else type(error).__name__
    return ComponentFailed(f"inputs.images: an image could not be read or decoded ({text})")
