"""Bad input gets a 4xx naming what is wrong, never a 500; one model loads once under load."""

from __future__ import annotations

import base64
import io
import json
import threading

import numpy as np
import pytest

from tests.explain import models
from tests.explain.conftest import png_base64, save

FOREST = "/tests/explain/forest"
TEXT = "/tests/explain/text"
ROW = [0.1] * len(models.FEATURES)


def post(plugin_client, body: dict | str):
    headers = plugin_client.headers("viewer")
    if isinstance(body, str):
        return plugin_client.client.post(
            "/api/v1/explain", content=body, headers={**headers, "Content-Type": "application/json"}
        )
    return plugin_client.client.post("/api/v1/explain", json=body, headers=headers)


@pytest.fixture(scope="module")
def served(tabular_models, text_model):
    return {"tabular": tabular_models, "text": text_model}


TABULAR_CASES = [
    ({"entries": [[1.0, 2.0]]}, 422, "entries[0]: has 2 values, the model expects 8 features"),
    ({"entries": [ROW[:-1] + ["1.5"]]}, 422, "entries[0][7]: '1.5' is not a number"),
    ({"entries": [ROW[:-1] + [True]]}, 422, "entries[0][7]: True is not a number"),
    ({"entries": [ROW, 5]}, 422, "entries[1]: a row must be a list of numbers"),
    ({"entries": []}, 422, "entries: expected a non-empty list of rows"),
    ({"entries": [ROW] * 1001}, 422, "entries: 1001 rows is more than the limit of 1000"),
]


@pytest.mark.parametrize(("body", "status", "message"), TABULAR_CASES)
def test_bad_rows(plugin_client, served, body, status, message) -> None:
    response = post(plugin_client, {"canonicalName": FOREST, **body})
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(message)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_numbers(plugin_client, served, literal) -> None:
    row = json.dumps(ROW[:-1])[:-1] + f", {literal}]"
    response = post(plugin_client, f'{{"canonicalName": "{FOREST}", "entries": [{row}]}}')
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith("entries[0][7]:")
    assert "not a finite number" in response.json()["detail"]


def test_errors_list_every_bad_cell(plugin_client, served) -> None:
    response = post(plugin_client, {"canonicalName": FOREST, "entries": [ROW[:-2] + ["a", "b"]]})
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["errors"]] == ["entries[0][6]", "entries[0][7]"]


MODEL_CASES = [
    ({"canonicalName": "/no/such/model", "entries": [ROW]}, 404, "no model named '/no/such/model'"),
    ({"canonicalName": FOREST, "version": 99, "entries": [ROW]}, 404, None),
    (
        {"canonicalName": FOREST, "version": "x1", "entries": [ROW]},
        404,
        "model '/tests/explain/forest' has no version 'x1'",
    ),
    ({"canonicalName": FOREST, "alias": "nobody", "entries": [ROW]}, 404, None),
    (
        {"canonicalName": FOREST, "application": "other", "entries": [ROW]},
        404,
        "model '/tests/explain/forest' belongs to application 'search', not 'other'",
    ),
    (
        {"canonicalName": FOREST, "text": "a text"},
        422,
        "text: model '/tests/explain/forest' is a tabular model; send 'entries'",
    ),
    (
        {"canonicalName": TEXT, "entries": [ROW]},
        422,
        "entries: model '/tests/explain/text' is a text model; send 'text'",
    ),
    ({"canonicalName": FOREST, "entries": [ROW], "text": "both"}, 422, "give exactly one of entries"),
    ({"canonicalName": FOREST}, 422, "give exactly one of entries"),
]


@pytest.mark.parametrize(("body", "status", "message"), MODEL_CASES)
def test_bad_model_selection(plugin_client, served, body, status, message) -> None:
    response = post(plugin_client, body)
    assert response.status_code == status, response.text
    if message:
        assert response.json()["detail"].startswith(message)


@pytest.mark.parametrize(
    "body",
    [{}, {"entries": [ROW]}, {"canonicalName": "", "entries": [ROW]}, {"canonicalName": FOREST, "text": 5}],
)
def test_malformed_requests_are_422(plugin_client, body) -> None:
    response = post(plugin_client, body)
    assert response.status_code == 422, response.text


TEXT_CASES = [
    ("", 422, "text: is empty"),
    ("   \n ", 422, "text: is empty"),
    ("!!! ??? ...", 422, "text: contains no words to explain"),
    (
        " ".join(f"w{i}" for i in range(100_000)),
        422,
        "text: 688889 characters is more than the limit of 100000",
    ),
    (" ".join(f"t{i}" for i in range(6000)), 422, "text: 6000 distinct words is more than the limit of 5000"),
]


@pytest.mark.parametrize(("text", "status", "message"), TEXT_CASES)
def test_bad_text(plugin_client, served, text, status, message) -> None:
    response = post(plugin_client, {"canonicalName": TEXT, "text": text})
    assert response.status_code == status, response.text
    assert response.json()["detail"] == message


def test_time_limit_is_503_with_a_message(plugin_client, served, monkeypatch) -> None:
    from airgenome.explain.pool import WorkerPool
    from airgenome.explain.service import get_service

    service = get_service()
    monkeypatch.setattr(service, "pool", WorkerPool(workers=1, queue=0, timeout_s=0.001))
    response = post(plugin_client, {"canonicalName": "/tests/explain/knn", "entries": [ROW] * 5})
    assert response.status_code == 503
    assert response.json()["detail"].startswith("the explanation took longer than the limit of 0.001 s")


def test_concurrent_requests_share_one_load(plugin_client, explain_store, served) -> None:
    from airgenome.explain.service import get_service
    from airgenome.models.estimator import GenomeEstimator

    model = models.forest(n_estimators=10)
    save(
        explain_store,
        GenomeEstimator(model, modality="tabular"),
        "/tests/explain/concurrent",
        framework="sklearn",
        inputModality="tabular",
        predictionType="regression",
    )
    cache = get_service().cache
    loads_before = cache.loads
    rows = models.tabular_data(seed=9)[0][:2].tolist()
    results: list[tuple[int, dict]] = []
    lock = threading.Lock()

    def call() -> None:
        response = post(plugin_client, {"canonicalName": "/tests/explain/concurrent", "entries": rows})
        with lock:
            results.append((response.status_code, response.json()))

    threads = [threading.Thread(target=call) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [status for status, _ in results] == [200] * 12
    assert all(body == results[0][1] for _, body in results)
    assert cache.loads - loads_before == 1
    totals = np.asarray(results[0][1]["expected"][0]) + np.asarray(results[0][1]["shapley"]).sum(axis=1)
    np.testing.assert_allclose(totals, model.predict(np.asarray(rows)), atol=1e-6)


# ---- images: a CNN model is needed for size checks; decoding fails before any model work ----


def _png(width: int, height: int, mode: str = "RGB") -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new(mode, (width, height)).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


IMAGE_CASES = [
    ("not base64 at all!", 422, "image: is not valid base64"),
    (base64.b64encode(b"just some text, not an image").decode(), 422, "image: not a readable image"),
    (_png(6000, 6000, "1"), 413, "image: 6000x6000 pixels is more than the limit of 16777216"),
    (_png(64, 48), 422, "image: is 64x48, the model expects 32x32 (width x height)"),
    ("", 422, "image: expected a base64-encoded image"),
]


@pytest.mark.parametrize(("image", "status", "message"), IMAGE_CASES)
def test_bad_images(plugin_client, image_model, image, status, message) -> None:
    response = post(plugin_client, {"canonicalName": "/tests/explain/cnn", "image": image})
    assert response.status_code == status, response.text
    assert response.json()["detail"].startswith(message)


def test_good_image_after_bad_ones(plugin_client, image_model) -> None:
    picture = np.zeros((models.IMAGE_SIZE, models.IMAGE_SIZE, 3))
    response = post(plugin_client, {"canonicalName": "/tests/explain/cnn", "image": png_base64(picture)})
    assert response.status_code == 200, response.text
