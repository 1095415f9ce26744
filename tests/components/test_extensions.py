"""Extensible without forking: entry-point components and container-image descriptors."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from airgenome.components import registry
from airgenome.errors import InvalidInput
from airgenome.sequence.validate import parse_sequence
from tests.components.distributions import install_component_package

PLUGIN = '''
from pydantic import BaseModel, ConfigDict

from airgenome.components.context import Result
from airgenome.components.registry import ComponentSpec, Port


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    factor: int = 2


def run(ctx, params):
    return Result(metrics={"factor": params.factor})


SPEC = ComponentSpec(
    name="transform.acme-scale",
    summary="scale a table (third-party)",
    load=lambda: run,
    params=Params,
    inputs={"table": Port("table")},
    outputs={"table": Port("table", required=False)},
)
'''


def _distribution(root: Path) -> None:
    install_component_package(root, "acme_components", "scale", PLUGIN)


def test_an_entry_point_component_is_discovered_and_validated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _distribution(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.REGISTRY.reload()
    spec = registry.get("transform.acme-scale")
    assert spec.source == "entry-point:scale"
    assert spec.category == "transform"
    assert spec.to_dict()["parameters"]["properties"]["factor"] == {"default": 2, "title": "Factor", "type": "integer"}
    with pytest.raises(InvalidInput) as caught:
        parse_sequence(
            {"pipelineName": "p", "application": "a", "steps": [
                {"stepName": "s", "component": "transform.acme-scale", "parameters": {"factor": "x"}},
            ]},
            mode="local",
        )
    assert {d["loc"] for d in caught.value.details} == {"steps[0].parameters.factor", "steps[0].inputs.table"}
    sys.modules.pop("acme_components", None)


def test_a_broken_entry_point_is_reported_and_hides_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _distribution(tmp_path)
    (tmp_path / "acme_components" / "__init__.py").write_text("raise RuntimeError('acme is broken')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    registry.REGISTRY.reload()
    assert "genome.echo" in registry.names()
    assert registry.REGISTRY.problems == ["entry-point:scale: RuntimeError: acme is broken"]
    sys.modules.pop("acme_components", None)


DESCRIPTOR = {
    "name": "transform.dedupe",
    "summary": "drop duplicate rows",
    "version": "1.2.0",
    "image": "registry.example/acme/dedupe:1.2.0",
    "command": ["dedupe"],
    "localCommand": [sys.executable, "-c",
                     "import os, pathlib; p = pathlib.Path(os.environ['OUTPUT_TABLE'].removeprefix('file://'));"
                     " p.mkdir(parents=True); (p / 'key.txt').write_text(os.environ['DEDUPE_KEY'])"],
    "parameters": {"type": "object", "properties": {"key": {"type": "string"}, "keep": {"enum": ["first", "last"]}},
                   "required": ["key"], "additionalProperties": False},
    "parameterMapping": {"key": {"env": "DEDUPE_KEY"}, "keep": {"arg": "--keep"}},
    "inputs": {"table": {"kind": "table", "env": "INPUT_TABLE", "required": False}},
    "outputs": {"table": {"kind": "table", "env": "OUTPUT_TABLE"}},
}


def _descriptor(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, document: dict[str, object]) -> Path:
    folder = tmp_path / "components"
    folder.mkdir(exist_ok=True)
    (folder / "dedupe.json").write_text(json.dumps(document))
    monkeypatch.setenv("AIRGENOME_COMPONENTS_FOLDER", str(folder))
    registry.REGISTRY.reload()
    return folder


def test_a_descriptor_turns_an_image_into_a_component(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _descriptor(tmp_path, monkeypatch, DESCRIPTOR)
    spec = registry.get("transform.dedupe")
    assert spec.source.startswith("descriptor:") and spec.images.cpu == "registry.example/acme/dedupe:1.2.0"
    _, problems = spec.validate_parameters({"keep": "middle", "extra": 1})
    assert [(p.path, p.message) for p in problems] == [
        ("extra", "unknown parameter"),
        ("keep", "'middle' is not one of ['first', 'last']"),
        ("key", "required parameter is missing"),
    ]
    env, args = spec.container.environment_and_args({"key": "id", "keep": "last"}, {"table": "file:///in"}, {"table": "file:///out"})
    assert env == {"DEDUPE_KEY": "id", "INPUT_TABLE": "file:///in", "OUTPUT_TABLE": "file:///out"}
    assert args == ["--keep", "last"]


def test_a_descriptor_component_runs_its_local_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from airgenome.components.context import ComponentContext, StepInfo
    from airgenome.components.runtime import run_component
    from airgenome.settings import StoreLocations

    _descriptor(tmp_path, monkeypatch, DESCRIPTOR)
    spec = registry.get("transform.dedupe")
    out = f"file://{tmp_path / 'out'}"
    context = ComponentContext(
        component=spec.name, step=StepInfo(), inputs={}, output_uri=out,
        stores=StoreLocations.under(tmp_path / "stores"), lake_root=f"file://{tmp_path}",
    )
    result = run_component(spec, context, {"key": "patient_id"})
    assert result.outputs["table"].uri == f"{out}/table"
    assert (tmp_path / "out" / "table" / "key.txt").read_text() == "patient_id"


def test_a_kubernetes_only_descriptor_is_refused_in_local_mode(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    document = {k: v for k, v in DESCRIPTOR.items() if k != "localCommand"}
    _descriptor(tmp_path, monkeypatch, document)
    with pytest.raises(InvalidInput, match=r"steps\[0\].component: transform.dedupe is a container image component without a localCommand"):
        parse_sequence(
            {"pipelineName": "p", "application": "a",
             "steps": [{"stepName": "d", "component": "transform.dedupe", "parameters": {"key": "id"}}]},
            mode="local",
        )


def test_a_bad_descriptor_is_reported_with_every_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {**DESCRIPTOR, "name": "nowhere", "command": "rm -rf /", "parameterMapping": {"ghost": {"env": "lower"}}}
    folder = _descriptor(tmp_path, monkeypatch, bad)
    assert "transform.dedupe" not in registry.names()
    assert registry.REGISTRY.problems == [
        f"{folder / 'dedupe.json'}: name: 'nowhere' must be category.name with a category from "
        "input, transform, filter, image, train, evaluate, bless, publish, spark, genome; "
        "command: must be a non-empty argv list of strings (no shell); "
        "parameterMapping.ghost: not a declared parameter"
    ]
