"""CLAIMED's CT-scan demo, end to end against the embedded stack, through the public APIs only.

1. run ``dags/sequences/claimed-ct.json`` (synthetic CT slices with a planted sex shortcut)
   and, beside it, the same sequence with the bias switched off, uploaded through our plugin
   API as ``claimed-ct-unbiased``;
2. wait for Airflow to finish both runs;
3. read what each step returned (its result manifest, from Airflow's XCom API) and the blessing
   evaluation (from our evaluation API);
4. print the story: accuracy, the fairness finding, where the model looks, robustness per eps,
   the verdict with its reasons, where the model went, and where to look.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import httpx

from airgenome.components.bless.policy import TAG_EVALUATION as BLESSING_EVALUATION_TAG
from airgenome.components.bless.policy import TAG_VERDICT as BLESSING_TAG
from airgenome.embedded.http import AirflowClient, AirflowError
from airgenome.embedded.stack import EmbeddedStack, Progress

SEQUENCE_FILE = "sequences/claimed-ct.json"
DAG_ID = "claimed-ct"
UNBIASED_PIPELINE = "claimed-ct-unbiased"
DAG_WAIT_S = 600.0  # a busy 2-CPU machine parses the uploaded DAG late
RUN_TIMEOUT_S = 1800.0
EVALUATIONS = ("confusion-matrix", "fairness", "explanations", "robustness")
PUBLISHING = ("champion", "kserve", "report")


@dataclass
class DemoRun:
    label: str
    dag_id: str
    run_id: str
    outcome: str = "running"
    seconds: float = 0.0
    states: dict[str, str | None] = field(default_factory=dict)
    manifests: dict[str, dict[str, Any]] = field(default_factory=dict)
    blessing: dict[str, Any] | None = None
    model: dict[str, Any] | None = None  # the version this run saved, from the plugin's model API

    def metrics(self, task_id: str) -> dict[str, Any]:
        return dict((self.manifests.get(task_id) or {}).get("metrics") or {})


def sequence_with_bias(sequence: Mapping[str, Any], bias: str, pipeline_name: str) -> dict[str, Any]:
    """The same sequence, its data step's `bias` parameter set, under another pipeline name."""
    variant = json.loads(json.dumps(sequence))
    variant["pipelineName"] = pipeline_name
    for step in _steps(variant["steps"]):
        if step.get("component") == "input.synthetic-ct":
            step["parameters"]["bias"] = bias
    return variant


def _steps(items: list[Any]) -> list[dict[str, Any]]:
    flat: list[dict[str, Any]] = []
    for item in items:
        flat.extend(_steps(item) if isinstance(item, list) else [item])
    return flat


def _xcom(airflow: httpx.Client, run: DemoRun, task_id: str) -> dict[str, Any] | None:
    response = airflow.get(
        f"/api/v2/dags/{run.dag_id}/dagRuns/{quote(run.run_id, safe='')}/taskInstances/{task_id}"
        "/xcomEntries/return_value"
    )
    if response.status_code == 404:
        return None
    if response.status_code >= 400:
        raise AirflowError(f"XCom of {task_id}: HTTP {response.status_code} {response.text}")
    value = response.json().get("value")
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            return None
    return value if isinstance(value, dict) else None


def _collect(
    run: DemoRun, airflow: AirflowClient, http: httpx.Client, plugin: httpx.Client, canonical: str
) -> None:
    run.states = airflow.task_states(run.dag_id, run.run_id)
    models = plugin.get("/api/v1/models", params={"canonicalName": canonical, "pipelineRunId": run.run_id})
    if models.status_code == 200 and models.json().get("items"):
        run.model = models.json()["items"][0]
    for task_id, state in run.states.items():
        if state == "success":
            manifest = _xcom(http, run, task_id)
            if manifest is not None:
                run.manifests[task_id] = manifest
    bless = run.manifests.get("bless") or {}
    # NOT_BLESSED ends the step skipped (no XCom): its verdict and reasons are on the version.
    tags = (run.model or {}).get("tags") or {}
    evaluation_id = (bless.get("evaluation_ids") or [None])[0] or tags.get(BLESSING_EVALUATION_TAG)
    if evaluation_id:
        response = plugin.get(f"/api/v1/evaluations/{evaluation_id}")
        if response.status_code == 200:
            run.blessing = response.json()
    if not bless and tags.get(BLESSING_TAG):
        run.manifests["bless"] = {"verdict": tags[BLESSING_TAG], "model_version": (run.model or {}).get("id")}


def _wait(runs: list[DemoRun], airflow: AirflowClient, progress: Progress) -> None:
    started = time.monotonic()
    pending = {run.run_id: run for run in runs}
    seen: dict[str, dict[str, str | None]] = {}
    while pending and time.monotonic() - started < RUN_TIMEOUT_S:
        for run in list(pending.values()):
            states = airflow.task_states(run.dag_id, run.run_id)
            done = sorted(t for t, s in states.items() if s in ("success", "skipped", "failed"))
            if done != sorted(t for t, s in seen.get(run.run_id, {}).items() if s in ("success", "skipped", "failed")):
                progress(f"{run.label}: {len(done)}/{len(states)} steps done "
                         f"({time.monotonic() - started:.0f}s; last: {', '.join(done[-2:])})")
            seen[run.run_id] = states
            state = airflow.run_state(run.dag_id, run.run_id)
            if state in ("success", "failed"):
                run.outcome, run.seconds = state, time.monotonic() - started
                del pending[run.run_id]
        time.sleep(2.0)
    for run in pending.values():
        run.outcome, run.seconds = "timed out", time.monotonic() - started


def run_ct_demo(stack: EmbeddedStack, token: str, progress: Progress | None = None, *, unbiased: bool = True) -> int:
    """Run the CT demo (and its unbiased twin); print what happened and where to look."""
    from airgenome import settings

    progress = progress or stack.progress
    state = stack.load_state()
    assert state is not None
    sequence = json.loads((settings.dags_folder() / SEQUENCE_FILE).read_text())
    headers = {"Authorization": f"Bearer {token}"}
    airflow = AirflowClient(state.url, token, timeout=120.0)
    with (
        httpx.Client(base_url=state.url, headers=headers, timeout=120.0) as http,
        httpx.Client(base_url=f"{state.url}/airgenome", headers=headers, timeout=120.0) as plugin,
    ):
        try:
            if unbiased:
                # Uploaded through the plugin (saved, parse requested) before anything runs, so
                # the DAG processor parses it on a quiet machine; triggered below like the shipped one.
                variant = sequence_with_bias(sequence, "none", UNBIASED_PIPELINE)
                response = plugin.post("/api/v1/sequences", json=variant, timeout=600.0)
                if response.status_code >= 400:
                    raise AirflowError(f"upload {UNBIASED_PIPELINE}: HTTP {response.status_code} {response.text}")
                progress(f"uploaded {UNBIASED_PIPELINE} (bias switched off) through the plugin")
            pipelines = [("biased", DAG_ID, "planted sex shortcut")]
            if unbiased:
                pipelines.append(("unbiased", UNBIASED_PIPELINE, "bias switched off"))
            runs = []
            for label, dag_id, what in pipelines:
                progress(f"waiting for DAG {dag_id}")
                airflow.wait_for_dag(dag_id, timeout_s=DAG_WAIT_S)
                airflow.unpause(dag_id)
                runs.append(DemoRun(label, dag_id, airflow.trigger(dag_id)))
                progress(f"{dag_id} run {runs[-1].run_id} triggered ({what})")
            _wait(runs, airflow, progress)
            for run in runs:
                _collect(run, airflow, http, plugin, sequence["canonicalName"])
        except httpx.HTTPError as error:  # a timeout or a refused connection: say which call
            raise AirflowError(f"{type(error).__name__} talking to {error.request.url}: {error}") from error
        finally:
            airflow.close()
    for run in runs:
        _print_run(run, state.url)
    print(f"asset graph:   {state.url}/assets")
    print("stop everything: .venv/bin/airgenome down")
    return 0 if all(run.outcome == "success" for run in runs) else 1


def _fmt(value: Any) -> str:
    return f"{value:.3f}" if isinstance(value, float) else str(value)


def fairness_finding(metrics: Mapping[str, Any], bounds: Mapping[str, tuple[float, float]]) -> str:
    """The attribute and metric furthest outside its bounds, or that all are inside."""
    worst: tuple[float, str] | None = None
    for attribute, values in metrics.items():
        if not isinstance(values, Mapping):
            continue
        for metric, (low, high) in bounds.items():
            value = values.get(metric)
            if not isinstance(value, int | float):
                continue
            excess = max(low - value, value - high, 0.0)
            if excess > 0 and (worst is None or excess > worst[0]):
                worst = (excess, f"{attribute}: {metric} = {value:.3f} (fair range {low:g}..{high:g})")
    return worst[1] if worst else "no attribute outside the fair ranges"


FAIR_RANGES = {"equal_opportunity_difference": (-0.1, 0.1), "statistical_parity_difference": (-0.1, 0.1),
               "disparate_impact": (0.8, 1.25), "average_odds_difference": (-0.1, 0.1)}


def _print_run(run: DemoRun, url: str) -> None:
    plugin = f"{url}/airgenome"
    print()
    print(f"== {run.label} data: {run.dag_id} — run {run.outcome} in {run.seconds:.0f}s")
    print(f"run:           {url}/dags/{run.dag_id}/runs/{quote(run.run_id, safe='')}")
    failed = sorted(t for t, s in run.states.items() if s == "failed")
    if failed:
        print(f"failed steps:  {', '.join(failed)} (see their logs in the run's grid)")
    confusion = run.metrics("confusion-matrix")
    if confusion:
        print(f"accuracy:      {_fmt(confusion.get('accuracy'))} on {confusion.get('n_examples')} held-out slices")
    fairness = run.metrics("fairness")
    if fairness:
        print(f"fairness:      {fairness_finding(fairness, FAIR_RANGES)}")
    gradcam = run.metrics("explanations").get("gradcam") or {}
    if gradcam:
        print(f"explanations:  Grad-CAM puts {_fmt(gradcam.get('heat_inside'))} of its heat on the finding "
              f"(finding area {_fmt(gradcam.get('mask_area'))} of the slice; mean heat inside "
              f"{_fmt(gradcam.get('mean_heat_inside_mask'))} vs outside {_fmt(gradcam.get('mean_heat_outside_mask'))})")
    robustness = run.metrics("robustness")
    for attack, by_eps in (robustness.get("adversarial") or {}).items():
        steps = ", ".join(f"eps {eps}: {_fmt(v.get('accuracy'))}" for eps, v in by_eps.items())
        print(f"robustness:    {attack} accuracy {steps}")
    bless = run.manifests.get("bless") or {}
    print(f"blessing:      {bless.get('verdict') or run.states.get('bless')}")
    for task in (run.blessing or {}).get("tasks", []):
        for expectation in task.get("expectations", []):
            print(f"  [{expectation.get('statusName', '?').upper():4}] {task['name']}: {expectation.get('recipe')}")
    version = bless.get("model_version") or (run.manifests.get("train") or {}).get("model_version")
    for task_id in PUBLISHING:
        manifest = run.manifests.get(task_id)
        if manifest is None:
            print(f"{task_id + ':':14} {run.states.get(task_id) or 'not run'}")
            continue
        outputs = manifest.get("outputs") or {}
        first: dict[str, Any] = next(iter(outputs.values()), {})
        detail = first.get("metadata") or {}
        summary = {k: detail[k] for k in ("alias", "previous", "name", "namespace", "applied", "dry_run", "url") if k in detail}
        print(f"{task_id + ':':14} {first.get('uri')} {json.dumps(summary) if summary else ''}")
    if run.model:
        page = f"{plugin}/models/{quote(run.model['canonicalName'].lstrip('/'), safe='/')}/versions/{run.model['version']}"
        print(f"model:         {page}  (id {run.model['id']})")
        print(f"lineage:       {page}/lineage")
        print(f"reports:       {page}/reports")
    elif version:
        print(f"model:         {version}")
    for task_id in EVALUATIONS:
        for evaluation_id in (run.manifests.get(task_id) or {}).get("evaluation_ids", []):
            print(f"evaluation:    {plugin}/evaluations/{evaluation_id}  ({task_id})")

