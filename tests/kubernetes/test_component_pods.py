"""Component steps in kubernetes mode, run for real against the executing stand-in cluster.

A JSON sequence becomes the DAG the loader builds; Airflow runs it (`dag.test()`); each
component step builds its `GenomePodOperator` and the provider's KubernetesPodOperator code
path talks HTTP to the stand-in, which runs the pod's container command
(``python -m airgenome.components.runtime NAME``) as a local process with the pod's env,
store URIs resolved from the cluster's Secret. The result manifest reaches XCom through the
xcom sidecar (exec over WebSocket), the next step reads the table the previous one wrote, and
exit code 99 skips. Nothing of Airflow, the operator or the provider is mocked.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest

from airgenome import settings
from airgenome.components.runtime import ENTRYPOINT
from tests.standin.k8s_api import EMPTY_XCOM, SIDECAR, StandInKubernetes, running_standin

pytestmark = [pytest.mark.integration, pytest.mark.slow]

K8S_VERSION = "1.36.0"  # as tests/kubernetes/test_pod_manifest.py
PIPELINE = "pods-two-steps"
DOCUMENT = {
    "pipelineName": PIPELINE,
    "application": "app",
    "steps": [
        {"stepName": "load", "component": "input.sklearn-dataset", "parameters": {"dataset": "iris", "limit": 30}},
        {"stepName": "train", "component": "train.sklearn-forest",
         "parameters": {"task": "classification", "n_estimators": 3, "save": False},
         "inputs": {"table": "load.table"}},
        [{"stepName": "never", "component": "genome.noop", "parameters": {"skip": True}}],
        {"stepName": "after-skip", "component": "genome.noop"},
    ],
}


@dataclass
class PodRun:
    run_id: str
    state: str
    states: dict[str, str]
    xcom: dict[str, Any]  # task_id -> return_value
    cluster: StandInKubernetes
    lake: Path


def _cluster_secrets(home: Path) -> dict[tuple[str, str], str]:
    """The store Secret the pods reference: a value for every store variable it carries."""
    stores = settings.store_locations(home)
    values = {
        "AIRGENOME_MODEL_STORE_URI": stores.model_store_uri,
        "AIRGENOME_EVALUATION_STORE_URI": stores.evaluation_store_uri,
    }
    return {
        (settings.DEFAULT_STORE_SECRET, key): values[variable]
        for variable, (key, optional) in settings.secret_store_variables().items()
        if not optional
    }


@pytest.fixture(scope="module")
def pod_run(airflow_metadata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PodRun]:
    from airgenome.build.loader import build_dags

    root = tmp_path_factory.mktemp("component-pods")
    home, lake, bundle = root / "home", root / "lake", root / "dags"
    (bundle / "sequences").mkdir(parents=True)
    shutil.copy(settings.REPO_ROOT / "dags" / "sequences_loader.py", bundle)
    (bundle / "sequences" / f"{PIPELINE}.json").write_text(json.dumps(DOCUMENT))
    with running_standin(execute=True, secrets=_cluster_secrets(home), execute_timeout_s=120) as cluster, \
            pytest.MonkeyPatch.context() as patch:
        kubeconfig = cluster.write_kubeconfig(root / "kubeconfig")
        patch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(
            {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig), "in_cluster": False}}))
        # dag.test() syncs the DAG's bundle to the metadata DB: give it a real one.
        patch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(bundle))
        patch.setattr("airflow.settings.DAGS_FOLDER", str(bundle))
        patch.setenv("AIRGENOME_UPLOADS_FOLDER", str(root / "no-uploads"))
        patch.setenv("AIRGENOME_HOME", str(home))
        patch.setenv("AIRGENOME_LAKE_ROOT", str(lake))
        patch.setenv("AIRGENOME_EXECUTION_MODE", "kubernetes")
        patch.setenv("AIRGENOME_ALLOWED_IMAGES", "airgenome/*")
        for name in ("MODEL_STORE_URI", "EVALUATION_STORE_URI", "COMPONENTS_FOLDER"):
            patch.delenv(f"AIRGENOME_{name}", raising=False)
        dags = build_dags(str(bundle / "sequences_loader.py"))
        assert PIPELINE in dags, "the sequence did not validate in kubernetes mode"
        run = dags[PIPELINE].test()
        tis = {ti.task_id: ti for ti in run.get_task_instances()}
        yield PodRun(
            run_id=run.run_id,
            state=str(run.state),
            states={task_id: str(ti.state) for task_id, ti in tis.items()},
            xcom={task_id: ti.xcom_pull(task_ids=task_id) for task_id, ti in tis.items()},
            cluster=cluster,
            lake=lake,
        )


def _register(dag: Any) -> None:
    """Write the DAG to the metadata DB as the DAG processor would (dag.test needs it)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def _pod(run: PodRun, task_id: str) -> dict[str, Any]:
    (pod,) = [p for p in run.cluster.created if p["metadata"]["labels"]["task_id"] == task_id]
    return pod


def _run_output(run: PodRun, step: str, output: str) -> str:
    from airgenome.components import lake

    return f"{lake.run_output_uri(str(run.lake), PIPELINE, run.run_id, step)}/{output}"


def test_a_table_flows_from_one_component_pod_to_the_next(pod_run: PodRun) -> None:
    import hashlib

    import pandas as pd

    from airgenome.components.files import TABLE_FILE, table_schema

    assert pod_run.states["load"] == "success"
    assert pod_run.states["train"] == "success"
    loaded, trained = pod_run.xcom["load"], pod_run.xcom["train"]
    # The manifest the load pod's runtime wrote reached XCom through the sidecar.
    table_uri = f"{_run_output(pod_run, 'load', 'table')}/{TABLE_FILE}"
    assert table_uri.startswith(f"file://{pod_run.lake}/runs/{PIPELINE}/")
    table = Path(table_uri.removeprefix("file://"))
    data = table.read_bytes()
    assert loaded == {
        "component": "input.sklearn-dataset",
        "outcome": "success",
        "message": None,
        "outputs": {"table": {"uri": table_uri, "kind": "table", "metadata": {
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "rows": 30,
            "schema": table_schema(pd.read_parquet(table)),
        }}},
        "metrics": {"rows": 30, "columns": 5},
        "model_version": None,
        "evaluation_ids": [],
        "verdict": None,
    }
    # The train pod got that table as its input and trained on 22 of its 30 rows
    # (test_size 0.25: 8 test rows); without save it announces no model.
    train_env = {e["name"]: e.get("value") for e in _pod(pod_run, "train")["spec"]["containers"][0]["env"]}
    assert json.loads(train_env["AIRGENOME_INPUTS"]) == {"table": loaded["outputs"]["table"]}
    assert trained == {
        "component": "train.sklearn-forest",
        "outcome": "success",
        "message": None,
        "outputs": {},
        "metrics": {"accuracy_test": 1.0, "train_rows": 22},  # the first 30 iris rows: one class
        "model_version": None,
        "evaluation_ids": [],
        "verdict": None,
    }


def test_each_component_pod_ran_its_entrypoint_and_was_read_through_the_sidecar(pod_run: PodRun) -> None:
    cluster = pod_run.cluster
    for task_id, component in (("load", "input.sklearn-dataset"), ("train", "train.sklearn-forest")):
        pod = _pod(pod_run, task_id)
        name = pod["metadata"]["name"]
        base, sidecar = pod["spec"]["containers"]
        assert base["image"] == "airgenome/component-cpu:0.1.0"
        assert base["command"] == [*ENTRYPOINT, component]
        assert sidecar["name"] == SIDECAR
        # Store URIs reach the pod as Secret references; the stand-in resolved them to run it.
        refs = {e["name"] for e in base["env"] if "valueFrom" in e}
        assert {"AIRGENOME_MODEL_STORE_URI", "AIRGENOME_EVALUATION_STORE_URI"} <= refs
        assert cluster.history(name) == ["Pending", "Running", "Succeeded"]
        # The KPO read the manifest, then stopped the sidecar — both through exec.
        execs = [e for e in cluster.execs if e.pod == name]
        assert [e.container for e in execs] == [SIDECAR, SIDECAR]
        assert "cat /airflow/xcom/return.json" in execs[0].command[-1]
        assert json.loads(execs[0].stdout) == pod_run.xcom[task_id]
        assert execs[1].command == ["/bin/sh"] and "kill" in execs[1].stdin
        assert all(e.status == "Success" for e in execs)
        exec_calls = cluster.calls("GET", f"/pods/{name}/exec")
        assert [c.query["container"] for c in exec_calls] == [[SIDECAR], [SIDECAR]]
        # The log the operator followed is the process's real output.
        assert cluster.calls("GET", f"/pods/{name}/log")
        assert cluster.calls("DELETE", name)
    printed = [line for _, _, line in cluster.deleted[("airgenome", _pod(pod_run, "load")["metadata"]["name"])].output]
    assert "airgenome: input.sklearn-dataset succeeded" in printed


def test_skip_outcome_in_kubernetes_mode_skips_the_step_and_its_downstream(pod_run: PodRun) -> None:
    assert pod_run.states["never"] == "skipped"
    assert pod_run.states["after-skip"] == "skipped"  # skipped, not failed, not upstream_failed
    assert pod_run.state == "success"
    pod = _pod(pod_run, "never")
    name = pod["metadata"]["name"]
    stored = pod_run.cluster.deleted[("airgenome", name)]
    assert stored.exit_code == 99  # what the KPO's skip_on_exit_code saw
    assert pod_run.cluster.history(name) == ["Pending", "Running", "Failed"]
    # The runtime's skip manifest still came back through the sidecar.
    (read, _kill) = [e for e in pod_run.cluster.execs if e.pod == name]
    assert json.loads(read.stdout)["outcome"] == "skip"
    assert not [p for p in pod_run.cluster.created if p["metadata"]["labels"]["task_id"] == "after-skip"]


def test_a_pod_whose_secret_is_missing_fails_with_create_container_config_error(
    airflow_metadata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stand-in does what a cluster does with a reference to a Secret it lacks."""
    from datetime import UTC, datetime

    from airflow.sdk import DAG

    from airgenome.operators.categories import BY_CATEGORY

    bundle = tmp_path / "dags"
    bundle.mkdir()
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(bundle))
    monkeypatch.setattr("airflow.settings.DAGS_FOLDER", str(bundle))
    monkeypatch.setenv("AIRGENOME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRGENOME_LAKE_ROOT", str(tmp_path / "lake"))
    monkeypatch.setenv("AIRGENOME_ALLOWED_IMAGES", "airgenome/*")
    with running_standin(execute=True, secrets={}) as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(
            {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig), "in_cluster": False}}))
        with DAG("pods_missing_secret", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC)) as dag:
            BY_CATEGORY["genome"](task_id="noop", component="genome.noop", mode="kubernetes")
        _register(dag)
        run = dag.test()
        (ti,) = run.get_task_instances()
        assert ti.state == "failed"
        (pod,) = cluster.created
        stored = cluster.deleted[("airgenome", pod["metadata"]["name"])]
        assert stored.process is None  # the container never started
        assert stored.config_error == f'secret "{settings.DEFAULT_STORE_SECRET}" not found'
        assert cluster.history(pod["metadata"]["name"]) == ["Pending", "Failed"]


def test_a_descriptor_declared_image_component_renders_a_valid_pod(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airgenome.build.render import build_dag
    from airgenome.components import registry
    from airgenome.operators.pod import render_pod_manifest
    from airgenome.sequence.plan import plan_sequence
    from airgenome.sequence.validate import parse_sequence

    folder = tmp_path / "components"
    folder.mkdir()
    (folder / "dedupe.json").write_text(json.dumps({
        "name": "transform.dedupe",
        "summary": "drop duplicate rows",
        "version": "1.2.0",
        "image": "registry.example/acme/dedupe:1.2.0",
        "command": ["dedupe", "--verbose"],
        "parameters": {"type": "object",
                       "properties": {"key": {"type": "string"}, "keep": {"type": "integer", "minimum": 1}},
                       "required": ["key"], "additionalProperties": False},
        "parameterMapping": {"key": {"env": "DEDUPE_KEY"}, "keep": {"arg": "--keep"}},
        "inputs": {"table": {"kind": "table", "env": "INPUT_TABLE"}},
        "outputs": {"table": {"kind": "table", "env": "OUTPUT_TABLE"}},
    }))
    monkeypatch.setenv("AIRGENOME_COMPONENTS_FOLDER", str(folder))
    monkeypatch.setenv("AIRGENOME_ALLOWED_IMAGES", "registry.example/acme/*,airgenome/*")
    monkeypatch.setenv("AIRGENOME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRGENOME_LAKE_ROOT", "/lake")
    registry.REGISTRY.reload()
    try:
        document = {
            "pipelineName": "dedupe-pods",
            "application": "app",
            "steps": [
                {"stepName": "load", "component": "input.sklearn-dataset", "parameters": {"dataset": "iris"}},
                {"stepName": "dedupe", "component": "transform.dedupe",
                 "parameters": {"key": "species", "keep": 2}, "inputs": {"table": "load.table"}},
            ],
        }
        dag = build_dag(plan_sequence(parse_sequence(document, mode="kubernetes")), fileloc="x.py")
        operator = dag.task_dict["dedupe"]
        assert operator.resolved_mode() == "kubernetes"
        manifest = render_pod_manifest(operator.pod_operator())
    finally:
        monkeypatch.delenv("AIRGENOME_COMPONENTS_FOLDER")
        registry.REGISTRY.reload()
    kubernetes_validate.validate(manifest, K8S_VERSION, strict=True)
    (container,) = manifest["spec"]["containers"]  # no xcom sidecar: the manifest is the operator's
    assert container["image"] == "registry.example/acme/dedupe:1.2.0"
    assert container["command"] == ["dedupe", "--verbose"]
    assert container["args"] == ["--keep", "2"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["DEDUPE_KEY"] == "species"
    assert env["STEP_NAME"] == "dedupe" and env["PIPELINE_NAME"] == "dedupe-pods"
    assert json.loads(env["PARAMETERS"]) == {"key": "species", "keep": 2}
    assert manifest["metadata"]["labels"]["airgenome.io/step"] == "dedupe"
    assert registry.resolve("transform.dedupe") is None  # the registry is back to the shipped one


def test_the_exec_endpoint_answers_an_empty_result_and_refuses_other_containers(
    tmp_path: Path,
) -> None:
    """The provider's own read of a pod that wrote no manifest: its "empty" marker."""
    from kubernetes import client, config
    from kubernetes.stream import stream

    with running_standin(execute=True) as cluster:
        api = client.CoreV1Api(config.new_client_from_config(str(cluster.write_kubeconfig(tmp_path / "kc"))))
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "quiet", "labels": {}},
                "spec": {"containers": [
                    {"name": "base", "image": "x", "command": ["python", "-c", "print('hello from the pod')"]},
                    {"name": SIDECAR, "image": "alpine", "command": ["sh", "-c", "sleep 1"]}]}}
        api.create_namespaced_pod("ns", body)
        answer = stream(api.connect_get_namespaced_pod_exec, "quiet", "ns", container=SIDECAR,
                        command=["/bin/sh", "-c", "if [ -s /airflow/xcom/return.json ]; then cat /airflow/xcom/return.json; "
                                 f"else echo {EMPTY_XCOM}; fi"],
                        stdin=False, stdout=True, stderr=True, tty=False)
        assert answer.strip() == EMPTY_XCOM
        # Refused before the upgrade (the client then fails decoding the bodiless ApiException).
        with pytest.raises((client.ApiException, AttributeError)) as refused:
            stream(api.connect_get_namespaced_pod_exec, "quiet", "ns", container="base", command=["ls"],
                   stdin=False, stdout=True, stderr=True, tty=False)
        assert "exec only into airflow-xcom-sidecar" in str(refused.value.__context__ or refused.value)
        assert [e.container for e in cluster.execs] == [SIDECAR]
        logs = api.read_namespaced_pod_log("quiet", "ns", container="base", follow=True, _preload_content=False)
        assert logs.data.decode() == "hello from the pod\n"  # the process's real output
        pod = api.read_namespaced_pod("quiet", "ns")
        statuses = {s.name: s.state for s in pod.status.container_statuses}
        assert statuses["base"].terminated.exit_code == 0
        assert statuses[SIDECAR].running is not None and pod.status.phase == "Running"


def test_a_pod_process_is_bounded_killed_on_delete_and_after_the_timeout(tmp_path: Path) -> None:
    from kubernetes import client, config

    def body(name: str) -> dict[str, Any]:
        return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {}},
                "spec": {"containers": [{"name": "base", "image": "x",
                                         "command": ["python", "-c", "import time; print('up', flush=True); time.sleep(60)"]}]}}

    with running_standin(execute=True, execute_timeout_s=2) as cluster:
        api = client.CoreV1Api(config.new_client_from_config(str(cluster.write_kubeconfig(tmp_path / "kc"))))
        api.create_namespaced_pod("ns", body("slow"))
        api.create_namespaced_pod("ns", body("doomed"))
        api.delete_namespaced_pod("doomed", "ns")
        doomed = cluster.deleted[("ns", "doomed")]
        logs = api.read_namespaced_pod_log("slow", "ns", container="base", follow=True, _preload_content=False)
        assert logs.data.decode() == "up\n"  # the followed log ended when the timeout killed it
        (status,) = api.read_namespaced_pod("slow", "ns").status.container_statuses
        assert status.state.terminated.exit_code == 137  # SIGKILL, as the kubelet reports it
        assert "ran longer than 2 s" in status.state.terminated.message
        assert cluster.history("slow") == ["Pending", "Running", "Failed"]
        assert doomed.process is not None and doomed.process.wait(timeout=5) == -9
        assert doomed.killed_because == "its pod was deleted"
