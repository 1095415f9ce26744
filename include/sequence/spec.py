"""The Genome sequence JSON as pydantic v2 models (the JSON Schema is generated from these).

A sequence is data: every field is a plain value, `component` is looked up in an explicit
registry, `command` is an argv list (no shell), nothing names Python code. Field formats
(durations, retries, schedules, quantities, registry names) are checked here; whole-graph
rules (duplicate names, limits, templates, GPU pool size, image allow-list) live in
`airgenome.sequence.validate`, which also turns pydantic's errors into JSON paths.

In ``steps`` a list is a sequence and a nested list a parallel group; members of a parallel
group may be lists again (sequential sub-chains), alternating at every depth.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Union

from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PrivateAttr,
    Tag,
    ValidationInfo,
    field_validator,
)
from pydantic_core import PydanticCustomError
from typing_extensions import TypeAliasType

from airgenome.components import registry
from airgenome.sequence.durations import DurationError, parse_duration, parse_schedule

_CPU = re.compile(r"^([0-9]+(\.[0-9]+)?m?)$")
_MEMORY = re.compile(r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Set by the step contract; a spec's env may not shadow them (it could not anyway: the
# contract applies them last, but a silent no-op would confuse the author).
RESERVED_ENV = frozenset(
    {
        "DEPLOYMENT",
        "DEPLOYMENT_PARAMETERS",
        "APPLICATION",
        "PIPELINE_RUNID",
        "PIPELINE_NAME",
        "CANONICAL_NAME",
        "STEP_NAME",
        "STEP_TYPE",
        "PARAMETERS",
        "DATASETS",
        "AIRGENOME_MODEL_STORE_URI",
        "AIRGENOME_MODEL_ARTIFACTS",
        "AIRGENOME_EVALUATION_STORE_URI",
    }
)


def _fail(message: str) -> PydanticCustomError:
    return PydanticCustomError("genome", message)


def _limit(info: ValidationInfo, name: str, default: int) -> int:
    context = info.context or {}
    limits = context.get("limits")
    return int(getattr(limits, name, default)) if limits is not None else default


def check_timeout(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return value
    try:
        seconds = parse_duration(value)
    except DurationError as error:
        raise _fail(str(error)) from None
    maximum = _limit(info, "max_timeout_seconds", 7 * 86400)
    if seconds > maximum:
        raise _fail(f"{value!r} is longer than the maximum timeout of {maximum}s")
    return value


def check_retry(value: Any, info: ValidationInfo) -> Any:
    if value is None:
        return value
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _fail(f"{value!r} is not a retry count like \"3\"")
    text = str(value).strip()
    if not text.isdigit():
        raise _fail(f"{value!r} is not a retry count (a whole number >= 0) like \"3\"")
    maximum = _limit(info, "max_retries", 10)
    if int(text) > maximum:
        raise _fail(f"{value!r} is more than the maximum of {maximum} retries")
    return value


class Resources(BaseModel):
    """What a step asks for: Kubernetes quantities, and whole GPUs (also Airflow pool slots)."""

    model_config = ConfigDict(extra="forbid")

    cpu: str | int | float | None = Field(default=None, description="CPU quantity: 2, 0.5 or 500m")
    memory: str | None = Field(default=None, description="memory quantity: 512Mi, 2Gi")
    gpu: int = Field(default=0, description="whole GPUs (nvidia.com/gpu); also the pool slots")

    @field_validator("cpu", mode="before")
    @classmethod
    def _cpu(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, bool) or not _CPU.match(str(value)) or float(str(value).rstrip("m")) <= 0:
            raise _fail(f"{value!r} is not a CPU quantity like 2, 0.5 or 500m")
        return value

    @field_validator("memory", mode="before")
    @classmethod
    def _memory(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not _MEMORY.match(value)):
            raise _fail(f"{value!r} is not a memory quantity like 512Mi or 2Gi")
        return value

    @field_validator("gpu", mode="before")
    @classmethod
    def _gpu(cls, value: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise _fail(f"{value!r} is not a GPU count (a whole number >= 0)")
        return value

    def cpu_text(self) -> str | None:
        return None if self.cpu is None else str(self.cpu)


def _check_env(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    bad = [k for k in value if not isinstance(k, str) or not _ENV_NAME.match(k)]
    if bad:
        raise _fail(f"{bad[0]!r} is not an environment variable name (letters, digits, _)")
    reserved = sorted(k for k in value if k in RESERVED_ENV)
    if reserved:
        raise _fail(f"{', '.join(reserved)} is set by the sequencer for every step; rename it")
    return value


class _StepFields(BaseModel):
    """Fields a step and the sequence-level ``defaults`` share."""

    model_config = ConfigDict(extra="forbid")

    stepType: str | None = Field(default=None, description="Genome step type (model, ...)")
    image: str | None = Field(default=None, description="container image (kubernetes mode)")
    timeout: str | int | None = Field(
        default=None, description="execution timeout: 360s, 30m, 6h, 1d or seconds"
    )
    retry: str | int | None = Field(default=None, description='retries with backoff: "3"')
    env: dict[str, str] = Field(default_factory=dict, description="extra environment variables")
    resources: Resources | None = None
    pool: str | None = Field(default=None, description="Airflow pool (GPU steps use the GPU pool)")

    _timeout = field_validator("timeout", mode="before")(check_timeout)
    _retry = field_validator("retry", mode="before")(check_retry)
    _env = field_validator("env", mode="before")(_check_env)

    @field_validator("image", mode="before")
    @classmethod
    def _image(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or not value.strip() or " " in value):
            raise _fail(f"{value!r} is not an image reference like ensemble-training:local.3")
        return value


class StepDefaults(_StepFields):
    """Sequence-level values every step inherits unless it sets its own."""


APPROVE = "Approve"
REJECT = "Reject"
MAX_APPROVAL_MINUTES = 7 * 24 * 60


class Approval(BaseModel):
    """A human approval (Airflow's ``ApprovalOperator``): Approve runs what follows; Reject
    records NOT_BLESSED by that person and skips it. Its body shows the upstream blessing
    step's verdict, key metrics and links (from that step's result manifest)."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(
        default=None, max_length=200, description="headline shown in Required Actions (default: from the model)"
    )
    body: str | None = Field(
        default=None, max_length=5000, description="text (Markdown) shown above the verdict, metrics and links"
    )
    timeoutMinutes: int | None = Field(
        default=None,
        description="how long to wait for an answer (1 to 10080); then `default` is taken",
    )
    default: str | None = Field(
        default=None, description='the answer taken when the timeout passes: "Approve" or "Reject"'
    )
    ask: Literal["always", "whenPolicyRequires"] = Field(
        default="always",
        description="always ask; or ask only when the blessing step's policy requires approval "
        "(its manifest's approval.required), else let the version through, recorded as not required",
    )
    blessingStep: str | None = Field(
        default=None,
        description="the step whose result manifest (verdict, model version, evaluations, metrics) "
        "the approval shows and records its decision on (default: the steps right before it)",
    )

    @field_validator("subject", mode="before")
    @classmethod
    def _subject(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            raise _fail("must not be empty (leave it out for the default subject)")
        return value

    @field_validator("timeoutMinutes", mode="before")
    @classmethod
    def _timeout(cls, value: Any) -> Any:
        if value is None:
            return value
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_APPROVAL_MINUTES:
            raise _fail(f"{value!r} is not a whole number of minutes from 1 to {MAX_APPROVAL_MINUTES} (7 days)")
        return value

    @field_validator("default", mode="before")
    @classmethod
    def _default(cls, value: Any) -> Any:
        if value is not None and value not in (APPROVE, REJECT):
            raise _fail(f"{value!r} is not an answer: use \"{APPROVE}\" or \"{REJECT}\"")
        return value


class Step(_StepFields):
    """One compute step (Genome's fields plus airgenome's extensions)."""

    stepName: str = Field(description="unique in the sequence; becomes the task id")
    parameters: dict[str, Any] = Field(default_factory=dict, description="PARAMETERS (JSON)")
    datasets: list[Any] = Field(default_factory=list, description="DATASETS: list of dataRefs")
    component: str | None = Field(
        default=None, description="a component from the catalogue (`airgenome components`)"
    )
    inputs: dict[str, str] = Field(
        default_factory=dict,
        description='the component\'s inputs wired to upstream outputs: {"table": "load.table"}',
    )
    command: list[str] | None = Field(default=None, description="argv to run (no shell)")
    args: list[str] | None = Field(default=None, description="arguments after command/entrypoint")
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    approval: Approval | None = Field(
        default=None,
        description="makes this step a human approval (Airflow's ApprovalOperator) instead of a "
        "compute step: Approve runs the steps after it, Reject skips them",
    )

    @field_validator("component", mode="before")
    @classmethod
    def _component(cls, value: Any) -> Any:
        if value is not None and (not isinstance(value, str) or registry.resolve(value) is None):
            raise _fail(f"{value!r} is not a known component (known: {', '.join(registry.names())})")
        return value

    @field_validator("inputs", mode="before")
    @classmethod
    def _inputs(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        for name, ref in value.items():
            if not isinstance(ref, str) or ref.count(".") < 1 or not all(ref.rpartition(".")[::2]):
                raise _fail(f"{name}: {ref!r} is not a reference like \"<stepName>.<output>\"")
        return value

    @field_validator("command", mode="before")
    @classmethod
    def _command(cls, value: Any) -> Any:
        if isinstance(value, str):
            raise _fail('command is an argv list like ["python", "train.py"], not a shell string')
        if isinstance(value, list) and not value:
            raise _fail("command must not be empty")
        return value


class AssetSchedule(BaseModel):
    """Run whenever every listed Airflow asset has a new event (e.g. an upstream step's output)."""

    model_config = ConfigDict(extra="forbid")

    assets: list[str] = Field(
        min_length=1,
        max_length=50,
        description="asset names, e.g. airgenome/<pipeline>/<step>/<output> for a step's output",
    )

    @field_validator("assets", mode="before")
    @classmethod
    def _names(cls, value: Any) -> Any:
        if isinstance(value, list):
            for name in value:
                if not isinstance(name, str) or not name.strip() or len(name) > 1500:
                    raise _fail(f"{name!r} is not an asset name (1 to 1500 characters)")
        return value


def _schedule_kind(value: Any) -> str:
    return "by-assets" if isinstance(value, dict | AssetSchedule) else "by-text"


# A schedule is a string, or an object naming assets (tags keep pydantic's errors to one member).
ScheduleField = Annotated[
    Union[Annotated[str, Tag("by-text")], Annotated[AssetSchedule, Tag("by-assets")]],  # noqa: UP007
    Discriminator(_schedule_kind),
]


def _step_or_group(value: Any) -> str:
    return "group" if isinstance(value, list) else "step"


# A named recursive type (pydantic needs TypeAliasType for self-reference).
StepOrGroup = TypeAliasType(  # type: ignore[misc]
    "StepOrGroup",
    Annotated[
        Union[Annotated[Step, Tag("step")], Annotated[list["StepOrGroup"], Tag("group")]],  # type: ignore[misc]  # noqa: UP007
        Discriminator(_step_or_group),
    ],
)


class Sequence(BaseModel):
    """A Genome sequence: metadata, an optional schedule, and the step tree."""

    model_config = ConfigDict(extra="forbid", title="Genome sequence")

    pipelineName: str = Field(description="becomes the DAG id (sanitised: see dag_id_for)")
    canonicalName: str | None = None
    application: str = Field(description="Genome application; becomes a DAG tag")
    deployment: str | None = Field(default=None, description="becomes a DAG tag and DEPLOYMENT")
    deploymentParameters: Any = Field(default=None, description="DEPLOYMENT_PARAMETERS (JSON)")
    schedule: ScheduleField | None = Field(  # type: ignore[valid-type]
        default=None,
        description='30m / 6h / 1d, a 5-field cron, @daily-style preset, {"assets": [names]}, or null',
    )
    createdAt: datetime | None = Field(
        default=None,
        description="when the sequence was created (set on upload); duration schedules start "
        "one period after it",
    )
    description: str | None = None
    tags: list[str] = Field(default_factory=list)
    defaults: StepDefaults | None = None
    steps: list[StepOrGroup] = Field(  # type: ignore[misc]  # mypy cannot follow the recursion
        description="a list runs in order; a nested list runs in parallel; lists alternate"
    )

    # The execution mode this sequence was validated for (set by parse_sequence).
    _mode: str = PrivateAttr(default="local")
    # The limits it was validated against, so planning uses the very same ones.
    _limits: Any = PrivateAttr(default=None)

    @field_validator("schedule", mode="before")
    @classmethod
    def _schedule(cls, value: Any, info: ValidationInfo) -> Any:
        if value is None or isinstance(value, dict | AssetSchedule):
            return value  # an asset schedule: its model checks it
        if not isinstance(value, str):
            raise _fail(f"{value!r} is not a schedule (a string like 6h, '0 3 * * *', @daily or {{\"assets\": [...]}})")
        try:
            parse_schedule(value, min_seconds=_limit(info, "min_schedule_seconds", 60))
        except DurationError as error:
            raise _fail(str(error)) from None
        return value

    @field_validator("createdAt", mode="after")
    @classmethod
    def _aware(cls, value: datetime | None) -> datetime | None:
        # A naive timestamp is read as UTC so the schedule never depends on the host's zone.
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value

    @property
    def mode(self) -> str:
        return self._mode


def iter_steps(steps: list[Any], path: str = "steps") -> list[tuple[str, Step]]:
    """Every step of a validated tree with its JSON path, in document order."""
    found: list[tuple[str, Step]] = []
    for index, item in enumerate(steps):
        where = f"{path}[{index}]"
        if isinstance(item, list):
            found.extend(iter_steps(item, where))
        else:
            found.append((where, item))
    return found


SCHEMA_ID = "https://airgenome.dev/schemas/sequence.schema.json"


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a sequence file (shipped as sequence.schema.json for IDEs).

    Each component's parameter schema is attached to the step definition as an
    ``if component = NAME then parameters: <its schema>`` clause (for every name and alias),
    so an editor completes and checks parameters by the component a step names.
    """
    schema = Sequence.model_json_schema()
    step = schema.get("$defs", {}).get("Step")
    if step is not None:
        clauses = []
        for spec in registry.specs():
            parameters = spec.parameter_schema()
            definitions = parameters.pop("$defs", None)
            if definitions:
                for key, value in definitions.items():
                    schema["$defs"].setdefault(key, value)
            names = [spec.name, *spec.aliases]
            clauses.append(
                {
                    "if": {"properties": {"component": {"enum": names}}, "required": ["component"]},
                    "then": {"properties": {"parameters": parameters}},
                }
            )
        step["allOf"] = clauses
        step["properties"]["component"]["description"] = (
            "a component from the catalogue: " + ", ".join(registry.names())
        )
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}
