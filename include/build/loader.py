"""Sequence plans -> Airflow DAGs for the DAG bundle's loader file.

``dags/sequences_loader.py`` calls `publish_dags`: one DAG per valid sequence (scanned by
`airgenome.sequence.loader`); broken files are reported by ``dags/sequences_errors.py``.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airgenome.sequence.loader import scan, sequence_folders

if TYPE_CHECKING:
    from airflow.sdk import DAG


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector for a bulk build, then restore it.

    Every DAG built here stays alive (the DagBag keeps it), so a collection in the middle of
    the build only walks a growing heap of live objects: a quarter of the loader's time at
    1000 sequences (README, benchmarks). Garbage made meanwhile is collected afterwards.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def requested_dag_id() -> str | None:
    """The one DAG a worker parses this file for (Airflow's parsing context), else None.

    A task's process parses the DAG file to find its task; building every other sequence's DAG
    there is wasted start-up on each step (Airflow documents this optimisation for dynamic DAG
    files). The DAG processor has no such context and builds them all.
    """
    from airflow.sdk import get_parsing_context

    dag_id: str | None = get_parsing_context().dag_id
    return dag_id


def build_dags(loader_file: str, folders: list[Path] | None = None, only: str | None = None) -> dict[str, DAG]:
    """DAG id -> DAG for every valid sequence (or only the DAG ``only``), attributed to ``loader_file``.

    With ``only``, files naming other pipelines are not even validated; which file owns
    ``only`` is still decided exactly as the DAG processor decides it (`scan`).
    """
    from airgenome.build.render import build_dag

    with _collector_paused():
        loaded, _broken = scan(folders or sequence_folders(loader_file), only=only)
        return {
            item.dag_id: build_dag(item.plan, fileloc=loader_file)
            for item in loaded
            if only is None or item.dag_id == only
        }


def publish_dags(namespace: MutableMapping[str, Any], loader_file: str) -> list[str]:
    """Put every valid sequence's DAG into a DAG file's globals (where the DagBag looks)."""
    dags = build_dags(loader_file, only=requested_dag_id())
    for dag_id, dag in dags.items():
        namespace[f"sequence_dag__{dag_id}"] = dag
    return sorted(dags)




# Built by `warm_up` even where no sequence exists yet, so the DAG-building path is warm.
_WARM_UP_SEQUENCE = {
    "pipelineName": "airgenome-warm-up",
    "application": "airgenome",
    "steps": [{"stepName": "noop", "component": "genome.noop"}],
}


def warm_up() -> int:
    """Build every sequence's DAG once and drop them; the number built.

    What stays in memory: the lazy imports and first-call costs of building a DAG (Airflow's
    timetables, assets, attrs-generated code: 40-70 ms the first time in a process, ~4 ms
    after), the component registry and each file's validated plan (the loader's per-process
    cache). The scheduler calls it before it forks its task processes (`task_preload`), so a
    task re-validates only a file or component changed since.
    """
    from airgenome import settings
    from airgenome.build.render import build_dag
    from airgenome.sequence.plan import plan_sequence
    from airgenome.sequence.validate import parse_sequence

    built = build_dags(str(settings.dags_folder() / "sequences_loader.py"), sequence_folders())
    build_dag(plan_sequence(parse_sequence(_WARM_UP_SEQUENCE)))
    return len(built)
