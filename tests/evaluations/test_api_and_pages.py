"""The plugin's evaluation API and pages, in-process behind Airflow's real auth manager."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from airgenome.evaluations import EvaluationRunRecord, GenomeEvaluationRun, evaluation, task
from airgenome.evaluations.store import get_evaluation_store
from tests.evaluations.genome_example import TrainTestEvaluation

XSS = "<script>alert('x')</script>"


@evaluation(name="api/small", versionName="2.0", code="eval:1", targetModel="small/1")
class Small(GenomeEvaluationRun):
    @task(dataset={"ref": "mllake://datasets/small"}, segment="all")
    def score(self, t, dataset):
        t.add_metric("accuracy", 0.91).expect(0.91, var="accuracy").toBeGreaterOrEqual(0.9)
        t.prototype(ref="row-7").add_metric("p", 0.2).expect(0.2, var="p").toBeLess(0.1)

    @task
    def broken(self, t, dataset):
        raise KeyError("label")


@evaluation(name=f"evil/{XSS}", versionName=XSS)
class Evil(GenomeEvaluationRun):
    @task(name=XSS)
    def evil(self, t, dataset):
        t.add_metric(XSS, XSS).expect(XSS, var=XSS).toContain("<b>")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, EvaluationRunRecord]]:
    uri = f"sqlite:///{tmp_path_factory.mktemp('api-store') / 'evaluations.db'}"
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRGENOME_EVALUATION_STORE_URI", uri)  # where the plugin reads, per request
        store = get_evaluation_store(uri)
        yield {
            "genome": TrainTestEvaluation(store, target="text.pipe/1").to_run(),
            "small": Small(store).to_run(),
            "evil": Evil(store, target=f"m/{XSS}").to_run(),
        }


def test_list_filters_and_pages(plugin_client, runs) -> None:
    client, headers = plugin_client.client, plugin_client.headers("viewer")
    response = client.get("/api/v1/evaluations", headers=headers)
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["items"]] == [runs["evil"].id, runs["small"].id, runs["genome"].id]
    assert (body["total"], body["limit"], body["offset"], body["nextOffset"]) == (3, 50, 0, None)

    by_model = client.get("/api/v1/evaluations", params={"model": "text.pipe/1"}, headers=headers).json()
    assert by_model["items"] == [
        {
            "id": runs["genome"].id,
            "name": "test/skill/annotations/better-than-last",
            "versionName": "1.2.sklearn",
            "status": 0,
            "statusName": "fail",
            "createdAt": runs["genome"].created_at.isoformat(),
            "targetModel": {"id": "text.pipe/1", "name": None, "version": None},
            "taskCount": 3,
            "prototypeCount": 5,
        }
    ]
    failing = client.get("/api/v1/evaluations", params={"status": "fail"}, headers=headers).json()
    assert [item["id"] for item in failing["items"]] == [runs["evil"].id, runs["small"].id, runs["genome"].id]
    named = client.get("/api/v1/evaluations", params={"name": "api/small"}, headers=headers).json()
    assert [item["id"] for item in named["items"]] == [runs["small"].id]
    since = runs["small"].created_at.isoformat()
    recent = client.get("/api/v1/evaluations", params={"since": since}, headers=headers).json()
    assert [item["id"] for item in recent["items"]] == [runs["evil"].id, runs["small"].id]
    page = client.get("/api/v1/evaluations", params={"limit": 2, "offset": 1}, headers=headers).json()
    assert ([i["id"] for i in page["items"]], page["nextOffset"]) == ([runs["small"].id, runs["genome"].id], None)
    first = client.get("/api/v1/evaluations", params={"limit": 1}, headers=headers).json()
    assert first["nextOffset"] == 1


def test_detail_exact_structure(plugin_client, runs) -> None:
    run = runs["small"]
    response = plugin_client.client.get(f"/api/v1/evaluations/{run.id}", headers=plugin_client.headers("viewer"))
    assert response.status_code == 200
    data_ref = {"ref": "mllake://datasets/small", "refType": "mllake"}
    assert response.json() == {
        "id": run.id,
        "name": "api/small",
        "versionName": "2.0",
        "status": 0,
        "statusName": "fail",
        "createdAt": run.created_at.isoformat(),
        "targetModel": {"id": "small/1", "name": None, "version": None},
        "taskCount": 2,
        "prototypeCount": 1,
        "code": "eval:1",
        "parameters": None,
        "application": None,
        "pipelineName": None,
        "pipelineStage": None,
        "pipelineRunId": None,
        "inputModality": None,
        "framework": None,
        "tasks": [
            {
                "position": 0,
                "name": "score",
                "kind": "task",
                "parent": None,
                "status": 1,
                "statusName": "pass",
                "prototypeRef": None,
                "dataRef": data_ref,
                "segment": "all",
                "metrics": {"accuracy": 0.91},
                "expectations": [
                    {
                        "recipe": "{accuracy:0.91} >= 0.9",
                        "operator": ">=",
                        "var": "accuracy",
                        "value": 0.91,
                        "expected": 0.9,
                        "expectedVar": None,
                        "status": 1,
                        "statusName": "pass",
                        "message": None,
                    }
                ],
                "error": None,
                "pictures": [],
                "prototypes": [
                    {
                        "position": 1,
                        "name": "score",
                        "kind": "prototype",
                        "parent": 0,
                        "status": 0,
                        "statusName": "fail",
                        "prototypeRef": {"ref": "row-7", "refType": "id"},
                        "dataRef": data_ref,
                        "segment": "all",
                        "metrics": {"p": 0.2},
                        "expectations": [
                            {
                                "recipe": "{p:0.2} < 0.1",
                                "operator": "<",
                                "var": "p",
                                "value": 0.2,
                                "expected": 0.1,
                                "expectedVar": None,
                                "status": 0,
                                "statusName": "fail",
                                "message": None,
                            }
                        ],
                        "error": None,
                        "pictures": [],
                    }
                ],
            },
            {
                "position": 2,
                "name": "broken",
                "kind": "task",
                "parent": None,
                "status": 0,
                "statusName": "fail",
                "prototypeRef": None,
                "dataRef": None,
                "segment": None,
                "metrics": {},
                "expectations": [],
                "error": "KeyError: 'label'",
                "pictures": [],
                "prototypes": [],
            },
        ],
    }


def test_genome_example_detail_has_recipes_and_prototypes(plugin_client, runs) -> None:
    run = runs["genome"]
    body = plugin_client.client.get(f"/api/v1/evaluations/{run.id}", headers=plugin_client.headers()).json()
    assert [(t["name"], t["statusName"], len(t["prototypes"])) for t in body["tasks"]] == [
        ("evaluateTrainTestSplit", "pass", 0),
        ("checkError", "pass", 0),
        ("prototypeTest", "pass", 5),
    ]
    assert body["tasks"][0]["expectations"][0]["recipe"] == "{my_split:0.7} < 0.76"
    assert [p["statusName"] for p in body["tasks"][2]["prototypes"]] == ["fail"] * 5


def test_unknown_id_is_404(plugin_client, runs) -> None:
    response = plugin_client.client.get("/api/v1/evaluations/nope", headers=plugin_client.headers())
    assert response.status_code == 404
    assert response.json() == {"detail": "no evaluation run with id 'nope'"}


def test_bad_filters_are_422_naming_the_field(plugin_client, runs) -> None:
    response = plugin_client.client.get(
        "/api/v1/evaluations",
        params={"status": "great", "since": "last week", "limit": "x"},
        headers=plugin_client.headers(),
    )
    assert response.status_code == 422
    assert response.json() == {
        "detail": (
            "invalid evaluation filters: status: expected pass, fail, none (or 1, 0, -1), got 'great'; "
            "since: expected an ISO 8601 time like 2026-01-31T12:00:00Z, got 'last week'; "
            "limit: expected an integer 1..500, got 'x'"
        ),
        "errors": [
            {"field": "status", "message": "expected pass, fail, none (or 1, 0, -1), got 'great'"},
            {"field": "since", "message": "expected an ISO 8601 time like 2026-01-31T12:00:00Z, got 'last week'"},
            {"field": "limit", "message": "expected an integer 1..500, got 'x'"},
        ],
    }


def test_anonymous_is_refused(plugin_client, runs) -> None:
    assert plugin_client.client.get("/api/v1/evaluations").status_code == 401
    assert plugin_client.client.get(f"/evaluations/{runs['small'].id}").status_code == 401


def test_list_page(plugin_client, runs) -> None:
    response = plugin_client.client.get(
        "/evaluations", params={"status": "fail"}, headers=plugin_client.headers("viewer")
    )
    assert response.status_code == 200
    html = response.text
    assert f"href='/airgenome/evaluations/{runs['small'].id}'>api/small</a>" in html
    assert "3 tasks, 5 prototypes" in html
    assert "1–3 of 3 runs" in html
    assert "<option value='fail' selected>" in html
    assert XSS not in html
    assert "evil/&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html


def test_list_page_pages_and_bad_filters(plugin_client, runs) -> None:
    paged = plugin_client.client.get("/evaluations", params={"offset": 2}, headers=plugin_client.headers())
    assert "3–3 of 3 runs" in paged.text
    assert "href='/airgenome/evaluations?offset=0'>← newer</a>" in paged.text
    bad = plugin_client.client.get("/evaluations", params={"since": "<b>"}, headers=plugin_client.headers())
    assert bad.status_code == 422
    assert "<li>since: expected an ISO 8601 time like 2026-01-31T12:00:00Z, got &#x27;&lt;b&gt;&#x27;</li>" in bad.text


def test_detail_page_shows_the_tree_escaped(plugin_client, runs) -> None:
    genome = plugin_client.client.get(f"/evaluations/{runs['genome'].id}", headers=plugin_client.headers())
    assert genome.status_code == 200
    html = genome.text
    assert "Tasks (3 tasks, 5 prototypes, 0 pictures)" in html
    assert "<code>{my_split:0.7} &lt; 0.76</code>" in html
    assert html.count("prototype <code>id:id-123</code>") == 5
    assert html.count("<span class='fail'>fail</span>") == 1 + 5 + 5  # run, prototypes, expectations

    evil = plugin_client.client.get(f"/evaluations/{runs['evil'].id}", headers=plugin_client.headers())
    assert XSS not in evil.text
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in evil.text

    small = plugin_client.client.get(f"/evaluations/{runs['small'].id}", headers=plugin_client.headers())
    assert "<div class='error'>KeyError: &#x27;label&#x27;</div>" in small.text


def test_detail_page_unknown_is_404(plugin_client, runs) -> None:
    response = plugin_client.client.get("/evaluations/nope", headers=plugin_client.headers())
    assert response.status_code == 404
    assert "no evaluation run with id &#x27;nope&#x27;" in response.text
