"""The demo pipeline, run end to end against the embedded stack."""

from __future__ import annotations

from airgenome.cli.output import progress
from airgenome.embedded.http import AirflowClient
from airgenome.embedded.stack import EmbeddedStack

DEMO_DAG_ID = "airgenome_hello"


def run_demo(stack: EmbeddedStack, token: str) -> int:
    state = stack.load_state()
    assert state is not None
    client = AirflowClient(state.url, token)
    try:
        progress(f"waiting for DAG {DEMO_DAG_ID}")
        client.wait_for_dag(DEMO_DAG_ID)
        client.unpause(DEMO_DAG_ID)
        run_id = client.trigger(DEMO_DAG_ID)
        progress(f"triggered {DEMO_DAG_ID} run {run_id}")
        outcome = client.wait_for_run(DEMO_DAG_ID, run_id)
        progress(f"run {run_id}: {outcome}")
    finally:
        client.close()
    print(f"demo run {outcome}: {state.url}/dags/{DEMO_DAG_ID}/runs/{run_id}")
    print(f"airgenome pages:  {state.url}/airgenome/")
    print("stop everything:  airgenome down")
    return 0 if outcome == "success" else 1
