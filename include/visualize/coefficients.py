"""Coefficient chart (SVG) of linear and logistic models: one bar per feature and class."""

from __future__ import annotations

import io
from typing import Any

import numpy as np

from airgenome.errors import InvalidInput

MAX_FEATURES = 60


def coefficients(model: Any) -> tuple[np.ndarray, np.ndarray]:
    """(coef as (outputs, features), intercept as (outputs,)) of sklearn or Spark linear models."""
    coef = getattr(model, "coef_", None)
    if coef is not None:
        matrix = np.atleast_2d(np.asarray(coef, dtype=float))
        intercept = np.atleast_1d(np.asarray(getattr(model, "intercept_", 0.0), dtype=float))
        return matrix, np.broadcast_to(intercept, (matrix.shape[0],)).copy()
    if hasattr(model, "coefficients") or hasattr(model, "coefficientMatrix"):  # Spark ML
        if getattr(model, "numClasses", 2) > 2:
            matrix = np.asarray(model.coefficientMatrix.toArray(), dtype=float)
            return matrix, np.asarray(model.interceptVector.toArray(), dtype=float)
        return (
            np.asarray(model.coefficients.toArray(), dtype=float)[None, :],
            np.asarray([float(model.intercept)]),
        )
    raise InvalidInput(f"model: {type(model).__name__} has no coefficients (linear and logistic models only)")


def coefficients_svg(
    model: Any,
    *,
    feature_names: list[str] | None = None,
    target_classes: list[str] | None = None,
) -> str:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    coef, intercept = coefficients(model)
    outputs, features = coef.shape
    names = (
        feature_names
        if feature_names and len(feature_names) == features
        else [f"x{i}" for i in range(features)]
    )
    labels = _output_labels(model, outputs, target_classes)
    order = np.argsort(-np.abs(coef).max(axis=0))[:MAX_FEATURES][::-1]
    height = 0.9 + 0.28 * len(order) * max(1, min(outputs, 3))
    figure = Figure(figsize=(7.5, min(height, 30)))
    axes = figure.subplots()
    bar = 0.8 / outputs
    positions = np.arange(len(order))
    for k in range(outputs):
        values = coef[k, order]
        axes.barh(
            positions + (k - (outputs - 1) / 2) * bar,
            values,
            height=bar,
            label=f"{labels[k]} (intercept {intercept[k]:.3g})",
        )
    axes.set_yticks(positions, [names[i] for i in order])
    axes.axvline(0, color="#444", linewidth=0.8)
    axes.set_xlabel("coefficient")
    axes.set_title(f"{type(model).__name__} coefficients")
    axes.legend(loc="best", fontsize="small")
    figure.tight_layout()
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg")
    return buffer.getvalue()


def _output_labels(model: Any, outputs: int, target_classes: list[str] | None) -> list[str]:
    classes = getattr(model, "classes_", None)
    if classes is not None:
        names = [str(c) for c in classes]
        if target_classes and len(target_classes) == len(names):
            names = list(target_classes)
        if outputs == 1 and len(names) == 2:
            return [f"{names[1]} vs {names[0]}"]
        if len(names) == outputs:
            return names
    if target_classes and len(target_classes) == outputs:
        return list(target_classes)
    return ["output"] if outputs == 1 else [f"output {k}" for k in range(outputs)]
