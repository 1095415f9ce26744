"""``evaluate.confusion-matrix``: a classifier judged on labelled data, as a Genome evaluation.

Inputs: ``model`` (a classifier version from the model store) and either ``images`` (a
class-folder input: its ``split.json`` validation list, or the same deterministic 80/20
split the training component computes) or ``table`` (+ parameter ``target``).

It computes accuracy, macro / weighted precision, recall and F1, per-class precision,
recall, F1 and support, and the confusion matrix (rows: true class, columns: predicted,
in the model's class order), draws the matrix as a PNG into the lake and writes ONE Genome
evaluation run linked to the model version:

- task ``overall``: the summary metrics, the matrix (``matrix`` and ``classes``), the
  picture, the expectations on summary metrics; the most confident mistakes as prototypes;
- one task per class (segment ``{"class": name}``): its metrics and expectations.

Expectations come from parameter ``expectations``: ``{metric: {operator: number}}``, e.g.
``{"accuracy": {">=": 0.8}, "recall.COVID": {">=": 0.7}}``. Metrics: ``accuracy``,
``macro_precision``, ``macro_recall``, ``macro_f1``, ``weighted_f1``, and per class
``precision.<class>``, ``recall.<class>``, ``f1.<class>``; operators ``>= > <= < ==``.

Output ``predictions`` (a table: ``id``, ``label``, ``prediction``, ``confidence``,
``correct``; images also ``image`` = ``<class>/<file>``, tables every input column) lets
fairness and explanation steps reuse the predictions.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from airgenome.components.context import ComponentContext, ComponentFailed, Result

SUMMARY_METRICS = ("accuracy", "macro_precision", "macro_recall", "macro_f1", "weighted_f1")
CLASS_METRICS = ("precision", "recall", "f1")
_METRIC = re.compile(r"^(accuracy|macro_precision|macro_recall|macro_f1|weighted_f1|(precision|recall|f1)\.\S.{0,199})$")


def _metric_name(value: str) -> str:
    if not _METRIC.match(value):
        raise ValueError(
            f"unknown metric {value!r}: one of {', '.join(SUMMARY_METRICS)}, or precision.<class>, "
            "recall.<class>, f1.<class>"
        )
    return value


MetricName = Annotated[str, AfterValidator(_metric_name)]
Operator = Literal[">=", ">", "<=", "<", "=="]
RESERVED_COLUMNS = ("id", "label", "prediction", "confidence", "correct")
_OPERATORS = {
    ">=": "toBeGreaterOrEqual",
    ">": "toBeGreater",
    "<=": "toBeLessOrEqual",
    "<": "toBeLess",
    "==": "toBe",
}


class ConfusionMatrixParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str | None = Field(
        default=None, min_length=1, max_length=200, description="table input: the label column (required then)"
    )
    split: Literal["validation", "train", "all"] = Field(
        default="validation", description="images input: which images of the split to evaluate on"
    )
    expectations: dict[MetricName, dict[Operator, float]] = Field(
        default_factory=dict,
        description='{metric: {operator: number}}, e.g. {"accuracy": {">=": 0.8}}; metrics accuracy, '
        "macro_precision, macro_recall, macro_f1, weighted_f1, precision.<class>, recall.<class>, f1.<class>",
    )
    prototypes: int = Field(default=5, ge=0, le=100, description="the most confident mistakes kept as prototypes")
    batch_size: int = Field(default=64, ge=1, le=4096, description="images predicted per batch")
    max_examples: int | None = Field(
        default=None, ge=1, le=10_000_000, description="evaluate at most this many examples (the first, in order)"
    )
    gate: bool = Field(default=False, description="fail the step when the evaluation fails its expectations")
    name: str = Field(
        default="confusion-matrix", min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$",
        description="the evaluation's name in the store",
    )


# --------------------------------------------------------------------------- metrics


def confusion_metrics(labels: list[str], predictions: list[str], classes: list[str]) -> dict[str, Any]:
    """The matrix and every metric, in ``classes`` order (pure; numpy + sklearn)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support

    matrix = confusion_matrix(labels, predictions, labels=classes)
    precision, recall, f1, support = precision_recall_fscore_support(
        labels, predictions, labels=classes, zero_division=0
    )
    macro = precision_recall_fscore_support(labels, predictions, labels=classes, average="macro", zero_division=0)
    weighted = precision_recall_fscore_support(
        labels, predictions, labels=classes, average="weighted", zero_division=0
    )
    return {
        "classes": list(classes),
        "matrix": matrix.astype(int).tolist(),
        "accuracy": float(accuracy_score(labels, predictions)) if labels else 0.0,
        "macro_precision": float(macro[0]),
        "macro_recall": float(macro[1]),
        "macro_f1": float(macro[2]),
        "weighted_f1": float(weighted[2]),
        "n_examples": len(labels),
        "per_class": {
            cls: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, cls in enumerate(classes)
        },
        "predicted_counts": {cls: int(np.sum(np.asarray(predictions) == cls)) for cls in classes},
    }


def draw_matrix(matrix: list[list[int]], classes: list[str], title: str) -> bytes:
    """The matrix as a PNG: counts in the cells, colour by row share (recall)."""
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    counts = np.asarray(matrix, dtype=float)
    totals = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
    size = max(3.5, 0.6 * len(classes) + 2.5)
    figure, axes = plt.subplots(figsize=(size + 1, size), dpi=100)
    image = axes.imshow(shares, cmap="Blues", vmin=0.0, vmax=1.0)
    axes.set_xticks(range(len(classes)), labels=[c[:20] for c in classes], rotation=45, ha="right")
    axes.set_yticks(range(len(classes)), labels=[c[:20] for c in classes])
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    axes.set_title(title[:80])
    for i in range(len(classes)):
        for j in range(len(classes)):
            axes.text(j, i, f"{int(counts[i, j])}", ha="center", va="center",
                      color="white" if shares[i, j] > 0.5 else "black", fontsize=9)
    figure.colorbar(image, ax=axes, fraction=0.046, pad=0.04, label="share of the true class")
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    plt.close(figure)
    return buffer.getvalue()


def check_expectations(expectations: Mapping[str, Any], classes: list[str]) -> None:
    for metric in expectations:
        kind, dot, cls = metric.partition(".")
        if dot and kind in CLASS_METRICS and cls not in classes:
            raise ComponentFailed(
                f"parameters.expectations.{metric}: the model has no class {cls!r} "
                f"(classes: {', '.join(classes)})"
            )


def _expect(t: Any, metric: str, value: float, bounds: Mapping[Any, float]) -> None:
    for operator, bound in bounds.items():
        getattr(t.expect(value, var=metric), _OPERATORS[operator])(bound)


# --------------------------------------------------------------------------- predictions


def _probabilities_to_labels(probabilities: Any, classes: list[str]) -> tuple[list[str], list[float]]:
    import numpy as np

    probabilities = np.asarray(probabilities, dtype=float)
    if probabilities.ndim == 1 or probabilities.shape[1] == 1:  # a single sigmoid unit
        positive = probabilities.reshape(-1)
        probabilities = np.stack([1.0 - positive, positive], axis=1)
    if probabilities.shape[1] != len(classes):
        raise ComponentFailed(
            f"inputs.model: the model outputs {probabilities.shape[1]} scores but names {len(classes)} classes"
        )
    index = probabilities.argmax(axis=1)
    return [classes[i] for i in index], [float(p) for p in probabilities.max(axis=1)]


def predict_images(
    ctx: ComponentContext, model: Any, classes: list[str], params: ConfusionMatrixParameters
) -> tuple[list[str], list[str], list[str], list[float], dict[str, Any]]:
    """(ids, labels, predictions, confidences, facts) for the chosen split of an images input."""
    from airgenome.components.train.image_data import (
        decode_error,
        image_dataset,
        labels_of,
        local_folder,
        read_split,
    )

    keras_model = model.estimator
    shape = getattr(keras_model, "input_shape", None)
    if not shape or len(shape) != 4 or any(v is None for v in shape[1:]):
        raise ComponentFailed(f"inputs.model: expected an image model with a fixed input shape, got {shape}")
    image_shape = [int(v) for v in shape[1:]]
    with local_folder(ctx.input("images").uri) as root:
        split = read_split(root)
        chosen = {
            "validation": split.validation,
            "train": split.train,
            "all": split.train + split.validation,
        }[params.split]
        if params.max_examples is not None:
            chosen = chosen[: params.max_examples]
        if not chosen:
            raise ComponentFailed(
                f"parameters.split: the images input has no {params.split} images to evaluate on"
            )
        labels = labels_of(chosen)
        unknown = sorted(set(labels) - set(classes))
        if unknown:
            raise ComponentFailed(
                f"inputs.images: classes {', '.join(unknown)} are not among the model's classes "
                f"({', '.join(classes)})"
            )
        dataset = image_dataset(root, chosen, None, image_shape=image_shape, batch_size=params.batch_size, cache=False)
        import tensorflow as tf

        try:
            probabilities = keras_model.predict(dataset, verbose=0)
        except tf.errors.InvalidArgumentError as error:
            raise decode_error(error) from None
    predictions, confidences = _probabilities_to_labels(probabilities, classes)
    facts = {"split": params.split, "splitSource": split.source, "imageShape": image_shape}
    return list(chosen), labels, predictions, confidences, facts


def predict_table(
    ctx: ComponentContext, model: Any, classes: list[str], params: ConfusionMatrixParameters
) -> tuple[Any, list[str], list[str], list[float]]:
    """(frame, labels, predictions, confidences) for a table input."""
    import numpy as np

    from airgenome.components.files import read_table

    if params.target is None:
        raise ComponentFailed("parameters.target: required with a table input (the label column)")
    frame = read_table(ctx.input("table").uri)
    if params.target not in frame.columns:
        raise ComponentFailed(
            f"parameters.target: column {params.target!r} is not in the table "
            f"(columns: {', '.join(map(str, frame.columns))[:500]})"
        )
    taken = [c for c in RESERVED_COLUMNS if c in frame.columns and c != params.target]
    if taken:
        raise ComponentFailed(
            f"inputs.table: column(s) {', '.join(taken)} are reserved for the predictions output"
        )
    if params.max_examples is not None:
        frame = frame.head(params.max_examples)
    if len(frame) == 0:
        raise ComponentFailed("inputs.table: the table has no rows")
    features = model.feature_names or [c for c in frame.columns if c != params.target]
    missing = [c for c in features if c not in frame.columns]
    if missing:
        raise ComponentFailed(f"inputs.table: the model's feature columns are missing: {', '.join(missing)}")
    labels = [str(v) for v in frame[params.target].tolist()]
    unknown = sorted(set(labels) - set(classes))
    if unknown:
        raise ComponentFailed(
            f"inputs.table: labels {', '.join(unknown[:10])} of column {params.target!r} are not among the "
            f"model's classes ({', '.join(classes)})"
        )
    x = frame[features]
    estimator = model.estimator
    if hasattr(estimator, "predict_proba"):
        try:
            predictions, confidences = _probabilities_to_labels(estimator.predict_proba(x), classes)
            return frame, labels, predictions, confidences
        except AttributeError:  # e.g. SVC(probability=False) exposes the name but refuses
            pass
    raw = np.asarray(model.predict(x)).reshape(-1)
    return frame, labels, [str(v) for v in raw], [float("nan")] * len(raw)


# --------------------------------------------------------------------------- run


def confusion_matrix_component(ctx: ComponentContext, params: ConfusionMatrixParameters) -> Result:
    import pandas as pd

    from airgenome.components.files import write_bytes, write_table
    from airgenome.evaluations import GenomeEvaluationRun, evaluation, task
    from airgenome.evaluations.store import get_evaluation_store

    has_images, has_table = "images" in ctx.inputs, "table" in ctx.inputs
    if has_images == has_table:
        raise ComponentFailed("inputs: wire exactly one of images or table (the labelled data)")
    store = ctx.model_store()
    version = ctx.model_version("model")
    record = store.get_model(version)
    if record.prediction_type not in (None, "classification"):
        raise ComponentFailed(
            f"inputs.model: {version} is a {record.prediction_type} model; a confusion matrix needs a classifier"
        )
    model = store.load_record(record)
    classes = list(model.target_classes or [])
    if len(classes) < 2:
        raise ComponentFailed(f"inputs.model: {version} names no target classes (a classifier stores them)")
    check_expectations(params.expectations, classes)

    facts: dict[str, Any] = {}
    if has_images:
        if model.modality != "image":
            raise ComponentFailed(f"inputs.images: model {version} takes {model.modality} input, not images")
        ids, labels, predictions, confidences, facts = predict_images(ctx, model, classes, params)
        predictions_frame = pd.DataFrame(
            {"id": ids, "image": ids, "label": labels, "prediction": predictions, "confidence": confidences}
        )
        data_uri = ctx.input("images").uri
    else:
        frame, labels, predictions, confidences = predict_table(ctx, model, classes, params)
        predictions_frame = frame.reset_index(drop=True).copy()
        predictions_frame.insert(0, "id", [str(i) for i in range(len(frame))])
        predictions_frame["label"] = labels
        predictions_frame["prediction"] = predictions
        predictions_frame["confidence"] = confidences
        data_uri = ctx.input("table").uri
    predictions_frame["correct"] = predictions_frame["label"] == predictions_frame["prediction"]

    found = confusion_metrics(labels, predictions, classes)
    picture = draw_matrix(found["matrix"], classes, f"{record.canonical_name} v{record.version}")
    picture_uri = ctx.output("evaluation", "confusion_matrix.png")
    write_bytes(picture_uri, picture)
    table_uri, table_facts = write_table(ctx.output("predictions"), predictions_frame)

    expectations = params.expectations
    mistakes = predictions_frame[~predictions_frame["correct"]]
    if params.prototypes and len(mistakes):
        mistakes = mistakes.sort_values("confidence", ascending=False, na_position="last").head(params.prototypes)
    else:
        mistakes = mistakes.head(0)
    dataset = {"ref": data_uri}

    @evaluation(
        name=params.name,
        versionName="1",
        code="airgenome.components.evaluate.confusion",
        targetModel=record.id,
        parameters=params.model_dump(mode="json"),
        application=ctx.step.application,
        pipelineName=ctx.step.pipeline_name,
        pipelineStage=ctx.step.step_name,
        pipelineRunId=ctx.step.run_id,
        inputModality=model.modality,
        framework=record.framework,
    )
    class ConfusionMatrix(GenomeEvaluationRun):
        @task(dataset=dataset)
        def overall(self, t: Any, data: Any) -> None:
            for metric in SUMMARY_METRICS:
                t.add_metric(metric, found[metric])
                if metric in expectations:
                    _expect(t, metric, found[metric], expectations[metric])
            t.add_metric("n_examples", found["n_examples"])
            t.add_metric("classes", classes)
            t.add_metric("matrix", found["matrix"])
            t.add_picture(
                "confusion matrix", picture_uri,
                caption=f"rows: true class, columns: predicted ({found['n_examples']} examples)",
            )
            for _, row in mistakes.iterrows():
                proto = t.prototype(ref=str(row["id"]), name="confident mistake")
                proto.add_metric("label", row["label"]).add_metric("prediction", row["prediction"])
                proto.add_metric("confidence", None if pd.isna(row["confidence"]) else float(row["confidence"]))

    for cls in classes:
        def per_class(self: Any, t: Any, data: Any, cls: str = cls) -> None:
            values = found["per_class"][cls]
            for metric in (*CLASS_METRICS, "support"):
                t.add_metric(metric, values[metric])
            for metric in CLASS_METRICS:
                key = f"{metric}.{cls}"
                if key in expectations:
                    _expect(t, key, values[metric], expectations[key])

        attribute = "class_" + re.sub(r"\W", "_", cls) + f"_{classes.index(cls)}"
        setattr(ConfusionMatrix, attribute, task(name=f"class {cls}", dataset=dataset, segment={"class": cls})(per_class))

    run = ConfusionMatrix(get_evaluation_store(ctx.stores.evaluation_store_uri), target=record).to_run()
    summary = {k: found[k] for k in (*SUMMARY_METRICS, "n_examples")}
    print(json.dumps({"evaluation": run.id, "status": run.status, "model": record.id, **summary}))
    if params.gate and run.status == 0:
        raise ComponentFailed(f"evaluation {run.id} failed its expectations and the step gates on it")
    result = Result(
        evaluation_ids=[str(run.id)],
        model_version=str(record.id),
        metrics={
            **summary,
            "status": run.status,
            "classes": classes,
            "confusion_matrix": found["matrix"],
            "per_class": found["per_class"],
            **facts,
        },
    )
    result.add_output(
        "evaluation", f"evaluations:/{run.id}", "evaluation", id=str(run.id), status=run.status,
        model=str(record.id), picture=picture_uri,
    )
    result.add_output("predictions", table_uri, "table", **table_facts)
    return result
