"""The lake's disk full: the step fails with an error naming it, no partial file is left (the
space a failed write took is given back), and no output of the failed step is announced.

Two ways to fill the disk; the component test runs with both, the runs through Airflow (pods,
and local mode in a fresh Python or forked by the warm runtime) with the injected one (the tmpfs
run through Airflow passed too, but took ~20 s more for nothing new):

- ``tmpfs``: the lake is a real 64 KiB tmpfs, so ``ENOSPC`` comes from the kernel. Mounting
  needs root (``mount -t tmpfs``); where that is refused the case is skipped.
- ``injected``: ``ENOSPC`` raised at fsspec's local file write, the one boundary every
  component output goes through, after the bytes that fit were written (as a full disk does).
  This runs everywhere, deterministically. `RLIMIT_FSIZE` was not used: it raises ``EFBIG``
  ("File too large"), a different error from the one users meet.

Both write real files; the component and the runtime are unmodified.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest

from tests.captured import CapturedOutput
from tests.faults.full_disk import install, tiny_tmpfs, wrapper_script
from tests.faults.helpers import register, task_error

ENOSPC = "OSError: [Errno 28] No space left on device"
FREE_BYTES = 32 * 1024  # injected: room for a small table (iris, 5 rows), not a big one
SMALL = {"dataset": "iris", "limit": 5}  # ~3 KiB of Parquet
BIG = {"dataset": "breast_cancer"}  # ~140 KiB of Parquet
PIPELINE = "airgenome_full_lake"


@dataclass
class FullLake:
    how: str  # "tmpfs" or "injected"
    root: Path


@pytest.fixture(params=["tmpfs", "injected"])
def full_lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FullLake]:
    with tiny_tmpfs(tmp_path / "lake") as mounted:
        if request.param == "tmpfs" and mounted is None:
            pytest.skip("mounting a tmpfs is not permitted here (needs root); the injected case runs")
        yield FullLake(request.param, tmp_path / "lake" if request.param == "tmpfs" else tmp_path / "lake-injected")


def _files(root: Path) -> list[str]:
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def test_a_component_writing_to_a_full_lake_fails_naming_enospc_and_leaves_nothing(
    full_lake: FullLake, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    from airgenome.components import lake, runtime

    root = full_lake.root
    root.mkdir(exist_ok=True)
    result = tmp_path / "result.json"
    output = lake.run_output_uri(str(root), "faults", "run-1", "load")
    env = {
        "PARAMETERS": json.dumps(BIG),
        "PIPELINE_NAME": "faults",
        "PIPELINE_RUNID": "run-1",
        "STEP_NAME": "load",
        runtime.LAKE_VARIABLE: str(root),
        runtime.OUTPUT_VARIABLE: output,
        runtime.RESULT_VARIABLE: str(result),
        "AIRGENOME_HOME": str(tmp_path / "home"),
    }

    undo = install(str(root), FREE_BYTES) if full_lake.how == "injected" else None
    try:
        code = runtime.main(["input.sklearn-dataset"], env)
    finally:
        if undo is not None:
            undo()

    stderr = capfd.readouterr().err
    assert code == runtime.EXIT_FAILED
    assert stderr.rstrip().splitlines()[-1] == f"airgenome: input.sklearn-dataset failed: {ENOSPC}"
    assert not result.exists()  # no result manifest: nothing to announce
    assert _files(root) == []  # no table, and the partial temporary file was removed
    if full_lake.how == "tmpfs":
        usage = os.statvfs(root)
        assert usage.f_bfree == usage.f_blocks  # the space the failed write took is free again


@dataclass
class LakeRun:
    dag_id: str
    states: dict[str, str]
    output: str
    events: dict[str, list[dict[str, object]]]  # asset name -> extras of its events
    xcom_task_ids: set[str]
    lake: Path


def _two_steps(dag_id: str, mode: str, lake_root: Path) -> LakeRun:
    """A small table that fits, then a big one that does not, through Airflow's real task
    runner (`dag.test()`); what Airflow recorded of them."""
    from airflow import settings as airflow_settings
    from airflow.models.asset import AssetEvent, AssetModel
    from airflow.models.taskinstance import TaskInstance
    from airflow.models.xcom import XComModel
    from airflow.sdk import DAG

    from airgenome.operators.categories import BY_CATEGORY

    with DAG(dag_id, schedule=None, start_date=datetime(2025, 1, 1, tzinfo=UTC)) as dag:
        small = BY_CATEGORY["input"](task_id="small", component="input.sklearn-dataset", parameters=SMALL, mode=mode)
        big = BY_CATEGORY["input"](task_id="big", component="input.sklearn-dataset", parameters=BIG, mode=mode)
        small >> big
    register(dag)
    with CapturedOutput() as captured:
        run = dag.test()
    session = airflow_settings.Session()
    try:
        tis = session.query(TaskInstance).filter_by(dag_id=dag_id, run_id=run.run_id).all()
        events: dict[str, list[dict[str, object]]] = {}
        for task in (small, big):
            (asset,) = task.outlets
            model = session.query(AssetModel).filter_by(name=asset.name).one_or_none()
            rows = session.query(AssetEvent).filter_by(asset_id=model.id).all() if model is not None else []
            events[asset.name] = [dict(row.extra or {}) for row in rows]
        xcoms = session.query(XComModel).filter_by(dag_id=dag_id, run_id=run.run_id, key="return_value").all()
        return LakeRun(
            dag_id=dag_id,
            states={ti.task_id: str(ti.state) for ti in tis},
            output=captured.text,
            events=events,
            xcom_task_ids={x.task_id for x in xcoms},
            lake=lake_root,
        )
    finally:
        session.close()


def _lake_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "lake"
    root.mkdir()
    bundle = tmp_path / "dags"
    bundle.mkdir()
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(bundle))
    monkeypatch.setattr("airflow.settings.DAGS_FOLDER", str(bundle))
    monkeypatch.setenv("AIRGENOME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRGENOME_LAKE_ROOT", str(root))
    return root


@pytest.fixture
def full_lake_run(airflow_metadata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> LakeRun:
    """Two component pods (kubernetes mode, the executing stand-in) whose lake disk is full."""
    from airgenome import settings
    from tests.standin.k8s_api import running_standin

    root = _lake_environment(tmp_path, monkeypatch)
    stores = settings.store_locations(tmp_path / "home")
    values = {"AIRGENOME_MODEL_STORE_URI": stores.model_store_uri,
              "AIRGENOME_EVALUATION_STORE_URI": stores.evaluation_store_uri}
    secrets = {(settings.DEFAULT_STORE_SECRET, key): values[variable]
               for variable, (key, optional) in settings.secret_store_variables().items() if not optional}
    python = wrapper_script(tmp_path, str(root), FREE_BYTES)  # each pod's "image" has a full lake disk
    monkeypatch.setenv("AIRGENOME_ALLOWED_IMAGES", "airgenome/*")
    for name in ("MODEL_STORE_URI", "EVALUATION_STORE_URI"):
        monkeypatch.delenv(f"AIRGENOME_{name}", raising=False)
    with running_standin(execute=True, secrets=secrets, execute_timeout_s=120, python=str(python)) as cluster:
        kubeconfig = cluster.write_kubeconfig(tmp_path / "kubeconfig")
        monkeypatch.setenv("AIRFLOW_CONN_KUBERNETES_DEFAULT", json.dumps(
            {"conn_type": "kubernetes", "extra": {"kube_config_path": str(kubeconfig), "in_cluster": False}}))
        return _two_steps(PIPELINE, "kubernetes", root)


@pytest.fixture(params=["fresh", "warm"])
def local_full_lake_run(
    request: pytest.FixtureRequest, airflow_metadata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[LakeRun]:
    """The same two steps in local mode, where the worker's machine has the full disk: run by a
    fresh Python (the `python` the step starts is the full-disk one) or forked by a warm
    runtime that was started on that disk."""
    import subprocess

    from airgenome.embedded.stack import EmbeddedStack
    from tests.processes import stop_process
    from tests.waiting import wait_until

    root = _lake_environment(tmp_path, monkeypatch)
    python = wrapper_script(tmp_path, str(root), FREE_BYTES)
    server = None
    if request.param == "fresh":
        monkeypatch.delenv("AIRGENOME_WARM_RUNTIME_SOCKET", raising=False)
        monkeypatch.setattr("sys.executable", str(python))
    else:
        socket_path = tmp_path / "run" / "warm.sock"
        server = subprocess.Popen(
            [str(python), "-m", "airgenome.components.warm", "--socket", str(socket_path), "--preload", "pandas"],
            env=EmbeddedStack._environment("warm-runtime", dict(os.environ)),
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        wait_until(socket_path.exists, timeout_s=120, what="the warm runtime's socket")
        monkeypatch.setenv("AIRGENOME_WARM_RUNTIME_SOCKET", str(socket_path))
    try:
        yield _two_steps(f"{PIPELINE}_{request.param}", "local", root)
    finally:
        if server is not None:
            stop_process(server)


@pytest.mark.integration
@pytest.mark.slow
def test_a_step_on_a_full_lake_fails_clearly_and_announces_nothing(full_lake_run: LakeRun) -> None:
    run = full_lake_run
    assert run.states == {"small": "success", "big": "failed"}
    error = task_error(run.output, "PodStepFailed", "big")
    assert error.startswith("the container exited with code 1 (Error); last log lines:\n"), error
    assert error.splitlines()[-1] == f"  airgenome: input.sklearn-dataset failed: {ENOSPC}"
    _only_the_small_table_was_announced(run)


@pytest.mark.integration
@pytest.mark.slow
def test_a_local_step_on_a_full_lake_fails_clearly_and_announces_nothing(local_full_lake_run: LakeRun) -> None:
    # Only the full-disk process (the fresh `python`, or the warm runtime started on it) fills
    # up: a step that fell back to another process would succeed, and this would fail.
    run = local_full_lake_run
    assert run.states == {"small": "success", "big": "failed"}
    header = "StepFailed: step 'big' exited with code 1; last stderr lines:\n"
    assert header in run.output, run.output[-3000:]
    # The stderr tail the task's error quotes ends with the component's own last line.
    tail = run.output.split(header)[-1].splitlines()
    assert f"airgenome: input.sklearn-dataset failed: {ENOSPC}" in tail[:20], tail[:20]
    _only_the_small_table_was_announced(run)


def _only_the_small_table_was_announced(run: LakeRun) -> None:
    """The small table was announced; nothing of the big one was, and no partial file is left."""
    small, big = (f"airgenome/{run.dag_id}/{step}/table" for step in ("small", "big"))
    assert [event["rows"] for event in run.events[small]] == [5]
    assert run.events[big] == []
    assert run.xcom_task_ids == {"small"}
    files = _files(run.lake)
    assert len(files) == 1 and files[0].endswith("/small/table/table.parquet"), files
