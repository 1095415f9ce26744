"""The model store over HTTP and on the pages: search, pagination, 404s, cards, escaping."""

from __future__ import annotations

import sys
import types
from importlib.machinery import ModuleSpec

import pytest

from airgenome.models.estimator import GenomeEstimator
from tests.models.conftest import meta

SCRIPT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"


@pytest.fixture(scope="module")
def catalogue(store):
    """12 versions: /api/alpha x7 (search), /api/beta x4 (ads), /api/gamma x1 with hostile tags."""
    from sklearn.datasets import load_diabetes
    from sklearn.linear_model import LinearRegression

    data = load_diabetes()
    linear = LinearRegression().fit(data.data, data.target)
    plain = GenomeEstimator(linear)
    records = {"alpha": [], "beta": []}
    for i in range(7):
        records["alpha"].append(store.save_model(plain, meta(canonicalName="/api/alpha", versionName=f"a.{i}")))
    for i in range(4):
        records["beta"].append(
            store.save_model(plain, meta(canonicalName="/api/beta", application="ads", versionName=f"b.{i}"))
        )
    explained = GenomeEstimator(linear, feature_names=data.feature_names)
    explained.explainer.sampleExplanations(data.data[:50])
    gamma_meta: dict = meta(canonicalName="/api/gamma", versionName="g.1", pipelineRunId="run-<b>7</b>")
    gamma_meta.update(
        description="<b>bold</b> model",
        datasets=[{"ref": "sklearn://diabetes", "refType": "sklearn"}],
        tags={"owner": SCRIPT},
    )
    gamma = store.save_model(explained, gamma_meta)
    gamma = store.set_tag(gamma.id, "blessed", "true")
    return {**records, "gamma": gamma, "explanations": explained.global_explanations}


@pytest.fixture(scope="module")
def evaluation_run(catalogue, store_env):
    from airgenome.sdk import GenomeEvaluationRun, evaluation, task

    @evaluation(name="tests/card-evaluation", versionName="1.0")
    class CardEvaluation(GenomeEvaluationRun):
        @task
        def good_enough(self, t, dataset):
            t.add_metric("r2", 0.5).expect(0.5, var="r2").toBeGreater(0.1)

    return CardEvaluation(None, target=catalogue["gamma"]["id"]).to_run()


def _all_ids(client, headers, **params) -> list[str]:
    ids, token = [], None
    while True:
        query = dict(params, **({"pageToken": token} if token else {}))
        response = client.get("/api/v1/models", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        ids += [item["id"] for item in body["items"]]
        token = body["nextPageToken"]
        if not token:
            return ids


def test_pagination_walks_every_version_once(plugin_client, catalogue) -> None:
    everything = {r.id for r in catalogue["alpha"] + catalogue["beta"]} | {catalogue["gamma"].id}
    ids = _all_ids(plugin_client.client, plugin_client.headers("viewer"), limit=5)
    assert len(ids) == 12 and set(ids) == everything
    # No cap at 10: one big page holds them all, newest first.
    response = plugin_client.client.get("/api/v1/models", params={"limit": 100}, headers=plugin_client.headers())
    body = response.json()
    assert [item["id"] for item in body["items"]] == ids and body["nextPageToken"] is None


def test_search_filters(plugin_client, catalogue) -> None:
    client, headers = plugin_client.client, plugin_client.headers("viewer")
    beta = [r.id for r in reversed(catalogue["beta"])]
    assert _all_ids(client, headers, application="ads") == beta
    assert len(_all_ids(client, headers, canonicalName="/api/alpha")) == 7
    assert _all_ids(client, headers, canonicalName="/api/alpha", versionName="a.3") == [catalogue["alpha"][3].id]
    assert _all_ids(client, headers, q="GAMMA") == [catalogue["gamma"].id]
    assert _all_ids(client, headers, q="ads", framework="sklearn", inputModality="tabular") == beta
    assert _all_ids(client, headers, framework="xgboost") == []
    item = client.get("/api/v1/models", params={"application": "ads", "limit": 1}, headers=headers).json()["items"][0]
    assert item["canonicalName"] == "/api/beta" and item["application"] == "ads"
    assert item["versionName"] == "b.3" and item["version"] == 4


def test_bad_search_parameters_are_422(plugin_client, catalogue) -> None:
    for params in ({"limit": 0}, {"limit": 1001}, {"limit": "x"}):
        response = plugin_client.client.get("/api/v1/models", params=params, headers=plugin_client.headers())
        assert response.status_code == 422, response.text


def test_version_by_canonical_name_registered_name_and_encoded_slashes(plugin_client, catalogue) -> None:
    gamma = catalogue["gamma"]
    client, headers = plugin_client.client, plugin_client.headers("viewer")
    for path in (
        "/api/v1/models/api/gamma/versions/1",
        "/api/v1/models/%2Fapi%2Fgamma/versions/1",
        f"/api/v1/models/{gamma.name}/versions/1",
        "/api/v1/models/api/gamma/versions/latest",
    ):
        response = client.get(path, headers=headers)
        assert response.status_code == 200, (path, response.text)
        body = response.json()
        assert body["record"]["id"] == gamma.id
        assert body["card"]["id"] == gamma.id
    versions = client.get("/api/v1/models/api/alpha/versions", headers=headers).json()["items"]
    assert [v["version"] for v in versions] == [7, 6, 5, 4, 3, 2, 1]


def test_unknown_models_and_versions_are_404(plugin_client, catalogue) -> None:
    client, headers = plugin_client.client, plugin_client.headers()
    cases = {
        "/api/v1/models/no/such/versions/1": "no model named 'no/such' (by registered name or canonicalName)",
        "/api/v1/models/no/such/versions/1/card": "no model named 'no/such' (by registered name or canonicalName)",
        "/api/v1/models/no/such/versions/1/card.html": "no model named 'no/such' (by registered name or canonicalName)",
        "/api/v1/models/no/such/versions": "no model named 'no/such' (by registered name or canonicalName)",
        "/api/v1/models/api/gamma/versions/99": f"model version {catalogue['gamma'].name}/99: not found",
        "/api/v1/models/api/gamma/versions/nope": "model 'api/gamma' has no version 'nope' (a number, 'latest' or '@alias')",
        "/api/v1/models/api/gamma/versions/@nope": f"alias 'nope' of model {catalogue['gamma'].name}: not found",
    }
    for path, detail in cases.items():
        response = client.get(path, headers=headers)
        assert response.status_code == 404, (path, response.text)
        assert response.json() == {"detail": detail}


def test_model_card_json_structure(plugin_client, catalogue, evaluation_run) -> None:
    gamma = catalogue["gamma"]
    doc = catalogue["explanations"]
    response = plugin_client.client.get("/api/v1/models/api/gamma/versions/1/card", headers=plugin_client.headers("viewer"))
    assert response.status_code == 200
    card = response.json()
    ranked = sorted(zip(doc["featureNames"], doc["meanAbsShap"][0], strict=True), key=lambda pair: -pair[1])
    assert card == {
        "schemaVersion": 1,
        "id": gamma.id,
        "name": gamma.name,
        "version": 1,
        "canonicalName": "/api/gamma",
        "versionName": "g.1",
        "description": "<b>bold</b> model",
        "createdAt": gamma.created_at.isoformat(),
        "aliases": [],
        "metadata": {
            "canonicalName": "/api/gamma",
            "application": "search",
            "pipelineName": "pipe-1",
            "pipelineRunId": "run-<b>7</b>",
            "pipelineStage": "model",
            "versionName": "g.1",
            "framework": "sklearn",
            "inputModality": "tabular",
            "predictionType": "regression",
        },
        "model": {
            "framework": "sklearn",
            "flavour": "sklearn",
            "estimatorClass": "sklearn.linear_model._base.LinearRegression",
            "inputModality": "tabular",
            "predictionType": "regression",
            "featureNames": ["age", "sex", "bmi", "bp", "s1", "s2", "s3", "s4", "s5", "s6"],
            "targetClasses": None,
            "estimatorPredict": "predict",
            "preprocessor": None,
        },
        "lineage": {
            "application": "search",
            "pipelineName": "pipe-1",
            "pipelineRunId": "run-<b>7</b>",
            "pipelineStage": "model",
            "stepName": None,
            "stepType": None,
            "datasets": [{"ref": "sklearn://diabetes", "refType": "sklearn"}],
            "mlflowRunId": gamma.run_id,
            "source": gamma.source,
        },
        "explanations": {
            "available": True,
            "method": "linear",
            "explainer": "LinearExplainer",
            "sampleSize": 50,
            "explainedRows": 50,
            "expected": doc["expected"],
            "topFeatures": [{"feature": name, "meanAbsShap": round(score, 6)} for name, score in ranked],
        },
        "evaluations": {
            "available": True,
            "total": 1,
            "runs": [evaluation_run_summary(evaluation_run)],
            "note": None,
        },
        "blessing": {
            "recorded": True,
            "blessed": True,
            "tag": "blessed",
            "value": "true",
            "summary": "blessed (blessed=true)",
        },
        "tags": {"blessed": "true", "owner": SCRIPT},
    }


def evaluation_run_summary(run) -> dict:
    return {
        "id": run.id,
        "name": "tests/card-evaluation",
        "versionName": "1.0",
        "status": 1,
        "statusName": "pass",
        "createdAt": run.created_at.isoformat(),
        "targetModel": {"id": run.target_model.id, "name": run.target_model.name, "version": run.target_model.version},
        "taskCount": 1,
        "prototypeCount": 0,
    }


def test_card_without_blessing_or_evaluations_says_so(plugin_client, catalogue) -> None:
    card = plugin_client.client.get(
        "/api/v1/models/api/beta/versions/1/card", headers=plugin_client.headers()
    ).json()
    assert card["blessing"] == {
        "recorded": False,
        "blessed": None,
        "tag": None,
        "value": None,
        "summary": "no blessing recorded",
    }
    assert card["evaluations"] == {"available": True, "total": 0, "runs": [], "note": None}
    assert card["explanations"] == {
        "available": False,
        "method": None,
        "explainer": None,
        "sampleSize": None,
        "explainedRows": None,
        "expected": None,
        "topFeatures": [],
    }


def test_card_html_escapes_metadata(plugin_client, catalogue, evaluation_run) -> None:
    response = plugin_client.client.get(
        "/api/v1/models/api/gamma/versions/1/card.html", headers=plugin_client.headers("viewer")
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert SCRIPT not in html and ESCAPED in html
    assert "<b>" not in html and "run-&lt;b&gt;7&lt;/b&gt;" in html
    assert "blessed (blessed=true)" in html
    assert f"href='/airgenome/evaluations/{evaluation_run.id}'" in html


def test_pages_render_for_a_signed_in_user(plugin_client, catalogue, evaluation_run) -> None:
    client, headers = plugin_client.client, plugin_client.headers("viewer")
    listing = client.get("/models", headers=headers)
    assert listing.status_code == 200
    assert "/airgenome/models/api/gamma/versions/1" in listing.text
    assert "/airgenome/models/api/alpha/versions/7" in listing.text
    filtered = client.get("/models", params={"application": "ads"}, headers=headers).text
    assert "/api/beta" in filtered and "/api/alpha" not in filtered

    detail = client.get("/models/api/gamma/versions/1", headers=headers)
    assert detail.status_code == 200
    assert SCRIPT not in detail.text and ESCAPED in detail.text
    assert f"href='/airgenome/evaluations/{evaluation_run.id}'" in detail.text
    assert "no blessing recorded" not in detail.text and "blessed (blessed=true)" in detail.text
    latest = client.get("/models/api/alpha", headers=headers)
    assert latest.status_code == 200 and "a.6" in latest.text  # the latest version's page

    assert client.get("/models").status_code == 401
    missing = client.get("/models/no/such/versions/1", headers=headers)
    assert missing.status_code == 404 and "no model named" in missing.text


def test_detail_page_extension_point(plugin_client, catalogue, monkeypatch: pytest.MonkeyPatch) -> None:
    name = "airgenome.plugins.pages.model_extras"
    extras = types.ModuleType(name)
    extras.__spec__ = ModuleSpec(name, loader=None)
    extras.render = lambda record, root: f"<section id='extras'>{record.id}|{root}</section>"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, name, extras)
    html = plugin_client.client.get("/models/api/gamma/versions/1", headers=plugin_client.headers()).text
    assert f"<section id='extras'>{catalogue['gamma'].id}|/airgenome</section>" in html
