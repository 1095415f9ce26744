"""`airgenome lint / render / schema`, and the shipped JSON Schema stays current."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest

from airgenome.cli.main import main
from airgenome.cli.sequence_commands import SCHEMA_FILE, schema_text
from tests.sequence.helpers import PAYLOADS, echo, spec

SHIPPED = Path(__file__).resolve().parents[2] / "dags" / "sequences"


def test_shipped_schema_is_current() -> None:
    # Regenerate with: airgenome schema --output include/sequence/sequence.schema.json
    assert SCHEMA_FILE.read_text() == schema_text(), "sequence.schema.json is stale: regenerate it"


def test_schema_accepts_genome_payloads_and_examples_and_rejects_unknown_fields() -> None:
    schema = json.loads(SCHEMA_FILE.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    for path in [*PAYLOADS.glob("*.json"), *SHIPPED.glob("*.json")]:
        validator.validate(json.loads(path.read_text()))
    with pytest.raises(jsonschema.ValidationError, match="is not valid under any of the given schemas"):
        validator.validate(spec([echo("a", timout="1s")]))


def test_schema_command_writes_the_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "s.json"
    assert main(["schema", "--output", str(target)]) == 0
    assert json.loads(target.read_text())["title"] == "Genome sequence"


def test_lint_reports_every_error_with_its_path_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = PAYLOADS / "parallel.json"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec([echo("a", timeout="1x"), [echo("b", parameters={"p": "{{ var.value.x }}"})]])))
    broken = tmp_path / "broken.json"
    broken.write_text("{")
    assert main(["lint", str(good), str(bad), str(broken)]) == 1
    out = capsys.readouterr()
    assert out.out.splitlines() == [
        f"{good}: ok (dag 'pipe-1', mode local)",
        f"{bad}: steps[0].timeout: '1x' is not a duration like 360s, 30m, 6h or 1d",
        f"{bad}: steps[1][0].parameters.p: contains '{{{{': template syntax is not allowed "
        "(Airflow would render it and could expose connections or variables)",
        f"{broken}: $: not valid JSON: Expecting property name enclosed in double quotes at line 1 column 2",
    ]
    assert "2 of 3 file(s) invalid" in out.err
    assert main(["lint", str(good)]) == 0


def test_render_prints_the_dag_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", str(PAYLOADS / "parallel.json")]) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["dag_id"] == "pipe-1"
    assert document["schedule"] is None
    assert [(t["task_id"], t["upstream"], t["group"]) for t in document["tasks"]] == [
        ("step-1", [], None),
        ("step-2a", ["step-1"], "parallel_1"),
        ("step-2b", ["step-1"], "parallel_1"),
        ("step-3", ["step-2a", "step-2b"], None),
    ]
    first = document["tasks"][0]
    assert {k: first[k] for k in ("mode", "image", "pool", "pool_slots", "retries", "execution_timeout_seconds")} == {
        "mode": "local", "image": "ensemble-training:local.3", "pool": "default_pool",
        "pool_slots": 1, "retries": 3, "execution_timeout_seconds": 360,
    }
    assert first["env"]["PARAMETERS"] == '{"CA_TRAIN":true}'
    assert first["env"]["PIPELINE_RUNID"] == "preview"
    assert first["resources"] == {"cpu": None, "memory": None, "gpu": 0}


def test_render_pods_uses_the_providers_pod_builder(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("airgenome.operators.pod")
    assert main(["render", "--mode", "kubernetes", "--pods", str(PAYLOADS / "sequential.json")]) == 0
    document = json.loads(capsys.readouterr().out)
    pod = document["tasks"][1]["pod"]
    container = pod["spec"]["containers"][0]
    assert pod["kind"] == "Pod"
    assert container["image"] == "ensemble-training:local.3"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["STEP_NAME"] == "step-2" and env["PARAMETERS"] == '{"TEXT_TRAIN":true}'


def test_render_pods_needs_kubernetes_mode(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["render", "--pods", str(PAYLOADS / "sequential.json")]) == 1
    assert "--pods needs --mode kubernetes" in capsys.readouterr().err
