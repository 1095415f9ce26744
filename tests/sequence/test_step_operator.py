"""Local steps really run: a subprocess with the Genome environment, failures with stderr."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from airgenome import settings
from airgenome.build.loader import build_dags
from airgenome.build.render import build_dag
from airgenome.sequence.plan import plan_sequence
from airgenome.sequence.validate import parse_sequence
from tests.sequence.helpers import spec


def test_dag_test_runs_local_steps_with_the_genome_environment(
    airflow_metadata: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIRGENOME_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("AIRFLOW__CORE__FERNET_KEY", "")  # a worker secret the step must not see
    seen = tmp_path / "echo.json"
    chained = tmp_path / "chained.txt"
    document = spec(
        [
            {"stepName": "echo", "stepType": "probe", "component": "genome.echo",
             "parameters": {"outputFile": str(seen), "alpha": 1}, "datasets": [{"ref": "d1"}],
             "env": {"EXTRA": "yes"}},
            [{"stepName": "after", "command": [
                "python", "-c",
                "import os, sys; open(sys.argv[1], 'w').write(os.environ['STEP_NAME'] + ':' "
                "+ os.environ['EXTRA'] + ':' + str(any(k.startswith('AIRFLOW__') for k in os.environ)))",
                str(chained)], "env": {"EXTRA": "chained"}}],
        ],
        pipelineName="local-run",
        deployment="dev",
        canonicalName="/test/local",
    )
    # dag.test() syncs the DAG's bundle to the metadata DB: give it a real one.
    bundle = tmp_path / "dags"
    (bundle / "sequences").mkdir(parents=True)
    shutil.copy(settings.REPO_ROOT / "dags" / "sequences_loader.py", bundle)
    (bundle / "sequences" / "local-run.json").write_text(json.dumps(document))
    monkeypatch.setenv("AIRFLOW__CORE__DAGS_FOLDER", str(bundle))
    monkeypatch.setattr("airflow.settings.DAGS_FOLDER", str(bundle))  # read once at import
    monkeypatch.setenv("AIRGENOME_UPLOADS_FOLDER", str(tmp_path / "no-uploads"))
    dag = build_dags(str(bundle / "sequences_loader.py"))["local-run"]
    run = dag.test(run_conf={"steps": {"echo": {"parameters": {"alpha": 2}}}})
    assert run.state == "success"
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states == {"echo": "success", "after": "success"}

    env = json.loads(seen.read_text())
    assert env["PIPELINE_RUNID"] == run.run_id
    assert {k: env[k] for k in (
        "DEPLOYMENT", "APPLICATION", "PIPELINE_NAME", "STEP_NAME", "STEP_TYPE", "CANONICAL_NAME",
        "DEPLOYMENT_PARAMETERS", "DATASETS",
    )} == {
        "DEPLOYMENT": "dev", "APPLICATION": "app", "PIPELINE_NAME": "local-run", "STEP_NAME": "echo",
        "STEP_TYPE": "probe", "CANONICAL_NAME": "/test/local", "DEPLOYMENT_PARAMETERS": "null",
        "DATASETS": '[{"ref":"d1"}]',
    }
    # the trigger's conf overrides the step's parameters
    assert json.loads(env["PARAMETERS"]) == {"alpha": 2, "outputFile": str(seen)}
    assert env["AIRGENOME_MODEL_STORE_URI"] == f"sqlite:///{tmp_path / 'home' / 'stores' / 'mlflow.db'}"
    assert chained.read_text() == "after:chained:False"


def test_a_failing_subprocess_fails_the_task_with_exit_code_and_stderr_tail() -> None:
    from airgenome.operators.step import GenomeStepOperator, StepFailed

    document = spec([{"stepName": "boom", "command": [
        "python", "-c", "import sys; print('working'); print('bad input row 7', file=sys.stderr); sys.exit(3)",
    ]}])
    dag = build_dag(plan_sequence(parse_sequence(document)))
    operator = dag.get_task("boom")
    assert isinstance(operator, GenomeStepOperator)
    with pytest.raises(StepFailed, match=r"step 'boom' exited with code 3; last stderr lines:\nbad input row 7"):
        operator.execute({"run_id": "manual__1", "dag_run": None})


def test_component_runner_refuses_unknown_names(capsys: pytest.CaptureFixture[str]) -> None:
    from airgenome.components.runtime import main

    assert main(["os.system"], {}) == 2
    assert "'os.system' is not a known component" in capsys.readouterr().err


def test_operator_init_is_cheap_and_needs_exactly_one_runnable() -> None:
    from airgenome.operators.step import GenomeStepOperator
    from airgenome.sequence.contract import StepContract

    contract = StepContract(pipeline_name="p", application="a", step_name="s", step_type="model")
    with pytest.raises(ValueError, match="give exactly one of component or command"):
        GenomeStepOperator(task_id="s", contract=contract)
    operator = GenomeStepOperator(task_id="s", contract=contract, component="genome.echo", args=["-v"])
    assert operator.argv()[-3:] == ["airgenome.components.runtime", "genome.echo", "-v"]


def test_train_forest_component_trains_on_bundled_data(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    env = {**os.environ, "PARAMETERS": json.dumps({"n_estimators": 5, "max_depth": 2, "save": False})}
    result = subprocess.run(
        [sys.executable, "-m", "airgenome.components.runtime", "sklearn.train-forest"],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    report = json.loads(result.stdout.strip().splitlines()[0])
    assert report["model"] == "RandomForestRegressor"
    assert 0.0 < report["r2_test"] < 1.0
