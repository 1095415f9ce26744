"""The lineage of a two-version history (each version with its evaluations and a blessing; one
rejected at approval, one approved and promoted), its page, and the versions' HTML reports.

The stores are real (MLflow on SQLite, the SQL evaluation store, a file lake). Airflow's part
comes from Airflow's REST API; in-process there is no API server, so a stand-in transport
answers the four GET routes the lineage reads, in Airflow's own response shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

pytestmark = pytest.mark.slow  # two model versions in a fresh MLflow store: ~10 s on a quiet machine

RUN_2 = {"dag_id": "train-pipe", "dag_run_id": "run-2", "state": "success", "run_type": "manual",
         "start_date": "2026-11-29T10:00:00Z", "end_date": "2026-11-29T10:05:00Z"}
TASKS_2 = [
    {"task_id": task, "state": "success", "operator": "ComponentOperator", "start_date": "2026-11-29T10:00:01Z",
     "end_date": "2026-11-29T10:01:00Z", "try_number": 1, "map_index": -1}
    for task in ("load", "train", "evaluate")
]
EVENTS_2 = [{"name": "airgenome/train-pipe/load/table", "uri": "file:///lake/assets/train-pipe/load/table",
             "timestamp": "2026-11-29T10:00:30Z", "extra": {"kind": "table", "rows": 150},
             "source_dag_id": "train-pipe", "source_run_id": "run-2", "source_task_id": "load"}]


def _airflow(calls: list[tuple[str, str]]) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        path, params = request.url.path, request.url.params
        calls.append((path, request.headers.get("authorization", "")))
        if path == "/api/v2/dags/train-pipe/dagRuns/run-2":
            return httpx.Response(200, json=RUN_2)
        if path == "/api/v2/dags/train-pipe/dagRuns/run-2/taskInstances":
            return httpx.Response(200, json={"task_instances": TASKS_2, "total_entries": 3})
        if path == "/api/v2/dags/train-pipe/dagRuns/run-2/upstreamAssetEvents":
            return httpx.Response(200, json={"asset_events": [], "total_entries": 0})
        if path == "/api/v2/assets/events":
            events = EVENTS_2 if params.get("source_run_id") == "run-2" else []
            return httpx.Response(200, json={"asset_events": events, "total_entries": len(events)})
        return httpx.Response(404, json={"detail": "not found"})

    return httpx.MockTransport(answer)


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from sklearn.dummy import DummyClassifier

    from airgenome.evaluations import GenomeEvaluationRun, evaluation, task
    from airgenome.models.client import ModelStore
    from airgenome.models.estimator import GenomeEstimator
    from airgenome.sequence.approval import Decision, Upstream, record_decision
    from airgenome.settings import StoreLocations

    base: Path = tmp_path_factory.mktemp("lineage")
    lake = base / "lake"
    with pytest.MonkeyPatch.context() as patch:
        for key, value in StoreLocations.under(base / "stores").as_env().items():
            patch.setenv(key, value)
        patch.setenv("AIRGENOME_LAKE_ROOT", f"file://{lake}")
        store = ModelStore()
        estimator = GenomeEstimator(DummyClassifier().fit([[0], [1]], [0, 1]))
        versions = []
        for number in (1, 2):
            versions.append(store.save_model(estimator, {
                "canonicalName": "/tests/lineage", "application": "tests", "pipelineName": "train-pipe",
                "pipelineRunId": f"run-{number}", "pipelineStage": "train", "framework": "sklearn",
                "inputModality": "tabular", "versionName": f"v{number}", "predictionType": "classification",
                "datasets": [{"ref": "mllake://datasets/iris", "refType": "mllake"}],
            }))
        runs: dict[str, Any] = {}
        for number, record in enumerate(versions, start=1):

            @evaluation(name="quality/accuracy", pipelineName="train-pipe", pipelineRunId=f"run-{number}",
                        pipelineStage="evaluate")
            class Accuracy(GenomeEvaluationRun):
                @task
                def accuracy(self, t, dataset, number=number):
                    t.add_metric("accuracy", 0.8 + number / 100).expect(0.8, var="accuracy").toBeGreater(0.5)

            @evaluation(name="blessing/policy", pipelineName="train-pipe", pipelineRunId=f"run-{number}",
                        pipelineStage="bless")
            class Policy(GenomeEvaluationRun):
                @task
                def verdict(self, t, dataset):
                    t.add_metric("verdict", "BLESSED").expect("BLESSED", var="verdict").toBe("BLESSED")

            runs[f"accuracy{number}"] = Accuracy(None, target=record.id).to_run()
            runs[f"policy{number}"] = Policy(None, target=record.id).to_run()
            for key, value in (("airgenome.blessing.evaluation", runs[f"policy{number}"].id), ("airgenome.blessing", "BLESSED")):
                store.set_system_tag(record, key, value)
            decision = Decision(choice="Reject" if number == 1 else "Approve", by="bob" if number == 1 else "alice",
                                at=datetime(2026, 11, 29, 11, number, tzinfo=UTC), dag_id="train-pipe",
                                run_id=f"run-{number}", task_id="approve")
            runs[f"approval{number}"] = record_decision(decision, Upstream("bless", {"model_version": record.id}),
                                                        pipeline_name="train-pipe")
        store.set_alias(versions[1].id, "champion")
        store.set_system_tag(versions[1], "airgenome.deployment.kserve", "models/lineage")
        report = lake / "runs" / "train-pipe" / "run-2" / "report" / "report" / "report.html"
        report.parent.mkdir(parents=True)
        report.write_text("<!doctype html><title>report v2</title><h1>Model report</h1>")
        (report.parent / ".tmp-half.html").write_text("half")  # an unfinished atomic write: never listed
        (base / "outside.html").write_text("<h1>not in the lake</h1>")
        yield {"store": store, "versions": [store.get_model(v.id) for v in versions], "runs": runs, "lake": lake}


@pytest.fixture
def with_airflow(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    from airgenome.plugins.routers import sequences
    from airgenome.sequence.airflow_api import AirflowApi

    calls: list[tuple[str, str]] = []
    monkeypatch.setattr(
        sequences, "airflow_api",
        lambda request: AirflowApi("http://airflow.test", sequences.caller_token(request), transport=_airflow(calls)),
    )
    return calls


def _lineage(plugin_client: Any, version: int, user: str = "viewer") -> dict[str, Any]:
    response = plugin_client.client.get(
        f"/api/v1/models/tests/lineage/versions/{version}/lineage", headers=plugin_client.headers(user)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_the_lineage_of_the_promoted_version(plugin_client, history, with_airflow) -> None:
    lineage = _lineage(plugin_client, 2)
    runs = history["runs"]
    model = lineage["model"]
    name = history["versions"][1].name  # the registered name: tests.lineage~<hash>
    assert (model["id"], model["pipelineRunId"], model["aliases"]) == (f"{name}/2", "run-2", ["champion"])
    assert model["url"] == f"/airgenome/models/{name}/versions/2"
    assert model["runUrl"] == "/dags/train-pipe/runs/run-2" and model["taskUrl"] == "/dags/train-pipe/runs/run-2/tasks/train"
    assert lineage["datasets"] == [{"ref": "mllake://datasets/iris", "refType": "mllake"}]
    assert lineage["airflow"] == {"available": True, "note": None}
    assert lineage["run"]["state"] == "success" and lineage["run"]["url"] == "/dags/train-pipe/runs/run-2"
    assert [(s["taskId"], s["producedModel"]) for s in lineage["steps"]] == [("load", False), ("train", True), ("evaluate", False)]
    assert lineage["assets"]["produced"][0]["name"] == "airgenome/train-pipe/load/table"
    assert lineage["assets"]["produced"][0]["sourceUrl"] == "/dags/train-pipe/runs/run-2/tasks/load"
    assert [e["id"] for e in lineage["evaluations"]] == [runs["accuracy2"].id]  # only this version's
    assert lineage["evaluations"][0]["taskUrl"] == "/dags/train-pipe/runs/run-2/tasks/evaluate"
    assert lineage["evaluations"][0]["url"] == f"/airgenome/evaluations/{runs['accuracy2'].id}"
    assert lineage["blessing"]["verdict"] == "BLESSED" and lineage["blessing"]["blessed"] is True
    assert [e["id"] for e in lineage["blessing"]["evaluations"]] == [runs["policy2"].id]
    approval = lineage["approval"]
    assert (approval["decision"], approval["by"], approval["at"]) == ("Approve", "alice", "2026-11-29T11:02:00+00:00")
    assert [e["id"] for e in approval["evaluations"]] == [runs["approval2"]["evaluation_id"]]
    assert approval["taskUrl"] == "/dags/train-pipe/runs/run-2/tasks/approve"
    assert lineage["deployment"] == {"aliases": ["champion"], "promoted": True, "targets": {"kserve": "models/lineage"}}
    kinds = [n["kind"] for n in lineage["graph"]["nodes"]]
    assert {"dataset", "step", "model", "evaluation", "blessing", "approval", "deployment"} == set(kinds)
    edges = {(e["from"], e["to"]) for e in lineage["graph"]["edges"]}
    assert ("step:train", f"model:{name}/2") in edges and ("blessing", "approval") in edges
    assert ("approval", "deployment") in edges and ("step:load", "asset:airgenome/train-pipe/load/table") in edges
    # Airflow was asked as the caller, with the caller's own token.
    assert {auth for _, auth in with_airflow} == {plugin_client.headers("viewer")["Authorization"]}


def test_the_lineage_of_the_rejected_version(plugin_client, history, with_airflow) -> None:
    lineage = _lineage(plugin_client, 1)
    assert [e["id"] for e in lineage["evaluations"]] == [history["runs"]["accuracy1"].id]
    assert lineage["blessing"]["verdict"] == "NOT_BLESSED" and lineage["blessing"]["blessed"] is False
    assert lineage["blessing"]["reasons"].startswith("rejected by bob at 2026-11-29T11:01:00+00:00")
    assert (lineage["approval"]["decision"], lineage["approval"]["by"]) == ("Reject", "bob")
    assert lineage["deployment"] == {"aliases": [], "promoted": False, "targets": {}}
    assert lineage["run"] is None and lineage["steps"] == []  # Airflow no longer knows run-1
    assert "deployment" not in {n["kind"] for n in lineage["graph"]["nodes"]}


def test_without_airflow_the_stores_part_is_still_served(plugin_client, history) -> None:
    lineage = _lineage(plugin_client, 2)
    assert lineage["airflow"]["available"] is False and "did not answer" in lineage["airflow"]["note"]
    assert lineage["approval"]["decision"] == "Approve" and lineage["steps"] == []


def test_unknown_versions_are_json_404s(plugin_client, history) -> None:
    response = plugin_client.client.get("/api/v1/models/tests/lineage/versions/9/lineage", headers=plugin_client.headers())
    assert response.status_code == 404 and "detail" in response.json()
    page = plugin_client.client.get("/models/tests/lineage/versions/9/lineage", headers=plugin_client.headers())
    assert page.status_code == 404


def test_the_lineage_page_links_into_airflow_and_the_plugin(plugin_client, history, with_airflow) -> None:
    response = plugin_client.client.get("/models/tests/lineage/versions/2/lineage", headers=plugin_client.headers("viewer"))
    assert response.status_code == 200
    page = response.text
    assert "href='/dags/train-pipe/runs/run-2/tasks/train'" in page
    assert f"href='/airgenome/evaluations/{history['runs']['accuracy2'].id}'" in page
    assert "Approve" in page and "alice" in page and "@champion" in page
    detail = plugin_client.client.get("/models/tests/lineage/versions/2", headers=plugin_client.headers("viewer")).text
    name = history["versions"][1].name
    assert f"href='/airgenome/models/{name}/versions/2/lineage'" in detail
    assert f"href='/airgenome/models/{name}/versions/2/reports'" in detail


def test_reports_are_listed_and_served_with_a_strict_csp(plugin_client, history, with_airflow) -> None:
    client, headers = plugin_client.client, plugin_client.headers("viewer")
    listed = client.get("/api/v1/models/tests/lineage/versions/2/reports", headers=headers).json()
    assert [(r["name"], r["step"]) for r in listed["items"]] == [("report.html", "report")]
    report = client.get(listed["items"][0]["url"].removeprefix("/airgenome"), headers=headers)
    assert report.status_code == 200 and "<h1>Model report</h1>" in report.text
    assert report.headers["content-type"] == "text/html; charset=utf-8"
    csp = report.headers["content-security-policy"]
    assert "default-src 'none'" in csp and "sandbox" in csp and "script-src" not in csp
    assert report.headers["x-content-type-options"] == "nosniff"
    assert client.get("/api/v1/models/tests/lineage/versions/1/reports", headers=headers).json()["items"] == []
    other = client.get(f"/api/v1/models/tests/lineage/versions/1/reports/{listed['items'][0]['id']}", headers=headers)
    assert other.status_code == 404  # version 2's report is not version 1's
    for bad in ("../../outside.html", "0123456789abcdef", "x" * 16):
        response = client.get(f"/api/v1/models/tests/lineage/versions/2/reports/{bad}", headers=headers)
        assert response.status_code == 404 and "detail" in response.json(), bad
    page = client.get("/models/tests/lineage/versions/2/reports", headers=headers).text
    assert f"href='{listed['items'][0]['url']}'" in page


def test_a_report_event_pointing_outside_the_lake_is_not_listed(plugin_client, history, monkeypatch) -> None:
    from airgenome.plugins.routers import sequences
    from airgenome.sequence.airflow_api import AirflowApi

    outside = {"name": "airgenome/x/report/report", "extra": {"kind": "report", "version": history["versions"][1].id,
                                                               "uri": f"file://{history['lake'].parent}/outside.html"}}
    inside: dict[str, Any] = {"name": "airgenome/x/r/report", "source_task_id": "r", "timestamp": "2026-11-29T12:00:00Z",
              "extra": {"kind": "report", "version": history["versions"][1].id,
                        "uri": f"file://{history['lake']}/runs/train-pipe/run-2/report/report/report.html"}}

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json={"asset_events": [outside, inside], "total_entries": 2})

    monkeypatch.setattr(sequences, "airflow_api", lambda request: AirflowApi(
        "http://airflow.test", "t", transport=httpx.MockTransport(answer)))
    items = plugin_client.client.get("/api/v1/models/tests/lineage/versions/2/reports",
                                     headers=plugin_client.headers()).json()["items"]
    assert [item["uri"] for item in items] == [inside["extra"]["uri"]]
    assert json.dumps(items).count("outside.html") == 0
