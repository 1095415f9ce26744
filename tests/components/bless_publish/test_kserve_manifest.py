"""InferenceService manifests: by framework, with and without canary, valid against the strict CRD schema."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime
from typing import Any

import pytest

from airgenome.components.publish import kserve
from airgenome.components.publish.specs import KServeParameters
from airgenome.components.registry import get
from airgenome.models.records import ModelRecord

SOURCE = "s3://models/1/0a1b/artifacts/model"


def record(framework: str, name: str = "ct.scan~0123456789", version: int = 3) -> ModelRecord:
    return ModelRecord(id=f"{name}/{version}", name=name, version=version, canonicalName="/ct/scan-classifier",
                       framework=framework, createdAt=datetime.now(UTC), source=SOURCE)


def params(**values: Any) -> KServeParameters:
    return KServeParameters.model_validate(values)


@pytest.mark.parametrize(
    ("framework", "chosen", "expected_format", "protocol"),
    [
        ("keras", "auto", "tensorflow", None),
        ("tensorflow", "auto", "tensorflow", None),
        ("sklearn", "auto", "sklearn", None),
        ("xgboost", "auto", "xgboost", None),
        ("spark", "auto", "mlflow", "v2"),
        ("sklearn", "mlflow", "mlflow", "v2"),
    ],
)
@pytest.mark.parametrize("serving", [None, "s3://models/1/old/artifacts/model"])
def test_manifests_by_framework_with_and_without_canary_are_valid(
    framework: str, chosen: str, expected_format: str, protocol: str | None, serving: str | None
) -> None:
    manifest = kserve.render_inference_service(
        record(framework), params(model_format=chosen, canary_traffic_percent=10), namespace="models",
        previous_storage_uri=serving, blessing_evaluation="abc123",
    )
    assert kserve.validate_manifest(manifest) == []
    assert manifest["apiVersion"] == "serving.kserve.io/v1beta1" and manifest["kind"] == "InferenceService"
    assert manifest["metadata"]["name"] == "ct-scan-classifier"
    assert manifest["metadata"]["annotations"]["airgenome.io/model-version"] == "ct.scan~0123456789/3"
    assert manifest["metadata"]["annotations"]["airgenome.io/blessing-evaluation"] == "abc123"
    predictor = manifest["spec"]["predictor"]
    assert predictor["model"]["modelFormat"] == {"name": expected_format}
    assert predictor["model"].get("protocolVersion") == protocol
    assert predictor["model"]["storageUri"] == SOURCE
    # Canary only while another version serves.
    assert predictor.get("canaryTrafficPercent") == (10 if serving else None)


def test_same_version_serving_is_no_canary_and_resources_and_gpu_render() -> None:
    manifest = kserve.render_inference_service(
        record("keras"),
        params(canary_traffic_percent=20, gpu=1, min_replicas=1, max_replicas=3, runtime="kserve-tensorflow-serving",
               resources={"requests": {"cpu": "500m", "memory": "2Gi"}, "limits": {"memory": "4Gi"}},
               storage_rewrite={"from_prefix": "s3://models/", "to_prefix": "pvc://model-store/"}),
        namespace="models", previous_storage_uri="pvc://model-store/1/0a1b/artifacts/model",
    )
    assert kserve.validate_manifest(manifest) == []
    predictor = manifest["spec"]["predictor"]
    assert "canaryTrafficPercent" not in predictor
    assert predictor["model"]["storageUri"] == "pvc://model-store/1/0a1b/artifacts/model"
    assert predictor["model"]["resources"] == {
        "requests": {"cpu": "500m", "memory": "2Gi", "nvidia.com/gpu": "1"},
        "limits": {"memory": "4Gi", "nvidia.com/gpu": "1"},
    }
    assert (predictor["minReplicas"], predictor["maxReplicas"]) == (1, 3)
    assert predictor["model"]["runtime"] == "kserve-tensorflow-serving"


def _valid() -> dict[str, Any]:
    return kserve.render_inference_service(record("sklearn"), params(canary_traffic_percent=10), namespace="m",
                                           previous_storage_uri="s3://old")


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (lambda m: m["spec"]["predictor"]["model"].update(storageUrl="s3://x"),
         "spec.predictor.model: Additional properties are not allowed ('storageUrl' was unexpected)"),
        (lambda m: m["spec"]["predictor"].update(canaryTrafficPercent=150),
         "spec.predictor.canaryTrafficPercent: 150 is greater than the maximum of 100"),
        (lambda m: m["spec"]["predictor"].update(canaryTrafficPercent=-1),
         "spec.predictor.canaryTrafficPercent: -1 is less than the minimum of 0"),
        (lambda m: m["spec"].update(predicter={}), "spec: Additional properties are not allowed ('predicter' was unexpected)"),
        (lambda m: m["metadata"].update(labelz={}), "metadata: Additional properties are not allowed ('labelz' was unexpected)"),
        (lambda m: m["spec"]["predictor"]["model"].update(resources={"limits": {"memory": "lots"}}),
         "spec.predictor.model.resources.limits.memory: 'lots' does not match"),
        (lambda m: m["spec"]["predictor"].update(minReplicas="one"), "spec.predictor.minReplicas: 'one' is not of type 'integer'"),
        (lambda m: m.update(kind="Deployment"), "kind: 'InferenceService' was expected"),
        (lambda m: m["metadata"].update(name="Bad_Name"), "metadata.name: 'Bad_Name' does not match"),
    ],
)
def test_typos_wrong_types_and_out_of_range_values_are_refused_by_path(change: Any, expected: str) -> None:
    manifest = _valid()
    change(manifest)
    problems = kserve.validate_manifest(manifest)
    assert any(p.startswith(expected) for p in problems), problems
    with pytest.raises(kserve.ComponentFailed, match="not valid against the KServe CRD schema"):
        kserve.check_manifest(manifest)


def test_the_copied_crd_schema_is_untouched_and_plain_jsonschema_would_let_typos_pass() -> None:
    from jsonschema import Draft7Validator

    raw = json.loads(kserve.SCHEMA_FILE.read_text())
    assert "aaac4e294dae2c7b1aa1886447793f3aa1c30912" in raw["$comment"]
    manifest = _valid()
    manifest["spec"]["predictor"]["model"]["storageUrl"] = "s3://x"
    manifest["spec"]["predictor"]["canaryTrafficPercent"] = 150
    assert list(Draft7Validator(raw).iter_errors(manifest)) == []  # why the strict copy exists
    assert len(kserve.validate_manifest(manifest)) == 2
    assert (kserve.SCHEMA_FILE.parent / "PROVENANCE.md").is_file()


@pytest.mark.parametrize(
    ("values", "path"),
    [
        ({"canary_traffic_percent": 150}, "canary_traffic_percent"),
        ({"canary_traffic_percent": -5}, "canary_traffic_percent"),
        ({"name": "Not_A_Label"}, "name"),
        ({"resources": {"requests": {"cpu": "lots"}}}, "resources.requests.cpu"),
        ({"resources": {"requests": {"cpus": "1"}}}, "resources.requests.cpus"),
        ({"storageUrl": "s3://x"}, "storageUrl"),
        ({"dry_run": False}, ""),
        ({"cluster": {"kubeconfig": "/k", "in_cluster": True}}, "cluster"),
        ({"model_format": "mlflow", "protocol_version": "v1"}, ""),
        ({"min_replicas": 3, "max_replicas": 1}, ""),
    ],
)
def test_bad_parameters_are_refused_at_upload(values: dict[str, Any], path: str) -> None:
    _, problems = get("publish.kserve").validate_parameters(values)
    assert any(p.path == path for p in problems), problems


def test_merge_patch_diff_removes_what_the_new_spec_drops() -> None:
    old = {"predictor": {"canaryTrafficPercent": 10, "model": {"storageUri": "a", "modelFormat": {"name": "x"}}}}
    new = {"predictor": {"model": {"storageUri": "b", "modelFormat": {"name": "x"}}}}
    patch = kserve.merge_patch_diff(old, new)
    assert patch == {"predictor": {"canaryTrafficPercent": None, "model": {"storageUri": "b"}}}
    from tests.standin.k8s_api import merge_patch

    assert merge_patch(copy.deepcopy(old), patch) == new


def test_service_names_are_dns_labels() -> None:
    assert kserve.service_name(record("sklearn")) == "ct-scan-classifier"
    odd = ModelRecord(id="x/1", name="x", version=1, canonicalName="/42/Über Model__v2/" + "z" * 80,
                      createdAt=datetime.now(UTC), source=SOURCE)
    name = kserve.service_name(odd)
    assert name.startswith("m-42-") and len(name) <= 45 and not name.endswith("-")
