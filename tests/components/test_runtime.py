"""The one entrypoint: context from the step environment, manifest written, outcomes as exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airgenome.components import lake
from airgenome.components.runtime import ENTRYPOINT, EXIT_BAD_INPUT, EXIT_SKIP, main
from tests.components.distributions import install_component_package


def _env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {
        "PIPELINE_NAME": "p",
        "PIPELINE_RUNID": "manual__2026-11-29T10:00:00+00:00",
        "STEP_NAME": "load",
        "AIRGENOME_HOME": str(tmp_path / "home"),
        "AIRGENOME_LAKE_ROOT": str(tmp_path / "lake"),
        "AIRGENOME_RESULT_PATH": str(tmp_path / "result.json"),
        **extra,
    }


def test_the_entrypoint_is_one_constant_used_by_images_and_operators() -> None:
    root = Path(__file__).resolve().parents[2]
    assert ENTRYPOINT == ("python", "-m", "airgenome.components.runtime")
    for dockerfile in (root / "images").glob("component-*.Dockerfile"):
        assert "airgenome.components.runtime" in dockerfile.read_text(), dockerfile.name


def test_a_table_component_writes_its_output_and_manifest(tmp_path: Path) -> None:
    env = _env(tmp_path, PARAMETERS=json.dumps({"dataset": "iris", "limit": 10}))
    assert main(["input.sklearn-dataset"], env) == 0
    manifest = json.loads((tmp_path / "result.json").read_text())
    expected_uri = lake.run_output_uri(str(tmp_path / "lake"), "p", env["PIPELINE_RUNID"], "load") + "/table/table.parquet"
    table = manifest["outputs"]["table"]
    assert manifest["component"] == "input.sklearn-dataset"
    assert manifest["outcome"] == "success"
    assert table["uri"] == expected_uri
    assert table["kind"] == "table"
    assert table["metadata"]["rows"] == 10
    assert table["metadata"]["schema"]["target"] == "int64"
    path = Path(lake.local_path(expected_uri) or "")
    assert table["metadata"]["bytes"] == path.stat().st_size
    import hashlib

    assert table["metadata"]["sha256"] == hashlib.sha256(path.read_bytes()).hexdigest()
    assert "manual__2026-11-29T10_00_00_00_00" in expected_uri  # run ids become safe segments


def test_bad_parameters_exit_2_naming_every_field_before_anything_runs(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    env = _env(tmp_path, PARAMETERS=json.dumps({"dataset": "mnist", "rows": 3}))
    assert main(["input.sklearn-dataset"], env) == EXIT_BAD_INPUT
    err = capsys.readouterr().err
    assert "parameters.dataset: Input should be 'diabetes', 'iris', 'wine' or 'breast_cancer'" in err
    assert "parameters.rows: unknown parameter" in err
    assert not (tmp_path / "lake").exists() and not (tmp_path / "result.json").exists()


def test_a_skip_exits_99_with_the_outcome_in_the_manifest(tmp_path: Path) -> None:
    env = _env(tmp_path, PARAMETERS=json.dumps({"skip": True}))
    assert main(["genome.noop"], env) == EXIT_SKIP
    assert json.loads((tmp_path / "result.json").read_text())["outcome"] == "skip"


def test_a_failure_exits_with_its_code_and_says_why(tmp_path: Path) -> None:
    env = _env(tmp_path, PARAMETERS=json.dumps({"message": "disk on fire", "exitCode": 3}))
    completed = subprocess.run(
        [sys.executable, *ENTRYPOINT[1:], "genome.fail"], env=env, capture_output=True, text=True
    )
    assert completed.returncode == 3
    assert "genome.fail failed: disk on fire" in completed.stderr


def test_unknown_component_and_wrong_input_kind_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["nope.x"], _env(tmp_path)) == EXIT_BAD_INPUT
    assert "'nope.x' is not a known component" in capsys.readouterr().err
    inputs = json.dumps({"table": {"uri": "file:///x", "kind": "model"}})
    assert main(["train.sklearn-forest"], _env(tmp_path, AIRGENOME_INPUTS=inputs)) == EXIT_BAD_INPUT
    assert "inputs.table: is a model, train.sklearn-forest needs a table" in capsys.readouterr().err


def test_lake_uris_are_built_in_one_place() -> None:
    assert lake.normalise_root("/data/lake/") == "file:///data/lake"
    assert lake.normalise_root("s3://user:secret@bucket/lake") == "s3://bucket/lake"
    with pytest.raises(ValueError, match="three slashes"):
        lake.normalise_root("file://tmp/lake")
    assert lake.asset_name("my pipe", "load", "table") == "airgenome/my_pipe/load/table"
    assert lake.asset_uri("/l", "p", "s", "o") == "file:///l/assets/p/s/o"
    assert lake.resolve_ref("/l", "mllake://raw/metadata.csv") == "file:///l/raw/metadata.csv"
    with pytest.raises(ValueError, match="not allowed"):
        lake.resolve_ref("/l", "mllake://../etc/passwd")


BLOCK_AIRFLOW = """
import sys, runpy

class NoAirflow:
    def find_spec(self, name, path=None, target=None):
        if name == "airflow" or name.startswith("airflow."):
            raise ImportError(f"{name} is not installed in a component image")
        return None

sys.meta_path.insert(0, NoAirflow())
sys.argv = ["runtime", sys.argv[1]]
runpy.run_module("airgenome.components.runtime", run_name="__main__")
"""


def test_components_run_where_airflow_is_not_installed(tmp_path: Path) -> None:
    env = _env(tmp_path, PARAMETERS=json.dumps({"dataset": "wine", "limit": 5}))
    env["PATH"] = "/usr/bin:/bin"
    completed = subprocess.run(
        [sys.executable, "-c", BLOCK_AIRFLOW, "input.sklearn-dataset"], env=env, capture_output=True, text=True
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert json.loads((tmp_path / "result.json").read_text())["outputs"]["table"]["metadata"]["rows"] == 5


def test_the_component_runtime_needs_no_airflow_distribution() -> None:
    import tomllib

    root = Path(__file__).resolve().parents[2]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    assert not [d for d in project["dependencies"] if d.startswith("apache-airflow")]
    assert any(d.startswith("apache-airflow==") for d in project["optional-dependencies"]["airflow"])


def test_genome_lake_refs_resolve_against_the_lake(tmp_path: Path) -> None:
    from airgenome.components.runtime import context_from_environment

    env = _env(tmp_path, DATASETS=json.dumps([{"ref": "mllake://raw/metadata.csv"}, {"ref": "s3://b/x"}]))
    context, _ = context_from_environment("genome.noop", env)
    assert context.step.datasets == [
        {"ref": "mllake://raw/metadata.csv", "uri": f"file://{tmp_path}/lake/raw/metadata.csv"},
        {"ref": "s3://b/x"},
    ]
    bad = _env(tmp_path, DATASETS=json.dumps([{"ref": "mllake://../../etc"}]))
    from airgenome.errors import InvalidInput

    with pytest.raises(InvalidInput, match=r"DATASETS\[0\].ref: 'mllake://../../etc': '.' and '..' are not allowed"):
        context_from_environment("genome.noop", bad)


# A component that leaves a non-daemon thread running and registers an exit handler: a normal
# interpreter exit would wait for the thread forever, as a native pool torn down at exit can
# abort the process (apache/arrow#34314) after the outcome is written.
LINGERING = '''
import atexit
import threading

from pydantic import BaseModel, ConfigDict

from airgenome.components.context import Result
from airgenome.components.registry import ComponentSpec


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")


def run(ctx, params):
    threading.Thread(target=threading.Event().wait, daemon=False).start()
    atexit.register(print, "exit handler ran", flush=True)
    return Result(metrics={"done": 1.0})


SPEC = ComponentSpec(name="transform.acme-linger", summary="leaves a thread behind", load=lambda: run, params=Params)
'''


def test_the_entrypoint_ends_with_the_outcome_without_waiting_for_leftover_threads(tmp_path: Path) -> None:
    install_component_package(tmp_path, "acme_linger", "linger", LINGERING)
    env = {**_env(tmp_path, PARAMETERS="{}"), "PYTHONPATH": str(tmp_path), "PATH": "/usr/bin:/bin"}
    completed = subprocess.run(
        [sys.executable, *ENTRYPOINT[1:], "transform.acme-linger"], env=env, capture_output=True, text=True, timeout=120
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    assert completed.stdout.splitlines() == ["airgenome: transform.acme-linger succeeded", "exit handler ran"]
    assert json.loads((tmp_path / "result.json").read_text())["metrics"] == {"done": 1.0}
