"""Save -> search -> load -> same predictions, for every supported framework; lookups and aliases."""

from __future__ import annotations

import numpy as np
import pytest

from airgenome.errors import InvalidInput, NotFound
from airgenome.models.estimator import GenomeEstimator
from tests.models.conftest import meta
from tests.models.textdata import documents


@pytest.fixture(scope="module")
def diabetes():
    from sklearn.datasets import load_diabetes

    return load_diabetes()


@pytest.fixture(scope="module")
def forest_record(store, diabetes):
    from sklearn.ensemble import RandomForestRegressor

    forest = RandomForestRegressor(n_estimators=20, max_depth=4, random_state=0).fit(diabetes.data, diabetes.target)
    model = GenomeEstimator(
        forest, target_classes=["progression"], feature_names=diabetes.feature_names, modality="tabular"
    )
    model.explainer.sampleExplanations(diabetes.data[:150])
    record = store.save_model(model, meta(canonicalName="/housing/ca/forest-1", versionName="1.2.3"))
    return record, model


def test_forest_round_trip(store, diabetes, forest_record) -> None:
    record, model = forest_record
    assert record["id"] == f"{record.name}/1"
    assert record["canonicalName"] == "/housing/ca/forest-1"
    assert record.name.startswith("housing.ca.forest-1~")
    assert record.tags["airgenome.flavour"] == "sklearn"
    assert record.tags["airgenome.estimatorClass"] == "sklearn.ensemble._forest.RandomForestRegressor"
    assert record.tags["airgenome.hasGlobalExplanations"] == "true"

    found = store.search_models(canonicalName="/housing/ca/forest-1").items
    assert [r.id for r in found] == [record.id]

    loaded = store.load_model(record["id"])
    assert isinstance(loaded, GenomeEstimator)
    np.testing.assert_array_equal(loaded.estimator.predict(diabetes.data), model.estimator.predict(diabetes.data))
    assert loaded.feature_names == list(diabetes.feature_names)
    assert loaded.target_classes == ["progression"]
    assert loaded.global_explanations == model.global_explanations


def test_global_explanations_are_tree_shap(forest_record, diabetes) -> None:
    _, model = forest_record
    doc = model.global_explanations
    assert doc["method"] == "tree"
    assert doc["explainer"] == "TreeExplainer"
    assert doc["sampleSize"] == 150 and doc["explainedRows"] == 150 and doc["storedRows"] == 150
    assert doc["number_labels"] == 1
    assert len(doc["meanAbsShap"]) == 1 and len(doc["meanAbsShap"][0]) == 10
    shapley = np.array(doc["shapley"])
    assert shapley.shape == (150, 10)
    # SHAP's additivity: base value + contributions = the forest's prediction.
    predictions = model.estimator.predict(np.array(doc["data"]))
    np.testing.assert_allclose(doc["expected"][0] + shapley.sum(axis=1), predictions, rtol=1e-6, atol=1e-6)
    assert doc["ranking"][0][0] == doc["featureNames"][int(np.argmax(doc["meanAbsShap"][0]))]


def test_lookups_by_canonical_name_version_and_id(store, forest_record, diabetes) -> None:
    record, model = forest_record
    second = store.save_model(model, meta(canonicalName="/housing/ca/forest-1", versionName="1.2.4"))
    assert second.version == 2
    assert store.get_model(canonical_name="/housing/ca/forest-1").id == second.id  # latest
    assert store.get_model(canonical_name="/housing/ca/forest-1", version=1).id == record.id
    assert store.get_model("/housing/ca/forest-1").id == second.id  # a canonicalName where an id goes
    assert store.get_model(name=record.name, version="latest").id == second.id
    assert store.get_model(name="housing/ca/forest-1", version=1).id == record.id  # URL form, no leading /
    assert [v.version for v in store.versions("/housing/ca/forest-1")] == [2, 1]


def test_aliases(store, forest_record) -> None:
    record, _ = forest_record
    assert store.set_alias(record.id, "champion").aliases == ["champion"]
    assert store.get_model(canonical_name="/housing/ca/forest-1", alias="champion").id == record.id
    assert store.get_model(canonical_name="/housing/ca/forest-1", version="@champion").id == record.id
    latest = store.get_model(canonical_name="/housing/ca/forest-1")
    store.set_alias(latest.id, "champion")  # an alias moves
    assert store.get_model(canonical_name="/housing/ca/forest-1", alias="champion").id == latest.id
    assert store.get_model(record.id).aliases == []
    store.delete_alias("/housing/ca/forest-1", "champion")
    with pytest.raises(NotFound, match="alias 'champion'"):
        store.get_model(canonical_name="/housing/ca/forest-1", alias="champion")


def test_unknown_models_and_versions_are_not_found(store, forest_record) -> None:
    record, _ = forest_record
    with pytest.raises(NotFound, match="no model named '/no/such/model'"):
        store.get_model(canonical_name="/no/such/model")
    with pytest.raises(NotFound, match="not found"):
        store.get_model(f"{record.name}/99")
    with pytest.raises(NotFound, match="has no version 'nope'"):
        store.get_model(name=record.name, version="nope")


def test_tags_and_reserved_tags(store, forest_record) -> None:
    record, _ = forest_record
    assert store.set_tag(record.id, "blessed", "true").tags["blessed"] == "true"
    with pytest.raises(InvalidInput, match="reserved"):
        store.set_tag(record.id, "framework", "keras")
    with pytest.raises(InvalidInput, match="reserved"):
        store.set_tag(record.id, "airgenome.blessing.verdict", "BLESSED")  # not for users


def test_platform_tags_are_written_only_under_their_prefix_and_cut_to_size(store, forest_record) -> None:
    record, _ = forest_record
    store.set_system_tag(record, "airgenome.blessing.reasons", "x" * 6000)
    assert store.get_model(record.id).tags["airgenome.blessing.reasons"] == "x" * 4000
    for key in ("blessed", "framework", "mlflow.note"):
        with pytest.raises(InvalidInput, match=f"tag '{key}' is not a platform tag"):
            store.set_system_tag(record, key, "v")


def test_failed_validation_writes_nothing(store, diabetes) -> None:
    from sklearn.linear_model import LinearRegression

    model = LinearRegression().fit(diabetes.data, diabetes.target)
    with pytest.raises(InvalidInput, match="pipelineRunId: is required"):
        store.save_model(model, meta(canonicalName="/tests/never-saved", pipelineRunId=""))
    assert store.search_models(canonicalName="/tests/never-saved").items == []


def test_text_pipeline_round_trip(store) -> None:
    from sklearn.decomposition import TruncatedSVD
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.pipeline import make_pipeline

    texts, labels, names = documents()
    vec = TfidfVectorizer(min_df=3, stop_words="english", ngram_range=(1, 2))
    svd = TruncatedSVD(n_components=20, n_iter=7, random_state=42)
    pipe = make_pipeline(make_pipeline(vec, svd), RandomForestClassifier(n_estimators=30, max_depth=5, random_state=0))
    pipe.fit(texts, labels)
    model = GenomeEstimator(pipe, estimator_predict="predict_proba", target_classes=names, modality="text")
    record = store.save_model(
        model,
        meta(
            canonicalName="/classifier/text/randomforest",
            inputModality="text",
            predictionType="classification",
            versionName="sklearn-text.1.2.2",
        ),
    )
    assert record.prediction_type == "classification"
    assert [r.id for r in store.search_models(inputModality="text").items] == [record.id]
    loaded = store.load_model(record.id)
    assert loaded.estimator_predict == "predict_proba"
    assert loaded.target_classes == names
    np.testing.assert_array_equal(loaded.predict(texts[:20]), pipe.predict_proba(texts[:20]))
    with pytest.raises(InvalidInput, match="precomputes SHAP for tabular models; this is a text model"):
        loaded.explainer.sampleExplanations([[1.0]])


def test_xgboost_round_trip(store, diabetes) -> None:
    from xgboost import XGBRegressor

    booster = XGBRegressor(n_estimators=20, max_depth=3).fit(diabetes.data, diabetes.target)
    model = GenomeEstimator(booster, feature_names=diabetes.feature_names)
    doc = model.explainer.sampleExplanations(diabetes.data[:50])
    assert doc["method"] == "tree"
    shapley = np.array(doc["shapley"])
    np.testing.assert_allclose(
        doc["expected"][0] + shapley.sum(axis=1), booster.predict(diabetes.data[:50]), rtol=1e-4, atol=1e-3
    )
    record = store.save_model(model, meta(canonicalName="/tests/xgb", framework="xgboost"))
    assert record.tags["airgenome.flavour"] == "xgboost"
    assert record.prediction_type == "regression"
    assert [r.id for r in store.search_models(framework="xgboost").items] == [record.id]
    loaded = store.load_model(record.id)
    np.testing.assert_allclose(loaded.estimator.predict(diabetes.data), booster.predict(diabetes.data), rtol=1e-6)
    assert loaded.global_explanations == doc


def test_kernel_fallback_for_pipelines(diabetes) -> None:
    from sklearn.linear_model import Ridge
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    pipe = make_pipeline(StandardScaler(), Ridge()).fit(diabetes.data, diabetes.target)
    doc = GenomeEstimator(pipe).explainer.sampleExplanations(diabetes.data[:150])
    assert doc["method"] == "kernel"
    assert doc["sampleSize"] == 150 and doc["explainedRows"] == 100  # bounded
    assert np.array(doc["shapley"]).shape == (100, 10)


@pytest.mark.slow
def test_keras_cnn_round_trip(store) -> None:
    import keras
    from keras.applications.mobilenet_v2 import preprocess_input

    keras.utils.set_random_seed(0)
    cnn = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(4, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(3, activation="softmax"),
        ]
    )
    cnn.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    images = np.random.default_rng(0).uniform(0, 255, (12, 16, 16, 3)).astype("float32")
    cnn.fit(images, np.arange(12) % 3, epochs=1, verbose=0)
    model = GenomeEstimator(cnn, data_preprocessor=preprocess_input, modality="image", target_classes=["a", "b", "c"])
    record = store.save_model(
        model,
        meta(canonicalName="/classifier/tiny-cnn", framework="keras", inputModality="image", predictionType="classification"),
    )
    assert record.tags["airgenome.flavour"] == "tensorflow"
    loaded = store.load_model(record.id)
    assert loaded.data_preprocessor is preprocess_input  # stored as a reference, not a pickle
    np.testing.assert_allclose(loaded.predict(images), model.predict(images), rtol=1e-5, atol=1e-6)
    manifest = store.manifest(record)
    assert manifest["preprocessor"] == {
        "kind": "reference",
        "module": "keras.src.applications.mobilenet_v2",
        "name": "preprocess_input",
    }

    # A preprocessor of the user's own travels with the model (cloudpickle: trust the store).
    scaled = GenomeEstimator(cnn, data_preprocessor=lambda x: x / 255.0, modality="image")
    record = store.save_model(
        scaled,
        meta(canonicalName="/classifier/tiny-cnn", framework="keras", inputModality="image", predictionType="classification"),
    )
    assert store.manifest(record)["preprocessor"]["kind"] == "cloudpickle"
    again = store.load_model(record.id)
    np.testing.assert_allclose(again.predict(images), cnn.predict(images / 255.0, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_spark_ml_round_trip(store) -> None:
    import shutil

    if shutil.which("java") is None:
        pytest.skip("Spark ML needs a Java runtime (java not on PATH)")
    import logging

    # py4j logs from __del__ at interpreter exit, after pytest has closed the streams.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    from pyspark.ml.classification import LogisticRegression
    from pyspark.ml.linalg import Vectors
    from pyspark.sql import SparkSession

    spark = (
        SparkSession.builder.master("local[1]")
        .config("spark.ui.enabled", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    try:
        rows = [(float(i % 2), Vectors.dense([float(i % 2), float(i % 3), 1.0 - i % 2])) for i in range(20)]
        frame = spark.createDataFrame(rows, ["label", "features"])
        classifier = LogisticRegression(maxIter=5).fit(frame)
        model = GenomeEstimator(classifier)
        assert model.estimator_predict == "transform"
        record = store.save_model(
            model, meta(canonicalName="/tests/spark-lr", framework="spark", predictionType="classification")
        )
        assert record.tags["airgenome.flavour"] == "spark"
        loaded = store.load_model(record.id)
        expected = [row.prediction for row in classifier.transform(frame).collect()]
        assert [row.prediction for row in loaded.predict(frame).collect()] == expected
    finally:
        spark.stop()
