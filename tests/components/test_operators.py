"""Category operators: checked at construction, the same steps from Python as from JSON,
a table passed from one component to the next in a real Airflow run, skip as an outcome."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from airgenome import settings
from airgenome.errors import InvalidInput


def _bundle(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict[str, Any]) -> Path:
    # dag.test() syncs the DAG's bundle to the metadata DB: give it a real one.
    bundle = tmp_path / "dags"
    (bundle / "sequences").mkdir(parents=True)
    shutil.copy(settings.REPO_ROOT / "dags" / "sequences_loader.py", bundle)
    (bundle / "sequences" / f"{document['pipelineName']}.json").write_text(json.dumps(document))
    # Airflow's serializer copies settings.DAGS_FOLDER when first imported: import it before
    # the patch, or this test's folder would stay in every later serialization.
    import airflow.serialization.serialized_objects  # noqa: F401

    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(bundle))
    monkeypatch.setattr("airflow.settings.DAGS_FOLDER", str(bundle))
    monkeypatch.setenv("AIRGENOME_UPLOADS_FOLDER", str(tmp_path / "no-uploads"))
    monkeypatch.setenv("AIRGENOME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRGENOME_LAKE_ROOT", str(tmp_path / "lake"))
    return bundle


def test_category_operators_check_component_parameters_and_inputs_at_construction() -> None:
    from airgenome.operators.categories import FilterOperator, InputOperator, TrainOperator

    with pytest.raises(InvalidInput, match=r"load.component: train.sklearn-forest is a train component; InputOperator runs input components"):
        InputOperator(task_id="load", component="train.sklearn-forest")
    with pytest.raises(InvalidInput, match=r"load.parameters.dataset: Input should be"):
        InputOperator(task_id="load", component="input.sklearn-dataset", parameters={"dataset": "mnist"})
    with pytest.raises(InvalidInput, match=r"train.inputs.tabel: train.sklearn-forest has no input 'tabel'"):
        TrainOperator(task_id="train", component="train.sklearn-forest", inputs={"tabel": "load.table"})
    with pytest.raises(InvalidInput, match=r"f.component: 'filter.nothing' is not a known component"):
        FilterOperator(task_id="f", component="filter.nothing")


def test_a_python_dag_and_a_json_sequence_build_the_same_steps(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airflow.sdk import DAG

    from airgenome.build.render import build_dag
    from airgenome.operators.categories import InputOperator, TrainOperator
    from airgenome.sequence.plan import plan_sequence
    from airgenome.sequence.validate import parse_sequence

    monkeypatch.setenv("AIRGENOME_LAKE_ROOT", "/lake")
    document = {
        "pipelineName": "same",
        "application": "same",
        "steps": [
            {"stepName": "load", "stepType": "input", "component": "input.sklearn-dataset", "parameters": {"dataset": "wine"}},
            {"stepName": "train", "stepType": "train", "component": "train.sklearn-forest",
             "parameters": {"save": False}, "inputs": {"table": "load.table"}},
        ],
    }
    from_json = build_dag(plan_sequence(parse_sequence(document, mode="local")), fileloc="x.py")
    with DAG("same", schedule=None) as from_python:
        InputOperator(task_id="load", component="input.sklearn-dataset", parameters={"dataset": "wine"})
        TrainOperator(task_id="train", component="train.sklearn-forest", parameters={"save": False},
                      inputs={"table": "load.table"})

    def shape(dag: Any) -> list[tuple[Any, ...]]:
        return [
            (
                t.task_id, type(t).__name__, t.component, t.parameters, t.inputs, sorted(t.upstream_task_ids),
                [(a.name, a.uri) for a in t.outlets], t.argv()[1:], t.contract.step_name, t.contract.step_type,
                dict(t.contract.parameters),
            )
            for t in sorted(dag.tasks, key=lambda t: t.task_id)
        ]

    assert shape(from_json) == shape(from_python)
    assert shape(from_json)[0][6] == [("airgenome/same/load/table", "file:///lake/assets/same/load/table")]


@pytest.mark.slow
def test_a_table_flows_from_one_component_to_the_next_in_a_local_run(
    airflow_metadata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from airgenome.build.loader import build_dags

    document = {
        "pipelineName": "two-steps",
        "application": "app",
        "steps": [
            {"stepName": "load", "component": "input.sklearn-dataset", "parameters": {"dataset": "iris", "limit": 120}},
            {"stepName": "train", "component": "train.sklearn-forest",
             "parameters": {"task": "classification", "n_estimators": 5, "save": False},
             "inputs": {"table": "load.table"}},
            [{"stepName": "never", "component": "genome.noop", "parameters": {"skip": True}}],
            {"stepName": "after-skip", "component": "genome.noop"},
        ],
    }
    bundle = _bundle(tmp_path, monkeypatch, document)
    dag = build_dags(str(bundle / "sequences_loader.py"))["two-steps"]
    run = dag.test()
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"load": "success", "train": "success", "never": "skipped", "after-skip": "skipped"}
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    loaded = tis["load"].xcom_pull(task_ids="load")
    trained = tis["train"].xcom_pull(task_ids="train")
    table_uri = loaded["outputs"]["table"]["uri"]
    assert table_uri.startswith(f"file://{tmp_path / 'lake'}/runs/two-steps/")
    assert loaded["outputs"]["table"]["metadata"]["rows"] == 120
    assert Path(table_uri.removeprefix("file://")).is_file()
    assert trained["component"] == "train.sklearn-forest"
    assert trained["metrics"]["train_rows"] == 90  # 75 % of the 120 rows the first step wrote
    assert 0.0 <= trained["metrics"]["accuracy_test"] <= 1.0


def test_a_query_through_an_airflow_connection_feeds_the_next_step(
    airflow_metadata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from airgenome.build.loader import build_dags

    database = tmp_path / "warehouse.db"
    with sqlite3.connect(database) as db:
        db.execute("CREATE TABLE metadata (filename TEXT, finding TEXT)")
        db.executemany("INSERT INTO metadata VALUES (?, ?)",
                       [("a.png", "Pneumonia/Viral/COVID-19"), ("b.nii.gz", "No Finding"), ("c.png", "No Finding")])
    # The worker resolves the connection (here from AIRFLOW_CONN_*); the spec names only its id.
    monkeypatch.setenv("AIRFLOW_CONN_WAREHOUSE", json.dumps({"conn_type": "sqlite", "host": str(database)}))
    document = {
        "pipelineName": "from-sql",
        "application": "app",
        "steps": [
            {"stepName": "load", "component": "input.table",
             "parameters": {"conn_id": "warehouse", "sql": "SELECT * FROM metadata ORDER BY filename"}},
            {"stepName": "drop-volumes", "component": "filter.rows",
             "parameters": {"predicate": "~metadata.filename.str.contains('.gz')"}, "inputs": {"table": "load.table"}},
        ],
    }
    bundle = _bundle(tmp_path, monkeypatch, document)
    run = build_dags(str(bundle / "sequences_loader.py"))["from-sql"].test()
    assert {ti.task_id: ti.state for ti in run.get_task_instances()} == {"load": "success", "drop-volumes": "success"}
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    loaded = tis["load"].xcom_pull(task_ids="load")
    kept = tis["drop-volumes"].xcom_pull(task_ids="drop-volumes")
    assert (loaded["outputs"]["table"]["metadata"]["rows"], kept["outputs"]["table"]["metadata"]["rows"]) == (3, 2)
    assert str(database) not in json.dumps(loaded)  # the connection's URL is not in XCom
