"""``evaluate.explanations``: why the model decided, for the examples that matter most.

The judged examples (a seeded sample of the images or table rows) are predicted once; three
groups are explained: the most confident correct predictions, the least confident ones and
the (most confident) misclassified ones.

- Images: Grad-CAM for a whole batch in one `tf.function` (each image's own predicted class
  picked with a one-hot mask; the class score is the centred log-probability, which does not
  saturate like a softmax output), heat maps resized to the picture inside the graph; LIME
  (SLIC superpixels, bounded samples, batched forward) on request. With a ``masks`` input
  (binary pictures at the same relative paths) the share of heat inside each mask answers
  "is the model looking at the right place?"; ``min_heat_inside`` makes it an expectation.
- Tables: SHAP through `airgenome.explain.tabular` (tree / linear / kernel by model).
- Text: LIME through `airgenome.explain.text`.

Overlays are saved as PNG grids under the evaluation output and attached to the tasks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from airgenome.components.context import ComponentContext, ComponentFailed, Result
from airgenome.components.evaluate import imaging
from airgenome.components.evaluate.trust_specs import ExplanationsParameters

DEFAULT_METHODS = {"image": ["gradcam"], "tabular": ["shap"], "text": ["lime"]}
ALLOWED = {"image": ("gradcam", "lime"), "tabular": ("shap",), "text": ("lime",)}
GROUPS = ("most_confident", "least_confident", "misclassified")


class BatchGradCam:
    """Grad-CAM for a batch of 0..255 pictures in one traced graph: (heat (n, h, w) in [0, 1], probabilities)."""

    def __init__(self, model: imaging.KerasImageModel) -> None:
        import tensorflow as tf

        from airgenome.explain.image import feature_and_output_model

        self.model = model
        grad_model, self.layer = feature_and_output_model(model.network, (None, model.height, model.width, model.channels))
        size = (model.height, model.width)
        n_classes = model.n_classes
        pixels_spec = tf.TensorSpec((None, model.height, model.width, model.channels), tf.float32)
        classes_spec = tf.TensorSpec((None,), tf.int32)

        @tf.function(input_signature=[pixels_spec, classes_spec])
        def compute(pixels: Any, classes: Any) -> Any:
            inputs = model.model_input(pixels)
            with tf.GradientTape() as tape:
                features, out = grad_model(inputs, training=False)
                if isinstance(out, (list, tuple)):
                    out = out[0]
                scores = model.class_scores(out)
                # Each image's own class: a one-hot mask (tf.gather(.., axis=1) would mix images).
                chosen = tf.reduce_sum(scores * tf.one_hot(classes, n_classes, dtype=scores.dtype), axis=1)
            gradients = tape.gradient(chosen, features)  # images are independent: per-image gradients
            weights = tf.reduce_mean(gradients, axis=(1, 2))
            cam = tf.nn.relu(tf.reduce_sum(features * weights[:, None, None, :], axis=-1))
            cam = cam / (tf.reduce_max(cam, axis=(1, 2), keepdims=True) + 1e-12)
            heat = tf.image.resize(cam[..., None], size, method="bilinear")[..., 0]
            return tf.clip_by_value(heat, 0.0, 1.0), model.to_probabilities(out)

        self._compute = compute

    def __call__(self, pixels: np.ndarray, classes: np.ndarray | None = None, batch_size: int = 64) -> tuple[np.ndarray, np.ndarray]:
        """Heat maps for ``classes`` (default: each image's predicted class) and the probabilities."""
        if classes is None:
            classes = self.model.predict(pixels, batch_size).argmax(axis=1)
        heats, probabilities = [], []
        for start in range(0, len(pixels), batch_size):
            heat, prob = self._compute(
                np.ascontiguousarray(pixels[start : start + batch_size], dtype=np.float32),
                np.asarray(classes[start : start + batch_size], dtype=np.int32),
            )
            heats.append(np.asarray(heat))
            probabilities.append(np.asarray(prob))
        return np.concatenate(heats), np.concatenate(probabilities)


def heat_inside(heat: np.ndarray, masks: np.ndarray) -> np.ndarray:
    """Per image: the share of its heat that falls inside its mask."""
    total = heat.reshape(len(heat), -1).sum(axis=1)
    inside = (heat * masks).reshape(len(heat), -1).sum(axis=1)
    return np.divide(inside, total, out=np.zeros_like(total), where=total > 0)


def mean_heat(heat: np.ndarray, masks: np.ndarray) -> tuple[float, float]:
    """(mean heat per pixel inside the masks, outside them) over all images."""
    inside = float(heat[masks].mean()) if masks.any() else 0.0
    outside = float(heat[~masks].mean()) if (~masks).any() else 0.0
    return inside, outside


def lime_heat(model: imaging.KerasImageModel, pixels: np.ndarray, classes: np.ndarray, params: ExplanationsParameters) -> np.ndarray:
    """LIME heat maps (positive superpixel weights of each image's class, scaled to [0, 1])."""
    import os

    os.environ.setdefault("TQDM_DISABLE", "1")
    from lime import lime_image
    from lime.wrappers.scikit_image import SegmentationAlgorithm

    segmenter = SegmentationAlgorithm("slic", n_segments=params.lime_segments, compactness=10, sigma=1, start_label=0)
    explainer = lime_image.LimeImageExplainer(random_state=params.seed)
    grey = model.channels == 1

    def classify(batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        if grey:
            batch = batch.mean(axis=-1, keepdims=True)
        return model.predict(batch, 100)

    heats = np.zeros(pixels.shape[:3], dtype=np.float32)
    for n, (picture, label) in enumerate(zip(pixels, classes, strict=True)):
        rgb = np.repeat(picture, 3, axis=-1) if grey else picture
        explanation = explainer.explain_instance(
            rgb.astype(np.float64), classify, labels=(int(label),), top_labels=None, hide_color=0,
            num_samples=params.lime_samples, batch_size=100, segmentation_fn=segmenter, random_seed=params.seed,
        )
        weights = dict(explanation.local_exp[int(label)])
        segments = explanation.segments
        heat = np.vectorize(lambda s, w=weights: max(w.get(int(s), 0.0), 0.0))(segments).astype(np.float32)
        peak = float(heat.max())
        heats[n] = heat / peak if peak > 0 else heat
    return heats


def pick_groups(predicted: np.ndarray, confidence: np.ndarray, labels: np.ndarray | None, k: int) -> dict[str, list[int]]:
    """Indices of the most confident correct, least confident, and most confident wrong predictions."""
    order = np.argsort(-confidence, kind="stable")
    if labels is None:
        return {"most_confident": [int(i) for i in order[:k]], "least_confident": [int(i) for i in order[::-1][:k]], "misclassified": []}
    correct = predicted == labels
    return {
        "most_confident": [int(i) for i in order if correct[i]][:k],
        "least_confident": [int(i) for i in order[::-1][:k]],
        "misclassified": [int(i) for i in order if not correct[i]][:k],
    }


def _check_methods(params: ExplanationsParameters, modality: str) -> list[str]:
    methods = list(params.methods or DEFAULT_METHODS.get(modality, []))
    wrong = [m for m in methods if m not in ALLOWED.get(modality, ())]
    if wrong or not methods:
        raise ComponentFailed(
            f"parameters.methods: {', '.join(wrong) or 'nothing'} cannot explain a {modality} model "
            f"(use {', '.join(ALLOWED.get(modality, ())) or 'another model'})"
        )
    return methods


def explanations(ctx: ComponentContext, params: ExplanationsParameters) -> Result:
    record, estimator = imaging.load_model(ctx)
    modality = estimator.modality
    methods = _check_methods(params, modality)
    if (params.min_heat_inside is not None or "masks" in ctx.inputs) and modality != "image":
        raise ComponentFailed("inputs.masks: region masks apply to image models only")
    if params.min_heat_inside is not None and "masks" not in ctx.inputs:
        raise ComponentFailed("parameters.min_heat_inside: needs the masks input (binary pictures at the images' paths)")
    if modality == "image":
        tasks, metrics, pictures, dataset = _images(ctx, params, estimator, methods)
    elif modality == "tabular":
        tasks, metrics, pictures, dataset = _tabular(ctx, params, estimator)
    else:
        tasks, metrics, pictures, dataset = _text(ctx, params, estimator)
    run = imaging.save_evaluation(
        ctx,
        name="trust/explanations",
        record=record,
        tasks=tasks,
        parameters=params.model_dump(mode="json"),
        dataset=dataset,
        modality=modality,
        framework=imaging.framework_of(estimator),
    )
    return imaging.evaluation_result(ctx, run, record, metrics=metrics, pictures=pictures, gate=params.gate)


# --------------------------------------------------------------------------- images


def _images(ctx: ComponentContext, params: ExplanationsParameters, estimator: Any, methods: list[str]) -> tuple[list[Any], dict[str, Any], list[str], str]:
    from PIL import Image

    from airgenome.explain.image import overlay

    if "images" not in ctx.inputs:
        raise ComponentFailed("inputs.images: an image model is explained on pictures; wire the images input")
    model = imaging.image_model(estimator, params.pixel_range)
    data = imaging.load_image_set(ctx, model, params, sample_size=params.sample_size, seed=params.seed)
    masks = present = None
    if "masks" in ctx.inputs:
        masks, present = imaging.load_masks(
            ctx.input("masks").uri, data.paths, height=model.height, width=model.width, threshold=params.mask_threshold
        )
        present &= masks.reshape(len(masks), -1).any(axis=1)
        if not present.any():
            raise ComponentFailed(f"inputs.masks: none of the {len(data.paths)} judged images has a non-empty mask at its path")
    probabilities = model.predict(data.pixels, params.batch_size)
    predicted = probabilities.argmax(axis=1)
    confidence = probabilities[np.arange(len(predicted)), predicted]
    groups = pick_groups(predicted, confidence, data.labels, params.per_group)
    selected = sorted({i for members in groups.values() for i in members})

    heats: dict[str, np.ndarray] = {}  # method -> heat for the whole sample (gradcam) or the selected (lime)
    if "gradcam" in methods:
        heats["gradcam"], _ = BatchGradCam(model)(data.pixels, predicted, params.batch_size)
    if "lime" in methods:
        lime = np.zeros(data.pixels.shape[:3], dtype=np.float32)
        lime[selected] = lime_heat(model, data.pixels[selected], predicted[selected], params)
        heats["lime"] = lime

    metrics: dict[str, Any] = {"examples": len(data.paths), "accuracy": float((predicted == data.labels).mean())}
    tasks: list[Any] = []
    pictures: list[str] = []
    for method, heat in heats.items():
        judged = np.asarray(selected) if method == "lime" else np.arange(len(heat))
        shares = np.full(len(heat), np.nan)
        summary: dict[str, Any] = {}
        if masks is not None and present is not None:
            with_mask = judged[present[judged]]
            if len(with_mask):
                shares[with_mask] = heat_inside(heat[with_mask], masks[with_mask])
                inside, outside = mean_heat(heat[with_mask], masks[with_mask])
                summary = {
                    "heat_inside": float(np.mean(shares[with_mask])),
                    "heat_inside_median": float(np.median(shares[with_mask])),
                    "mean_heat_inside_mask": inside,
                    "mean_heat_outside_mask": outside,
                    "mask_area": float(masks[with_mask].mean()),
                    "images_with_mask": int(len(with_mask)),
                }
        summary["images_explained"] = int(len(judged))
        metrics[method] = summary
        group_pictures: dict[str, str] = {}
        for group, members in groups.items():
            if not members:
                continue
            tiles, captions = [], []
            for i in members:
                rgb = Image.fromarray(imaging.to_rgb8(data.pixels[i]))
                tiles.append(overlay(rgb, heat[i]))
                extra = f" in {shares[i]:.2f}" if np.isfinite(shares[i]) else ""
                captions.append(f"{data.classes[data.labels[i]]}>{data.classes[predicted[i]]}\n{confidence[i]:.2f}{extra}")
            uri = imaging.save_picture(
                ctx, f"explanations-{method}-{group}.png",
                imaging.grid_png(tiles, captions, columns=min(8, len(tiles)), title=f"{method}: {group.replace('_', ' ')} (true>predicted, confidence, heat inside)"),
            )
            group_pictures[group] = uri
            pictures.append(uri)
        tasks.append((f"explanations/{method}", {"method": method}, _summary_body(summary, params.min_heat_inside if masks is not None else None)))
        for group, members in groups.items():
            proto = [
                {
                    "ref": data.paths[i],
                    "metrics": {
                        "label": data.classes[data.labels[i]],
                        "prediction": data.classes[predicted[i]],
                        "confidence": float(confidence[i]),
                        **({"heat_inside": float(shares[i])} if np.isfinite(shares[i]) else {}),
                    },
                }
                for i in members
            ]
            tasks.append((f"explanations/{method}/{group}", {"method": method, "group": group}, _group_body(len(members), group_pictures.get(group), proto)))
    return tasks, metrics, pictures, ctx.input("images").uri


def _summary_body(summary: dict[str, Any], minimum: float | None) -> Any:
    def body(t: Any) -> None:
        for name, value in summary.items():
            t.add_metric(name, value)
        if minimum is not None and "heat_inside" in summary:
            t.expect(summary["heat_inside"], var="heat_inside").toBeGreaterOrEqual(minimum)

    return body


def _group_body(count: int, picture: str | None, prototypes: list[dict[str, Any]]) -> Any:
    def body(t: Any) -> None:
        t.add_metric("examples", count)
        if picture:
            t.add_picture("overlays", picture)
        for item in prototypes:
            p = t.prototype(ref=item["ref"])
            for name, value in item["metrics"].items():
                p.add_metric(name, value)

    return body


# --------------------------------------------------------------------------- tables and text


def _table(ctx: ComponentContext, params: ExplanationsParameters) -> Any:
    from airgenome.components.files import read_table

    if "table" not in ctx.inputs:
        raise ComponentFailed("inputs.table: wire the rows to explain (a table input)")
    frame = read_table(ctx.input("table").uri)
    rows = imaging.sample_indices(len(frame), params.sample_size, params.seed)
    return frame.iloc[rows].reset_index(drop=True)


def _class_names(network: Any, estimator: Any) -> list[str] | None:
    classes = getattr(network, "classes_", None)
    if classes is not None:
        return [str(c) for c in classes]
    return estimator.target_classes


def _tabular(ctx: ComponentContext, params: ExplanationsParameters, estimator: Any) -> tuple[list[Any], dict[str, Any], list[str], str]:
    from airgenome.explain.model import from_estimator
    from airgenome.explain.tabular import MAX_KERNEL_ROWS, TabularExplainer

    frame = _table(ctx, params)
    network = estimator.estimator
    names = estimator.feature_names or [str(c) for c in getattr(network, "feature_names_in_", [])]
    missing = [n for n in names if n not in frame.columns]
    if not names or missing:
        raise ComponentFailed(f"inputs.table: the model's feature column(s) {', '.join(missing) or '(unknown)'} are missing")
    x = frame[names].to_numpy(dtype=float)
    if not callable(getattr(network, "predict_proba", None)):
        raise ComponentFailed(f"inputs.model: {type(network).__name__} has no predict_proba; explanations pick examples by confidence")
    proba = np.asarray(network.predict_proba(frame[names] if hasattr(network, "feature_names_in_") else x))
    classes = _class_names(network, estimator) or [str(k) for k in range(proba.shape[1])]
    predicted = proba.argmax(axis=1)
    confidence = proba.max(axis=1)
    labels = None
    if params.label in frame.columns:
        labels = imaging.label_indices(frame[params.label].astype(str).tolist(), classes, "parameters.label")
    groups = pick_groups(predicted, confidence, labels, params.per_group)
    selected = sorted({i for members in groups.values() for i in members})
    explainer = TabularExplainer(from_estimator(estimator))
    chosen = selected[:MAX_KERNEL_ROWS] if explainer.method == "kernel" else selected
    answer = explainer.explain(x[chosen].tolist())
    shapley = np.asarray(answer["shapley"], dtype=float)
    if shapley.ndim == 3:  # [labels][rows][features]: each row's predicted class
        values = np.stack([shapley[predicted[i] if shapley.shape[0] > 1 else 0, k] for k, i in enumerate(chosen)])
    else:
        values = shapley
    importance = np.abs(values).mean(axis=0)
    ranking = {names[j]: float(importance[j]) for j in np.argsort(-importance)}
    chart = imaging.save_picture(
        ctx, "explanations-shap.png",
        imaging.bar_chart_png(f"mean |SHAP| ({explainer.method}) over {len(chosen)} examples",
                              [(n, v, f"{v:.3g}", None) for n, v in list(ranking.items())[:20]], span=max(importance.max(), 1e-12)),
    )
    by_row = {i: values[k] for k, i in enumerate(chosen)}
    summary = {"method": explainer.method, "examples_explained": len(chosen), "mean_abs_shap": ranking}
    tasks: list[Any] = [("explanations/shap", {"method": "shap"}, _table_summary(summary, chart))]
    for group, members in groups.items():
        proto = []
        for i in members:
            item: dict[str, Any] = {"prediction": classes[predicted[i]], "confidence": float(confidence[i])}
            if labels is not None:
                item["label"] = classes[labels[i]]
            if i in by_row:
                top = np.argsort(-np.abs(by_row[i]))[:3]
                item["top_features"] = {names[j]: float(by_row[i][j]) for j in top}
            proto.append({"ref": f"row-{i}", "metrics": item})
        tasks.append((f"explanations/shap/{group}", {"method": "shap", "group": group}, _group_body(len(members), None, proto)))
    return tasks, {"shap": summary}, [chart], ctx.input("table").uri


def _table_summary(summary: dict[str, Any], chart: str, title: str = "mean |SHAP|") -> Any:
    def body(t: Any) -> None:
        for name, value in summary.items():
            t.add_metric(name, value)
        t.add_picture(title, chart)

    return body


def _text(ctx: ComponentContext, params: ExplanationsParameters, estimator: Any) -> tuple[list[Any], dict[str, Any], list[str], str]:
    from airgenome.explain.text import explain_text, top_words

    frame = _table(ctx, params)
    if params.text_column not in frame.columns:
        raise ComponentFailed(f"parameters.text_column: column {params.text_column!r} is not in the table")
    network = estimator.estimator
    method = "predict_proba" if callable(getattr(network, "predict_proba", None)) else estimator.estimator_predict
    predict = getattr(network, method)
    texts = frame[params.text_column].astype(str).tolist()
    proba = np.asarray(predict(texts), dtype=float)
    if proba.ndim != 2:
        raise ComponentFailed(f"inputs.model: {type(network).__name__}.{method} must return class probabilities for LIME")
    classes = _class_names(network, estimator) or [str(k) for k in range(proba.shape[1])]
    predicted, confidence = proba.argmax(axis=1), proba.max(axis=1)
    labels = None
    if params.label in frame.columns:
        labels = imaging.label_indices(frame[params.label].astype(str).tolist(), classes, "parameters.label")
    groups = pick_groups(predicted, confidence, labels, params.per_group)
    rows_chart: list[tuple[str, float, str, bool | None]] = []
    tasks: list[Any] = []
    summary_words: dict[str, int] = {}
    for group, members in groups.items():
        proto = []
        for i in members:
            answer = explain_text(texts[i], predict, classes, pipeline=network, method=method, seed=params.seed)
            words = top_words(answer, 5)
            spans = {s[0]: s[2] for s in answer["textExplanation"]["targets"][0]["weighted_spans"]["spans"]}
            for w in words:
                summary_words[w] = summary_words.get(w, 0) + 1
            if len(rows_chart) < 24:
                rows_chart += [(f"{group[:5]} {i}: {w}", float(spans[w]), f"{spans[w]:+.3f}", None) for w in words[:3]]
            item: dict[str, Any] = {"prediction": classes[predicted[i]], "confidence": float(confidence[i]),
                                    "top_words": {w: float(spans[w]) for w in words}, "lime_score": answer["metrics"]["score"]}
            if labels is not None:
                item["label"] = classes[labels[i]]
            proto.append({"ref": f"row-{i}", "metrics": item})
        tasks.append((f"explanations/lime/{group}", {"method": "lime", "group": group}, _group_body(len(members), None, proto)))
    span = max([abs(r[1]) for r in rows_chart] or [1.0])
    chart = imaging.save_picture(ctx, "explanations-lime-text.png", imaging.bar_chart_png("LIME: top words per explained text", rows_chart, span=span))
    summary = {"frequent_top_words": dict(sorted(summary_words.items(), key=lambda kv: -kv[1])[:20])}
    tasks.insert(0, ("explanations/lime", {"method": "lime"}, _table_summary(summary, chart, "LIME top words")))
    return tasks, {"lime": summary}, [chart], ctx.input("table").uri
