"""``evaluate.fairness``: AIF360's group fairness metrics per protected attribute.

For each protected column the rows split into a privileged group (the listed values, or a
numeric range such as age 0..59) and the rest; labels and predictions become 1 (favourable)
or 0 and AIF360's `ClassificationMetric` computes statistical parity difference, disparate
impact, equal opportunity difference, average odds difference, error rate difference and the
Theil index, plus accuracy, TPR and FPR per group (segments). Predictions come from a table
column (``prediction``) or from the ``model`` input, which predicts the table's images (the
validation subset by default) or its feature columns (tabular models).

Everything is checked and computed before the evaluation is written: a missing column, a
single group or an undefined metric fails the step naming the parameter; no NaN is stored.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from airgenome.components.context import ComponentContext, ComponentFailed, Result
from airgenome.components.evaluate import imaging
from airgenome.components.evaluate.trust_specs import FairnessParameters, PrivilegedRange

METRICS = (
    "statistical_parity_difference",
    "disparate_impact",
    "equal_opportunity_difference",
    "average_odds_difference",
    "error_rate_difference",
    "theil_index",
)
GROUP_METRICS = ("accuracy", "true_positive_rate", "false_positive_rate")


def _columns(frame: Any) -> str:
    names = [str(c) for c in frame.columns]
    return ", ".join(names[:30]) + (" ..." if len(names) > 30 else "")


def _require(frame: Any, column: str, where: str) -> None:
    if column not in frame.columns:
        raise ComponentFailed(f"{where}: column {column!r} is not in the table (columns: {_columns(frame)})")


def _equals(values: Any, wanted: Any) -> np.ndarray:
    """Element-wise ``values == wanted``; text on either side compares as text (1 == "1")."""
    direct = np.asarray(values == wanted, dtype=bool)
    if direct.any():
        return direct
    return np.asarray(values.astype(str) == str(wanted), dtype=bool)


def _isin(values: Any, wanted: list[Any]) -> np.ndarray:
    out = np.zeros(len(values), dtype=bool)
    for item in wanted:
        out |= _equals(values, item)
    return out


def privileged_mask(frame: Any, column: str, spec: list[Any] | PrivilegedRange) -> tuple[np.ndarray, np.ndarray, str]:
    """(privileged, known, description): ``known`` is False where the column is empty."""
    import pandas as pd

    values = frame[column]
    known = np.asarray(values.notna(), dtype=bool)
    where = f"parameters.protected.{column}"
    if isinstance(spec, PrivilegedRange):
        numbers = pd.to_numeric(values, errors="coerce")
        bad = known & np.asarray(numbers.isna(), dtype=bool)
        if bad.any():
            example = values[bad].iloc[0]
            raise ComponentFailed(f"{where}: a range needs numbers; column {column!r} holds {example!r}")
        low = -np.inf if spec.min is None else spec.min
        high = np.inf if spec.max is None else spec.max
        privileged = known & np.asarray((numbers >= low) & (numbers <= high), dtype=bool)
        if spec.min is not None and spec.max is not None:
            description = f"{column} in [{spec.min:g}, {spec.max:g}]"
        elif spec.min is not None:
            description = f"{column} >= {spec.min:g}"
        else:
            description = f"{column} <= {spec.max:g}"
    else:
        privileged = known & _isin(values, spec)
        description = f"{column} in {', '.join(map(str, spec))}"
    return privileged, known, description


def predictions_from_model(ctx: ComponentContext, params: FairnessParameters, frame: Any) -> tuple[Any, np.ndarray, Any, Any]:
    """(rows judged, predicted labels, model record, estimator)."""
    record, estimator = imaging.load_model(ctx)
    if estimator.modality == "image":
        if "images" not in ctx.inputs:
            raise ComponentFailed("inputs.images: an image model predicts pictures; wire the images input")
        _require(frame, params.image_column, "parameters.image_column")
        model = imaging.image_model(estimator, params.pixel_range)
        images = ctx.input("images").uri
        rows = frame
        if params.subset == "validation":
            if "split" in frame.columns:
                rows = frame[frame["split"].astype(str) == "validation"]
            else:
                listed = set(imaging.split_paths(imaging.read_split(images), "validation"))
                rows = frame[frame[params.image_column].astype(str).isin(listed)]
            if rows.empty:
                raise ComponentFailed("parameters.subset: no table row belongs to the validation split")
        paths = [imaging._relative(p, f"parameters.image_column ({params.image_column})") for p in rows[params.image_column].astype(str)]
        classes = model.classes or [str(c) for c in imaging.read_split(images)["classes"]]
        if len(classes) != model.n_classes:
            raise ComponentFailed(f"inputs.model: {model.n_classes} outputs but {len(classes)} classes")
        pixels = imaging.load_pictures(
            images, paths, height=model.height, width=model.width, channels=model.channels, resize=params.resize
        )
        probabilities = model.predict(pixels, params.batch_size)
        predicted = np.asarray(classes, dtype=object)[probabilities.argmax(axis=1)]
        return rows, predicted, record, estimator
    names = estimator.feature_names
    if not names:
        raise ComponentFailed("inputs.model: a tabular model must carry feature_names to predict a table")
    missing = [n for n in names if n not in frame.columns]
    if missing:
        raise ComponentFailed(f"inputs.table: the model's feature column(s) {', '.join(missing)} are missing")
    predicted = np.asarray(estimator.predict(frame[names]))
    return frame, predicted.ravel(), record, estimator


def audit(
    y_true: np.ndarray, y_pred: np.ndarray, privileged: np.ndarray, attribute: str
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """AIF360 on 0/1 arrays: ({metric: value}, {"privileged"/"unprivileged": {accuracy, TPR, FPR}})."""
    import pandas as pd
    from aif360.datasets import BinaryLabelDataset
    from aif360.metrics import ClassificationMetric

    truth = pd.DataFrame({attribute: privileged.astype(float), "label": y_true.astype(float)})
    guess = truth.copy()
    guess["label"] = y_pred.astype(float)
    common = {"favorable_label": 1.0, "unfavorable_label": 0.0, "label_names": ["label"], "protected_attribute_names": [attribute]}
    metric = ClassificationMetric(
        BinaryLabelDataset(df=truth, **common),
        BinaryLabelDataset(df=guess, **common),
        unprivileged_groups=[{attribute: 0.0}],
        privileged_groups=[{attribute: 1.0}],
    )
    values = {name: float(getattr(metric, name)()) for name in METRICS}
    groups = {
        group: {
            "accuracy": float(metric.accuracy(privileged=flag)),
            "true_positive_rate": float(metric.true_positive_rate(privileged=flag)),
            "false_positive_rate": float(metric.false_positive_rate(privileged=flag)),
        }
        for group, flag in (("privileged", True), ("unprivileged", False))
    }
    return values, groups


def _why_undefined(metric: str, y_true: np.ndarray, y_pred: np.ndarray, privileged: np.ndarray) -> str:
    reasons = []
    for name, members in (("privileged", privileged), ("unprivileged", ~privileged)):
        positives = int(y_true[members].sum())
        if metric in ("equal_opportunity_difference", "average_odds_difference", "true_positive_rate") and positives == 0:
            reasons.append(f"the {name} group has no favourable labels")
        if metric in ("average_odds_difference", "false_positive_rate") and positives == members.sum():
            reasons.append(f"the {name} group has no unfavourable labels")
        if metric == "disparate_impact" and name == "privileged" and y_pred[members].sum() == 0:
            reasons.append("the privileged group receives no favourable predictions")
    return "; ".join(reasons) or "a group is too small"


def _bounds(params: FairnessParameters) -> dict[str, tuple[float | None, float | None]]:
    """metric -> (low, high) expectation bounds from the thresholds."""
    th = params.thresholds

    def symmetric(v: float | None) -> tuple[float | None, float | None]:
        return (None, None) if v is None else (-v, v)

    return {
        "statistical_parity_difference": symmetric(th.statistical_parity_difference),
        "disparate_impact": (th.disparate_impact_min, th.disparate_impact_max),
        "equal_opportunity_difference": symmetric(th.equal_opportunity_difference),
        "average_odds_difference": symmetric(th.average_odds_difference),
        "error_rate_difference": symmetric(th.error_rate_difference),
        "theil_index": (None, th.theil_index),
    }


def _group_rates(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float | None]:
    positives, negatives = y_true == 1, y_true == 0
    return {
        "accuracy": float((y_true == y_pred).mean()) if len(y_true) else None,
        "true_positive_rate": float(y_pred[positives].mean()) if positives.any() else None,
        "false_positive_rate": float(y_pred[negatives].mean()) if negatives.any() else None,
    }


def fairness(ctx: ComponentContext, params: FairnessParameters) -> Result:
    from airgenome.components.files import read_table

    table_uri = ctx.input("table").uri
    frame = read_table(table_uri)
    _require(frame, params.label, "parameters.label")
    for column in params.protected:
        _require(frame, column, f"parameters.protected.{column}")
    record = estimator = None
    if params.prediction is not None:
        _require(frame, params.prediction, "parameters.prediction")
        rows, predicted = frame, frame[params.prediction].to_numpy()
        if "model" in ctx.inputs:  # judged without predicting: the evaluation still links to it
            record, estimator = imaging.load_model(ctx)
    elif "model" in ctx.inputs:
        rows, predicted, record, estimator = predictions_from_model(ctx, params, frame)
    else:
        raise ComponentFailed("parameters.prediction: give the column holding predictions, or wire a model input that predicts")
    if rows.empty:
        raise ComponentFailed("inputs.table: no rows to judge")
    import pandas as pd

    y_true = _equals(rows[params.label], params.favorable).astype(int)
    if not y_true.any() and not np.asarray(rows[params.label].astype(str) == str(params.favorable)).any():
        shown = ", ".join(map(str, pd.unique(rows[params.label])[:10]))
        raise ComponentFailed(f"parameters.favorable: {params.favorable!r} never occurs in column {params.label!r} (values: {shown})")
    y_pred = _equals(pd.Series(predicted, index=rows.index), params.favorable).astype(int)

    results: dict[str, dict[str, float]] = {}
    groups: dict[str, dict[str, dict[str, Any]]] = {}
    descriptions: dict[str, str] = {}
    for column, spec in params.protected.items():
        where = f"parameters.protected.{column}"
        privileged, known, description = privileged_mask(rows, column, spec)
        truth, guess, members = y_true[known], y_pred[known], privileged[known]
        count = int(members.sum())
        if count == 0 or count == len(members):
            side = "no row is" if count == 0 else "every row is"
            raise ComponentFailed(
                f"{where}: {side} in the privileged group ({description}) among {len(members)} rows; "
                "the fairness metrics compare two groups"
            )
        values, per_group = audit(truth, guess, members, column)
        for metric, value in values.items():
            if not np.isfinite(value):
                raise ComponentFailed(
                    f"{where}: {metric} is undefined for {column!r} ({_why_undefined(metric, truth, guess, members)})"
                )
        results[column] = values
        per_group["privileged"]["rows"] = count
        per_group["unprivileged"]["rows"] = int(len(members) - count)
        groups[column] = {
            "privileged": {"group": description, **per_group["privileged"]},
            "unprivileged": {"group": f"not ({description})", **per_group["unprivileged"]},
        }
        if isinstance(spec, PrivilegedRange) and spec.bins:
            numbers = pd.to_numeric(rows[column], errors="coerce").to_numpy()
            for low, high in zip(spec.bins, spec.bins[1:], strict=False):
                inside = (numbers >= low) & (numbers < high)
                if inside.any():
                    groups[column][f"[{low:g}, {high:g})"] = {
                        "group": f"{column} in [{low:g}, {high:g})",
                        "rows": int(inside.sum()),
                        **_group_rates(y_true[inside], y_pred[inside]),
                    }
        descriptions[column] = description

    bounds = _bounds(params)
    pictures: list[str] = []
    chart_uris: dict[str, str] = {}
    for column, values in results.items():
        rows_chart: list[tuple[str, float, str, bool | None]] = []
        for metric, value in values.items():
            low, high = bounds[metric]
            passed = None if low is None and high is None else bool((low is None or value >= low) and (high is None or value <= high))
            bar = value - 1.0 if metric == "disparate_impact" else value
            rows_chart.append((metric + (" - 1" if metric == "disparate_impact" else ""), bar, f"{value:+.3f}", passed))
        for group, facts in groups[column].items():
            rows_chart.append((f"{group} accuracy", float(facts["accuracy"] or 0.0), f"{facts['accuracy'] or 0:.3f}", None))
        chart_uris[column] = imaging.save_picture(
            ctx,
            f"fairness-{imaging_safe(column)}.png",
            imaging.bar_chart_png(f"fairness by {column} (privileged: {descriptions[column]})", rows_chart, span=0.5),
        )
        pictures.append(chart_uris[column])

    tasks: list[tuple[str, Any, Any]] = []
    for column, values in results.items():
        tasks.append((f"fairness/{column}", column, _attribute_body(column, values, bounds, chart_uris[column], descriptions[column])))
        for group, facts in groups[column].items():
            tasks.append((f"fairness/{column}/{group}", {"attribute": column, "group": facts["group"]}, _group_body(facts)))
    run = imaging.save_evaluation(
        ctx,
        name="trust/fairness",
        record=record,
        tasks=tasks,
        parameters=params.model_dump(mode="json"),
        dataset=table_uri,
        modality=getattr(estimator, "modality", None),
        framework=imaging.framework_of(estimator) if estimator is not None else None,
    )
    metrics: dict[str, Any] = {column: dict(values) for column, values in results.items()}
    return imaging.evaluation_result(ctx, run, record, metrics=metrics, pictures=pictures, gate=params.gate)


def imaging_safe(text: str) -> str:
    from airgenome.components.lake import safe_segment

    return safe_segment(text)


def _attribute_body(column: str, values: dict[str, float], bounds: dict[str, Any], chart: str, description: str) -> Any:
    def body(t: Any) -> None:
        for metric, value in values.items():
            t.add_metric(metric, value)
            low, high = bounds[metric]
            if low is not None:
                t.expect(value, var=metric).toBeGreaterOrEqual(low)
            if high is not None:
                t.expect(value, var=metric).toBeLessOrEqual(high)
        t.add_picture(f"fairness by {column}", chart, caption=f"privileged: {description}")

    return body


def _group_body(facts: dict[str, Any]) -> Any:
    def body(t: Any) -> None:
        for name in ("rows", *GROUP_METRICS):
            if facts.get(name) is not None:
                t.add_metric(name, facts[name])

    return body
