"""dtreeviz SVG of one tree of a tree model: sklearn trees and forests, XGBoost, Spark ML.

dtreeviz draws the training data's distribution in every node, so it needs rows: the
rows `sampleExplanations` stored with the model (or any sample given), labelled with the
model's own predictions (what the tree splits on is the model, not the ground truth).
Needs Graphviz's `dot` on PATH (Debian: graphviz). Plain node boxes by default (~1.5 s
for a depth-5 tree); `fancy=True` draws a histogram per split (~5-15 s).
"""

from __future__ import annotations

import shutil
from typing import Any

import numpy as np

from airgenome.errors import InvalidInput, NotFound, Unavailable

FONT = "DejaVu Sans"  # ships with matplotlib; dtreeviz's default Arial is usually absent
MAX_ROWS = 500


def tree_count(model: Any) -> int:
    kind = _kind(model)
    if kind == "sklearn-tree":
        return 1
    if kind == "sklearn-forest":
        return len(model.estimators_)
    if kind == "sklearn-boosting":
        return int(np.asarray(model.estimators_).size)
    if kind == "xgboost":
        return len(_booster(model).get_dump())
    if kind == "spark-forest":
        return len(model.trees)
    return 1


def tree_svg(
    model: Any,
    data: Any,
    *,
    index: int = 0,
    feature_names: list[str] | None = None,
    target_classes: list[str] | None = None,
    fancy: bool = False,
) -> str:
    import dtreeviz

    if shutil.which("dot") is None:
        raise Unavailable("tree view: Graphviz's `dot` is not installed (Debian: apt-get install graphviz)")
    kind = _kind(model)
    if kind is None:
        raise InvalidInput(
            f"model: {type(model).__name__} is not a tree model (sklearn, XGBoost or Spark ML trees)"
        )
    count = tree_count(model)
    if not 0 <= index < count:
        raise InvalidInput(f"index: {index} is out of range; this model has {count} tree(s) (0..{count - 1})")
    if data is None:
        raise NotFound(
            "tree view: no data sample is stored with this model version; call "
            "genome_model.explainer.sampleExplanations(data) before saving it"
        )
    x = np.asarray(data, dtype=float)[:MAX_ROWS]
    names = feature_names or [f"x{i}" for i in range(x.shape[1])]
    tree, tree_index, y, classes = _tree_and_targets(model, kind, x, index, target_classes)
    viz = dtreeviz.model(
        tree,
        x,
        y,
        tree_index=tree_index,
        feature_names=names,
        target_name="prediction",
        class_names=classes,
    )
    svg: str = viz.view(fancy=fancy, fontname=FONT).svg()
    return svg


def _tree_and_targets(
    model: Any, kind: str, x: np.ndarray, index: int, target_classes: list[str] | None
) -> tuple[Any, int | None, np.ndarray, list[str] | None]:
    if kind == "sklearn-tree":
        return model, None, _sk_targets(model, model, x), _classes(model, target_classes)
    if kind == "sklearn-forest":
        tree = model.estimators_[index]
        return tree, None, _sk_targets(model, tree, x), _classes(model, target_classes)
    if kind == "sklearn-boosting":
        tree = np.asarray(model.estimators_).ravel()[index]
        # Each stage regresses residuals: label rows with that tree's own output.
        return tree, None, tree.predict(x), None
    if kind == "xgboost":
        booster = _booster(model)
        import xgboost

        margin = booster.predict(xgboost.DMatrix(x), output_margin=True)
        classes = _classes(model, target_classes)
        if classes:
            y = np.asarray(model.predict(x)).astype(int)
            return booster, index, y, classes
        return booster, index, np.asarray(margin, dtype=float).reshape(len(x), -1)[:, 0], None
    # Spark ML: predict with the model's own tree arrays (no SparkSession needed here).
    tree = model.trees[index] if kind == "spark-forest" else model
    y = _spark_predict(tree, x)
    if not _spark_is_classifier(tree):
        return tree, None, y, None
    labels = y.astype(int)
    classes = target_classes or [str(c) for c in range(int(max(labels.max(initial=0), 1)) + 1)]
    return tree, None, labels, classes


def _sk_targets(model: Any, tree: Any, x: np.ndarray) -> np.ndarray:
    if hasattr(model, "classes_"):
        predicted = model.predict(x)
        lookup = {label: position for position, label in enumerate(model.classes_)}
        return np.asarray([lookup[label] for label in predicted], dtype=int)
    return np.asarray(model.predict(x), dtype=float)


def _classes(model: Any, target_classes: list[str] | None) -> list[str] | None:
    labels = getattr(model, "classes_", None)
    if labels is None:
        return None
    if target_classes and len(target_classes) == len(labels):
        return list(target_classes)
    return [str(label) for label in labels]


def _booster(model: Any) -> Any:
    return model.get_booster() if hasattr(model, "get_booster") else model


def _kind(model: Any) -> str | None:
    module = type(model).__module__
    name = type(model).__name__
    if module.startswith("sklearn.tree"):
        return "sklearn-tree"
    if module.startswith("sklearn.ensemble._forest"):
        return "sklearn-forest"
    if module.startswith("sklearn.ensemble._gb"):
        return "sklearn-boosting"
    if module.startswith("xgboost"):
        return "xgboost"
    if module.startswith("pyspark.ml"):
        if name in ("DecisionTreeClassificationModel", "DecisionTreeRegressionModel"):
            return "spark-tree"
        if hasattr(model, "trees"):
            return "spark-forest"
    return None


def _spark_is_classifier(tree: Any) -> bool:
    return "Classification" in type(tree).__name__


def _spark_predict(tree: Any, x: np.ndarray) -> np.ndarray:
    """Walk the Spark tree's nodes in Python (continuous splits) for each row."""
    root = tree._call_java("rootNode")
    out = []
    for row in x:
        node = root
        while node.getClass().getSimpleName() == "InternalNode":
            split = node.split()
            feature = split.featureIndex()
            if split.getClass().getSimpleName() == "ContinuousSplit":
                go_left = row[feature] <= split.threshold()
            else:
                go_left = float(row[feature]) in set(split.leftCategories())
            node = node.leftChild() if go_left else node.rightChild()
        out.append(node.prediction())
    return np.asarray(out, dtype=float)
