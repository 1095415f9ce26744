"""Every chart values file in helm-values/ validates against the official Airflow chart schema
(copied into helm-values/schema/ with its provenance: a clean clone validates offline, no skip),
and the [airgenome] config they set is what the settings module reads."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "helm-values"
SCHEMA = VALUES / "schema" / "airflow-chart-values.schema.json"
PROVENANCE = VALUES / "schema" / "PROVENANCE.md"
FILES = sorted(p for p in VALUES.iterdir() if p.suffix in (".yaml", ".yml"))
OVERLAYS = [p for p in FILES if p.name != "airflow-production.yaml"]


def test_the_schema_is_in_the_project_with_its_provenance() -> None:
    provenance = PROVENANCE.read_text()
    assert "002e5532d7d55a375bbf71bd4e72d7e008635073" in provenance
    digest = re.search(r"sha256: `([0-9a-f]{64})`", provenance)
    assert digest is not None
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == digest.group(1)


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft7Validator:
    schema = json.loads(SCHEMA.read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def _load(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text())
    assert isinstance(data, dict), f"{path.name}: chart values must be a mapping"
    return data


def _errors(validator: jsonschema.Draft7Validator, values: dict[str, Any]) -> list[str]:
    found = [f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}" for e in validator.iter_errors(values)]
    # The schema's root allows unknown keys; a misspelt top-level key would be silently ignored by Helm.
    known = set(validator.schema["properties"])
    found += [f"{key}: not a value of the Airflow chart" for key in values if key not in known]
    return found


def _helm_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Helm's `-f a -f b`: maps merge deeply, everything else (lists too) is replaced."""
    merged = copy.deepcopy(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _helm_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def test_the_folder_has_the_production_values_and_overlays() -> None:
    assert {p.name for p in FILES} >= {"airflow-production.yaml", "gpu-pool.yaml", "celery-executor.yaml"}


@pytest.mark.parametrize("path", FILES, ids=lambda p: str(p.relative_to(VALUES)))
def test_values_file_validates_against_the_chart_schema(validator: jsonschema.Draft7Validator, path: Path) -> None:
    assert _errors(validator, _load(path)) == []


@pytest.mark.parametrize("overlay", OVERLAYS, ids=lambda p: p.name)
def test_production_plus_overlay_validates(validator: jsonschema.Draft7Validator, overlay: Path) -> None:
    merged = _helm_merge(_load(VALUES / "airflow-production.yaml"), _load(overlay))
    assert _errors(validator, merged) == []


def test_the_check_catches_wrong_values(validator: jsonschema.Draft7Validator) -> None:
    values = _load(VALUES / "airflow-production.yaml")
    values["executor"] = 3
    values["workers"]["replicaz"] = 2
    values["executer"] = "KubernetesExecutor"
    errors = _errors(validator, values)
    assert any(e.startswith("executor:") for e in errors)
    assert any(e.startswith("workers:") and "replicaz" in e for e in errors)
    assert "executer: not a value of the Airflow chart" in errors


def _airgenome_config(monkeypatch: pytest.MonkeyPatch, values: dict[str, Any]) -> dict[str, str]:
    """Put the values' [airgenome] section where Airflow would (AIRFLOW__AIRGENOME__*)."""
    section = {key: str(value) for key, value in values["config"]["airgenome"].items()}
    for key in list(section):
        monkeypatch.delenv(f"AIRGENOME_{key.upper()}", raising=False)
    for key, value in section.items():
        monkeypatch.setenv(f"AIRFLOW__AIRGENOME__{key.upper()}", value)
    return section


@pytest.mark.parametrize("overlay", [None, *OVERLAYS], ids=lambda p: "production" if p is None else p.name)
def test_airgenome_config_in_values_is_declared_and_parses(
    monkeypatch: pytest.MonkeyPatch, overlay: Path | None
) -> None:
    from airgenome import settings

    values = _load(VALUES / "airflow-production.yaml")
    if overlay is not None:
        values = _helm_merge(values, _load(overlay))
    section = _airgenome_config(monkeypatch, values)
    assert set(section) <= set(settings.BY_NAME), "a key nothing reads"
    for name in section:  # every value parses as its declared type
        option = settings.option(name)
        reader = {"string": settings.string, "integer": settings.integer, "float": settings.number,
                  "list": settings.string_list, "json": settings.json_value, "path": settings.path,
                  "choice": settings.choice}[option.kind]
        reader(name)


def test_production_values_do_what_they_say(monkeypatch: pytest.MonkeyPatch) -> None:
    """Kubernetes mode; an allow-list that admits our component images and nothing else; store
    URIs only through the Secret that step pods reference."""
    from airgenome.operators.pod_settings import pod_settings
    from airgenome.sequence.config import execution_mode, limits

    values = _load(VALUES / "airflow-production.yaml")
    _airgenome_config(monkeypatch, values)
    assert execution_mode() == "kubernetes"
    allowed = limits()
    assert allowed.image_refusal("ghcr.io/airgenome/component-cpu:0.1.0") is None
    assert allowed.image_refusal("docker.io/library/python:3.12") is not None
    platform = pod_settings()
    assert platform.namespace == "airgenome" and platform.store_secret_name == "airgenome-stores"
    literal = {item["name"] for item in values["env"]}
    assert not literal & {"AIRGENOME_MODEL_STORE_URI", "AIRGENOME_EVALUATION_STORE_URI"}
    from_secret = {item["envName"]: (item["secretName"], item["secretKey"]) for item in values["secret"]}
    assert from_secret == {
        "AIRGENOME_MODEL_STORE_URI": ("airgenome-stores", "model-store-uri"),
        "AIRGENOME_EVALUATION_STORE_URI": ("airgenome-stores", "evaluation-store-uri"),
    }
    # No GPU node pool in the base values: GPU steps are refused, not left waiting.
    assert allowed.gpu_slots == 0


def test_gpu_overlay_pool_and_slots_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    """The [airgenome] config the chart writes to airflow.cfg parses as our pod settings, and the
    pool the scheduler's init container sizes is the one GPU steps use, with the same slots."""
    from airgenome.operators.pod_settings import pod_settings
    from airgenome.sequence.config import limits

    merged = _helm_merge(_load(VALUES / "airflow-production.yaml"), _load(VALUES / "gpu-pool.yaml"))
    _airgenome_config(monkeypatch, merged)
    platform = pod_settings()
    assert platform.gpu_node_selector == {"nvidia.com/gpu.present": "true"}
    assert platform.gpu_tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert platform.namespace == "airgenome" and platform.gpu_pool == "gpu"
    command = merged["scheduler"]["extraInitContainers"][0]["command"]
    assert command[:4] == ["airflow", "pools", "set", platform.gpu_pool]
    assert int(command[4]) == limits().gpu_slots == 4
    assert limits().gpu_pool == platform.gpu_pool
