"""A validated sequence as a framework-neutral plan: tasks, edges, groups, schedule.

Everything Airflow needs is decided here, as plain frozen data, so `render.build_dag` only
translates. The plan is a pure function of the spec (and the configured limits): no clock,
no randomness, no file system — the same spec always plans (and renders) the same DAG.

Edges: in a sequence every element depends on all exits of the previous element; a parallel
group's members all depend on what precedes the group, and what follows depends on every
member's exits. A member that is a list is a sequential sub-chain.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from airgenome.components import registry
from airgenome.sequence.components import component_for_image
from airgenome.sequence.config import SequencerLimits, limits
from airgenome.sequence.contract import StepContract
from airgenome.sequence.durations import Schedule, parse_duration, parse_schedule
from airgenome.sequence.spec import Sequence, Step
from airgenome.sequence.validate import effective, group_id_for, step_image, task_id_for

# Used as the DAG's start when the spec has no createdAt: a fixed instant, never now(),
# so re-parsing never changes the serialized DAG.
FIXED_START = datetime(2024, 1, 1, tzinfo=UTC)
RETRY_DELAY_SECONDS = 30
MAX_RETRY_DELAY_SECONDS = 3600
RETRY_BACKOFF = 2.0  # the delay doubles with each retry
_DAG_ID_BAD = re.compile(r"[^A-Za-z0-9_.-]")


def dag_id_for(seq: Sequence) -> str:
    """The DAG id: pipelineName with every character outside [A-Za-z0-9_.-] as ``_``."""
    return _sanitise_dag_id(seq.pipelineName)


def dag_id_of_name(name: str) -> str:
    """The DAG id a pipelineName becomes (what `dag_id_for` returns for its sequence)."""
    return _sanitise_dag_id(name)


def _sanitise_dag_id(name: str) -> str:
    dag_id = _DAG_ID_BAD.sub("_", name.strip())[:250]
    # A leading dot would make the upload file hidden; an empty name still needs an id.
    return ("_" + dag_id[1:] if dag_id.startswith(".") else dag_id) or "_"


@dataclass(frozen=True)
class PlannedResources:
    cpu: str | None = None
    memory: str | None = None
    gpu: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"cpu": self.cpu, "memory": self.memory, "gpu": self.gpu}


@dataclass(frozen=True)
class PlannedApproval:
    """A human approval: what to ask, how long to wait, and whose result manifest to show."""

    subject: str | None
    body: str | None
    timeout_seconds: int | None
    default: str | None
    # Task ids whose result manifest is shown (the explicit blessingStep, else the upstream).
    blessing_task_ids: tuple[str, ...]
    explicit_source: bool
    ask: str = "always"

    def to_dict(self) -> dict[str, Any]:
        return {
            "subject": self.subject,
            "body": self.body,
            "timeout_seconds": self.timeout_seconds,
            "default": self.default,
            "blessing_task_ids": list(self.blessing_task_ids),
            "ask": self.ask,
        }


@dataclass(frozen=True)
class PlannedTask:
    task_id: str
    step_name: str
    path: str  # JSON path in the spec, e.g. steps[1][0]
    upstream: tuple[str, ...]
    group: str | None  # innermost parallel group id, None at top level
    mode: str
    image: str | None
    component: str | None  # catalogue name (explicit, or mapped from the image in local mode)
    command: tuple[str, ...] | None
    args: tuple[str, ...] | None
    pool: str | None
    pool_slots: int
    retries: int
    retry_delay_seconds: int
    execution_timeout_seconds: int | None
    resources: PlannedResources
    contract: StepContract
    description: str | None = None
    # input name -> (upstream task id, its output name); component steps only
    inputs: tuple[tuple[str, str, str], ...] = ()
    category: str | None = None  # the component's category (picks the operator class)
    # A Genome image step run locally by the component its image packages: the parameters
    # were written for the image, so the component ignores those it does not declare.
    from_image: bool = False
    approval: PlannedApproval | None = None  # a human approval step (runs nothing)


@dataclass(frozen=True)
class PlannedGroup:
    group_id: str
    path: str
    parent: str | None


@dataclass(frozen=True)
class Plan:
    dag_id: str
    display_name: str
    description: str | None
    tags: tuple[str, ...]
    mode: str
    schedule: Schedule | None
    start_date: datetime  # first duration run = created + one period
    created_at: datetime | None
    tasks: tuple[PlannedTask, ...]
    groups: tuple[PlannedGroup, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    def task(self, task_id: str) -> PlannedTask:
        return next(t for t in self.tasks if t.task_id == task_id)


class _Planner:
    def __init__(self, seq: Sequence, mode: str, limit: SequencerLimits) -> None:
        self.seq = seq
        self.mode = mode
        self.limit = limit
        self.tasks: list[PlannedTask] = []
        self.groups: list[PlannedGroup] = []

    def sequence(
        self, items: list[Any], path: str, incoming: tuple[str, ...], group: str | None
    ) -> tuple[str, ...]:
        current = incoming
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            if isinstance(item, list):
                current = self.parallel(item, where, current, group)
            else:
                current = (self.step(item, where, current, group),)
        return current

    def parallel(
        self, items: list[Any], path: str, incoming: tuple[str, ...], parent: str | None
    ) -> tuple[str, ...]:
        group_id = group_id_for(path)
        self.groups.append(PlannedGroup(group_id=group_id, path=path, parent=parent))
        exits: list[str] = []
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            if isinstance(item, list):
                exits.extend(self.sequence(item, where, incoming, group_id))
            else:
                exits.append(self.step(item, where, incoming, group_id))
        return tuple(exits)

    def step(self, step: Step, path: str, upstream: tuple[str, ...], group: str | None) -> str:
        if step.approval is not None:
            return self.approval_step(step, path, upstream, group)
        seq, defaults = self.seq, self.seq.defaults
        image = step_image(step, defaults) if self.mode == "kubernetes" else effective(step, defaults, "image")
        timeout = effective(step, defaults, "timeout")
        retry = effective(step, defaults, "retry")
        resources = effective(step, defaults, "resources")
        env = {**(defaults.env if defaults else {}), **step.env}
        planned_resources = PlannedResources(
            cpu=resources.cpu_text() if resources else None,
            memory=resources.memory if resources else None,
            gpu=resources.gpu if resources else 0,
        )
        component = step.component
        from_image = False
        if component is None and step.command is None and self.mode == "local" and image:
            component = component_for_image(image)
            from_image = component is not None
        if component is not None:
            component = registry.resolve(component) or component  # aliases -> the public name
        inputs = tuple(
            (name, task_id_for(ref.rpartition(".")[0]), ref.rpartition(".")[2])
            for name, ref in sorted(step.inputs.items())
        )
        gpus = planned_resources.gpu
        pool = self.limit.gpu_pool if gpus else effective(step, defaults, "pool")
        step_type = step.stepType or (defaults.stepType if defaults else None) or "model"
        contract = StepContract(
            pipeline_name=seq.pipelineName,
            application=seq.application,
            step_name=step.stepName,
            step_type=step_type,
            deployment=seq.deployment,
            deployment_parameters=seq.deploymentParameters,
            canonical_name=seq.canonicalName,
            parameters=dict(step.parameters),
            datasets=list(step.datasets),
            env=dict(sorted(env.items())),
        )
        task_id = task_id_for(step.stepName)
        self.tasks.append(
            PlannedTask(
                task_id=task_id,
                step_name=step.stepName,
                path=path,
                upstream=tuple(sorted(set(upstream))),
                group=group,
                mode=self.mode,
                image=image,
                component=component,
                command=tuple(step.command) if step.command is not None else None,
                args=tuple(step.args) if step.args is not None else None,
                pool=pool,
                pool_slots=max(gpus, 1),
                retries=int(str(retry)) if retry is not None else 0,
                retry_delay_seconds=RETRY_DELAY_SECONDS,
                execution_timeout_seconds=parse_duration(timeout) if timeout is not None else None,
                resources=planned_resources,
                contract=contract,
                description=step.description,
                inputs=inputs,
                category=component.partition(".")[0] if component is not None else None,
                from_image=from_image,
            )
        )
        return task_id


    def approval_step(self, step: Step, path: str, upstream: tuple[str, ...], group: str | None) -> str:
        approval = step.approval
        assert approval is not None
        seq = self.seq
        source = approval.blessingStep
        sources = (task_id_for(source),) if source is not None else tuple(sorted(set(upstream)))
        contract = StepContract(
            pipeline_name=seq.pipelineName,
            application=seq.application,
            step_name=step.stepName,
            step_type=step.stepType or "approval",
            deployment=seq.deployment,
            deployment_parameters=seq.deploymentParameters,
            canonical_name=seq.canonicalName,
            parameters={},
            datasets=[],
            env={},
        )
        task_id = task_id_for(step.stepName)
        self.tasks.append(
            PlannedTask(
                task_id=task_id,
                step_name=step.stepName,
                path=path,
                upstream=tuple(sorted(set(upstream))),
                group=group,
                mode=self.mode,
                image=None,
                component=None,
                command=None,
                args=None,
                pool=None,
                pool_slots=1,
                retries=0,
                retry_delay_seconds=RETRY_DELAY_SECONDS,
                execution_timeout_seconds=None,
                resources=PlannedResources(),
                contract=contract,
                description=step.description,
                approval=PlannedApproval(
                    subject=approval.subject,
                    body=approval.body,
                    timeout_seconds=approval.timeoutMinutes * 60 if approval.timeoutMinutes else None,
                    default=approval.default,
                    blessing_task_ids=sources,
                    explicit_source=source is not None,
                    ask=approval.ask,
                ),
            )
        )
        return task_id


def plan_sequence(
    seq: Sequence,
    *,
    limit: SequencerLimits | None = None,
    created_at_fallback: datetime | None = None,
) -> Plan:
    """Plan a sequence returned by `parse_sequence` (for the mode it was validated in).

    ``createdAt`` anchors the schedule; a file without one (hand-written, shipped) may pass
    ``created_at_fallback`` (the loader uses the file's modification time).
    """
    limit = limit or seq._limits or limits()
    planner = _Planner(seq, seq.mode, limit)
    planner.sequence(list(seq.steps), "steps", (), None)
    schedule: Schedule | None = None
    if isinstance(seq.schedule, str) and seq.schedule:
        schedule = parse_schedule(seq.schedule, min_seconds=limit.min_schedule_seconds)
    elif seq.schedule is not None and not isinstance(seq.schedule, str):
        names = tuple(seq.schedule.assets)
        schedule = Schedule(kind="assets", text="assets: " + ", ".join(names), assets=names)
    created = seq.createdAt or created_at_fallback
    start = created or FIXED_START
    if schedule is not None and schedule.kind == "duration" and created is not None:
        assert schedule.seconds is not None
        start = created + timedelta(seconds=schedule.seconds)
    tags = ["airgenome", "sequence", f"application:{seq.application}"]
    if seq.deployment:
        tags.append(f"deployment:{seq.deployment}")
    tags.extend(seq.tags)
    return Plan(
        dag_id=dag_id_for(seq),
        display_name=seq.pipelineName,
        description=seq.description,
        tags=tuple(sorted(set(tags))),
        mode=seq.mode,
        schedule=schedule,
        start_date=start.astimezone(UTC),
        created_at=created,
        tasks=tuple(planner.tasks),
        groups=tuple(planner.groups),
    )
