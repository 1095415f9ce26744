"""Shared by the fault tests: put a DAG where `dag.test()` needs it and read task errors (the run's output: `tests.captured`)."""

from __future__ import annotations

import re
from typing import Any


def register(dag: Any) -> None:
    """Write the DAG to the metadata DB as the DAG processor would (dag.test needs it)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(collect_dags=False)
    bag.bag_dag(dag)
    sync_bag_to_db(bag, "dags-folder", None)


def task_error(output: str, exception: str, step: str) -> str:
    """The message of the exception a task failed with, as its log shows it (may span lines)."""
    pattern = re.compile(rf"^\S*{re.escape(exception)}: step '{re.escape(step)}': (.*?)(?=^\S|\Z)", re.M | re.S)
    found = pattern.findall(output)
    assert found, f"no {exception} for step {step!r} in the task logs"
    return str(found[-1]).rstrip()
