"""The stand-in serves custom resources the way the API server does, through the real client."""

from __future__ import annotations

from pathlib import Path

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from tests.standin.k8s_api import StandInKubernetes, merge_patch

GROUP, VERSION, PLURAL = "serving.kserve.io", "v1beta1", "inferenceservices"


def _isvc(name: str) -> dict[str, object]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "InferenceService",
        "metadata": {"name": name, "labels": {"app": "ct"}},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/1"}}},
    }


@pytest.fixture
def api(cluster: StandInKubernetes, tmp_path: Path) -> client.CustomObjectsApi:
    kubeconfig = cluster.write_kubeconfig(tmp_path / "config")
    return client.CustomObjectsApi(config.new_client_from_config(config_file=str(kubeconfig)))


def test_create_get_patch_delete_an_inference_service(api: client.CustomObjectsApi, cluster: StandInKubernetes) -> None:
    created = api.create_namespaced_custom_object(GROUP, VERSION, "models", PLURAL, _isvc("ct"))
    assert created["metadata"]["namespace"] == "models"
    assert created["metadata"]["generation"] == 1
    assert [c["type"] for c in created["status"]["conditions"] if c["status"] == "True"] == [
        "IngressReady", "PredictorReady", "Ready"
    ]
    assert created["status"]["url"] == "http://ct.models.example.com"

    patched = api.patch_namespaced_custom_object(
        GROUP, VERSION, "models", PLURAL, "ct",
        {"spec": {"predictor": {"canaryTrafficPercent": 10, "model": {"storageUri": "s3://m/2"}}}},
    )
    assert patched["metadata"]["generation"] == 2
    assert patched["spec"]["predictor"] == {
        "canaryTrafficPercent": 10,
        "model": {"modelFormat": {"name": "sklearn"}, "storageUri": "s3://m/2"},
    }
    assert patched["status"]["observedGeneration"] == 2
    assert api.get_namespaced_custom_object(GROUP, VERSION, "models", PLURAL, "ct") == patched
    listed = api.list_namespaced_custom_object(GROUP, VERSION, "models", PLURAL)
    assert [item["metadata"]["name"] for item in listed["items"]] == ["ct"]

    api.delete_namespaced_custom_object(GROUP, VERSION, "models", PLURAL, "ct")
    with pytest.raises(ApiException, match="Not Found|NotFound") as missing:
        api.get_namespaced_custom_object(GROUP, VERSION, "models", PLURAL, "ct")
    assert missing.value.status == 404
    assert cluster.custom_objects(PLURAL) == []


def test_a_second_create_conflicts_and_unready_objects_say_why(
    api: client.CustomObjectsApi, cluster: StandInKubernetes
) -> None:
    cluster.unready_objects.add("slow")
    created = api.create_namespaced_custom_object(GROUP, VERSION, "models", PLURAL, _isvc("slow"))
    ready = next(c for c in created["status"]["conditions"] if c["type"] == "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "RevisionMissing")
    with pytest.raises(ApiException) as conflict:
        api.create_namespaced_custom_object(GROUP, VERSION, "models", PLURAL, _isvc("slow"))
    assert conflict.value.status == 409


def test_hooks_play_the_controller_for_other_plurals(api: client.CustomObjectsApi, cluster: StandInKubernetes) -> None:
    seen: list[str] = []
    cluster.object_hooks["widgets"] = lambda _cluster, obj: seen.append(obj["metadata"]["name"])
    body = {"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"}, "spec": {}}
    api.create_namespaced_custom_object("example.com", "v1", "default", "widgets", body)
    api.patch_namespaced_custom_object("example.com", "v1", "default", "widgets", "w", {"spec": {"a": 1}})
    assert seen == ["w", "w"]
    del cluster.object_hooks["widgets"]


def test_merge_patch_follows_rfc_7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}
    assert merge_patch(target, {"a": "z", "c": {"f": None}, "l": [3]}) == {"a": "z", "c": {"d": "e"}, "l": [3]}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}, "l": [1, 2]}  # untouched
