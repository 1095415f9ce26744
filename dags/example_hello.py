"""A one-step smoke DAG: proves the embedded stack schedules and runs tasks."""

from __future__ import annotations

from airflow.sdk import DAG, task

with DAG(dag_id="airgenome_hello", schedule=None, catchup=False, tags=["airgenome", "example"]):

    @task
    def hello() -> str:
        import platform

        return f"hello from airgenome on Python {platform.python_version()}"

    hello()
