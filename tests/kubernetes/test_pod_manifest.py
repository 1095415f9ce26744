"""Pods rendered by the provider's own code (no cluster) are valid and carry the Genome contract."""

from __future__ import annotations

import json
from pathlib import Path

import kubernetes_validate
import pytest

from airgenome.errors import InvalidInput
from airgenome.operators.pod import PREVIEW_RUN_ID, GenomePodOperator, render_pod_manifest
from airgenome.operators.pod_settings import PodSettingsError, pod_settings
from airgenome.sequence.contract import step_environment
from airgenome.settings import store_locations
from tests.kubernetes.conftest import make_contract

# The Kubernetes version matching the installed client (kubernetes 36.x ~ 1.36).
K8S_VERSION = "1.36.0"


def _operator(**overrides: object) -> GenomePodOperator:
    values: dict[str, object] = {
        "task_id": "train",
        "image": "registry.example/airgenome/component:1",
        "cmds": ["python", "-m", "airgenome.components.run"],
        "arguments": ["--epochs", "3"],
        "contract": make_contract(),
    }
    values.update(overrides)
    return GenomePodOperator(**values)  # type: ignore[arg-type]


def _container(manifest: dict) -> dict:  # type: ignore[type-arg]
    (container,) = manifest["spec"]["containers"]
    return container  # type: ignore[no-any-return]


def test_cpu_step_pod_is_valid_kubernetes_and_carries_the_contract(stores_home: Path) -> None:
    manifest = render_pod_manifest(_operator(cpu="500m", memory="1Gi"))
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    container = _container(manifest)
    env = {e["name"]: e["value"] for e in container["env"]}
    expected = step_environment(make_contract(), run_id=PREVIEW_RUN_ID, stores=store_locations(stores_home))
    assert env == expected
    assert set(env) >= {
        "DEPLOYMENT", "DEPLOYMENT_PARAMETERS", "APPLICATION", "PIPELINE_RUNID", "PIPELINE_NAME",
        "STEP_NAME", "STEP_TYPE", "PARAMETERS", "DATASETS",
        "AIRGENOME_MODEL_STORE_URI", "AIRGENOME_MODEL_ARTIFACTS", "AIRGENOME_EVALUATION_STORE_URI",
    }
    assert container["resources"] == {
        "requests": {"cpu": "500m", "memory": "1Gi"},
        "limits": {"cpu": "500m", "memory": "1Gi"},
    }
    assert manifest["spec"]["tolerations"] == []
    assert manifest["spec"]["nodeSelector"] == {}
    assert manifest["spec"]["restartPolicy"] == "Never"
    assert manifest["metadata"]["namespace"] == "airgenome"
    assert manifest["metadata"]["labels"]["airgenome.io/step"] == "train"


def test_gpu_step_requests_gpus_tolerates_taints_and_selects_gpu_nodes(
    stores_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRGENOME_GPU_NODE_SELECTOR", json.dumps({"nvidia.com/gpu.present": "true"}))
    monkeypatch.setenv(
        "AIRGENOME_GPU_TOLERATIONS",
        json.dumps([
            {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
            {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute", "tolerationSeconds": 60},
        ]),
    )
    operator = _operator(gpu=2, memory="8Gi")
    manifest = render_pod_manifest(operator)
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    assert _container(manifest)["resources"] == {
        "requests": {"memory": "8Gi"},
        "limits": {"memory": "8Gi", "nvidia.com/gpu": "2"},
    }
    assert manifest["spec"]["tolerations"] == [
        {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"},
        {"key": "dedicated", "operator": "Equal", "value": "ml", "effect": "NoExecute", "tolerationSeconds": 60},
    ]
    assert manifest["spec"]["nodeSelector"] == {"nvidia.com/gpu.present": "true"}
    assert (operator.pool, operator.pool_slots) == ("gpu", 2)


def test_gpu_defaults_and_configurable_pool(stores_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRGENOME_GPU_POOL", "a100")
    operator = _operator(gpu=1)
    manifest = render_pod_manifest(operator)
    assert manifest["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert _container(manifest)["resources"] == {"limits": {"nvidia.com/gpu": "1"}}
    assert (operator.pool, operator.pool_slots) == ("a100", 1)
    # A caller's explicit pool wins.
    assert _operator(gpu=4, pool="big-gpus", pool_slots=2).pool_slots == 2
    assert _operator(gpu=4, pool="big-gpus").pool == "big-gpus"


def test_namespace_comes_from_settings(stores_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRGENOME_K8S_NAMESPACE", "ml-steps")
    assert render_pod_manifest(_operator())["metadata"]["namespace"] == "ml-steps"


def test_genome_variables_cannot_be_spoofed_by_env_vars(stores_home: Path) -> None:
    operator = _operator(env_vars={"STEP_NAME": "spoofed", "KEEP_ME": "yes"})
    env = {e["name"]: e["value"] for e in _container(render_pod_manifest(operator))["env"]}
    assert env["STEP_NAME"] == "train"
    assert env["KEEP_ME"] == "yes"


def test_no_spec_string_is_a_jinja_template(stores_home: Path) -> None:
    from airflow.providers.cncf.kubernetes.operators.pod import KubernetesPodOperator
    from airflow.sdk import DAG

    with DAG("jinja_check", schedule=None):
        ours = _operator(image="repo/{{ 1 + 1 }}", cmds=["{{ 1 + 1 }}"], arguments=["{{ 1 + 1 }}"],
                         env_vars={"X": "{{ 1 + 1 }}"}, labels={"l": "{{ 1 + 1 }}"})
        plain = KubernetesPodOperator(task_id="plain", image="repo/{{ 1 + 1 }}", arguments=["{{ 1 + 1 }}"])
    assert GenomePodOperator.template_fields == ()
    ours.render_template_fields(context={})  # what the task runner does before execute
    plain.render_template_fields(context={})
    assert plain.arguments == ["2"] and plain.image == "repo/2"  # the check would catch rendering
    container = _container(render_pod_manifest(ours))
    assert container["image"] == "repo/{{ 1 + 1 }}"
    assert container["command"] == ["{{ 1 + 1 }}"]
    assert container["args"] == ["{{ 1 + 1 }}"]
    assert {"name": "X", "value": "{{ 1 + 1 }}"} in container["env"]


def test_construction_and_rendering_need_no_cluster_client(stores_home: Path) -> None:
    operator = _operator(gpu=1)
    assert "hook" not in operator.__dict__ and "client" not in operator.__dict__
    render_pod_manifest(operator)
    assert "client" not in operator.__dict__ and "pod_manager" not in operator.__dict__


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"cpu": "half"}, r"train\.resources\.cpu: 'half' is not a Kubernetes quantity"),
        ({"memory": "1 GB"}, r"train\.resources\.memory: '1 GB' is not a Kubernetes quantity"),
        ({"gpu": -1}, r"train\.resources\.gpu: -1 is not a whole number >= 0"),
        ({"gpu": True}, r"train\.resources\.gpu: True is not a whole number >= 0"),
    ],
)
def test_bad_resources_are_rejected_naming_the_field(overrides: dict, message: str) -> None:  # type: ignore[type-arg]
    with pytest.raises(InvalidInput, match=message):
        _operator(**overrides)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("AIRGENOME_GPU_TOLERATIONS", "{not json", r"AIRGENOME_GPU_TOLERATIONS: not valid JSON"),
        ("AIRGENOME_GPU_TOLERATIONS", '{"key": "x"}', r"AIRGENOME_GPU_TOLERATIONS: expected a JSON list"),
        ("AIRGENOME_GPU_TOLERATIONS", '[{"key": "x", "operator": "In"}]',
         r"AIRGENOME_GPU_TOLERATIONS\[0\]\.operator: must be Exists or Equal"),
        ("AIRGENOME_GPU_TOLERATIONS", '[{"key": "x", "colour": "red"}]',
         r"AIRGENOME_GPU_TOLERATIONS\[0\]: unknown field\(s\) colour"),
        ("AIRGENOME_GPU_NODE_SELECTOR", '{"gpu": true}', r"AIRGENOME_GPU_NODE_SELECTOR: expected a JSON object"),
    ],
)
def test_malformed_gpu_settings_fail_loudly(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(PodSettingsError, match=message):
        pod_settings()


def test_settings_also_read_from_airflow_config(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRGENOME_K8S_NAMESPACE", raising=False)
    monkeypatch.setenv("AIRFLOW__AIRGENOME__K8S_NAMESPACE", "from-airflow-cfg")
    assert pod_settings().namespace == "from-airflow-cfg"


def test_validator_is_strict_enough_to_catch_a_wrong_field(stores_home: Path) -> None:
    manifest = render_pod_manifest(_operator())
    manifest["spec"]["containers"][0]["gpus"] = 1
    with pytest.raises(kubernetes_validate.ValidationError, match="gpus"):
        kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
