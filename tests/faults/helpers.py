"""Shared by the fault tests: run a DAG with `dag.test()` and keep what it printed."""

from __future__ import annotations

import io
import os
import re
import sys
import tempfile
from typing import Any


class CapturedOutput:
    """What a run writes to stdout / stderr (where dag.test's task logs go): the Python
    streams and the file descriptors under them."""

    text = ""

    def __enter__(self) -> CapturedOutput:
        self.file = tempfile.TemporaryFile(mode="w+b")
        self.saved = [os.dup(1), os.dup(2)]
        for stream in (1, 2):
            os.dup2(self.file.fileno(), stream)
        self.streams = (sys.stdout, sys.stderr)
        self.buffer = io.StringIO()
        sys.stdout = sys.stderr = self.buffer
        return self

    def __exit__(self, *exc: object) -> None:
        sys.stdout, sys.stderr = self.streams
        for stream, saved in zip((1, 2), self.saved, strict=True):
            os.dup2(saved, stream)
            os.close(saved)
        self.file.seek(0)
        self.text = self.buffer.getvalue() + self.file.read().decode("utf-8", errors="replace")
        self.file.close()


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
