"""SHAP explanations of tabular models in Genome's shape `{expected, number_labels, shapley}`.

The method follows the model: TreeExplainer for sklearn and XGBoost trees and ensembles
(exact, ~0.3 ms a row), the linear explainer for linear models, and a KernelExplainer
with a bounded number of samples and rows for anything else.

Layout of `shapley`: one output -> `[rows][features]`; several outputs (classes) ->
`[labels][rows][features]` (what `shap_values` returned when Genome was written). In
every case `expected[k] + sum(shapley[k][row]) == model output k` for that row, where the
model output is what the explainer explains (probabilities for sklearn forests, the
margin for boosted trees and logistic models).
"""

from __future__ import annotations

import math
from typing import Any, Literal

import numpy as np

from airgenome.errors import InvalidInput
from airgenome.explain.model import ExplainableModel

Method = Literal["tree", "linear", "kernel"]

MAX_ROWS = 1000
# KernelSHAP costs ~60 ms a row at these settings: keep a request well under a second.
MAX_KERNEL_ROWS = 16
KERNEL_SAMPLES = 256
KERNEL_BACKGROUND = 20


class TabularExplainer:
    """Built once per model (in the cache); `explain` is thread-safe."""

    def __init__(self, model: ExplainableModel) -> None:
        self.model = model
        self.n_features = _feature_count(model)
        self.columns = _column_names(model.model)
        self.method: Method
        self._explainer: Any = None
        self._build()

    def _build(self) -> None:
        import shap

        estimator = self.model.model
        if _is_linear(estimator):
            self.method = "linear"
            self._explainer = shap.LinearExplainer(estimator, self._background())
            return
        if _is_tree(estimator):
            self.method = "tree"
            self._explainer = shap.TreeExplainer(estimator)
            return
        self.method = "kernel"
        predict = self.model.predict_function()

        # SHAP's KernelExplainer mis-handles some models' own methods (XGBoost): wrap them.
        def wrapped(rows: np.ndarray) -> np.ndarray:
            return np.asarray(predict(self._frame(rows)), dtype=float)

        background = self._background()
        if background.shape[0] > KERNEL_BACKGROUND:
            background = shap.kmeans(background, KERNEL_BACKGROUND)
        self._explainer = shap.KernelExplainer(wrapped, background)

    def _background(self) -> np.ndarray:
        """The stored data sample, else one all-zero row (the documented baseline)."""
        if self.model.background is not None:
            sample = np.asarray(self.model.background, dtype=float)
            if sample.ndim == 2 and sample.shape[1] == self.n_features:
                return sample
        return np.zeros((1, self.n_features))

    def _frame(self, rows: np.ndarray) -> Any:
        """Models fitted on a DataFrame want one back, with the same column names."""
        if self.columns is None:
            return rows
        import pandas as pd

        return pd.DataFrame(rows, columns=self.columns)

    def validate(self, entries: Any) -> np.ndarray:
        return validate_entries(
            entries,
            n_features=self.n_features,
            max_rows=MAX_KERNEL_ROWS if self.method == "kernel" else MAX_ROWS,
        )

    def explain(self, entries: Any) -> dict[str, Any]:
        rows = self.validate(entries)
        if self.method == "kernel":
            values = self._explainer.shap_values(rows, nsamples=KERNEL_SAMPLES, silent=True)
        elif self.method == "tree":
            values = self._explainer.shap_values(self._frame(rows), check_additivity=False)
        else:
            values = self._explainer.shap_values(rows)
        return genome_shape(self._explainer.expected_value, values)

    def predict(self, rows: np.ndarray) -> np.ndarray:
        """The output the explanation adds up to (used by tests and the global view)."""
        return np.asarray(self.model.predict_function()(self._frame(rows)), dtype=float)


def genome_shape(expected_value: Any, values: Any) -> dict[str, Any]:
    expected = np.atleast_1d(np.asarray(expected_value, dtype=float)).ravel()
    array = np.asarray(values, dtype=float)
    if isinstance(values, list) and array.ndim == 3:
        # Older shap: one [rows][features] array per output.
        array = np.transpose(array, (1, 2, 0))
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    if array.ndim == 3:
        shapley = np.transpose(array, (2, 0, 1)).tolist()  # [labels][rows][features]
    else:
        shapley = array.tolist()
    return {"expected": expected.tolist(), "number_labels": int(expected.size), "shapley": shapley}


def validate_entries(entries: Any, *, n_features: int, max_rows: int) -> np.ndarray:
    """Rows of finite numbers, each with the model's feature count; errors name the cell."""
    if not isinstance(entries, list) or not entries:
        raise InvalidInput("entries: expected a non-empty list of rows (lists of numbers)")
    if len(entries) > max_rows:
        raise InvalidInput(f"entries: {len(entries)} rows is more than the limit of {max_rows}")
    errors: list[dict[str, Any]] = []
    for r, row in enumerate(entries):
        if not isinstance(row, list):
            errors.append({"field": f"entries[{r}]", "message": "a row must be a list of numbers"})
            continue
        if len(row) != n_features:
            errors.append(
                {
                    "field": f"entries[{r}]",
                    "message": f"has {len(row)} values, the model expects {n_features} features",
                }
            )
            continue
        for c, value in enumerate(row):
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                errors.append({"field": f"entries[{r}][{c}]", "message": f"{value!r} is not a number"})
            elif not math.isfinite(value):
                errors.append({"field": f"entries[{r}][{c}]", "message": f"{value!r} is not a finite number"})
        if len(errors) >= 20:
            break
    if errors:
        first = errors[0]
        more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
        raise InvalidInput(f"{first['field']}: {first['message']}{more}", details=errors)
    return np.asarray(entries, dtype=float)


def _feature_count(model: ExplainableModel) -> int:
    estimator = model.model
    count = getattr(estimator, "n_features_in_", None)
    if count is None and hasattr(estimator, "num_features"):  # xgboost.Booster
        count = estimator.num_features()
    if count is None and model.feature_names:
        count = len(model.feature_names)
    if count is None:
        raise InvalidInput("model: cannot tell how many features it takes; store feature_names")
    return int(count)


def _column_names(estimator: Any) -> list[str] | None:
    names = getattr(estimator, "feature_names_in_", None)
    return None if names is None else [str(name) for name in names]


def _is_linear(estimator: Any) -> bool:
    module = type(estimator).__module__
    return module.startswith("sklearn.linear_model") and hasattr(estimator, "coef_")


def _is_tree(estimator: Any) -> bool:
    module = type(estimator).__module__
    if module.startswith("xgboost"):
        return True
    if module.startswith("sklearn.tree") or module.startswith("sklearn.ensemble._forest"):
        return True
    if module.startswith("sklearn.ensemble._gb"):
        return True
    return module.startswith("lightgbm") or module.startswith("catboost")
