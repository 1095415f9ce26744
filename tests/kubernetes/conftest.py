"""Fixtures: a stand-in Kubernetes API on 127.0.0.1 wired into Airflow's kubernetes_default."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from airgenome.sequence.contract import StepContract
from tests.standin.k8s_api import StandInKubernetes

FAILING_IMAGE = "registry.example/airgenome/broken:1"


@pytest.fixture(scope="session")
def standin_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[StandInKubernetes]:
    """One server per session; the real provider hook reaches it through the connection's
    ``kube_config_path`` extra, exactly as it would reach a real cluster."""
    cluster = StandInKubernetes(failing_images={FAILING_IMAGE}).start()
    kubeconfig = cluster.write_kubeconfig(tmp_path_factory.mktemp("kube") / "config")
    connection = {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig), "in_cluster": False}}
    previous = os.environ.get("AIRFLOW_CONN_KUBERNETES_DEFAULT")
    os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = json.dumps(connection)
    try:
        yield cluster
    finally:
        cluster.stop()
        if previous is None:
            os.environ.pop("AIRFLOW_CONN_KUBERNETES_DEFAULT", None)
        else:
            os.environ["AIRFLOW_CONN_KUBERNETES_DEFAULT"] = previous


@pytest.fixture
def cluster(standin_cluster: StandInKubernetes) -> StandInKubernetes:
    standin_cluster.reset()
    return standin_cluster


@pytest.fixture
def stores_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Store locations come from AIRGENOME_HOME: keep them out of the checkout."""
    monkeypatch.setenv("AIRGENOME_HOME", str(tmp_path))
    for name in ("MODEL_STORE_URI", "MODEL_ARTIFACTS", "EVALUATION_STORE_URI"):
        monkeypatch.delenv(f"AIRGENOME_{name}", raising=False)
    return tmp_path


def make_contract(step_name: str = "train", **overrides: object) -> StepContract:
    values: dict[str, object] = {
        "pipeline_name": "credit-risk",
        "application": "lending",
        "step_name": step_name,
        "step_type": "training",
        "deployment": "staging",
        "deployment_parameters": {"replicas": 2},
        "canonical_name": "credit-model",
        "parameters": {"lr": 0.1, "epochs": 3},
        "datasets": [{"dataRef": "german-credit", "version": "1"}],
        "env": {"EXTRA_FLAG": "on"},
    }
    values.update(overrides)
    return StepContract(**values)  # type: ignore[arg-type]
