"""End to end on the real embedded Airflow: upload -> DAG -> run, then a re-trigger through the
official `apache-airflow-client` whose conf overrides the step's PARAMETERS."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.waiting import wait_until

pytestmark = pytest.mark.timeout(600)


def _sequence(name: str, output: Path) -> dict[str, Any]:
    return {
        "pipelineName": name,
        "canonicalName": f"/tests/{name}",
        "application": "tests",
        "deployment": "deploy-1",
        "steps": [
            {
                "stepName": "echo-env",
                "stepType": "model",
                "component": "genome.echo",
                "parameters": {"greeting": "from the upload", "outputFile": str(output)},
                "datasets": [],
                "timeout": "120s",
                "retry": "0",
            }
        ],
    }


def _wait_run(api: Any, dag_id: str, run_id: str, timeout_s: float = 240.0) -> str:
    def finished() -> str | None:
        state = str(api.get_dag_run(dag_id, run_id).state.value)
        return state if state in ("success", "failed") else None

    return wait_until(finished, timeout_s=timeout_s, what=f"run {run_id} of {dag_id} to finish")


def test_upload_runs_and_official_client_overrides_parameters(live_stack) -> None:
    from airflow_client import client as airflow

    name = f"live-echo-{uuid.uuid4().hex[:8]}"
    first_out = live_stack.home / "echo" / f"{name}-first.json"
    second_out = live_stack.home / "echo" / f"{name}-second.json"
    auth = {"Authorization": f"Bearer {live_stack.token}"}
    base = f"{live_stack.url}/airgenome/api/v1/sequences"

    # The embedded viewer may not upload.
    viewer = {"Authorization": f"Bearer {live_stack.token_for('viewer')}"}
    refused = httpx.post(f"{base}/run", json=_sequence(name, first_out), headers=viewer, timeout=30)
    assert refused.status_code == 403, refused.text

    # Upload through the plugin API of the running api-server: saved, parsed now, triggered.
    response = httpx.post(f"{base}/run", json=_sequence(name, first_out), headers=auth, timeout=120)
    assert response.status_code == 201, response.text
    saved = response.json()
    assert saved["dag_id"] == name and saved["visible"] is True and saved["parse_requested"] is True
    assert saved["file"] == f"{name}.json"
    assert (live_stack.home / "uploads" / f"{name}.json").is_file()
    assert saved["dag_url"] == f"/dags/{name}"
    run_id = saved["run_id"]

    configuration = airflow.Configuration(host=live_stack.url, access_token=live_stack.token)
    with airflow.ApiClient(configuration) as api_client:
        dags = airflow.DAGApi(api_client)
        runs = airflow.DagRunApi(api_client)
        dag = dags.get_dag(name)
        assert dag.is_paused is False
        assert "sequence" in {tag.name for tag in dag.tags}
        assert _wait_run(runs, name, run_id) == "success"
        first = json.loads(first_out.read_text())
        assert json.loads(first["PARAMETERS"]) == {
            "greeting": "from the upload",
            "outputFile": str(first_out),
        }
        assert first["PIPELINE_RUNID"] == run_id
        assert first["PIPELINE_NAME"] == name and first["STEP_NAME"] == "echo-env"

        # A later trigger through Airflow's own REST API, with conf overriding parameters.
        body = airflow.TriggerDAGRunPostBody(
            logical_date=None,
            run_after=datetime.now(UTC) - timedelta(seconds=1),
            conf={"parameters": {"greeting": "from conf", "outputFile": str(second_out)}},
        )
        second_run = runs.trigger_dag_run(name, body)
        assert _wait_run(runs, name, second_run.dag_run_id) == "success"
    second = json.loads(second_out.read_text())
    assert json.loads(second["PARAMETERS"]) == {"greeting": "from conf", "outputFile": str(second_out)}
    assert second["PIPELINE_RUNID"] == second_run.dag_run_id

    # The plugin shows the sequence with both runs and their states.
    detail = httpx.get(f"{base}/{name}", headers=auth, timeout=30).json()
    assert detail["airflow_error"] is None
    assert detail["dag"]["is_paused"] is False
    assert {(run["run_id"], run["state"]) for run in detail["runs"]} == {
        (run_id, "success"),
        (second_run.dag_run_id, "success"),
    }
    listing = httpx.get(base, headers=auth, timeout=30).json()
    mine = next(item for item in listing["sequences"] if item["dag_id"] == name)
    assert mine["origin"] == "upload" and mine["latest_run"]["state"] == "success"
    page = httpx.get(f"{live_stack.url}/airgenome/sequences/{name}", headers=auth, timeout=30)
    assert page.status_code == 200 and f"href='/dags/{name}'" in page.text


def test_replace_is_visible_and_delete_retires_the_dag(live_stack) -> None:
    name = f"live-replace-{uuid.uuid4().hex[:8]}"
    auth = {"Authorization": f"Bearer {live_stack.token}"}
    base = f"{live_stack.url}/airgenome/api/v1/sequences"
    output = live_stack.home / "echo" / f"{name}.json"

    created = httpx.post(base, json=_sequence(name, output), headers=auth, timeout=60)
    assert created.status_code == 201, created.text
    assert created.json()["visible"] is True and created.json()["replaced"] is False

    # Genome's path, with a schedule: the same DAG now reflects the new spec.
    scheduled = dict(_sequence(name, output), schedule="6h", description="second version")
    replaced = httpx.post(
        f"{live_stack.url}/airgenome/v1.0/genome/compute/sequencer",
        json=scheduled,
        headers=auth,
        timeout=60,
    )
    assert replaced.status_code == 201, replaced.text
    assert replaced.json()["replaced"] is True and replaced.json()["visible"] is True
    dag = httpx.get(f"{live_stack.url}/api/v2/dags/{name}", headers=auth, timeout=30).json()
    assert dag["description"] == "second version"
    assert dag["timetable_summary"] is not None

    # An invalid replacement changes nothing.
    bad = dict(scheduled, schedule="every tuesday")
    assert httpx.post(base, json=bad, headers=auth, timeout=30).status_code == 422
    detail = httpx.get(f"{base}/{name}", headers=auth, timeout=30).json()
    assert json.loads(detail["source"])["schedule"] == "6h"

    before = httpx.get(f"{live_stack.url}/api/v2/dags/{name}", headers=auth, timeout=30).json()
    deleted = httpx.delete(f"{base}/{name}", headers=auth, timeout=30)
    assert deleted.status_code == 200 and deleted.json()["parse_requested"] is True
    assert httpx.get(f"{base}/{name}", headers=auth, timeout=30).status_code == 404
    # The loader file is re-parsed without it: its sibling DAGs move on, it does not (Airflow
    # marks it stale at its next cleanup, [scheduler] parsing_cleanup_interval).
    # A parse already under way when the file was deleted may still stamp it once (after the
    # sibling, in that same parse); a later parse moves the sibling on and no longer stamps it.
    # If the deleted DAG kept being parsed, the sibling would never get ahead: the wait fails.
    def sibling_ahead_of_the_deleted_dag() -> tuple[dict[str, Any], dict[str, Any]] | None:
        sibling = httpx.get(f"{live_stack.url}/api/v2/dags/genome-parallel", headers=auth, timeout=30).json()
        gone = httpx.get(f"{live_stack.url}/api/v2/dags/{name}", headers=auth, timeout=30).json()
        ahead = sibling["last_parsed_time"] > max(before["last_parsed_time"], gone["last_parsed_time"])
        return (sibling, gone) if ahead else None

    # The loader re-parses every shipped sequence (claimed-ct among them): allow a busy machine 2 min.
    sibling, after = wait_until(
        sibling_ahead_of_the_deleted_dag, timeout_s=120, what="a parse of the loader file without it", every_s=0.25
    )
    assert after["last_parsed_time"] < sibling["last_parsed_time"]


def test_page_validates_and_saves_and_runs_in_a_browser(live_stack) -> None:
    """The page's fetch() posts with the UI cookie and this site's Origin; errors show inline."""
    from urllib.parse import urlparse

    from playwright.sync_api import sync_playwright

    name = f"live-page-{uuid.uuid4().hex[:8]}"
    output = live_stack.home / "echo" / f"{name}.json"
    bad = dict(_sequence(name, output))
    bad["steps"] = [dict(bad["steps"][0], timeout="1x", retry="many")]
    host = urlparse(live_stack.url).hostname
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        try:
            context = browser.new_context()
            context.add_cookies(
                [{"name": "_token", "value": live_stack.token, "domain": host, "path": "/"}]
            )
            page = context.new_page()
            page.goto(f"{live_stack.url}/airgenome/sequences")
            page.fill("#sequence-text", json.dumps(bad))
            page.click("button[data-action='validate']")
            page.wait_for_selector("#sequence-result .field-errors")
            assert page.get_attribute("#sequence-result", "data-status") == "422"
            locs = page.locator("#sequence-result .field-errors li code").all_inner_texts()
            assert locs == ["steps[0].retry", "steps[0].timeout"]

            page.fill("#sequence-text", json.dumps(_sequence(name, output)))
            page.click("button[data-action='run']")
            page.wait_for_selector("#sequence-result.ok", timeout=90_000)
            text = page.inner_text("#sequence-result")
            assert f"Saved {name}.json as DAG {name} (visible in Airflow)." in text
            assert "Triggered run " in text
            hrefs = page.locator("#sequence-result a").evaluate_all("els => els.map(e => e.getAttribute('href'))")
            assert f"/dags/{name}" in hrefs
        finally:
            browser.close()
    assert (live_stack.home / "uploads" / f"{name}.json").is_file()
