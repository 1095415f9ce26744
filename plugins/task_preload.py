"""Warm task processes: the scheduler imports what sequence tasks need before it forks.

Airflow's LocalExecutor forks its worker processes from the scheduler when the scheduler starts,
and each task process is forked from a worker. What the scheduler has imported by then, every
task process starts with: Airflow itself is why a PythonOperator task starts in ~0.1 s. A
sequence task also imports the loader, the category operators, the component registry and, for
approval and publish steps, the model and evaluation stores (MLflow among them): 0.4-1.5 s of
imports per task on 2 CPUs. The plugin is loaded in the scheduler before the executor starts
(Airflow's listener manager loads plugins when a job starts), so it imports them there
(`task_preload`; `none` turns it off). Other processes are left alone.
"""

from __future__ import annotations

import importlib
import logging
import sys

log = logging.getLogger(__name__)


def in_scheduler(argv: list[str] | None = None) -> bool:
    """True in ``airflow scheduler`` (the LocalExecutor's parent), not in the API server, the
    DAG processor, the triggerer or a task process."""
    args = sys.argv if argv is None else argv
    return args[1:2] == ["scheduler"]


def modules_to_preload() -> list[str]:
    from airgenome import settings

    return settings.unless_none(settings.string_list("task_preload"))


def preload_for_task_processes(argv: list[str] | None = None) -> list[str]:
    """Import `task_preload` when this is the scheduler; the names that failed (logged)."""
    if not in_scheduler(argv):
        return []
    failed = []
    names = modules_to_preload()
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as error:  # noqa: BLE001 - a missing optional library only costs time
            log.warning("airgenome: task_preload: %s not imported (%s: %s)", name, type(error).__name__, error)
            failed.append(name)
    if "airgenome.build.loader" in names and "airgenome.build.loader" not in failed:
        # Every DAG built once here, inherited by every task: a task re-validates only what
        # changed since (a file, an installed or described component).
        from airgenome.build.loader import warm_up

        try:
            log.info("airgenome: task_preload: %d sequence DAG(s) built ahead of the task processes", warm_up())
        except Exception as error:  # noqa: BLE001 - each task builds its own then
            log.warning("airgenome: task_preload: DAG building not warmed (%s: %s)", type(error).__name__, error)
            failed.append("airgenome.build.loader.warm_up")
    return failed
