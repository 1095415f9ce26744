"""Tree (dtreeviz) and coefficient pictures over HTTP; a Spark ML tree through the core."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

from tests.explain import models

pytestmark = pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz `dot` is not installed")


def get(plugin_client, path: str):
    return plugin_client.client.get(path, headers=plugin_client.headers("viewer"))


def _is_svg(response) -> bool:
    return response.headers["content-type"].startswith("image/svg+xml") and "<svg" in response.text[:500]


def test_forest_tree_svg(plugin_client, tabular_models) -> None:
    response = get(
        plugin_client, "/api/v1/models/tests/explain/forest/versions/1/visualizations/tree?index=3"
    )
    assert response.status_code == 200, response.text
    assert _is_svg(response)
    assert "MedInc" in response.text  # the splits are labelled with the stored feature names


def test_xgboost_tree_svg_by_registered_name(plugin_client, tabular_models) -> None:
    record = tabular_models["xgboost"]["record"]
    response = get(plugin_client, f"/api/v1/models/{record.name}/versions/latest/visualizations/tree?index=1")
    assert response.status_code == 200, response.text
    assert _is_svg(response)


def test_coefficients_svg(plugin_client, tabular_models) -> None:
    response = get(
        plugin_client, "/api/v1/models/tests/explain/logistic/versions/1/visualizations/coefficients"
    )
    assert response.status_code == 200, response.text
    assert _is_svg(response)
    assert "LogisticRegression coefficients" in response.text


@pytest.mark.parametrize(
    ("path", "status", "message"),
    [
        (
            "forest/versions/1/visualizations/tree?index=30",
            422,
            "index: 30 is out of range; this model has 30 tree(s) (0..29)",
        ),
        ("logistic/versions/1/visualizations/tree", 422, "model: LogisticRegression is not a tree model"),
        (
            "forest/versions/1/visualizations/coefficients",
            422,
            "model: RandomForestRegressor has no coefficients",
        ),
        ("forest/versions/7/visualizations/tree", 404, None),
        ("forest/versions/1/visualizations/tree?index=-1", 422, None),
    ],
)
def test_visualization_errors(plugin_client, tabular_models, path, status, message) -> None:
    response = get(plugin_client, f"/api/v1/models/tests/explain/{path}")
    assert response.status_code == status, response.text
    if message:
        assert response.json()["detail"].startswith(message)


def test_spark_tree_svg() -> None:
    pytest.importorskip("pyspark")
    if shutil.which("java") is None:
        pytest.skip("Spark needs Java")
    from pyspark.ml.classification import DecisionTreeClassifier
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import SparkSession

    from airgenome.visualize.trees import _spark_predict, tree_svg

    spark = (
        SparkSession.builder.master("local[1]")
        .appName("airgenome-tree-test")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .getOrCreate()
    )
    try:
        x, y = models.tabular_data(80)
        labels = (y > 0).astype(float)
        frame = spark.createDataFrame(
            [(float(label), Vectors.dense(row.tolist())) for row, label in zip(x, labels, strict=True)],
            ["label", "features"],
        )
        tree = DecisionTreeClassifier(maxDepth=3).fit(frame)
        predicted = np.asarray([r.prediction for r in tree.transform(frame).select("prediction").collect()])
        np.testing.assert_array_equal(_spark_predict(tree, x), predicted)
        svg = tree_svg(tree, x, feature_names=models.FEATURES, target_classes=["low", "high"])
        assert svg.lstrip().startswith(("<svg", "<?xml")) and "MedInc" in svg
    finally:
        spark.stop()
