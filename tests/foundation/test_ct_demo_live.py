"""`make demo` on the real embedded stack: CLAIMED's CT pipeline with the planted bias and its
unbiased twin, end to end, checked through the public APIs; Chromium screenshots of the report,
the evaluation pages and the lineage (they land in $AIRGENOME_SCREENSHOTS when set)."""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from airgenome.embedded.ct_demo import DAG_ID, UNBIASED_PIPELINE, run_ct_demo
from airgenome.embedded.stack import EmbeddedStack

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(2400)]

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync"]
EVALUATIONS = ["confusion-matrix", "fairness", "explanations", "robustness"]
# The shipped policy's fairness bounds (dags/sequences/claimed-ct.json, step "bless").
POLICY_RANGES = {"equal_opportunity_difference": (-0.1, 0.1), "disparate_impact": (0.8, 1.25)}


@pytest.fixture(scope="module")
def demo(live_stack, tmp_path_factory) -> dict:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = run_ct_demo(EmbeddedStack(live_stack.home), live_stack.token, progress=lambda line: None)
    return {"code": code, "out": out.getvalue()}


def _api(live_stack, path: str, **params: str) -> dict:
    response = httpx.get(f"{live_stack.url}{path}", params=params, timeout=120,
                         headers={"Authorization": f"Bearer {live_stack.token}"})
    assert response.status_code == 200, (path, response.text)
    return response.json()


def _runs(live_stack, dag_id: str) -> list[dict]:
    return _api(live_stack, f"/api/v2/dags/{dag_id}/dagRuns", order_by="-run_after")["dag_runs"]


def _states(live_stack, dag_id: str, run_id: str) -> dict[str, str]:
    body = _api(live_stack, f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances")
    return {ti["task_id"]: ti["state"] for ti in body["task_instances"]}


def _manifest(live_stack, dag_id: str, run_id: str, task_id: str) -> dict:
    import json

    value = _api(live_stack, f"/api/v2/dags/{dag_id}/dagRuns/{quote(run_id, safe='')}/taskInstances/{task_id}"
                 "/xcomEntries/return_value")["value"]
    return json.loads(value) if isinstance(value, str) else value


def test_the_biased_model_is_caught_and_not_published(live_stack, demo) -> None:
    assert demo["code"] == 0, demo["out"]
    run = _runs(live_stack, DAG_ID)[0]
    states = _states(live_stack, DAG_ID, run["dag_run_id"])
    upstream = ["ct-data", "fix-finding", "drop-volumes", "class-folders", "mask-folders", "train", *EVALUATIONS]
    assert {task: states[task] for task in upstream} == dict.fromkeys(upstream, "success")
    # NOT_BLESSED ends the blessing step as skipped: nothing after it runs.
    assert {task: states[task] for task in ("bless", "approve", "champion", "kserve", "report")} == dict.fromkeys(
        ("bless", "approve", "champion", "kserve", "report"), "skipped"
    )
    # The planted shortcut, found: by sex, outside the fair range the policy holds it to (which
    # metric shows it most varies with how training went: equal opportunity or disparate impact).
    sex = _manifest(live_stack, DAG_ID, run["dag_run_id"], "fairness")["metrics"]["sex"]
    outside = {metric for metric, (low, high) in POLICY_RANGES.items() if not low <= sex[metric] <= high}
    assert outside, sex
    assert "fairness:      sex: " in demo["out"]
    # NOT_BLESSED skips the step; the demo still prints the verdict and its reasons.
    assert "blessing:      NOT_BLESSED" in demo["out"]
    assert "] fairness[" in demo["out"].split("== unbiased")[0]


def test_the_unbiased_twin_is_blessed_and_published(live_stack, demo) -> None:
    run = _runs(live_stack, UNBIASED_PIPELINE)[0]
    states = _states(live_stack, UNBIASED_PIPELINE, run["dag_run_id"])
    assert set(states.values()) == {"success"}, states
    bless = _manifest(live_stack, UNBIASED_PIPELINE, run["dag_run_id"], "bless")
    assert bless["verdict"] == "BLESSED"
    confusion = _manifest(live_stack, UNBIASED_PIPELINE, run["dag_run_id"], "confusion-matrix")["metrics"]
    assert confusion["accuracy"] >= 0.85
    champion = _manifest(live_stack, UNBIASED_PIPELINE, run["dag_run_id"], "champion")
    assert champion["outcome"] == "success"
    report = _manifest(live_stack, UNBIASED_PIPELINE, run["dag_run_id"], "report")["outputs"]["report"]
    assert report["kind"] == "report"
    assert Path(report["uri"].removeprefix("file://")).read_text().count("<img") >= 3
    assert "BLESSED" in demo["out"] and "lineage:" in demo["out"]


def test_screenshots_of_the_report_evaluations_and_lineage(live_stack, demo, tmp_path_factory) -> None:
    from playwright.sync_api import sync_playwright

    run = _runs(live_stack, UNBIASED_PIPELINE)[0]
    models = _api(live_stack, "/airgenome/api/v1/models", canonicalName="/claimed/ct/covid-classifier",
                  pipelineRunId=run["dag_run_id"])["items"]
    assert models, "the unbiased run saved no model"
    model = models[0]
    page_base = f"{live_stack.url}/airgenome/models/claimed/ct/covid-classifier/versions/{model['version']}"
    api_base = f"/airgenome/api/v1/models/claimed/ct/covid-classifier/versions/{model['version']}"
    reports = _api(live_stack, f"{api_base}/reports")["items"]
    assert reports, "no report for the published version"
    evaluation_ids = [
        evaluation_id
        for task in EVALUATIONS
        for evaluation_id in _manifest(live_stack, UNBIASED_PIPELINE, run["dag_run_id"], task)["evaluation_ids"]
    ]
    lineage = _api(live_stack, f"{api_base}/lineage")
    assert lineage  # the page below draws it
    shots = Path(os.environ.get("AIRGENOME_SCREENSHOTS") or tmp_path_factory.mktemp("ct-screenshots"))
    shots.mkdir(parents=True, exist_ok=True)
    pages = {
        "ct-report": f"{live_stack.url}{reports[0]['url']}" if reports[0]["url"].startswith("/") else reports[0]["url"],
        "ct-lineage": f"{page_base}/lineage",
        "ct-grid": f"{live_stack.url}/dags/{UNBIASED_PIPELINE}/runs/{quote(run['dag_run_id'], safe='')}",
        "ct-assets": f"{live_stack.url}/assets",
        **{f"ct-evaluation-{name}": f"{live_stack.url}/airgenome/evaluations/{evaluation_id}"
           for name, evaluation_id in zip(EVALUATIONS, evaluation_ids, strict=True)},
    }
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        context = browser.new_context(viewport={"width": 1280, "height": 1000})
        context.add_cookies([{"name": "_token", "value": live_stack.token, "url": live_stack.url}])
        page = context.new_page()
        for name, url in pages.items():
            # Airflow's own pages are a React app: let it fetch what it shows before the shot.
            response = page.goto(url, wait_until="networkidle")
            assert response is not None and response.status == 200, (name, url)
            # Our pages load pictures lazily: load them all, and each must really be served.
            page.evaluate("document.querySelectorAll('img').forEach(i => { i.loading = 'eager'; })")
            page.wait_for_function("Array.from(document.images).every(i => i.complete)", timeout=60_000)
            broken = page.evaluate("Array.from(document.images).filter(i => !i.naturalWidth).map(i => i.src)")
            assert broken == [], (name, broken)
            page.screenshot(path=str(shots / f"{name}.png"), full_page=True)
        browser.close()
    assert sorted(p.name for p in shots.glob("ct-*.png")) == sorted(f"{name}.png" for name in pages)
