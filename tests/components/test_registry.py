"""The registry: cheap to import, every component described, schemas in the sequence schema."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from airgenome.components import registry
from airgenome.components.registry import ComponentSpec, Port, lazy
from airgenome.errors import InvalidInput, NotFound
from airgenome.sequence.spec import json_schema
from tests.components.distributions import install_component_package

HEAVY = ("airflow", "pandas", "sklearn", "tensorflow", "mlflow", "numpy", "shap", "pyspark", "aif360", "art")


def test_importing_the_registry_and_listing_it_pulls_in_nothing_heavy() -> None:
    code = (
        "import sys, json\n"
        "from airgenome.components import registry\n"
        "names = registry.names()\n"
        "import airgenome.sequence.validate\n"
        f"heavy = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps({'names': names, 'heavy': heavy}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seen = json.loads(out.stdout)
    assert seen["heavy"] == []
    assert {"genome.echo", "genome.fail", "genome.noop", "input.sklearn-dataset", "train.sklearn-forest"} <= set(
        seen["names"]
    )


def test_ported_genome_names_resolve_to_their_components() -> None:
    assert registry.resolve("sklearn.train-forest") == "train.sklearn-forest"
    assert registry.resolve("genome.demo-train-forest") == "train.genome-demo-forest"
    assert registry.resolve("genome.demo-evaluate-forest") == "evaluate.genome-demo-forest"
    assert registry.get("genome.echo").category == "genome"
    with pytest.raises(NotFound, match="'nope.x' is not a known component"):
        registry.get("nope.x")


def test_a_spec_describes_itself_as_the_cli_and_page_show_it() -> None:
    described = registry.get("input.sklearn-dataset").to_dict()
    assert described["name"] == "input.sklearn-dataset"
    assert described["category"] == "input"
    assert described["inputs"] == {}
    assert described["outputs"] == {"table": {"kind": "table", "description": "the data set with its target column", "required": True}}
    assert described["parameters"]["properties"]["dataset"]["enum"] == ["diabetes", "iris", "wine", "breast_cancer"]
    assert described["parameters"]["additionalProperties"] is False
    assert described["example"] == {
        "stepName": "input-sklearn-dataset",
        "component": "input.sklearn-dataset",
        "parameters": {"dataset": "iris", "target_column": "species"},
    }


def test_parameters_are_checked_by_path_all_at_once() -> None:
    spec = registry.get("train.sklearn-forest")
    with pytest.raises(InvalidInput) as caught:
        spec.parse_parameters({"n_estimators": 0, "max_depht": 3, "task": "ranking"}, where="steps[1].parameters")
    assert {d["loc"] for d in caught.value.details} == {
        "steps[1].parameters.n_estimators",
        "steps[1].parameters.max_depht",
        "steps[1].parameters.task",
    }
    assert "unknown parameter" in str(caught.value)


def test_names_and_kinds_are_checked_when_a_spec_is_made() -> None:
    with pytest.raises(ValueError, match="must be category.name"):
        ComponentSpec(name="echo", summary="", load=lazy("x", "y"))
    with pytest.raises(ValueError, match="unknown kind 'tabel'"):
        ComponentSpec(name="input.x", summary="", load=lazy("x", "y"), outputs={"t": Port("tabel")})


def test_every_component_schema_is_in_the_sequence_schema() -> None:
    schema = json_schema()
    clauses = schema["$defs"]["Step"]["allOf"]
    by_name = {tuple(c["if"]["properties"]["component"]["enum"]): c["then"]["properties"]["parameters"] for c in clauses}
    for spec in registry.specs():
        names = (spec.name, *spec.aliases)
        assert names in by_name, spec.name
        expected = spec.parameter_schema()
        expected.pop("$defs", None)
        assert by_name[names] == expected
    assert schema["$defs"]["Step"]["properties"]["inputs"]["type"] == "object"


PLUGIN = '''
from airgenome.components.registry import ComponentSpec, lazy

SPEC = ComponentSpec(name="transform.acme-late", summary="installed late", load=lazy("airgenome.components.genome", "noop"))
'''

DESCRIPTOR = {
    "name": "transform.late-image", "summary": "described late", "image": "registry.example/late:1",
    "command": ["late"], "parameters": {"type": "object", "properties": {}, "additionalProperties": False},
}


def test_a_built_registry_is_reused_until_what_it_was_built_from_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a forked task or step inherits is kept; a component installed or described after
    the process started is still found (the API server lives for days)."""
    site, folder = tmp_path / "site", tmp_path / "components"
    site.mkdir()
    folder.mkdir()
    monkeypatch.syspath_prepend(str(site))
    monkeypatch.setenv("AIRGENOME_COMPONENTS_FOLDER", str(folder))
    reg = registry.Registry()
    assert reg.refresh() is True  # the first build
    assert reg.refresh() is False
    reg.register(ComponentSpec(name="transform.by-code", summary="registered by code",
                               load=lazy("airgenome.components.genome", "noop")))
    assert "transform.acme-late" not in reg.all_names()

    install_component_package(site, "acme_late", "late", PLUGIN)
    assert reg.refresh() is True
    assert reg.get("transform.acme-late").source == "entry-point:late"
    assert reg.refresh() is False

    (folder / "late.json").write_text(json.dumps(DESCRIPTOR))
    assert reg.refresh() is True
    assert reg.get("transform.late-image").images.cpu == "registry.example/late:1"
    assert reg.get("transform.by-code").summary == "registered by code"  # kept through rebuilds
    (folder / "late.json").unlink()
    assert reg.refresh() is True
    assert "transform.late-image" not in reg.all_names()

    # A component described later under a code-registered name: reported, nothing breaks.
    (folder / "clash.json").write_text(json.dumps({**DESCRIPTOR, "name": "transform.by-code"}))
    assert reg.refresh() is True
    assert reg.problems == ["registered by code: component 'transform.by-code' is registered twice"]
    assert reg.get("transform.by-code").source.startswith("descriptor:")
    (folder / "clash.json").unlink()

    reg.reload()
    assert "transform.by-code" not in reg.all_names()
    sys.modules.pop("acme_late", None)
