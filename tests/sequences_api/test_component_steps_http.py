"""A corpus of bad component steps through the upload API: 422 naming each field, nothing written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest


def _sequence(step: dict[str, Any], *before: dict[str, Any]) -> dict[str, Any]:
    return {"pipelineName": "bad-components", "application": "tests", "steps": [*before, step]}


LOAD = {"stepName": "load", "component": "input.sklearn-dataset", "parameters": {"dataset": "iris"}}
CORPUS = [
    ({"stepName": "s", "component": "os.system"}, "steps[0].component"),
    ({"stepName": "s", "component": "airgenome.components.genome:echo"}, "steps[0].component"),
    ({"stepName": "s", "component": "input.sklearn-dataset", "parameters": {"dataset": "/etc/passwd"}},
     "steps[0].parameters.dataset"),
    ({"stepName": "s", "component": "input.sklearn-dataset", "parameters": {"__class__": 1}},
     "steps[0].parameters.__class__"),
    ({"stepName": "s", "component": "train.sklearn-forest", "parameters": {"n_estimators": "1e9"}},
     "steps[0].parameters.n_estimators"),
    ({"stepName": "s", "component": "train.sklearn-forest", "parameters": {"n_estimators": 10**9}},
     "steps[0].parameters.n_estimators"),
    ({"stepName": "s", "component": "train.sklearn-forest", "inputs": {"table": "nowhere.table"}}, "steps[0].inputs.table"),
    ({"stepName": "s", "component": "train.sklearn-forest", "inputs": {"table": "load.model"}}, "steps[1].inputs.table"),
    ({"stepName": "s", "component": "train.sklearn-forest", "inputs": {"table": 7}}, "steps[0].inputs"),
    ({"stepName": "s", "component": "genome.fail", "parameters": {"exitCode": 99}}, "steps[0].parameters.exitCode"),
    ({"stepName": "s", "component": "genome.noop", "args": ["--x"]}, "steps[0].args"),
]


@pytest.mark.parametrize(("step", "loc"), CORPUS, ids=[loc + ":" + json.dumps(s)[:40] for s, loc in CORPUS])
def test_bad_component_steps_are_422_by_path_and_nothing_is_written(plugin_client, uploads: Path, step, loc) -> None:
    before = [LOAD] if loc.startswith("steps[1]") else []
    body = _sequence(step, *before)
    for path in ("/api/v1/sequences/validate", "/api/v1/sequences", "/api/v1/sequences/run"):
        response = plugin_client.client.post(
            path, content=json.dumps(body), headers={"Content-Type": "application/json", **plugin_client.headers()}
        )
        assert response.status_code == 422, (path, response.text)
        assert loc in {error["loc"] for error in response.json()["errors"]}, response.json()
    assert not uploads.exists() or not any(uploads.iterdir())
