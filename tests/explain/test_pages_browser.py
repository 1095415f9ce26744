"""A real headless Chromium explains a model of each modality on its detail page.

Runs against the real embedded Airflow (live_stack) with the plugin loaded by entry point,
signed in through the UI's `_token` cookie. Screenshots land in $AIRGENOME_SCREENSHOTS
(default: the test's tmp folder) so a person can look at them.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from tests.explain import models
from tests.explain.conftest import META

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed")


@pytest.fixture(scope="module")
def live_models(live_stack):
    """Models saved into the store the live api-server reads."""
    from airgenome.models.client import ModelStore
    from airgenome.models.estimator import GenomeEstimator
    from airgenome.settings import store_locations

    where = store_locations(live_stack.home)
    store = ModelStore(where.model_store_uri, artifacts=where.model_artifacts)
    x, _ = models.tabular_data()
    forest = GenomeEstimator(
        models.forest(), modality="tabular", feature_names=models.FEATURES, target_classes=["price"]
    )
    forest.explainer.sampleExplanations(x[:100])
    records = {
        "tabular": store.save_model(
            forest,
            {
                **META,
                "canonicalName": "/ui/housing/forest",
                "framework": "sklearn",
                "inputModality": "tabular",
                "predictionType": "regression",
            },
        ),
        "text": store.save_model(
            GenomeEstimator(
                models.text_pipeline("logistic"),
                modality="text",
                estimator_predict="predict_proba",
                target_classes=models.TOPICS,
            ),
            {
                **META,
                "canonicalName": "/ui/text/topics",
                "framework": "sklearn",
                "inputModality": "text",
                "predictionType": "classification",
            },
        ),
    }
    try:
        import tensorflow  # noqa: F401
    except ImportError:
        return records
    records["image"] = store.save_model(
        GenomeEstimator(models.cnn(), modality="image", target_classes=["background", "square"]),
        {
            **META,
            "canonicalName": "/ui/images/squares",
            "framework": "keras",
            "inputModality": "image",
            "predictionType": "classification",
        },
    )
    return records


@pytest.fixture(scope="module")
def browser_page(live_stack, tmp_path_factory):
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.add_cookies([{"name": "_token", "value": live_stack.token, "url": live_stack.url}])
        page = context.new_page()
        page.set_default_timeout(120_000)
        yield page
        context.close()
        browser.close()


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("AIRGENOME_SCREENSHOTS") or tmp_path_factory.mktemp("screenshots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _open(page, live_stack, record) -> None:
    page.goto(
        f"{live_stack.url}/airgenome/models/{record.canonical_name.lstrip('/')}/versions/{record.version}"
    )
    assert page.locator("#xp-form").count() == 1


def test_tabular_explanation_draws_shap_bars(browser_page, live_stack, live_models, shots) -> None:
    page = browser_page
    _open(page, live_stack, live_models["tabular"])
    page.wait_for_function("document.getElementById('xp-entries').value.length > 0")  # stored sample row
    page.click("#xp-form button[type=submit]")
    page.wait_for_selector(".xp-bars .xp-row")
    assert page.locator(".xp-bars .xp-row").count() == len(models.FEATURES)
    assert set(page.locator(".xp-name").all_text_contents()) == set(models.FEATURES)
    assert "expected" in page.locator(".xp-summary").text_content()
    page.wait_for_function(
        "document.getElementById('xp-tree') && document.getElementById('xp-tree').naturalWidth > 0"
    )
    page.screenshot(path=str(shots / "tabular.png"), full_page=True)


def test_text_explanation_highlights_words(browser_page, live_stack, live_models, shots) -> None:
    page = browser_page
    _open(page, live_stack, live_models["text"])
    page.fill("#xp-text", "w0001 w0002 w0003 med00 w0010 w0020 med03 w0030 w0040 w0050")
    page.click("#xp-form button[type=submit]")
    page.wait_for_selector("#xp-highlighted span")
    assert "predicted medicine" in page.locator(".xp-summary").text_content()
    strongest = page.evaluate(
        """() => { const spans = [...document.querySelectorAll('#xp-highlighted span[title]')];
                   spans.sort((a, b) => Math.abs(+b.title) - Math.abs(+a.title));
                   return spans[0].textContent; }"""
    )
    assert strongest in ("med00", "med03")
    page.screenshot(path=str(shots / "text.png"), full_page=True)


def test_image_explanation_shows_the_overlay(browser_page, live_stack, live_models, shots, tmp_path) -> None:
    if "image" not in live_models:
        pytest.skip("tensorflow is not installed")
    from PIL import Image

    picture = np.random.default_rng(2).uniform(0, 60, size=(models.IMAGE_SIZE, models.IMAGE_SIZE, 3))
    picture[10:18, 14:22, :] = 250
    path = tmp_path / "square.png"
    Image.fromarray(np.uint8(picture)).save(path)
    page = browser_page
    _open(page, live_stack, live_models["image"])
    page.set_input_files("#xp-image", str(path))
    page.click("#xp-form button[type=submit]")
    page.wait_for_function(
        "document.getElementById('xp-overlay') && document.getElementById('xp-overlay').naturalWidth > 0"
    )
    assert page.evaluate("document.getElementById('xp-overlay').naturalWidth") == models.IMAGE_SIZE
    assert "class square" in page.locator(".xp-summary").text_content()
    page.screenshot(path=str(shots / "image.png"), full_page=True)


def test_models_are_in_airflows_navigation(browser_page, live_stack) -> None:
    import httpx

    response = httpx.get(
        f"{live_stack.url}/api/v2/plugins",
        headers={"Authorization": f"Bearer {live_stack.token}"},
        timeout=30,
    )
    views = [view for plugin in response.json()["plugins"] for view in plugin.get("external_views", [])]
    assert {"name": "Models", "href": "/airgenome/models"}.items() <= next(
        v for v in views if v["name"] == "Models"
    ).items()
