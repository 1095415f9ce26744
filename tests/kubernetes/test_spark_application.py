"""spark.apply in kubernetes mode: a SparkApplication through the provider's SparkKubernetesOperator.

Airflow runs a JSON sequence (`dag.test()`) in kubernetes mode against the stand-in cluster,
which plays the spark-operator (`tests.standin.spark_operator`). The load step is a pod. Each
spark step submits its SparkApplication through `GenomeSparkOperator`; the stand-in creates the
driver pod, runs the driver (the component runtime, Spark ``local[*]`` standing for the
executors) and moves the application SUBMITTED -> RUNNING -> COMPLETED / FAILED. The result
manifest comes back through the lake. Nothing of Airflow, the operator or the provider is mocked.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from airgenome import settings
from airgenome.components.data.spark_application import application_name, validate_manifest
from tests.standin.k8s_api import FAULT_ANNOTATION, StandInKubernetes, running_standin
from tests.standin.spark_operator import DRIVER_CONTAINER, application_history

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PIPELINE = "spark-pods"
NAMESPACE = "airgenome"
PREDICATE = "(metadata.alcohol > 13) & (metadata.target != 1)"
EXPRESSION = "x * 2 + metadata.ash"
DOCUMENT = {
    "pipelineName": PIPELINE,
    "application": "app",
    "steps": [
        {"stepName": "load", "component": "input.sklearn-dataset", "parameters": {"dataset": "wine"}},
        [
            {"stepName": "spark", "component": "spark.apply", "inputs": {"table": "load.table"},
             "parameters": {"predicate": PREDICATE, "column": "malic_acid", "expression": EXPRESSION,
                            "output_column": "acid_score"}},
            {"stepName": "broken", "component": "spark.apply", "inputs": {"table": "load.table"},
             "parameters": {"predicate": "metadata.alcohol > 13"}},
            {"stepName": "unpullable", "component": "spark.apply", "inputs": {"table": "load.table"},
             "parameters": {"predicate": "metadata.alcohol > 13"}},
        ],
    ],
}
# The trigger overrides the broken step's predicate with one the runtime refuses (exit 2).
CONF = {"steps": {"broken": {"parameters": {"predicate": "__import__('os')"}}}}
# Production-like store locations: the URIs carry a password (the stores are never opened here).
PASSWORD = "sp4rkpw"
STORES = {
    "AIRGENOME_MODEL_STORE_URI": f"postgresql://u:{PASSWORD}@db/mlflow",
    "AIRGENOME_EVALUATION_STORE_URI": f"postgresql://genome:{PASSWORD}@db:5432/evaluations",
}
CLUSTER_SECRETS = {
    ("airgenome-stores", "model-store-uri"): STORES["AIRGENOME_MODEL_STORE_URI"],
    ("airgenome-stores", "evaluation-store-uri"): STORES["AIRGENOME_EVALUATION_STORE_URI"],
}


@dataclass
class SparkRun:
    run_id: str
    states: dict[str, str]
    tries: dict[str, int]
    xcom: dict[str, Any]
    cluster: StandInKubernetes
    lake: Path
    output: str  # the task logs of dag.test
    genome: dict[str, dict[str, str]]  # task id -> its Genome contract environment in this run


@pytest.fixture(scope="module")
def spark_run(airflow_metadata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SparkRun]:
    from airgenome.build.loader import build_dags
    from airgenome.sequence.contract import step_environment
    from tests.captured import CapturedOutput

    root = tmp_path_factory.mktemp("spark-pods")
    home, lake, bundle = root / "home", root / "lake", root / "dags"
    (bundle / "sequences").mkdir(parents=True)
    shutil.copy(settings.REPO_ROOT / "dags" / "sequences_loader.py", bundle)
    (bundle / "sequences" / f"{PIPELINE}.json").write_text(json.dumps(DOCUMENT))
    with running_standin(execute=True, secrets=CLUSTER_SECRETS, execute_timeout_s=240) as cluster, \
            pytest.MonkeyPatch.context() as patch:
        kubeconfig = cluster.write_kubeconfig(root / "kubeconfig")
        submit = cluster.object_hooks["sparkapplications"]

        def unpullable_driver(cluster: StandInKubernetes, app: dict[str, Any]) -> None:
            if app["metadata"]["labels"]["airgenome.io/step"] == "unpullable":  # its image cannot be pulled
                app["spec"]["driver"]["annotations"] = {FAULT_ANNOTATION: "ImagePullBackOff"}
            submit(cluster, app)

        patch.setitem(cluster.object_hooks, "sparkapplications", unpullable_driver)
        patch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(
            {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig), "in_cluster": False}}))
        patch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(bundle))
        patch.setattr("airflow.settings.DAGS_FOLDER", str(bundle))
        patch.setenv("AIRGENOME_UPLOADS_FOLDER", str(root / "no-uploads"))
        patch.setenv("AIRGENOME_HOME", str(home))
        patch.setenv("AIRGENOME_LAKE_ROOT", str(lake))
        patch.setenv("AIRGENOME_EXECUTION_MODE", "kubernetes")
        patch.setenv("AIRGENOME_ALLOWED_IMAGES", "airgenome/*")
        for name, value in STORES.items():
            patch.setenv(name, value)
        patch.delenv("AIRGENOME_COMPONENTS_FOLDER", raising=False)
        dag = build_dags(str(bundle / "sequences_loader.py"))[PIPELINE]
        with CapturedOutput() as captured:
            run = dag.test(run_conf=CONF)
        tis = {ti.task_id: ti for ti in run.get_task_instances()}
        yield SparkRun(
            run_id=run.run_id,
            states={task_id: str(ti.state) for task_id, ti in tis.items()},
            tries={task_id: ti.try_number for task_id, ti in tis.items()},
            xcom={task_id: ti.xcom_pull(task_ids=task_id) for task_id, ti in tis.items()},
            cluster=cluster,
            lake=lake,
            output=captured.text,
            genome={task_id: step_environment(task.contract, run.run_id, CONF) for task_id, task in dag.task_dict.items()},
        )


def _submitted(run: SparkRun, step: str) -> dict[str, Any]:
    """The SparkApplication as it reached the API server (the request body)."""
    (request,) = [
        r for r in run.cluster.calls("POST", f"/apis/sparkoperator.k8s.io/v1beta2/namespaces/{NAMESPACE}/sparkapplications")
        if r.body["metadata"]["labels"]["airgenome.io/step"] == step
    ]
    body: dict[str, Any] = request.body
    return body


def _name(run: SparkRun, step: str) -> str:
    return application_name(PIPELINE, step, f"{run.run_id}/1")


def _run_output(run: SparkRun, step: str) -> str:
    from airgenome.components import lake

    return lake.run_output_uri(str(run.lake), PIPELINE, run.run_id, step)


def test_the_spark_application_that_reaches_the_cluster(spark_run: SparkRun) -> None:
    from airflow.providers.cncf.kubernetes.pod_generator import make_safe_label_value

    app = _submitted(spark_run, "spark")
    validate_manifest(app)  # the strict CRD schema: exactly what was created
    name = _name(spark_run, "spark")
    task_labels = {
        "dag_id": PIPELINE, "task_id": "spark", "run_id": make_safe_label_value(spark_run.run_id),
        "spark_kubernetes_operator": "True", "try_number": "1",
    }
    ours = {"app.kubernetes.io/managed-by": "airgenome", "airgenome.io/pipeline": PIPELINE, "airgenome.io/step": "spark"}
    assert app["apiVersion"] == "sparkoperator.k8s.io/v1beta2" and app["kind"] == "SparkApplication"
    assert app["metadata"] == {"name": name, "namespace": NAMESPACE, "labels": ours}
    spec = app["spec"]
    assert {k: v for k, v in spec.items() if k not in ("driver", "executor")} == {
        "type": "Python",
        "pythonVersion": "3",
        "mode": "cluster",
        "image": "airgenome/component-spark:0.1.0",
        "imagePullPolicy": "IfNotPresent",
        "mainApplicationFile": "local:///opt/airgenome/venv/lib/python3.11/site-packages/airgenome/components/runtime.py",
        "arguments": ["spark.apply"],
        "sparkVersion": "4.0.0",
        "sparkConf": {"spark.sql.session.timeZone": "UTC", "spark.sql.ansi.enabled": "false"},
        "restartPolicy": {"type": "Never"},
    }  # no spec.labels: the provider's copy is dropped (not a SparkApplication field)
    assert spec["executor"] == {
        "instances": 2, "cores": 1, "memory": "2g", "labels": {**ours, **task_labels},
        "env": [{"name": "SPARK_APPLICATION_NAME", "value": name}],
    }
    driver = spec["driver"]
    assert {k: v for k, v in driver.items() if k != "env"} == {
        "cores": 1, "memory": "1g", "serviceAccount": "spark", "labels": {**ours, **task_labels},
    }
    literal = {e["name"]: e["value"] for e in driver["env"] if "value" in e}
    output = _run_output(spark_run, "spark")
    assert json.loads(literal.pop("PARAMETERS")) == {
        "predicate": PREDICATE, "column": "malic_acid", "expression": EXPRESSION, "output_column": "acid_score",
        "master": "submit",  # the driver's session takes spark-submit's master
    }
    assert json.loads(literal.pop("AIRGENOME_INPUTS")) == {"table": spark_run.xcom["load"]["outputs"]["table"]}
    genome = {k: v for k, v in spark_run.genome["spark"].items() if k not in ("PARAMETERS", *STORES)}
    assert genome["PIPELINE_RUNID"] == spark_run.run_id and genome["STEP_NAME"] == "spark"
    assert literal == {
        **genome,  # the Genome contract of this run, less the store URIs
        "AIRGENOME_OUTPUT_URI": output,
        "AIRGENOME_RESULT_PATH": f"{output.removeprefix('file://')}/result.json",
        "AIRGENOME_LAKE_ROOT": f"file://{spark_run.lake}",
        "AIRGENOME_GPUS": "0",
        "AIRGENOME_IGNORE_UNKNOWN_PARAMETERS": "0",
        "SPARK_APPLICATION_NAME": name,  # added by the provider
    }
    # Credentials only as references to the store Secret, never as values.
    assert {e["name"]: e["valueFrom"] for e in driver["env"] if "valueFrom" in e} == {
        "AIRGENOME_MODEL_STORE_URI": {"secretKeyRef": {"name": "airgenome-stores", "key": "model-store-uri"}},
        "AIRGENOME_EVALUATION_STORE_URI": {"secretKeyRef": {"name": "airgenome-stores", "key": "evaluation-store-uri"}},
        "AIRGENOME_MODEL_REGISTRY_URI": {"secretKeyRef": {"name": "airgenome-stores", "key": "model-registry-uri", "optional": True}},
    }
    assert all(PASSWORD not in json.dumps(r.body) for r in spark_run.cluster.requests)


def test_a_completed_application_returns_the_manifest_and_the_rows_pandas_keeps(spark_run: SparkRun) -> None:
    import hashlib

    import pandas as pd

    from airgenome.components.data import expressions as ex
    from airgenome.components.files import TABLE_FILE, read_table, table_schema

    assert spark_run.states["spark"] == "success"
    table_uri = f"{_run_output(spark_run, 'spark')}/table/{TABLE_FILE}"
    data = Path(table_uri.removeprefix("file://")).read_bytes()
    got = read_table(table_uri)
    # pandas on the same input table, with the same plans
    frame = read_table(spark_run.xcom["load"]["outputs"]["table"]["uri"])
    expected = frame[ex.predicate_mask(ex.compile_predicate(PREDICATE), frame).to_numpy()].reset_index(drop=True)
    expected["acid_score"] = ex.evaluate(ex.compile_expression(EXPRESSION), expected, expected["malic_acid"])
    pd.testing.assert_frame_equal(got, expected, check_dtype=False)
    assert len(got) == 84  # of wine's 178 rows
    assert spark_run.xcom["spark"] == {
        "component": "spark.apply",
        "outcome": "success",
        "message": None,
        "outputs": {"table": {"uri": table_uri, "kind": "table", "metadata": {
            "bytes": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "rows": 84,
            "schema": table_schema(pd.read_parquet(Path(table_uri.removeprefix("file://")))),
        }}},
        "metrics": {"rows_in": 178, "rows_out": 84, "master": "submit"},
        "model_version": None,
        "evaluation_ids": [],
        "verdict": None,
    }


def test_the_stand_in_played_the_spark_operator(spark_run: SparkRun) -> None:
    cluster = spark_run.cluster
    name = _name(spark_run, "spark")
    assert application_history(cluster, NAMESPACE, name) == ["SUBMITTED", "RUNNING", "COMPLETED"]
    # The driver pod: spark-submit's shape, run for real, gone with its application.
    driver = cluster.deleted[(NAMESPACE, f"{name}-driver")]
    assert cluster.history(f"{name}-driver") == ["Pending", "Running", "Succeeded"]
    labels = driver.manifest["metadata"]["labels"]
    assert labels["spark-role"] == "driver" and labels["sparkoperator.k8s.io/app-name"] == name
    (container,) = driver.manifest["spec"]["containers"]
    assert container["name"] == DRIVER_CONTAINER
    assert container["args"][-2:] == [
        "local:///opt/airgenome/venv/lib/python3.11/site-packages/airgenome/components/runtime.py", "spark.apply",
    ]
    assert driver.env is not None and driver.env["AIRGENOME_MODEL_STORE_URI"] == STORES["AIRGENOME_MODEL_STORE_URI"]
    assert "airgenome: spark.apply succeeded" in [line for _, _, line in driver.output]
    # The provider followed the driver's log, then deleted the application.
    assert cluster.calls("GET", f"/pods/{name}-driver/log")
    assert cluster.calls("DELETE", f"/sparkapplications/{name}")
    assert cluster.custom_objects("sparkapplications") == []


def test_a_failed_application_fails_the_task_with_the_operators_error(spark_run: SparkRun) -> None:
    name = _name(spark_run, "broken")
    assert spark_run.states["broken"] == "failed"
    assert spark_run.tries["broken"] == 1  # exit 2, bad parameters: not retried
    assert application_history(spark_run.cluster, NAMESPACE, name) == ["SUBMITTED", "RUNNING", "FAILED"]
    assert (f"step 'broken': SparkApplication {NAMESPACE}/{name} FAILED: "
            "driver container failed with ExitCode: 2, Reason: Error") in spark_run.output
    driver = spark_run.cluster.deleted[(NAMESPACE, f"{name}-driver")]
    assert any("__import__" in line for _, _, line in driver.output)  # the runtime's refusal, in the log
    assert PASSWORD not in spark_run.output


def test_a_driver_that_never_starts_fails_the_task_and_leaves_nothing_behind(spark_run: SparkRun) -> None:
    name = _name(spark_run, "unpullable")
    cluster = spark_run.cluster
    assert spark_run.states["unpullable"] == "failed"
    assert application_history(cluster, NAMESPACE, name) == ["SUBMITTED"]
    assert (f"step 'unpullable': SparkApplication {NAMESPACE}/{name} did not start: Spark Job Failed. "
            'Status: ImagePullBackOff, Error: Back-off pulling image "airgenome/component-spark:0.1.0"') in spark_run.output
    driver = cluster.deleted[(NAMESPACE, f"{name}-driver")]  # deleted with its application
    assert driver.process is None and cluster.history(f"{name}-driver") == ["Pending"]
    assert cluster.calls("DELETE", f"/sparkapplications/{name}")


def test_the_stand_in_spark_operator_through_the_client(cluster: StandInKubernetes, tmp_path: Path) -> None:
    """Without execute mode the driver pod lives as any simulated pod; the application follows it."""
    from kubernetes import client, config
    from kubernetes.client.exceptions import ApiException

    from airgenome.components.data.spark_application import render_manifest
    from tests.kubernetes.conftest import FAILING_IMAGE

    api_client = config.new_client_from_config(config_file=str(cluster.write_kubeconfig(tmp_path / "config")))
    objects, core = client.CustomObjectsApi(api_client), client.CoreV1Api(api_client)
    group, version, plural = "sparkoperator.k8s.io", "v1beta2", "sparkapplications"

    def state(name: str) -> dict[str, Any]:
        found: dict[str, Any] = objects.get_namespaced_custom_object_status(group, version, "ns", plural, name)
        return dict(found["status"]["applicationState"])

    for name, image in (("good", "airgenome/component-spark:0.1.0"), ("bad", FAILING_IMAGE)):
        app = render_manifest(name=name, namespace="ns", image=image, environment={"STEP_NAME": name},
                              secret_environment={"TOKEN": {"name": "creds", "key": "token"}})
        created = objects.create_namespaced_custom_object(group, version, "ns", plural, app)
        assert created["status"]["applicationState"] == {"state": "SUBMITTED"}
        assert created["status"]["driverInfo"] == {"podName": f"{name}-driver"}
        pod = core.read_namespaced_pod(f"{name}-driver", "ns")  # the first read: still Pending
        assert pod.metadata.labels["spark-role"] == "driver"
        assert pod.metadata.owner_references[0].uid == created["metadata"]["uid"]
        assert state(name) == {"state": "SUBMITTED"}
        core.read_namespaced_pod(f"{name}-driver", "ns")  # Running
        assert state(name) == {"state": "RUNNING"}
        core.read_namespaced_pod_log(f"{name}-driver", "ns", container=DRIVER_CONTAINER, follow=True)  # it exits
    assert state("good") == {"state": "COMPLETED"}
    assert state("bad") == {"state": "FAILED", "errorMessage": "driver container failed with ExitCode: 1, Reason: Error"}
    assert application_history(cluster, "ns", "bad") == ["SUBMITTED", "RUNNING", "FAILED"]
    objects.delete_namespaced_custom_object(group, version, "ns", plural, "good")
    with pytest.raises(ApiException) as gone:
        core.read_namespaced_pod("good-driver", "ns")  # the garbage collector took it
    assert gone.value.status == 404
    assert [p["metadata"]["name"] for p in cluster.created] == ["good-driver", "bad-driver"]
