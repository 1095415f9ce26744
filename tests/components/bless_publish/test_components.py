"""The components end to end through the runtime, against real stores (MLflow on SQLite, the
evaluation store) and the stand-in Kubernetes API: NOT_BLESSED is recorded and skips, publish
components refuse unblessed versions themselves, alias moves, KServe create / patch / rollback,
and the HTML report. Tests run in file order and share one world (module scope)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airgenome.components.bless.policy import BLESSING_CODE, TAG_EVALUATION, TAG_VERDICT
from airgenome.components.runtime import main
from airgenome.evaluations.store import get_evaluation_store, reset_evaluation_stores
from airgenome.settings import StoreLocations
from tests.standin.k8s_api import StandInKubernetes, running_standin

from .records import confusion, run, task

PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)
HOSTILE = "<script>alert('x')</script>"
# One MLflow store per module: importing MLflow and migrating a fresh SQLite database dominate.
pytestmark = pytest.mark.slow


@dataclass
class World:
    root: Path
    stores: StoreLocations
    store: Any
    evaluations: Any
    versions: dict[str, str]  # good, bad, old -> version id
    runs: dict[str, str]  # evaluation ids
    calls: int = 0

    def env(self, step: str, parameters: dict[str, Any], inputs: dict[str, Any] | None = None) -> dict[str, str]:
        self.calls += 1
        return {
            "PIPELINE_NAME": "bless-publish",
            "PIPELINE_RUNID": "manual__2026-11-29T12:00:00+00:00",
            "STEP_NAME": step,
            "AIRGENOME_HOME": str(self.root / "home"),
            "AIRGENOME_LAKE_ROOT": str(self.root / "lake"),
            "AIRGENOME_RESULT_PATH": str(self.root / f"result-{self.calls}.json"),
            "PARAMETERS": json.dumps(parameters),
            "AIRGENOME_INPUTS": json.dumps(inputs or {}),
            **self.stores.as_env(),
        }

    def run(self, component: str, parameters: dict[str, Any], inputs: dict[str, Any] | None = None,
            step: str = "step") -> tuple[int, dict[str, Any]]:
        env = self.env(step, parameters, inputs)
        code = main([component], env)
        path = Path(env["AIRGENOME_RESULT_PATH"])
        return code, json.loads(path.read_text()) if path.exists() else {}

    def model(self, key: str) -> dict[str, Any]:
        version = self.versions[key]
        return {"model": {"uri": f"models:/{version}", "kind": "model", "metadata": {"version": version}}}

    def record(self, key: str) -> Any:
        return self.store.get_model(self.versions[key])


def meta(version_name: str) -> dict[str, str]:
    return {"canonicalName": "/tests/bless/iris", "application": "bless", "pipelineName": "bless-publish",
            "pipelineRunId": "run-1", "pipelineStage": "model", "framework": "sklearn",
            "inputModality": "tabular", "versionName": version_name, "predictionType": "classification"}


def save_version(store: Any, root: Path, key: str) -> str:
    """A registered version without a real estimator (the publish components read its record,
    tags and card only): no scikit-learn import and no flavour serialisation in this module."""
    from airgenome.models.metadata import validate_metadata

    model_dir = root / "models" / key
    model_dir.mkdir(parents=True)
    (model_dir / "genome.json").write_text(json.dumps({"flavour": "sklearn", "featureNames": ["a", "b"]}))
    metadata = validate_metadata(meta(key), detected_framework="sklearn")
    record = store.backend.create_version(model_dir, metadata, {"airgenome.flavour": "sklearn"})
    return str(record.id)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    from airgenome.models.client import ModelStore

    root = tmp_path_factory.mktemp("bless")
    stores = StoreLocations.under(root / "stores")
    store = ModelStore(stores.model_store_uri, artifacts=stores.model_artifacts)
    versions = {key: save_version(store, root, key) for key in ("old", "good", "bad")}
    store.set_alias(versions["old"], "champion")
    evaluations = get_evaluation_store(stores.evaluation_store_uri)
    picture = root / "lake" / "pictures" / "matrix.png"
    picture.parent.mkdir(parents=True)
    picture.write_bytes(PNG)
    runs = {
        "old": confusion(0.80, model=versions["old"]),
        "good": run("confusion-matrix", [
            task("accuracy", {"accuracy": 0.86}, "pass", pictures=(
                {"name": "confusion matrix", "uri": picture.as_uri(), "caption": f"caption {HOSTILE}",
                 "mediaType": "image/png"},)),
            task(f"segment {HOSTILE}", {HOSTILE: 1.0}),
        ], model=versions["good"]),
        "good-explanations": run("explanations/grad-cam", [task("heat inside mask", {"share": 0.7}, "pass")],
                                 model=versions["good"]),
        "bad": confusion(0.60, model=versions["bad"], status="fail"),
    }
    for record in runs.values():
        evaluations.save(record)
    yield World(root, stores, store, evaluations, versions, {k: v.id for k, v in runs.items()})
    reset_evaluation_stores()


POLICY = {
    "required": [{"evaluation": "confusion-matrix"}],
    "metrics": [{"evaluation": "confusion-matrix", "metric": "accuracy", ">=": 0.75}],
    "changes": [{"evaluation": "confusion-matrix", "metric": "accuracy", "min_absolute_change": 0.01}],
    "approval": {"required": True},
}


def test_not_blessed_is_recorded_everywhere_then_skips(world: World) -> None:
    code, manifest = world.run("bless.policy", POLICY, world.model("bad"))
    assert code == 99  # skip: downstream publishing is skipped, not failed
    assert manifest["outcome"] == "skip" and "not blessed" in manifest["message"]
    record = world.record("bad")
    assert record.tags[TAG_VERDICT] == "NOT_BLESSED"
    verdict = world.evaluations.get(record.tags[TAG_EVALUATION])
    assert verdict.code == BLESSING_CODE and verdict.status == 0 and verdict.target_model.id == record.id
    assert [t.name for t in verdict.tasks] == ["required[0]", "metrics[0]", "changes[0]", "verdict"]
    assert [t.status for t in verdict.tasks] == [0, 0, 0, 0]
    assert "metrics[0]" in record.tags["airgenome.blessing.reasons"]
    card = world.store.card(record)
    assert card.blessing.blessed is False and card.blessing.evaluation_id == verdict.id
    from airgenome.models.cards import render_card_html

    assert f"/evaluations/{verdict.id}" in render_card_html(card)


def test_on_not_blessed_fail_and_record(world: World) -> None:
    code, _ = world.run("bless.policy", {**POLICY, "on_not_blessed": "fail"}, world.model("bad"))
    assert code == 1
    code, manifest = world.run("bless.policy", {**POLICY, "on_not_blessed": "record"}, world.model("bad"))
    assert code == 0 and manifest["verdict"] == "NOT_BLESSED"
    assert manifest["outputs"]["blessing"]["metadata"]["verdict"] == "NOT_BLESSED"


def test_blessed_with_a_wired_evaluation_and_the_champion_as_baseline(world: World) -> None:
    wired = {"evaluation": {"uri": f"evaluations:/{world.runs['good']}", "kind": "evaluation",
                            "metadata": {"id": world.runs["good"]}}}
    code, manifest = world.run("bless.policy", POLICY, {**world.model("good"), **wired})
    assert code == 0, manifest
    assert manifest["verdict"] == "BLESSED"
    blessing = manifest["outputs"]["blessing"]
    assert blessing["kind"] == "blessing" and blessing["metadata"]["approval"] == {"required": True}
    assert blessing["metadata"]["baseline"] == world.versions["old"]
    document = json.loads(Path(blessing["uri"].removeprefix("file://")).read_text())
    change = next(r for r in document["reasons"] if r["rule"] == "changes[0]")
    assert change["passed"] and change["baseline"] == pytest.approx(0.80)
    assert world.record("good").tags[TAG_VERDICT] == "BLESSED"
    assert world.store.card(world.record("good")).blessing.blessed is True


def test_a_wired_evaluation_of_another_model_is_refused(world: World) -> None:
    wired = {"evaluation": {"uri": f"evaluations:/{world.runs['bad']}", "kind": "evaluation", "metadata": {}}}
    code, _ = world.run("bless.policy", POLICY, {**world.model("good"), **wired})
    assert code == 1


@pytest.mark.parametrize("component", ["publish.mlflow-alias", "publish.kserve", "publish.report"])
def test_publish_components_refuse_unblessed_versions_themselves(world: World, component: str,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    # NOT_BLESSED (bad), never judged (old): refused even when the DAG runs them.
    for key in ("bad", "old"):
        code, _ = world.run(component, {}, world.model(key))
        assert code == 3, key
    err = capsys.readouterr().err
    assert "refusing to publish" in err and "NOT_BLESSED" in err and "no verdict recorded" in err
    # A wired blessing must be about this version and say BLESSED.
    lying = {"blessing": {"uri": "file:///x", "kind": "blessing",
                          "metadata": {"verdict": "BLESSED", "version": world.versions["good"]}}}
    assert world.run(component, {}, {**world.model("bad"), **lying})[0] == 3
    assert world.store.get_model(name=world.record("old").name, alias="champion").id == world.versions["old"]


def test_a_forged_tag_is_not_enough(world: World) -> None:
    record = world.record("bad")
    world.store.set_system_tag(record, TAG_VERDICT, "BLESSED")  # the verdict it points to failed
    try:
        code, _ = world.run("publish.mlflow-alias", {}, world.model("bad"))
        assert code == 3
    finally:
        world.store.set_system_tag(record, TAG_VERDICT, "NOT_BLESSED")


def test_a_policy_that_requires_approval_holds_publishing_until_an_approve_after_the_verdict(world: World) -> None:
    from datetime import UTC, datetime, timedelta

    record = world.record("good")
    assert record.tags["airgenome.blessing.approvalRequired"] == "true"
    code, _ = world.run("publish.mlflow-alias", {}, world.model("good"))
    assert code == 3
    # An approval older than the verdict does not count (it answered an earlier blessing).
    blessed_at = datetime.fromisoformat(record.tags["airgenome.blessing.at"])
    world.store.set_system_tag(record, "airgenome.approval.decision", "Approve")
    world.store.set_system_tag(record, "airgenome.approval.at", (blessed_at - timedelta(minutes=1)).isoformat())
    assert world.run("publish.mlflow-alias", {}, world.model("good"))[0] == 3
    # What the approval step (airgenome.sequence.approval) records on Approve.
    world.store.set_system_tag(record, "airgenome.approval.at", datetime.now(UTC).isoformat())


def test_kserve_dry_run_renders_and_validates_with_a_canary_while_the_champion_serves(world: World) -> None:
    code, manifest = world.run("publish.kserve", {"canary_traffic_percent": 10}, world.model("good"))
    assert code == 0, manifest
    deployment = manifest["outputs"]["deployment"]
    assert deployment["kind"] == "deployment" and deployment["metadata"]["dryRun"] is True
    assert deployment["metadata"]["action"] == "dry-run"
    document = json.loads(Path(deployment["uri"].removeprefix("file://")).read_text())
    predictor = document["manifest"]["spec"]["predictor"]
    assert predictor["canaryTrafficPercent"] == 10 and document["previousFrom"] == "alias champion"
    assert predictor["model"]["modelFormat"] == {"name": "sklearn"}
    assert predictor["model"]["storageUri"] == world.record("good").source
    assert document["warnings"]  # a file:// storageUri is called out


def test_alias_moves_champion_and_keeps_previous(world: World) -> None:
    code, manifest = world.run("publish.mlflow-alias", {}, world.model("good"))
    assert code == 0, manifest
    name = world.record("good").name
    assert world.store.get_model(name=name, alias="champion").id == world.versions["good"]
    assert world.store.get_model(name=name, alias="previous").id == world.versions["old"]
    assert manifest["outputs"]["deployment"]["metadata"]["previous"] == world.versions["old"]
    assert world.run("publish.mlflow-alias", {}, world.model("good"))[0] == 0  # already there: no-op


@pytest.fixture(scope="module")
def cluster(world: World) -> Iterator[tuple[StandInKubernetes, str]]:
    with running_standin() as standin:
        kubeconfig = standin.write_kubeconfig(world.root / "kubeconfig", namespace="models")
        yield standin, str(kubeconfig)


def test_kserve_creates_then_patches_with_a_canary_against_the_api(world: World, cluster: Any) -> None:
    standin, kubeconfig = cluster
    params = {"cluster": {"kubeconfig": kubeconfig}, "canary_traffic_percent": 25, "poll_interval_s": 0.05,
              "ready_timeout_s": 10, "storage_rewrite": {"from_prefix": "file://", "to_prefix": "pvc://models"}}
    code, manifest = world.run("publish.kserve", params, world.model("good"))
    assert code == 0, manifest
    created = manifest["outputs"]["deployment"]["metadata"]
    assert created["action"] == "created" and created["ready"] is True and created["namespace"] == "models"
    assert created["url"] == "http://tests-bless-iris.models.example.com"
    assert created["canaryTrafficPercent"] is None  # nothing served before
    assert world.record("good").tags["airgenome.deployment.kserve"] == "models/tests-bless-iris"
    (stored,) = standin.custom_objects("inferenceservices", "models")
    assert stored["spec"]["predictor"]["model"]["storageUri"].startswith("pvc://models/")

    # Bless the former champion too, then publish it: a patch with a canary, old spec kept in place.
    assert world.run("bless.policy", {"required": [{"evaluation": "confusion-matrix"}]}, world.model("old"))[0] == 0
    code, manifest = world.run("publish.kserve", params, world.model("old"))
    assert code == 0, manifest
    assert manifest["outputs"]["deployment"]["metadata"]["action"] == "patched"
    (patched,) = standin.custom_objects("inferenceservices", "models")
    assert patched["metadata"]["generation"] == 2
    assert patched["spec"]["predictor"]["canaryTrafficPercent"] == 25
    assert patched["spec"]["predictor"]["model"]["storageUri"].endswith(world.record("old").source.removeprefix("file://"))
    assert patched["metadata"]["annotations"]["airgenome.io/model-version"] == world.versions["old"]
    patches = standin.calls("PATCH", "/inferenceservices/")
    assert patches and patches[-1].headers.get("content-type", "").startswith("application/merge-patch+json")


def test_kserve_rolls_back_when_not_ready(world: World, cluster: Any) -> None:
    standin, kubeconfig = cluster
    params = {"cluster": {"kubeconfig": kubeconfig}, "poll_interval_s": 0.02, "ready_timeout_s": 0.3}
    before = standin.custom_objects("inferenceservices", "models")[0]
    standin.unready_objects.add("tests-bless-iris")
    standin.unready_objects.add("fresh")
    try:
        code, _ = world.run("publish.kserve", params, world.model("good"))
        assert code == 1
        (after,) = standin.custom_objects("inferenceservices", "models")
        assert after["spec"] == before["spec"]  # the previous spec is back
        assert after["metadata"]["annotations"] == before["metadata"]["annotations"]
        code, _ = world.run("publish.kserve", {**params, "name": "fresh"}, world.model("good"))
        assert code == 1
        assert [o["metadata"]["name"] for o in standin.custom_objects("inferenceservices", "models")] == [
            "tests-bless-iris"]  # what it created is deleted
    finally:
        standin.unready_objects.clear()


def test_the_report_shows_evaluations_pictures_blessing_and_lineage_escaped(world: World) -> None:
    code, manifest = world.run("publish.report", {"title": f"Report {HOSTILE}"}, world.model("good"), step="report")
    assert code == 0, manifest
    output = manifest["outputs"]["report"]
    assert output["kind"] == "report" and output["metadata"]["pictures"] == 1
    html = Path(output["uri"].removeprefix("file://")).read_text()
    assert world.runs["good"] in html and "confusion-matrix" in html
    assert "explanations/grad-cam" in html and "heat inside mask" in html
    assert "data:image/png;base64," in html
    assert "BLESSED" in html and "changes[0]" in html and "baseline" in html
    assert "Lineage" in html and world.versions["good"] in html
    assert "<script" not in html and HOSTILE not in html
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in html
    assert not re.search(r"(src|href)=['\"]?https?:", html)  # self-contained: nothing loads from elsewhere
    assert world.run("publish.report", {"require_blessed": False}, world.model("bad"))[0] == 0  # audit report
