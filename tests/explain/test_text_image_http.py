"""LIME and Grad-CAM through HTTP, in Genome's shapes, on planted signals."""

from __future__ import annotations

import base64
import io

import numpy as np
import pytest

from tests.explain import models
from tests.explain.conftest import png_base64


def post(plugin_client, body: dict):
    return plugin_client.client.post("/api/v1/explain", json=body, headers=plugin_client.headers("viewer"))


# ---- text ---------------------------------------------------------------------------------

PLANTED = "spa00"  # the strongest "space" word of the generated corpus


def test_lime_ranks_the_planted_token_first(plugin_client, text_model) -> None:
    filler = "w0001 w0002 w0003 w0010 w0020 w0030 w0040 w0050 w0060 w0070 w0080 w0090"
    text = f"{filler} {PLANTED} w0100 w0200, w0300."
    response = post(
        plugin_client, {"application": "search", "canonicalName": "/tests/explain/text", "text": text}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"metrics", "textExplanation"}
    assert set(body["metrics"]) == {"score", "mean_KL_divergence"}
    explanation = body["textExplanation"]
    assert set(explanation) == {"estimator", "method", "targets"}
    assert explanation["method"] == "linear model"
    targets = explanation["targets"]
    assert [t["target"] for t in targets][0] == "space"
    assert sorted(t["target"] for t in targets) == sorted(models.TOPICS)
    for target in targets:
        assert set(target) == {"proba", "score", "target", "weighted_spans"}
        assert set(target["weighted_spans"]) == {"spans"}
    probabilities = text_model["model"].predict_proba([text])[0]
    assert targets[0]["proba"] == pytest.approx(probabilities.max(), abs=1e-9)
    spans = targets[0]["weighted_spans"]["spans"]
    ranked = sorted(spans, key=lambda span: -abs(span[2]))
    word, ranges, weight = ranked[0]
    assert word == PLANTED and weight > 0
    start = text.index(PLANTED)
    assert ranges == [[start, start + len(PLANTED)]]
    assert 0.0 <= body["metrics"]["mean_KL_divergence"] < 1.0
    assert body["metrics"]["score"] > 0.5


def test_vectorized_shortcut_is_exact(text_model) -> None:
    """The count matrix built from masks equals the vectorizer's transform of the texts."""
    from lime.lime_text import IndexedString

    from airgenome.explain.text import _documents, _sample_masks
    from airgenome.explain.text_vectorized import vectorized_predictor

    for kind in ("logistic", "forest"):
        pipe = text_model["model"] if kind == "logistic" else models.text_pipeline("forest")
        text = models.text_corpus(3, seed=11)[0][0] + " Mixed-CASE words, don't stop: w0001!"
        indexed = IndexedString(text, bow=True)
        masks = _sample_masks(np.random.default_rng(1), 300, indexed.num_words())
        fast = vectorized_predictor(pipe, "predict_proba", indexed)
        assert fast is not None
        built = fast.counts(masks)
        reference = pipe.steps[0][1].transform(_documents(indexed, masks))
        assert abs(built - reference).max() < 1e-12
        np.testing.assert_allclose(fast(masks), pipe.predict_proba(_documents(indexed, masks)), atol=1e-12)


def test_lime_matches_lime_on_a_strong_signal(text_model) -> None:
    """Same top word as lime's own explain_instance (5000 samples) on a planted token."""
    from lime.lime_text import LimeTextExplainer

    from airgenome.explain.text import explain_text, top_words

    pipe = text_model["model"]
    text = "w0001 w0002 rel03 w0005 w0007 w0011 w0013 w0017 w0019"
    ours = explain_text(text, pipe.predict_proba, models.TOPICS, pipeline=pipe)
    label = int(np.argmax(pipe.predict_proba([text])[0]))
    theirs = LimeTextExplainer(class_names=models.TOPICS, random_state=0).explain_instance(
        text, pipe.predict_proba, labels=(label,), num_features=10
    )
    assert top_words(ours, 1) == [theirs.as_list(label=label)[0][0]] == ["rel03"]


# ---- images -------------------------------------------------------------------------------


def _planted(top: int, left: int) -> np.ndarray:
    rng = np.random.default_rng(3)
    picture = rng.uniform(0, 60, size=(models.IMAGE_SIZE, models.IMAGE_SIZE, 3))
    picture[top : top + 8, left : left + 8, :] = 250.0
    return picture


def test_gradcam_heatmap_is_hotter_on_the_planted_object(image_model) -> None:
    from airgenome.explain.image import GradCam, upscale
    from airgenome.explain.model import ExplainableModel

    cam = GradCam(ExplainableModel(image_model["model"], modality="image"))
    top, left = 4, 18
    batch, rgb = cam.prepare(_image(_planted(top, left)))
    heat, index, predictions = cam.heatmap(batch)
    assert heat.shape == (models.IMAGE_SIZE, models.IMAGE_SIZE)  # 'same' convolutions keep the size
    assert 0.0 <= heat.min() and heat.max() == pytest.approx(1.0)
    assert index == 1 and predictions[1] > 0.5
    full = upscale(heat, rgb.size)
    inside = full[top : top + 8, left : left + 8].mean()
    mask = np.ones_like(full, dtype=bool)
    mask[top : top + 8, left : left + 8] = False
    assert inside > 2 * full[mask].mean()


def test_gradcam_over_http_has_genomes_shape(plugin_client, image_model) -> None:
    from PIL import Image

    top, left = 20, 6
    picture = _planted(top, left)
    response = post(
        plugin_client,
        {"application": "search", "canonicalName": "/tests/explain/cnn", "image": png_base64(picture)},
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"class", "score", "number_labels", "image"}
    assert body["class"] == "square" and body["number_labels"] == 1
    expected = image_model["model"].predict(picture[None].astype("float32"), verbose=0)[0]
    assert body["score"] == pytest.approx(float(expected.max()), abs=1e-4)
    assert body["image"].startswith("data:image/png;base64,")
    overlay = Image.open(io.BytesIO(base64.b64decode(body["image"].split(",", 1)[1])))
    assert overlay.format == "PNG" and overlay.size == (models.IMAGE_SIZE, models.IMAGE_SIZE)
    # Jet colours: hot is red, cold is blue. The planted square is the reddest place.
    pixels = np.asarray(overlay.convert("RGB"), dtype=float)
    redness = pixels[:, :, 0] - pixels[:, :, 2]
    outside = np.ones(redness.shape, dtype=bool)
    outside[top : top + 8, left : left + 8] = False
    assert redness[top : top + 8, left : left + 8].mean() > redness[outside].mean() + 40


def test_data_url_input_is_accepted(plugin_client, image_model) -> None:
    encoded = "data:image/png;base64," + png_base64(_planted(0, 0))
    response = post(plugin_client, {"canonicalName": "/tests/explain/cnn", "image": encoded})
    assert response.status_code == 200, response.text


def test_the_overlay_answer_is_gzipped_only_for_clients_that_accept_it(plugin_client, image_model) -> None:
    body = {"canonicalName": "/tests/explain/cnn", "image": png_base64(_planted(2, 2))}
    answers = {}
    for accept in ("gzip, deflate", "identity"):
        response = plugin_client.client.post(
            "/api/v1/explain", json=body, headers={**plugin_client.headers("viewer"), "Accept-Encoding": accept}
        )
        assert response.status_code == 200, response.text
        answers[accept] = (response.headers.get("content-encoding"), response.json())
    assert answers["gzip, deflate"][0] == "gzip" and answers["identity"][0] is None
    assert answers["gzip, deflate"][1] == answers["identity"][1]  # the same answer, decoded


def _image(array: np.ndarray):
    from PIL import Image

    return Image.fromarray(np.uint8(array))
