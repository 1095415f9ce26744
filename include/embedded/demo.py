"""The demo pipeline, end to end against the embedded stack, through the public APIs only.

1. upload Genome's tabular example as a sequence through our plugin API and run it
   (train a forest + global SHAP explanations -> evaluate it, beside a contract check);
2. wait for Airflow to finish the run;
3. read the model and its evaluation back through the plugin API and ask for a realtime
   explanation of one row, exactly as a user's `curl` would;
4. print where to look.
"""

from __future__ import annotations

import json
import time
from importlib import resources
from typing import Any
from urllib.parse import quote

import httpx

from airgenome.embedded.http import AirflowClient, AirflowError
from airgenome.embedded.stack import EmbeddedStack, Progress

RUN_TIMEOUT_S = 900.0


def demo_sequence() -> dict[str, Any]:
    text = resources.files("airgenome.embedded").joinpath("demo_sequence.json").read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def _plugin(url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{url}/airgenome", headers={"Authorization": f"Bearer {token}"}, timeout=120.0
    )


def _check(response: httpx.Response, what: str) -> Any:
    if response.status_code >= 400:
        raise AirflowError(f"{what}: HTTP {response.status_code} {response.text}")
    return response.json()


def run_demo(stack: EmbeddedStack, token: str, progress: Progress | None = None) -> int:
    """Run the demo; ``progress`` gets the step-by-step lines (default: the stack's)."""
    progress = progress or stack.progress
    state = stack.load_state()
    assert state is not None
    sequence = demo_sequence()
    canonical = sequence["canonicalName"]
    with _plugin(state.url, token) as plugin:
        progress("uploading the demo sequence through POST /airgenome/api/v1/sequences/run")
        run = _check(plugin.post("/api/v1/sequences/run", json=sequence), "upload and run")
        dag_id, run_id = run["dag_id"], run["run_id"]
        progress(f"DAG {dag_id} run {run_id} triggered; waiting (training + evaluation)")
        airflow = AirflowClient(state.url, token)
        try:
            started = time.monotonic()
            outcome = airflow.wait_for_run(dag_id, run_id, timeout_s=RUN_TIMEOUT_S)
            tasks = airflow.task_states(dag_id, run_id)
        finally:
            airflow.close()
        progress(f"run {outcome} in {time.monotonic() - started:.1f}s: {tasks}")
        if outcome != "success":
            print(f"demo run {outcome}: {_absolute(state.url, run['run_url'])}")
            return 1

        models = _check(
            plugin.get("/api/v1/models", params={"canonicalName": canonical, "pipelineRunId": run_id}),
            "model search",
        )
        if not models["items"]:
            print(f"demo run succeeded but no model {canonical!r} was saved by run {run_id}")
            return 1
        model = models["items"][0]
        evaluations = _check(
            plugin.get("/api/v1/evaluations", params={"model": model["id"]}), "evaluations"
        )
        entry = _first_row()
        explain_body = {"application": sequence["application"], "canonicalName": canonical, "entries": [entry]}
        explanation = _check(plugin.post("/api/v1/explain", json=explain_body), "explanation")

    base = f"{state.url}/airgenome"
    model_path = quote(canonical.lstrip("/"), safe="/")
    version = model["version"]
    print()
    print(f"demo run success:  {_absolute(state.url, run['run_url'])}")
    print(f"Airflow UI:        {state.url}/dags/{dag_id}  (sign in as admin; password in {stack.paths.passwords_file})")
    print(f"model:             {base}/models/{model_path}  (version {version}, id {model['id']})")
    print(f"model card:        {base}/api/v1/models/{model_path}/versions/{version}/card.html")
    for item in evaluations.get("items", [])[:3]:
        print(f"evaluation:        {base}/evaluations/{item['id']}  ({item['name']}, status {item['status']})")
    print(f"explanation:       expected={_short(explanation['expected'])} "
          f"shapley[0][:3]={_short(explanation['shapley'][0][:3])}")
    print("try it yourself:")
    print(f"  curl -s -X POST {base}/api/v1/explain \\")
    print('    -H "Authorization: Bearer $(.venv/bin/airgenome token)" -H "Content-Type: application/json" \\')
    print(f"    -d '{json.dumps(explain_body)}'")
    print("stop everything:   .venv/bin/airgenome down")
    return 0


def _first_row() -> list[float]:
    from sklearn.datasets import load_diabetes

    return [round(float(value), 6) for value in load_diabetes().data[0]]


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def _absolute(base: str, url: str) -> str:
    return url if url.startswith("http") else f"{base}{url}"
