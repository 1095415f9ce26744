"""SHAP through HTTP: Genome's shape, additivity, version/alias lookup, global explanations."""

from __future__ import annotations

import time

import numpy as np
import pytest

from tests.explain import models
from tests.waiting import wait_until

ROWS = models.tabular_data(seed=5)[0][:3]


def explain(plugin_client, body: dict, path: str = "/api/v1/explain"):
    return plugin_client.client.post(path, json=body, headers=plugin_client.headers("viewer"))


def test_forest_shap_adds_up_to_the_prediction(plugin_client, tabular_models) -> None:
    forest = tabular_models["forest"]["model"]
    response = explain(
        plugin_client,
        {"application": "search", "canonicalName": "/tests/explain/forest", "entries": ROWS.tolist()},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"expected", "number_labels", "shapley"}
    assert body["number_labels"] == 1
    assert len(body["expected"]) == 1
    shapley = np.asarray(body["shapley"])
    assert shapley.shape == (3, len(models.FEATURES))
    np.testing.assert_allclose(body["expected"][0] + shapley.sum(axis=1), forest.predict(ROWS), atol=1e-6)


def test_xgboost_shap_adds_up_to_the_prediction(plugin_client, tabular_models) -> None:
    booster = tabular_models["xgboost"]["model"]
    response = explain(plugin_client, {"canonicalName": "/tests/explain/xgboost", "entries": ROWS.tolist()})
    assert response.status_code == 200, response.text
    body = response.json()
    shapley = np.asarray(body["shapley"])
    assert body["number_labels"] == 1 and shapley.shape == (3, 8)
    np.testing.assert_allclose(body["expected"][0] + shapley.sum(axis=1), booster.predict(ROWS), atol=1e-4)


def test_classifier_has_one_block_per_label(plugin_client, tabular_models) -> None:
    forest = tabular_models["classifier"]["model"]
    body = explain(
        plugin_client, {"canonicalName": "/tests/explain/classifier", "entries": ROWS.tolist()}
    ).json()
    assert body["number_labels"] == 3
    shapley = np.asarray(body["shapley"])
    assert shapley.shape == (3, 3, 8)  # [labels][rows][features]
    totals = np.asarray(body["expected"])[:, None] + shapley.sum(axis=2)
    np.testing.assert_allclose(totals.T, forest.predict_proba(ROWS), atol=1e-6)


def test_linear_model_uses_the_linear_explainer(plugin_client, tabular_models) -> None:
    logistic = tabular_models["logistic"]["model"]
    body = explain(
        plugin_client, {"canonicalName": "/tests/explain/logistic", "entries": ROWS.tolist()}
    ).json()
    shapley = np.asarray(body["shapley"])
    assert body["number_labels"] == 1 and shapley.shape == (3, 8)
    # The linear explainer explains the log-odds around the stored sample's mean.
    np.testing.assert_allclose(
        body["expected"][0] + shapley.sum(axis=1), logistic.decision_function(ROWS), atol=1e-6
    )


def test_other_models_use_bounded_kernel_shap(plugin_client, tabular_models) -> None:
    knn = tabular_models["knn"]["model"]
    body = explain(
        plugin_client, {"canonicalName": "/tests/explain/knn", "entries": ROWS[:1].tolist()}
    ).json()
    shapley = np.asarray(body["shapley"])
    assert shapley.shape == (1, 8)
    # KernelSHAP keeps efficiency exactly: base value + contributions == prediction.
    np.testing.assert_allclose(body["expected"][0] + shapley.sum(), knn.predict(ROWS[:1])[0], atol=1e-6)


def test_genome_path_answers_the_same(plugin_client, tabular_models) -> None:
    body = {"application": "search", "canonicalName": "/tests/explain/forest", "entries": ROWS[:1].tolist()}
    ours = explain(plugin_client, body).json()
    genome = explain(plugin_client, body, "/v1.0/genome/routing/explain")
    assert genome.status_code == 200
    assert genome.json() == ours


def test_version_and_alias_select_the_model(
    plugin_client, explain_store, tabular_models, monkeypatch
) -> None:
    from airgenome.explain.service import get_service
    from tests.explain.conftest import save

    # `latest` and aliases are re-resolved after resolve_ttl_s (default 2 s): none here.
    monkeypatch.setattr(get_service(), "resolve_ttl_s", 0.0)

    first = tabular_models["forest"]["record"]
    second_model = models.forest(n_estimators=5, max_depth=2)
    from airgenome.models.estimator import GenomeEstimator

    save(
        explain_store,
        GenomeEstimator(second_model, modality="tabular"),
        "/tests/explain/forest",
        framework="sklearn",
        inputModality="tabular",
        predictionType="regression",
        versionName="2.0",
    )
    explain_store.set_alias(first.id, "champion")
    rows = ROWS[:1].tolist()

    def total(**selector) -> float:
        body = explain(
            plugin_client, {"canonicalName": "/tests/explain/forest", "entries": rows, **selector}
        ).json()
        return body["expected"][0] + sum(body["shapley"][0])

    first_prediction = tabular_models["forest"]["model"].predict(ROWS[:1])[0]
    assert total() == pytest.approx(second_model.predict(ROWS[:1])[0], abs=1e-6)  # latest
    assert total(version=1) == pytest.approx(first_prediction, abs=1e-6)
    assert total(version="2") == pytest.approx(second_model.predict(ROWS[:1])[0], abs=1e-6)
    assert total(alias="champion") == pytest.approx(first_prediction, abs=1e-6)


def test_latest_is_cached_for_the_resolve_ttl(
    plugin_client, explain_store, tabular_models, monkeypatch
) -> None:
    from airgenome.explain.service import ModelRef, get_service

    service = get_service()
    monkeypatch.setattr(service, "resolve_ttl_s", 3600.0)
    calls: list[tuple] = []
    original = type(explain_store).get_model

    def counting(self, *args, **kwargs):
        calls.append((args, kwargs))
        return original(self, *args, **kwargs)

    monkeypatch.setattr(type(explain_store), "get_model", counting)
    ref = ModelRef("/tests/explain/xgboost", version="latest")
    first = service.record(ref)
    assert service.record(ref) is first and len(calls) == 1
    # Past the TTL: the cached record answers at once and a background refresh runs.
    monkeypatch.setattr(service, "resolve_ttl_s", 0.05)
    time.sleep(0.1)
    assert service.record(ref) is first
    wait_until(lambda: len(calls) >= 2, timeout_s=10, what="the background refresh", every_s=0.01)
    assert len(calls) == 2
    # TTL 0: resolved on every request, synchronously.
    monkeypatch.setattr(service, "resolve_ttl_s", 0.0)
    service.record(ref)
    assert len(calls) == 3


def test_global_explanations_are_served(plugin_client, tabular_models) -> None:
    record = tabular_models["forest"]["record"]
    for name in (record.name, "tests/explain/forest"):
        response = plugin_client.client.get(
            f"/api/v1/models/{name}/versions/1/explanations/global", headers=plugin_client.headers("viewer")
        )
        assert response.status_code == 200, response.text
        document = response.json()
        assert document["featureNames"] == models.FEATURES
        assert document["number_labels"] == 1
        assert np.asarray(document["shapley"]).shape[1] == len(models.FEATURES)


def test_global_explanations_missing_is_404(plugin_client, explain_store, tabular_models) -> None:
    response = plugin_client.client.get(
        "/api/v1/models/tests/explain/forest/versions/2/explanations/global", headers=plugin_client.headers()
    )
    assert response.status_code == 404
    assert "sampleExplanations" in response.json()["detail"]


def test_a_few_rows_on_a_loaded_model_are_answered_inline(
    plugin_client, tabular_models, monkeypatch
) -> None:
    """The inline path gives the worker pool's exact answer, and only when measured cheap."""
    from airgenome.explain.service import INLINE_MAX_ROWS, ModelRef, get_service

    service = get_service()
    monkeypatch.setattr(service, "resolve_ttl_s", 3600.0)
    forest = ModelRef("/tests/explain/forest", application="search")
    rows = ROWS[:2].tolist()
    service.record(forest)  # resolved, but not loaded yet:
    service.cache.clear()
    assert service.explain_inline(forest, entries=rows) is None
    pooled = explain(plugin_client, {**forest_body(), "entries": rows})  # loads it
    assert pooled.status_code == 200, pooled.text
    loaded = service.loaded(forest)
    assert loaded is not None and loaded.seconds_per_row is not None  # measured in the pool
    measured = loaded.seconds_per_row
    # The cost is a wall-clock measurement: pin it (a busy CPU must not decide the path).
    loaded.seconds_per_row = 1e-6
    assert service.explain_inline(forest, entries=rows) == pooled.json()
    loaded.seconds_per_row = 0.01  # a big ensemble: 10 ms a row is not for the event loop
    assert service.explain_inline(forest, entries=rows) is None
    loaded.seconds_per_row = measured

    too_many = models.tabular_data(seed=6)[0][: INLINE_MAX_ROWS + 1].tolist()
    assert service.explain_inline(forest, entries=too_many) is None
    assert service.explain_inline(forest, image="aGk=") is None
    assert service.explain_inline(ModelRef("/tests/explain/forest", application="other"), entries=rows) is None
    assert service.explain_inline(ModelRef("/tests/explain/forest", version="99"), entries=rows) is None

    knn = ModelRef("/tests/explain/knn")  # KernelSHAP: never inline
    assert explain(plugin_client, {"canonicalName": "/tests/explain/knn", "entries": rows}).status_code == 200
    assert service.loaded(knn) is not None and service.explain_inline(knn, entries=rows) is None

    # A name resolved too long ago would need MLflow: not inline (the pool path resolves it).
    monkeypatch.setattr(service, "resolve_ttl_s", 0.0)
    assert service.loaded(forest) is None


def test_inline_errors_name_the_field(plugin_client, tabular_models) -> None:
    rows = ROWS[:1].tolist()
    assert explain(plugin_client, {**forest_body(), "entries": rows}).status_code == 200  # loaded
    response = explain(plugin_client, {**forest_body(), "entries": [[1.0, "x", *rows[0][2:]]]})
    assert response.status_code == 422
    assert response.json()["detail"] == "entries[0][1]: 'x' is not a number"


def forest_body() -> dict:
    return {"application": "search", "canonicalName": "/tests/explain/forest"}
