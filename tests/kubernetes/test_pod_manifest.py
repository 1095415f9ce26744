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


def _literal_env(container: dict) -> dict[str, str]:  # type: ignore[type-arg]
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def _secret_refs(container: dict) -> dict[str, dict]:  # type: ignore[type-arg]
    return {e["name"]: e["valueFrom"]["secretKeyRef"] for e in container["env"] if "valueFrom" in e}


STORE_REFS = {
    "AIRGENOME_MODEL_STORE_URI": {"name": "airgenome-stores", "key": "model-store-uri"},
    "AIRGENOME_EVALUATION_STORE_URI": {"name": "airgenome-stores", "key": "evaluation-store-uri"},
    "AIRGENOME_MODEL_REGISTRY_URI": {"name": "airgenome-stores", "key": "model-registry-uri", "optional": True},
}
SECRET_VARIABLES = set(STORE_REFS)


def test_cpu_step_pod_is_valid_kubernetes_and_carries_the_contract(stores_home: Path) -> None:
    manifest = render_pod_manifest(_operator(cpu="500m", memory="1Gi"))
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    container = _container(manifest)
    env = _literal_env(container)
    expected = step_environment(make_contract(), run_id=PREVIEW_RUN_ID, stores=store_locations(stores_home))
    # Store URIs come from the store secret; everything else of the contract is literal.
    assert env == {name: value for name, value in expected.items() if name not in SECRET_VARIABLES}
    assert _secret_refs(container) == STORE_REFS
    assert set(env) >= {
        "DEPLOYMENT", "DEPLOYMENT_PARAMETERS", "APPLICATION", "PIPELINE_RUNID", "PIPELINE_NAME",
        "STEP_NAME", "STEP_TYPE", "PARAMETERS", "DATASETS", "AIRGENOME_MODEL_ARTIFACTS",
    }
    assert not container.get("envFrom")
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
    env = _literal_env(_container(render_pod_manifest(operator)))
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


PASSWORD = "s3cr3tpw"
SECRET_STORES = {
    "AIRGENOME_MODEL_STORE_URI": f"postgresql://u:{PASSWORD}@db/mlflow",
    "AIRGENOME_EVALUATION_STORE_URI": f"postgresql://genome:{PASSWORD}@db:5432/evaluations",
    "AIRGENOME_MODEL_REGISTRY_URI": f"mysql://reg:{PASSWORD}@db/registry",
}


def test_store_passwords_never_reach_the_pod_spec(stores_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRET_STORES.items():
        monkeypatch.setenv(name, value)
    # A spoofing attempt through env_vars is dropped too, not passed as a literal.
    operator = _operator(gpu=1, env_vars={"AIRGENOME_MODEL_STORE_URI": f"postgresql://x:{PASSWORD}@evil/db"})
    manifest = render_pod_manifest(operator)
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    assert PASSWORD not in json.dumps(manifest)
    container = _container(manifest)
    assert _secret_refs(container) == STORE_REFS
    assert not SECRET_VARIABLES & set(_literal_env(container))
    # The provider's own dump of a failed pod's spec is off.
    assert operator.log_pod_spec_on_failure is False
    assert _operator(log_pod_spec_on_failure=True).log_pod_spec_on_failure is False


def test_store_secret_and_env_from_secrets_come_from_settings(
    stores_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRGENOME_STORE_SECRET_NAME", "prod-stores")
    monkeypatch.setenv("AIRGENOME_SECRET_ENV_FROM", "lake-credentials, hf-token")
    container = _container(render_pod_manifest(_operator()))
    assert {ref["name"] for ref in _secret_refs(container).values()} == {"prod-stores"}
    assert container["envFrom"] == [
        {"secretRef": {"name": "lake-credentials"}},
        {"secretRef": {"name": "hf-token"}},
    ]


def test_render_pods_cli_shows_references_not_values(stores_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airgenome.cli.sequence_commands import render_document

    for name, value in SECRET_STORES.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AIRGENOME_ALLOWED_IMAGES", "registry.example/*")
    sequence = {
        "pipelineName": "secrets-check", "canonicalName": "secrets-check", "application": "a",
        "deployment": "d",
        "steps": [{"stepName": "train", "stepType": "training", "image": "registry.example/train:1"}],
    }
    document = render_document(json.dumps(sequence).encode(), mode="kubernetes", pods=True)
    assert PASSWORD not in json.dumps(document)
    (task,) = document["tasks"]
    assert task["env"]["AIRGENOME_MODEL_STORE_URI"] == "postgresql://u:***@db/mlflow"
    assert _secret_refs(_container(task["pod"])) == STORE_REFS


def test_empty_image_allow_list_refuses_every_pod(stores_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk.exceptions import AirflowFailException

    monkeypatch.delenv("AIRGENOME_ALLOWED_IMAGES", raising=False)
    monkeypatch.delenv("AIRFLOW__AIRGENOME__ALLOWED_IMAGES", raising=False)
    with pytest.raises(
        AirflowFailException,
        match=r"train\.image: 'registry\.example/airgenome/component:1' is refused: no image is allowed "
        r"in kubernetes mode until AIRGENOME_ALLOWED_IMAGES \(\[airgenome\] allowed_images\) lists",
    ):
        _operator().execute(context={})  # type: ignore[arg-type]
    monkeypatch.setenv("AIRGENOME_ALLOWED_IMAGES", "ghcr.io/acme/*")
    with pytest.raises(AirflowFailException, match=r"is not in the allowed images \(ghcr\.io/acme/\*; "):
        _operator().execute(context={})  # type: ignore[arg-type]
