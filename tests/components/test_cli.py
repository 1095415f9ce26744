"""`airgenome components` and `airgenome component run`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from airgenome.cli.main import main


def test_components_json_lists_every_component_with_its_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components", "--json"]) == 0
    listed = {item["name"]: item for item in json.loads(capsys.readouterr().out)}
    assert {"genome.echo", "genome.fail", "genome.noop", "input.sklearn-dataset", "train.sklearn-forest",
            "train.genome-demo-forest", "evaluate.genome-demo-forest"} <= set(listed)
    forest = listed["train.sklearn-forest"]
    assert set(forest) >= {"name", "category", "summary", "parameters", "inputs", "outputs", "example"}
    assert forest["aliases"] == ["sklearn.train-forest"]
    assert forest["inputs"]["table"]["kind"] == "table"
    assert forest["example"]["component"] == "train.sklearn-forest"


def test_components_text_is_one_line_each(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["components"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("input.sklearn-dataset") and "[out table:table]" in line for line in lines)


def test_component_run_chains_two_components_outside_airflow(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRGENOME_HOME", str(tmp_path / "home"))
    assert main(["component", "run", "input.sklearn-dataset", "--params", '{"dataset": "wine", "limit": 40}',
                 "--out", str(tmp_path / "load")]) == 0
    loaded = json.loads(capsys.readouterr().out)
    table = loaded["outputs"]["table"]
    assert table["uri"] == f"file://{tmp_path / 'load'}/table/table.parquet"
    assert table["metadata"]["rows"] == 40
    assert main(["component", "run", "train.sklearn-forest",
                 "--params", '{"task": "classification", "n_estimators": 3, "save": false}',
                 "--input", f"table={table['uri']}", "--out", str(tmp_path / "train")]) == 0
    trained = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert trained["metrics"]["train_rows"] == 30
    assert trained["outcome"] == "success"


def test_component_run_exits_2_naming_the_field_before_any_side_effect(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "never"
    assert main(["component", "run", "input.sklearn-dataset", "--params", '{"dataset": 3}', "--out", str(out)]) == 2
    assert "parameters.dataset: Input should be 'diabetes', 'iris', 'wine' or 'breast_cancer'" in capsys.readouterr().err
    assert not out.exists()
    assert main(["component", "run", "input.sklearn-dataset", "--params", "[1]", "--out", str(out)]) == 2
    assert "--params: must be a JSON object" in capsys.readouterr().err
    assert main(["component", "run", "nope.x", "--out", str(out)]) == 2
    assert "'nope.x' is not a known component" in capsys.readouterr().err


def test_component_run_exits_1_when_the_component_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["component", "run", "train.sklearn-forest", "--params", '{"target": "nope", "save": false}',
                 "--input", f"table={tmp_path / 'missing.parquet'}", "--out", str(tmp_path / "o")])
    assert code == 1
    assert "train.sklearn-forest failed: FileNotFoundError" in capsys.readouterr().err
