"""Every chart values file in helm-values/ validates against the official Airflow chart schema."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VALUES = REPO / "helm-values"
SCHEMA = REPO.parent / "shared" / "schemas" / "airflow-chart-values.schema.json"
FILES = sorted(p for p in VALUES.rglob("*") if p.suffix in (".yaml", ".yml", ".json"))
OVERLAYS = [p for p in FILES if p.name != "airflow-production.yaml"]

pytestmark = pytest.mark.skipif(not SCHEMA.exists(), reason=f"chart schema not found at {SCHEMA}")


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


def test_airgenome_settings_in_values_are_valid_pod_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    """The [airgenome] config the chart writes to airflow.cfg parses as our pod settings."""
    from airgenome.operators.pod_settings import pod_settings

    merged = _helm_merge(_load(VALUES / "airflow-production.yaml"), _load(VALUES / "gpu-pool.yaml"))
    for key, value in merged["config"]["airgenome"].items():
        monkeypatch.setenv(f"AIRGENOME_{key.upper()}", str(value))
    settings = pod_settings()
    assert settings.gpu_node_selector == {"nvidia.com/gpu.present": "true"}
    assert settings.gpu_tolerations == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert settings.namespace == "airgenome" and settings.gpu_pool == "gpu"
    command = merged["scheduler"]["extraInitContainers"][0]["command"]
    assert command[:4] == ["airflow", "pools", "set", settings.gpu_pool]
