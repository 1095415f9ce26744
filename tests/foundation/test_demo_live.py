"""`airgenome demo`'s pipeline on the real embedded stack: upload -> train -> evaluate ->
model, evaluation and a realtime explanation read back through the plugin API."""

from __future__ import annotations

import httpx
import pytest

from airgenome.embedded.demo import demo_sequence, run_demo
from airgenome.embedded.stack import EmbeddedStack

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_demo_pipeline_end_to_end(live_stack, capsys) -> None:
    code = run_demo(EmbeddedStack(live_stack.home), live_stack.token)
    out = capsys.readouterr().out
    assert code == 0, out
    assert "demo run success:" in out
    assert "/airgenome/models/diabetes/progression/forest-1" in out
    assert "curl -s -X POST" in out

    headers = {"Authorization": f"Bearer {live_stack.token}"}
    base = f"{live_stack.url}/airgenome/api/v1"
    models = httpx.get(f"{base}/models", params={"canonicalName": demo_sequence()["canonicalName"]},
                       headers=headers).json()["items"]
    assert models and models[0]["pipelineName"] == "genome-demo"
    assert models[0]["pipelineStage"] == "train-forest"
    evaluations = httpx.get(f"{base}/evaluations", params={"model": models[0]["id"]}, headers=headers).json()
    assert [item["name"] for item in evaluations["items"]] == ["demo/diabetes/forest-quality"]
    detail = httpx.get(f"{base}/evaluations/{evaluations['items'][0]['id']}", headers=headers).json()
    names = [task["name"] for task in detail["tasks"]]
    assert names == ["fit_quality", "no_gap_between_sexes", "worst_records"]
    assert len(detail["tasks"][2]["prototypes"]) == 3
    card = httpx.get(f"{base}/models/diabetes/progression/forest-1/versions/{models[0]['version']}/card",
                     headers=headers).json()
    assert [run["id"] for run in card["evaluations"]["runs"]] == [evaluations["items"][0]["id"]]
