"""Global explanations precomputed over a data sample (Genome's ``sampleExplanations``).

SHAP is chosen by model type: TreeExplainer for trees and tree ensembles (scikit-learn,
XGBoost), LinearExplainer for linear models, and a bounded KernelExplainer for anything
else (pipelines included). The result is plain JSON stored beside the model:
mean |SHAP| per feature and output, the base values, and the SHAP values of the first
rows of the sample (bounded), in Genome's realtime shape (``expected``, ``number_labels``,
``shapley``). The realtime explainers in ``airgenome.explain`` can reuse `choose_method`
and `shap_values`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from airgenome.errors import InvalidInput

FORMAT_VERSION = 1
MAX_TREE_ROWS = 3000  # TreeSHAP ~0.3 ms/row for a 120x5 forest: the whole seed sample fits
MAX_KERNEL_ROWS = 100  # KernelSHAP ~60 ms/row: keep precomputation in seconds
KERNEL_BACKGROUND = 20
KERNEL_NSAMPLES = 200
STORED_ROWS = 200  # per-row SHAP values kept in the artifact

_TREE_CLASSES = (
    "DecisionTreeClassifier",
    "DecisionTreeRegressor",
    "ExtraTreeClassifier",
    "ExtraTreeRegressor",
    "RandomForestClassifier",
    "RandomForestRegressor",
    "ExtraTreesClassifier",
    "ExtraTreesRegressor",
    "GradientBoostingClassifier",
    "GradientBoostingRegressor",
    "HistGradientBoostingClassifier",
    "HistGradientBoostingRegressor",
    "IsolationForest",
    "XGBClassifier",
    "XGBRegressor",
    "XGBRFClassifier",
    "XGBRFRegressor",
    "Booster",
)
_LINEAR_CLASSES = (
    "LinearRegression",
    "Ridge",
    "RidgeClassifier",
    "Lasso",
    "ElasticNet",
    "LogisticRegression",
    "SGDClassifier",
    "SGDRegressor",
    "LinearSVC",
    "LinearSVR",
    "BayesianRidge",
)


def choose_method(model: Any) -> str:
    """``tree``, ``linear`` or ``kernel`` for this model (by class, no imports needed)."""
    cls = type(model)
    module = cls.__module__
    if cls.__name__ in _TREE_CLASSES and module.startswith(("sklearn.", "xgboost.")):
        return "tree"
    if cls.__name__ in _LINEAR_CLASSES and module.startswith("sklearn."):
        return "linear"
    return "kernel"


def _as_matrix(data: Any) -> Any:
    import numpy as np

    values = data.to_numpy() if hasattr(data, "to_numpy") else np.asarray(data)
    if values.ndim != 2:
        raise InvalidInput(
            f"sampleExplanations: the sample must be a 2-D table (rows x features), got shape {values.shape}",
            details=[{"field": "data", "message": "must be 2-D"}],
        )
    return values


def shap_values(
    model: Any,
    data: Any,
    *,
    method: str,
    predict: Callable[[Any], Any] | None = None,
    background: Any = None,
) -> tuple[Any, Any]:
    """(values, expected) as arrays: values is (labels, rows, features), expected (labels,)."""
    import numpy as np
    import shap

    if method == "tree":
        explainer = shap.TreeExplainer(model)
        raw = explainer.shap_values(data, check_additivity=False)
    elif method == "linear":
        explainer = shap.LinearExplainer(model, background if background is not None else data)
        raw = explainer.shap_values(data)
    else:
        if predict is None:
            raise InvalidInput("sampleExplanations: a kernel explanation needs a predict function")
        bg = background if background is not None else data
        if len(bg) > KERNEL_BACKGROUND:
            bg = shap.kmeans(bg, KERNEL_BACKGROUND)
        # SHAP's KernelExplainer needs a plain function of a numpy matrix (XGBoost trap).
        explainer = shap.KernelExplainer(lambda rows: np.asarray(predict(rows)), bg)
        raw = explainer.shap_values(data, nsamples=KERNEL_NSAMPLES, silent=True)
    values = np.asarray(raw, dtype=float)
    rows, features = data.shape
    if values.ndim == 2:
        values = values[np.newaxis, :, :]
    elif values.ndim == 3 and values.shape[0] == rows and values.shape[1] == features:
        values = np.transpose(values, (2, 0, 1))  # (rows, features, labels) -> (labels, rows, features)
    expected = np.atleast_1d(np.asarray(explainer.expected_value, dtype=float))
    return values, expected


def sample_explanations(
    model: Any,
    data: Any,
    *,
    feature_names: Sequence[str] | None = None,
    target_classes: Sequence[str] | None = None,
    predict: Callable[[Any], Any] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Explain ``data`` globally; returns the JSON document stored with the model."""
    import numpy as np

    started = time.perf_counter()
    matrix = _as_matrix(data)
    method = choose_method(model)
    limit = MAX_TREE_ROWS if method in ("tree", "linear") else MAX_KERNEL_ROWS
    sample_size = int(matrix.shape[0])
    if sample_size == 0:
        raise InvalidInput(
            "sampleExplanations: the sample is empty", details=[{"field": "data", "message": "is empty"}]
        )
    rows = matrix
    if sample_size > limit:
        picked = np.random.default_rng(seed).choice(sample_size, limit, replace=False)
        rows = matrix[np.sort(picked)]
    values, expected = shap_values(model, rows, method=method, predict=predict, background=matrix)
    names = list(feature_names) if feature_names is not None else [f"x{i}" for i in range(matrix.shape[1])]
    if len(names) != matrix.shape[1]:
        raise InvalidInput(
            f"feature_names: {len(names)} names for {matrix.shape[1]} columns",
            details=[{"field": "feature_names", "message": "length differs from the sample's columns"}],
        )
    labels = int(values.shape[0])
    outputs = [str(c) for c in target_classes] if target_classes and len(target_classes) == labels else [
        f"output{i}" for i in range(labels)
    ]
    mean_abs = np.abs(values).mean(axis=1)  # (labels, features)
    kept = min(STORED_ROWS, rows.shape[0])
    shapley = values[:, :kept, :]
    return {
        "formatVersion": FORMAT_VERSION,
        "method": method,
        "explainer": {"tree": "TreeExplainer", "linear": "LinearExplainer", "kernel": "KernelExplainer"}[method],
        "featureNames": names,
        "outputs": outputs,
        "sampleSize": sample_size,
        "explainedRows": int(rows.shape[0]),
        "storedRows": kept,
        "meanAbsShap": mean_abs.tolist(),
        "ranking": [
            [names[i] for i in np.argsort(-mean_abs[label])] for label in range(labels)
        ],
        # Genome's realtime response shape, for the first `storedRows` rows of the sample.
        "expected": expected.tolist(),
        "number_labels": labels,
        "data": rows[:kept].tolist(),
        "shapley": shapley[0].tolist() if labels == 1 else shapley.tolist(),
        "seconds": round(time.perf_counter() - started, 4),
    }


def top_features(document: dict[str, Any], count: int = 10) -> list[dict[str, Any]]:
    """The most important features (first output) for cards: name and mean |SHAP|."""
    names = document.get("featureNames") or []
    scores = (document.get("meanAbsShap") or [[]])[0]
    ranked = sorted(zip(names, scores, strict=False), key=lambda pair: -pair[1])[:count]
    return [{"feature": name, "meanAbsShap": round(float(score), 6)} for name, score in ranked]
