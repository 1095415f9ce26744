"""The ONE place that creates Airflow objects from a sequence: `build_dag(plan)`.

Everything was decided by `plan.plan_sequence`; this module only translates. Airflow is
imported inside the function, so validating or planning a spec never imports it.
"""

from __future__ import annotations

import functools
import sys
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from airgenome.sequence.plan import MAX_RETRY_DELAY_SECONDS, RETRY_BACKOFF, Plan, PlannedTask

if TYPE_CHECKING:
    from airflow.sdk import DAG
    from airflow.sdk.bases.operator import BaseOperator



def _timetable(plan: Plan) -> Any:
    schedule = plan.schedule
    if schedule is None:
        return None
    if schedule.kind == "once":
        return "@once"
    if schedule.kind == "assets":
        from airflow.sdk import Asset

        # By name: the producing DAG declares the asset's URI (lake.asset_uri).
        return [Asset.ref(name=name) for name in schedule.assets]
    if schedule.kind == "duration":
        from airflow.timetables.trigger import DeltaTriggerTimetable

        assert schedule.seconds is not None
        return DeltaTriggerTimetable(timedelta(seconds=schedule.seconds))
    from airflow.timetables.trigger import CronTriggerTimetable

    return CronTriggerTimetable(schedule.cron, timezone="UTC")


@functools.cache
def _airflow_dag_defaults() -> dict[str, Any]:
    """Airflow's configured per-DAG defaults, read once per process and passed explicitly.

    DAG's own field factories would read the config four times for every DAG built; the
    values are identical within a parse (and in the serialized DAG), only cheaper to get.
    """
    from airflow.sdk.configuration import conf

    return {
        "max_active_tasks": conf.getint("core", "max_active_tasks_per_dag"),
        "max_active_runs": conf.getint("core", "max_active_runs_per_dag"),
        "max_consecutive_failed_dag_runs": conf.getint("core", "max_consecutive_failed_dag_runs_per_dag"),
        "disable_bundle_versioning": conf.getboolean("dag_processor", "disable_bundle_versioning"),
    }


_LAKE_VARIABLES: tuple[str, ...] | None = None
_LAKE_CACHE: dict[tuple[object, ...], str] = {}


def _lake_root() -> str:
    """The lake root for this DAG's assets. A setting read through Airflow's config costs
    ~0.7 ms, so it is cached per process, keyed on its variables (like the limits)."""
    global _LAKE_VARIABLES
    from airgenome import settings

    if _LAKE_VARIABLES is None:
        _LAKE_VARIABLES = settings.variables_of(("lake_root", "home"))
    key = settings.fingerprint(_LAKE_VARIABLES)
    root = _LAKE_CACHE.get(key)
    if root is None:
        root = _LAKE_CACHE[key] = settings.lake_root()
    return root


def _common(task: PlannedTask) -> dict[str, Any]:
    common: dict[str, Any] = {
        "task_id": task.task_id,
        "retries": task.retries,
        "retry_delay": timedelta(seconds=task.retry_delay_seconds),
        "retry_exponential_backoff": RETRY_BACKOFF,
        "max_retry_delay": timedelta(seconds=MAX_RETRY_DELAY_SECONDS),
        "execution_timeout": (
            timedelta(seconds=task.execution_timeout_seconds)
            if task.execution_timeout_seconds is not None
            else None
        ),
        "pool_slots": task.pool_slots,
    }
    if task.pool is not None:
        common["pool"] = task.pool
    if task.description:
        common["doc_md"] = task.description  # shown as text in the UI, never rendered by Jinja
    return common


def pod_command(task: PlannedTask) -> tuple[list[str] | None, list[str] | None]:
    """(cmds, arguments) of a command or image step's pod: its command, or the image's own."""
    args = list(task.args) if task.args is not None else None
    if task.command is not None:
        return list(task.command), args
    return None, args  # the image's own entrypoint


def build_operator(task: PlannedTask, task_group: Any = None, lake_root: str | None = None) -> BaseOperator:
    """The operator of one planned step: a component step gets its category's operator
    (worker or pod by the plan's mode); a command or image step the plain step operators."""
    common = _common(task)
    if task_group is not None:
        common["task_group"] = task_group
    if task.approval is not None:
        return _approval_operator(task, common)
    if task.component is not None and task.command is None:
        from airgenome.operators.categories import BY_CATEGORY

        operator_class = BY_CATEGORY[task.category or task.component.partition(".")[0]]
        return operator_class(
            component=task.component,
            parameters=task.contract.parameters,
            inputs={name: f"{upstream}.{output}" for name, upstream, output in task.inputs},
            mode=task.mode,
            image=task.image,
            cpu=task.resources.cpu,
            memory=task.resources.memory,
            gpu=task.resources.gpu,
            contract=task.contract,
            lenient_parameters=task.from_image,
            lake_root=lake_root,
            **common,
        )
    if task.mode == "kubernetes":
        from airgenome.operators.pod import GenomePodOperator

        assert task.image is not None  # validation requires an image in kubernetes mode
        cmds, arguments = pod_command(task)
        return GenomePodOperator(
            image=task.image,
            cmds=cmds,
            arguments=arguments,
            contract=task.contract,
            cpu=task.resources.cpu,
            memory=task.resources.memory,
            gpu=task.resources.gpu,
            **common,
        )
    from airgenome.operators.step import GenomeStepOperator

    return GenomeStepOperator(
        contract=task.contract,
        component=task.component,
        command=list(task.command) if task.command is not None else None,
        args=list(task.args) if task.args is not None else None,
        **common,
    )


def _approval_operator(task: PlannedTask, common: dict[str, Any]) -> BaseOperator:
    """A human approval step: Airflow's ApprovalOperator over the blessing step's manifest."""
    from airgenome.operators.categories import BlessApprovalOperator

    approval = task.approval
    assert approval is not None
    for key in ("retries", "retry_delay", "retry_exponential_backoff", "max_retry_delay", "execution_timeout"):
        common.pop(key, None)  # asked once; its deadline is the response timeout
    return BlessApprovalOperator(
        subject=approval.subject,
        body=approval.body,
        blessing_task_ids=list(approval.blessing_task_ids) if approval.explicit_source else None,
        default=approval.default,
        response_timeout=(
            timedelta(seconds=approval.timeout_seconds) if approval.timeout_seconds is not None else None
        ),
        pipeline_name=task.contract.pipeline_name,
        ask=approval.ask,
        **common,
    )


def build_dag(plan: Plan, *, fileloc: str | None = None) -> DAG:
    """The Airflow DAG of a plan. ``fileloc`` is the .py file Airflow attributes it to
    (default: the caller's file, so the loader's DAGs belong to the loader file)."""
    from airflow.sdk import DAG, TaskGroup

    dag = DAG(
        dag_id=plan.dag_id,
        dag_display_name=plan.display_name,
        description=plan.description,
        schedule=_timetable(plan),
        start_date=plan.start_date,
        catchup=False,
        tags=set(plan.tags),
        render_template_as_native_obj=False,
        **_airflow_dag_defaults(),
    )
    dag.fileloc = fileloc or sys._getframe(1).f_code.co_filename
    groups: dict[str, Any] = {}
    for group in plan.groups:  # parents are planned before their children
        groups[group.group_id] = TaskGroup(
            group_id=group.group_id,
            parent_group=groups[group.parent] if group.parent else None,
            prefix_group_id=False,  # task ids stay the step names (REST API, Genome's UI)
            tooltip=f"parallel group {group.path}",
            dag=dag,
        )
    operators: dict[str, Any] = {}
    root = _lake_root() if any(t.component is not None for t in plan.tasks) else None
    with dag:
        for task in plan.tasks:
            operators[task.task_id] = build_operator(
                task, groups[task.group] if task.group else None, root
            )
    for task in plan.tasks:
        for upstream in task.upstream:
            operators[upstream] >> operators[task.task_id]
    return dag
