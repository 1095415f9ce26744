"""A step's pod that never starts or is killed: the task fails with an error naming the cause.

The provider's KubernetesPodOperator runs unmocked against the stand-in cluster, which plays
each fault on request (the ``standin.airgenome.io/fault`` annotation) with the statuses and
events a kubelet and scheduler report. Unchanged, the provider fails all four tasks with
"Pod <name> returned a failure." (its start-up error is only the chained exception);
`GenomePodOperator` raises `PodStepFailed` naming the cause. One DAG, one `dag.test()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.captured import CapturedOutput
from tests.faults.helpers import register, task_error
from tests.kubernetes.conftest import make_contract
from tests.standin.k8s_api import FAULT_ANNOTATION, StandInKubernetes, running_standin

pytestmark = [pytest.mark.integration, pytest.mark.slow]

IMAGE = "registry.example/airgenome/component:1"
MISSING_IMAGE = "registry.example/airgenome/no-such-image:9"
STARTUP_TIMEOUT_S = 2  # the provider's start-up / schedule timeouts, kept short for the test


@dataclass
class FaultRun:
    states: dict[str, str]
    tries: dict[str, int]
    output: str
    cluster: StandInKubernetes
    xcom_task_ids: set[str]


@pytest.fixture(scope="module")
def fault_run(airflow_metadata: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FaultRun]:
    from airflow import settings as airflow_settings
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.sdk import DAG

    from airgenome.operators.pod import GenomePodOperator

    root = tmp_path_factory.mktemp("pod-faults")
    with running_standin() as cluster, pytest.MonkeyPatch.context() as patch:
        kubeconfig = cluster.write_kubeconfig(root / "kubeconfig")
        patch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(
            {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig), "in_cluster": False}}))
        patch.setenv("AIRGENOME_HOME", str(root / "home"))
        patch.setenv("AIRGENOME_ALLOWED_IMAGES", "registry.example/airgenome/*")
        with DAG("airgenome_pod_faults", schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC)) as dag:
            for task_id, fault, image in (
                ("pull", "ImagePullBackOff", MISSING_IMAGE),
                ("unschedulable", "Unschedulable", IMAGE),
                ("stuck", "ContainerCreating", IMAGE),
                ("oom", "OOMKilled", IMAGE),
            ):
                GenomePodOperator(
                    task_id=task_id,
                    image=image,
                    contract=make_contract(task_id),
                    memory="256Mi",
                    annotations={FAULT_ANNOTATION: fault},
                    startup_timeout_seconds=STARTUP_TIMEOUT_S,
                    startup_check_interval_seconds=1,
                )
        register(dag)
        with CapturedOutput() as captured:
            run = dag.test()
        session = airflow_settings.Session()
        tis = session.query(TaskInstance).filter_by(dag_id=dag.dag_id, run_id=run.run_id).all()
        xcoms = session.query(XComModel).filter_by(dag_id=dag.dag_id, run_id=run.run_id, key="return_value").all()
        yield FaultRun(
            states={ti.task_id: str(ti.state) for ti in tis},
            tries={ti.task_id: ti.try_number for ti in tis},
            output=captured.text,
            cluster=cluster,
            xcom_task_ids={x.task_id for x in xcoms},
        )
        session.close()


def _error(run: FaultRun, step: str) -> str:
    return task_error(run.output, "PodStepFailed", step)


def _pods(run: FaultRun, task_id: str) -> list[dict[str, Any]]:
    return [p for p in run.cluster.created if p["metadata"]["labels"]["task_id"] == task_id]


def test_image_pull_back_off_names_the_image_and_the_pull_error(fault_run: FaultRun) -> None:
    assert fault_run.states["pull"] == "failed"
    assert _error(fault_run, "pull") == (
        f"the pod never started: its image {MISSING_IMAGE!r} cannot be pulled (ImagePullBackOff): "
        f'Failed to pull image "{MISSING_IMAGE}": rpc error: code = NotFound desc = failed to pull and '
        f'unpack image "{MISSING_IMAGE}": not found'
    )


def test_an_unschedulable_pod_names_the_schedulers_reason(fault_run: FaultRun) -> None:
    assert fault_run.states["unschedulable"] == "failed"
    assert _error(fault_run, "unschedulable") == (
        f"the pod was never scheduled within the {STARTUP_TIMEOUT_S}s schedule timeout (schedule_timeout_seconds): "
        "Unschedulable: 0/1 nodes are available: 1 Insufficient memory. preemption: 0/1 nodes are "
        "available: 1 No preemption victims found for incoming pod."
    )


def test_pending_past_the_startup_timeout_names_the_waiting_reason_and_the_event(fault_run: FaultRun) -> None:
    assert fault_run.states["stuck"] == "failed"
    assert _error(fault_run, "stuck") == (
        f"the pod was still Pending after the {STARTUP_TIMEOUT_S}s start-up timeout (startup_timeout_seconds): "
        "container 'base' waiting in ContainerCreating; last warning event: FailedMount: MountVolume.SetUp "
        'failed for volume "lake" : mount failed: exit status 32: mount.nfs: Connection timed out'
    )


def test_an_oom_killed_container_names_oomkilled_and_the_memory_limit(fault_run: FaultRun) -> None:
    assert fault_run.states["oom"] == "failed"
    error = _error(fault_run, "oom")
    assert error.startswith(
        "the container was killed for using more than its memory limit 256Mi (OOMKilled, exit code 137); "
        "raise the step's resources.memory; last log lines:\n  genome step oom (training) of credit-risk"
    ), error


def test_no_fault_leaves_a_pod_or_a_result_behind(fault_run: FaultRun) -> None:
    """Each failed pod was deleted, none announced a result, and nothing was retried blindly."""
    assert set(fault_run.states) == {"pull", "unschedulable", "stuck", "oom"}
    assert fault_run.tries == dict.fromkeys(fault_run.states, 1)
    for task_id in fault_run.states:
        (pod,) = _pods(fault_run, task_id)
        assert ("airgenome", pod["metadata"]["name"]) in fault_run.cluster.deleted
    assert fault_run.cluster.pods == {}
    assert fault_run.xcom_task_ids == set()
    # The provider's own generic line is still in the chained traceback, not the task's error.
    assert "returned a failure." in fault_run.output
