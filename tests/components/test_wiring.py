"""Component steps in a sequence: parameters against each schema, inputs wired by reference,
every offender in one error by path; nothing is written for a bad upload."""

from __future__ import annotations

from typing import Any

import pytest

from airgenome.errors import InvalidInput
from airgenome.sequence.plan import plan_sequence
from airgenome.sequence.validate import parse_sequence


def _seq(steps: list[Any]) -> dict[str, Any]:
    return {"pipelineName": "wired", "application": "app", "steps": steps}


def _load(name: str = "load", **extra: Any) -> dict[str, Any]:
    return {"stepName": name, "component": "input.sklearn-dataset", "parameters": {"dataset": "iris"}, **extra}


def _train(name: str = "train", **extra: Any) -> dict[str, Any]:
    step = {"stepName": name, "component": "train.sklearn-forest", "parameters": {"target": "target", "save": False}}
    step.update(extra)
    return step


def _errors(document: dict[str, Any]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as caught:
        parse_sequence(document, mode="local")
    return {d["loc"]: d["msg"] for d in caught.value.details}


def test_a_wired_sequence_plans_inputs_as_upstream_outputs() -> None:
    plan = plan_sequence(parse_sequence(_seq([_load(), _train(inputs={"table": "load.table"})]), mode="local"))
    train = plan.task("train")
    assert train.component == "train.sklearn-forest"
    assert train.category == "train"
    assert train.inputs == (("table", "load", "table"),)
    assert train.upstream == ("load",)


def test_every_parameter_and_wiring_error_at_once_by_path() -> None:
    errors = _errors(
        _seq(
            [
                {"stepName": "load", "component": "input.sklearn-dataset", "parameters": {"dataset": "mnist", "limt": 3}},
                [
                    _train("a", inputs={"table": "load.tabel"}),
                    _load("side"),
                    _train("b", inputs={"table": "side.table"}),
                ],
                _train("c", inputs={"table": "ghost.table", "labels": "load.table"}),
                _train("d", inputs={"table": "e.table"}),
                {"stepName": "e", "component": "genome.echo", "inputs": {"x": "load.table"}},
                {"stepName": "f", "command": ["true"], "inputs": {"x": "load.table"}},
                {"stepName": "g", "component": "evaluate.genome-demo-forest", "inputs": {"model": "load.table"}},
            ]
        )
    )
    assert errors == {
        "steps[0].parameters.dataset": "Input should be 'diabetes', 'iris', 'wine' or 'breast_cancer'",
        "steps[0].parameters.limt": "unknown parameter",
        "steps[1][0].inputs.table": "'load.tabel': step 'load' has no output 'tabel' (its outputs: table)",
        "steps[1][2].inputs.table": "'side.table': step 'side' does not run before 'b' (it runs in parallel with it or after it)",
        "steps[2].inputs.table": "'ghost.table': there is no step 'ghost'",
        "steps[2].inputs.labels": "train.sklearn-forest has no input 'labels' (its inputs: table)",
        "steps[3].inputs.table": "'e.table': step 'e' has no output 'table' (its outputs: none)",
        "steps[4].inputs.x": "genome.echo has no input 'x' (its inputs: none)",
        "steps[5].inputs": "only component steps take inputs (set component)",
        "steps[6].inputs.model": "'load.table' is a table; evaluate.genome-demo-forest input 'model' needs a model",
    }


def test_a_malformed_reference_is_refused_by_the_spec() -> None:
    errors = _errors(_seq([_load(), _train(inputs={"table": "loadtable"})]))
    assert errors == {"steps[1].inputs": 'table: \'loadtable\' is not a reference like "<stepName>.<output>"'}


def test_a_required_input_must_be_wired() -> None:
    from airgenome.components import registry
    from airgenome.components.registry import ComponentSpec, Port, lazy

    registry.REGISTRY.register(
        ComponentSpec(
            name="transform.needs-table",
            summary="test",
            load=lazy("airgenome.components.genome", "noop"),
            inputs={"table": Port("table")},
        )
    )
    errors = _errors(_seq([{"stepName": "t", "component": "transform.needs-table"}]))
    assert errors == {
        "steps[0].inputs.table": "transform.needs-table needs input 'table' (a table); wire it like "
        '"table": "<stepName>.<output>"'
    }


def test_genome_payloads_without_wiring_still_validate() -> None:
    document = _seq(
        [
            {"stepName": "train", "component": "genome.demo-train-forest", "parameters": {"sampleSize": 50}},
            {"stepName": "evaluate", "component": "genome.demo-evaluate-forest", "parameters": {"minR2": 0.3}},
        ]
    )
    plan = plan_sequence(parse_sequence(document, mode="local"))
    assert [t.component for t in plan.tasks] == ["train.genome-demo-forest", "evaluate.genome-demo-forest"]
