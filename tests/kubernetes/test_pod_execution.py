"""GenomePodOperator tasks really run through Airflow and the provider's pod code path.

Nothing of the operator, hook or PodManager is mocked: Airflow runs the DAG (`dag.test()`,
task runner, retries), the provider talks HTTP to the stand-in Kubernetes API found through
the ``kubernetes_default`` connection, and the stand-in records what reached "the cluster".
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from airgenome.operators.pod import GenomePodOperator
from airgenome.sequence.contract import step_environment
from airgenome.settings import store_locations
from tests.captured import CapturedOutput
from tests.kubernetes.conftest import FAILING_IMAGE, make_contract
from tests.standin.k8s_api import TOKEN, StandInKubernetes

pytestmark = [pytest.mark.integration, pytest.mark.slow]

DAG_ID = "airgenome_standin_pods"
CONF = {"parameters": {"lr": 0.5}, "steps": {"train": {"parameters": {"epochs": 5}}}}
# Production-like store locations: the URIs carry a database password.
PASSWORD = "s3cr3tpw"
STORES = {
    "AIRGENOME_MODEL_STORE_URI": f"postgresql://u:{PASSWORD}@db/mlflow",
    "AIRGENOME_EVALUATION_STORE_URI": f"postgresql://genome:{PASSWORD}@db:5432/evaluations",
}
# What the cluster's Secret `airgenome-stores` holds (the stand-in resolves references to it).
CLUSTER_SECRETS = {
    ("airgenome-stores", "model-store-uri"): STORES["AIRGENOME_MODEL_STORE_URI"],
    ("airgenome-stores", "evaluation-store-uri"): STORES["AIRGENOME_EVALUATION_STORE_URI"],
}
SECRET_REFS = {
    "AIRGENOME_MODEL_STORE_URI": {"name": "airgenome-stores", "key": "model-store-uri"},
    "AIRGENOME_EVALUATION_STORE_URI": {"name": "airgenome-stores", "key": "evaluation-store-uri"},
    "AIRGENOME_MODEL_REGISTRY_URI": {"name": "airgenome-stores", "key": "model-registry-uri", "optional": True},
}


@dataclass
class DagResult:
    run_id: str
    state: str
    tis: dict[str, Any]  # task_id -> TaskInstance (detached)
    cluster: StandInKubernetes
    home: Path  # AIRGENOME_HOME during the run: where the store locations point
    output: str  # everything the run wrote to stdout / stderr (the task logs of dag.test)
    xcom_values: list[str]  # every XCom value of the run, serialised


def _register(dag: Any) -> None:
    """Write the DAG to the metadata DB as the DAG processor would (dag.test needs it)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


@pytest.fixture(scope="module")
def dag_result(
    airflow_metadata: object, standin_cluster: StandInKubernetes, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DagResult]:
    home = tmp_path_factory.mktemp("pods-home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AIRGENOME_HOME", str(home))
        patch.setenv("AIRGENOME_ALLOWED_IMAGES", "registry.example/airgenome/*")
        for name, value in STORES.items():
            patch.setenv(name, value)
        # The pod prints its store URI as a careless component would (resolved from the Secret).
        patch.setattr(standin_cluster, "log_lines", _log_lines_echoing_the_store)
        yield _run_dag(standin_cluster, home)


def _log_lines_echoing_the_store(manifest: dict[str, Any], failed: bool) -> list[str]:
    from tests.standin.k8s_api import default_log_lines

    refs = {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in manifest["spec"]["containers"][0].get("env") or []
        if "valueFrom" in e
    }
    resolved = {name: CLUSTER_SECRETS.get((ref["name"], ref["key"]), "") for name, ref in refs.items()}
    return [f"model store: {resolved.get('AIRGENOME_MODEL_STORE_URI')}", *default_log_lines(manifest, failed)]


def _run_dag(standin_cluster: StandInKubernetes, home: Path) -> DagResult:
    from airflow import settings
    from airflow.models.taskinstance import TaskInstance
    from airflow.sdk import DAG

    standin_cluster.reset()
    with DAG(DAG_ID, schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC), catchup=False) as dag:
        GenomePodOperator(
            task_id="train",
            image="registry.example/airgenome/component:1",
            cmds=["python", "-m", "airgenome.components.run"],
            arguments=["--note", "{{ 1 + 1 }}"],
            contract=make_contract("train"),
            cpu="250m",
            memory="256Mi",
            gpu=1,
            startup_check_interval_seconds=1,
        )
        GenomePodOperator(
            task_id="broken",
            image=FAILING_IMAGE,
            contract=make_contract("broken", step_type="evaluation"),
            retries=1,
            retry_delay=timedelta(seconds=0),
            startup_check_interval_seconds=1,
        )
    _register(dag)
    with CapturedOutput() as captured:
        run = dag.test(run_conf=CONF)
    from airflow.models.xcom import XComModel

    session = settings.Session()
    tis = {
        ti.task_id: ti
        for ti in session.query(TaskInstance).filter_by(dag_id=DAG_ID, run_id=run.run_id)
    }
    xcom_values = [
        json.dumps(row.value, default=str)
        for row in session.query(XComModel).filter_by(dag_id=DAG_ID, run_id=run.run_id)
    ]
    session.expunge_all()
    return DagResult(run_id=run.run_id, state=str(run.state), tis=tis, cluster=standin_cluster, home=home,
                     output=captured.text, xcom_values=xcom_values)


def _pods(result: DagResult, task_id: str) -> list[dict[str, Any]]:
    return [p for p in result.cluster.created if p["metadata"]["labels"]["task_id"] == task_id]


def _env(pod: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in pod["spec"]["containers"][0]["env"] if "value" in e}


def _refs(pod: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        e["name"]: e["valueFrom"]["secretKeyRef"]
        for e in pod["spec"]["containers"][0]["env"]
        if "valueFrom" in e
    }


def test_run_outcome_one_step_succeeds_one_fails_after_its_retry(dag_result: DagResult) -> None:
    assert dag_result.state == "failed"
    assert dag_result.tis["train"].state == "success"
    assert dag_result.tis["broken"].state == "failed"
    assert dag_result.tis["broken"].try_number == 2  # the retry really ran


def test_pod_gets_exactly_the_genome_environment_of_this_run(dag_result: DagResult) -> None:
    (pod,) = _pods(dag_result, "train")
    stores = store_locations(dag_result.home)
    expected = step_environment(make_contract("train"), run_id=dag_result.run_id, conf=CONF, stores=stores)
    # Store URIs reach the pod as references to the store Secret, the rest literally.
    assert _env(pod) == {name: value for name, value in expected.items() if name not in SECRET_REFS}
    assert _refs(pod) == SECRET_REFS
    assert _env(pod)["PIPELINE_RUNID"] == dag_result.run_id
    assert json.loads(_env(pod)["PARAMETERS"]) == {"lr": 0.5, "epochs": 5}
    assert json.loads(_env(pod)["DATASETS"]) == [{"dataRef": "german-credit", "version": "1"}]
    assert json.loads(_env(pod)["DEPLOYMENT_PARAMETERS"]) == {"replicas": 2}


def test_gpu_pod_resources_placement_and_pool(dag_result: DagResult) -> None:
    (pod,) = _pods(dag_result, "train")
    container = pod["spec"]["containers"][0]
    assert container["resources"] == {
        "requests": {"cpu": "250m", "memory": "256Mi"},
        "limits": {"cpu": "250m", "memory": "256Mi", "nvidia.com/gpu": "1"},
    }
    assert pod["spec"]["tolerations"] == [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    assert pod["metadata"]["namespace"] == "airgenome"
    assert pod["metadata"]["labels"]["airgenome.io/pipeline"] == "credit-risk"
    assert pod["metadata"]["labels"]["airgenome.io/step"] == "train"
    ti = dag_result.tis["train"]
    assert (ti.pool, ti.pool_slots) == ("gpu", 1)
    assert (dag_result.tis["broken"].pool, dag_result.tis["broken"].pool_slots) == ("default_pool", 1)


def test_spec_strings_reach_the_pod_unrendered(dag_result: DagResult) -> None:
    (pod,) = _pods(dag_result, "train")
    container = pod["spec"]["containers"][0]
    assert container["args"] == ["--note", "{{ 1 + 1 }}"]
    assert container["command"] == ["python", "-m", "airgenome.components.run"]


def test_successful_pod_lifecycle_logs_then_delete(dag_result: DagResult) -> None:
    (pod,) = _pods(dag_result, "train")
    name = pod["metadata"]["name"]
    cluster = dag_result.cluster
    assert cluster.history(name) == ["Pending", "Running", "Succeeded"]
    log_reads = cluster.calls("GET", f"/pods/{name}/log")
    assert log_reads, "the operator never read the pod log"
    assert log_reads[0].query["follow"] == ["True"]
    assert log_reads[0].query["container"] == ["base"]
    assert [r.path for r in cluster.calls("DELETE", name)] == [f"/api/v1/namespaces/airgenome/pods/{name}"]
    assert cluster.calls("GET", "/events"), "pod events were never listed"
    assert not cluster.pods.get(("airgenome", name))
    # The provider authenticated with the kubeconfig named in the connection's extras.
    assert {r.headers.get("authorization") for r in cluster.requests} == {f"Bearer {TOKEN}"}


def test_failed_pod_fails_the_try_and_each_try_gets_a_fresh_pod(dag_result: DagResult) -> None:
    pods = _pods(dag_result, "broken")
    assert [p["metadata"]["labels"]["try_number"] for p in pods] == ["1", "2"]
    cluster = dag_result.cluster
    for pod in pods:
        name = pod["metadata"]["name"]
        assert cluster.history(name) == ["Pending", "Running", "Failed"]
        patches = cluster.calls("PATCH", name)
        assert patches and patches[0].body == {"metadata": {"labels": {"already_checked": "True"}}}
        assert cluster.calls("DELETE", name)
    assert dag_result.tis["broken"].state == "failed"


def test_store_password_is_nowhere_in_the_pod_the_task_log_or_xcom(dag_result: DagResult) -> None:
    created = dag_result.cluster.created
    assert created and all(PASSWORD not in json.dumps(pod) for pod in created)
    # Every request body that reached "the cluster" too.
    assert all(PASSWORD not in json.dumps(r.body) for r in dag_result.cluster.requests)
    # The pod did print its store URI (resolved from the Secret): the task log shows it masked.
    assert "model store: postgresql://u:***@db/mlflow" in dag_result.output
    assert PASSWORD not in dag_result.output
    assert all(PASSWORD not in value for value in dag_result.xcom_values)
