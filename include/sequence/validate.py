"""Validate a whole sequence before any Airflow object exists; report every offender at once.

`parse_sequence` runs three passes over the same document and merges their findings into ONE
`InvalidInput` whose ``details`` are ``{"loc": "steps[1][0].timeout", "msg": ...}``:

1. the raw JSON tree: size, template syntax in any string, empty/too wide/too deep lists,
   step count, step names (length, task-id collisions, duplicates);
2. pydantic: types, required and unknown fields, durations, retries, schedules, quantities;
3. the execution mode and platform limits: runnable steps, image allow-list, GPU pool size.

Step names are sanitised deterministically into task ids (every character outside
``[A-Za-z0-9_-]`` becomes ``_``); names that collide after sanitising are rejected.
"""

from __future__ import annotations

import difflib
import json
import re
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError

from airgenome.components import registry
from airgenome.errors import InvalidInput, PayloadTooLarge
from airgenome.sequence.components import component_for_image
from airgenome.sequence.config import MODES, SequencerLimits, execution_mode, limits
from airgenome.sequence.spec import Approval, Sequence, Step, StepDefaults, iter_steps

_TASK_ID_BAD = re.compile(r"[^A-Za-z0-9_-]")
_SIMPLE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_TEMPLATE_MARKERS = ("{{", "{%")


def task_id_for(step_name: str) -> str:
    """The task id of a step: its name with every character outside [A-Za-z0-9_-] as ``_``."""
    return _TASK_ID_BAD.sub("_", step_name.strip())


def group_id_for(path: str) -> str:
    """``steps[1][0][2]`` -> ``parallel_1_0_2``: the TaskGroup id of a parallel group."""
    return "parallel_" + "_".join(re.findall(r"\[(\d+)\]", path))


def _key_path(path: str, key: str) -> str:
    if _SIMPLE_KEY.match(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


class _Findings:
    def __init__(self) -> None:
        self.items: list[dict[str, str]] = []

    def add(self, loc: str, msg: str) -> None:
        item = {"loc": loc or "$", "msg": msg}
        if item not in self.items:
            self.items.append(item)


def _sort_key(loc: str) -> list[tuple[int, int | str]]:
    # Natural document order: steps[2] before steps[10]; "$" first.
    tokens = re.findall(r"\[(\d+)\]|\[(\"[^\"]*\")\]|([^.\[\]]+)", loc)
    key: list[tuple[int, int | str]] = []
    for index, quoted, name in tokens:
        key.append((1, int(index)) if index else (0, quoted or name))
    return [(-1, "")] if loc == "$" else key


def raise_if_any(findings: list[dict[str, str]], what: str = "sequence") -> None:
    if not findings:
        return
    ordered = sorted(findings, key=lambda f: _sort_key(f["loc"]))
    lines = "\n".join(f"  {f['loc']}: {f['msg']}" for f in ordered)
    count = len(ordered)
    raise InvalidInput(
        f"invalid {what} ({count} error{'s' if count != 1 else ''}):\n{lines}", details=ordered
    )


# ---------------------------------------------------------------- pass 0: bytes -> JSON
def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate key {key!r}")
        result[key] = value
    return result


def load_json(raw: bytes | str | Mapping[str, Any], max_bytes: int) -> dict[str, Any]:
    """The document as a dict, or InvalidInput at loc "$" / PayloadTooLarge."""
    if isinstance(raw, Mapping):
        size = len(json.dumps(raw, default=str).encode())
        text: str | None = None
    else:
        size = len(raw.encode() if isinstance(raw, str) else raw)
        text = None
    if size > max_bytes:
        raise PayloadTooLarge(
            f"sequence is {size} bytes; the limit is {max_bytes} bytes "
            "(AIRGENOME_MAX_SEQUENCE_BYTES)",
            details=[{"loc": "$", "msg": f"body of {size} bytes exceeds {max_bytes}"}],
        )
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError as error:
        raise_if_any([{"loc": "$", "msg": f"not UTF-8 text (byte {error.start})"}])
    assert text is not None
    try:
        document = json.loads(
            text, object_pairs_hook=_no_duplicate_keys, parse_constant=_reject_constant
        )
    except json.JSONDecodeError as error:
        raise_if_any(
            [
                {
                    "loc": "$",
                    "msg": f"not valid JSON: {error.msg} at line {error.lineno} column {error.colno}",
                }
            ]
        )
    except ValueError as error:
        raise_if_any([{"loc": "$", "msg": f"not valid JSON: {error}"}])
    if not isinstance(document, dict):
        raise_if_any(
            [{"loc": "$", "msg": f"a sequence is a JSON object, not {type(document).__name__}"}]
        )
    return document


# ---------------------------------------------------------------- pass 1: the raw tree
def _check_templates(value: Any, path: str, findings: _Findings) -> None:
    """Airflow renders Jinja in templated fields: a spec could read secrets with it."""
    if isinstance(value, str):
        for marker in _TEMPLATE_MARKERS:
            if marker in value:
                findings.add(
                    path,
                    f"contains {marker!r}: template syntax is not allowed "
                    "(Airflow would render it and could expose connections or variables)",
                )
                return
    elif isinstance(value, dict):
        for key, item in value.items():
            child = _key_path(path, str(key))
            if isinstance(key, str) and any(m in key for m in _TEMPLATE_MARKERS):
                findings.add(child, "key contains template syntax ({{ or {%), which is not allowed")
            _check_templates(item, child, findings)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            _check_templates(item, f"{path}[{index}]", findings)


# "{{" / "{%" can only appear after decoding if the text holds them literally or spells a
# brace or percent sign as a \u escape; otherwise the (costly) walk can be skipped.
_TEMPLATE_HINTS = ("{{", "{%", "\\u007b", "\\u007B", "\\u0025")


def _may_hold_templates(raw: bytes | str | Mapping[str, Any]) -> bool:
    if isinstance(raw, Mapping):
        return True
    text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
    return any(hint in text for hint in _TEMPLATE_HINTS)


def _check_tree(steps: Any, limit: SequencerLimits, findings: _Findings) -> None:
    if not isinstance(steps, list):
        return  # pydantic reports the type
    names: dict[str, str] = {}  # stepName -> path
    task_ids: dict[str, tuple[str, str]] = {}  # task id -> (path, stepName)
    group_ids: set[str] = set()
    count = 0

    def walk(items: list[Any], path: str, depth: int) -> None:
        nonlocal count
        parallel = depth % 2 == 1
        kind = "parallel group" if parallel else "sequence"
        if not items:
            findings.add(path, f"a {kind} must not be empty")
            return
        if depth > limit.max_depth:
            findings.add(path, f"nested deeper than {limit.max_depth} levels")
            return
        if parallel:
            group_ids.add(group_id_for(path))
            if len(items) > limit.max_group_width:
                findings.add(
                    path,
                    f"parallel group of {len(items)} members; the limit is {limit.max_group_width}",
                )
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            if isinstance(item, list):
                walk(item, where, depth + 1)
            elif isinstance(item, dict):
                count += 1
                _check_name(item.get("stepName"), where)

    def _check_name(name: Any, where: str) -> None:
        if not isinstance(name, str):
            return  # missing / wrong type: pydantic reports it
        loc = f"{where}.stepName"
        if not name.strip():
            findings.add(loc, "must not be empty")
            return
        if len(name) > limit.max_name_length:
            findings.add(loc, f"is {len(name)} characters; the limit is {limit.max_name_length}")
            return
        if name in names:
            findings.add(loc, f"duplicate step name {name!r} (also at {names[name]})")
            return
        names[name] = where
        task_id = task_id_for(name)
        if task_id in task_ids:
            other_path, other_name = task_ids[task_id]
            findings.add(
                loc,
                f"{name!r} becomes task id {task_id!r}, as does {other_name!r} at {other_path}: "
                "rename one (characters outside A-Z a-z 0-9 _ - become _)",
            )
            return
        task_ids[task_id] = (where, name)

    walk(steps, "steps", 0)
    for task_id, (where, name) in task_ids.items():
        if task_id in group_ids:
            findings.add(
                f"{where}.stepName",
                f"{name!r} is reserved for a parallel group's id (parallel_<position>); rename it",
            )
    if count > limit.max_steps:
        findings.add("steps", f"{count} steps; the limit is {limit.max_steps}")


# ---------------------------------------------------------------- pass 2: pydantic
_FRIENDLY = {
    "missing": "required field is missing",
    "string_type": "must be a string",
    "dict_type": "must be an object",
    "list_type": "must be a list",
    "bool_type": "must be true or false",
    "datetime_type": "must be an ISO 8601 timestamp like 2026-01-01T00:00:00Z",
    "datetime_parsing": "must be an ISO 8601 timestamp like 2026-01-01T00:00:00Z",
    "datetime_from_date_parsing": "must be an ISO 8601 timestamp like 2026-01-01T00:00:00Z",
}
_FIELDS_BY_MODEL: dict[str, set[str]] = {
    "step": set(Step.model_fields),
    "defaults": set(StepDefaults.model_fields),
    "resources": {"cpu", "memory", "gpu"},
    "schedule": {"assets"},
    "sequence": set(Sequence.model_fields),
    "approval": set(Approval.model_fields),
}


def _loc_to_path(loc: tuple[int | str, ...]) -> str:
    path = ""
    previous: int | str | None = None
    for token in loc:
        if isinstance(token, int):
            path += f"[{token}]"
        elif token in ("step", "group") and isinstance(previous, int):
            pass  # the discriminator's tag, not a field
        elif token in ("by-text", "by-assets"):
            pass  # the schedule's discriminator tag
        else:
            path = _key_path(path, token)
        previous = token
    return path


def _model_of(loc: tuple[int | str, ...]) -> str:
    parent = [t for t in loc[:-1] if not isinstance(t, int) and t not in ("step", "group")]
    if not parent:
        return "sequence"
    if parent[-1] == "by-assets":
        return "schedule"
    if parent[-1] in ("defaults", "resources", "approval"):
        return str(parent[-1])
    return "step"


def _pydantic_findings(error: ValidationError, findings: _Findings) -> None:
    for item in error.errors(include_url=False):
        if item["type"] in ("recursion_loop", "recursion_depth_exceeded"):
            continue  # too deep: the tree pass already reports where the nesting limit is hit
        loc = tuple(item["loc"])
        path = _loc_to_path(loc)
        kind = item["type"]
        if kind == "genome":
            message = item["msg"]
        elif kind == "extra_forbidden":
            known = _FIELDS_BY_MODEL[_model_of(loc)]
            close = difflib.get_close_matches(str(loc[-1]), known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else f" (known: {', '.join(sorted(known))})"
            message = f"unknown field{hint}"
        elif kind in ("model_type", "model_attributes_type") and loc and isinstance(loc[-1], str) and loc[-1] == "step":
            message = "must be a step object, or a list of steps (a parallel group)"
        elif kind in ("model_type", "model_attributes_type"):
            message = "must be an object"
        else:
            message = _FRIENDLY.get(kind, item["msg"])
        findings.add(path, message)


# ---------------------------------------------------------------- pass 3: mode and platform
def effective(step: Step, defaults: StepDefaults | None, name: str) -> Any:
    value = getattr(step, name)
    if value in (None, {}) and defaults is not None:
        return getattr(defaults, name)
    return value


def _valid_steps(document: dict[str, Any], limit: SequencerLimits) -> tuple[list[tuple[str, Step]], StepDefaults | None]:
    """When the whole document failed, the steps (and defaults) that are valid on their own,
    so platform rules still report on them in the same error."""
    context = {"limits": limit}
    defaults: StepDefaults | None = None
    try:
        defaults = StepDefaults.model_validate(document.get("defaults") or {}, context=context)
    except ValidationError:
        pass
    found: list[tuple[str, Step]] = []

    def walk(items: Any, path: str) -> None:
        if not isinstance(items, list):
            return
        for index, item in enumerate(items):
            where = f"{path}[{index}]"
            if isinstance(item, list):
                walk(item, where)
            elif isinstance(item, dict):
                try:
                    found.append((where, Step.model_validate(item, context=context)))
                except ValidationError:
                    pass

    walk(document.get("steps"), "steps")
    return found, defaults


def step_image(step: Step, defaults: StepDefaults | None) -> str | None:
    """The image a step runs in kubernetes mode: its own, the defaults', else its component's."""
    image = effective(step, defaults, "image")
    if image or step.component is None:
        return image  # type: ignore[no-any-return]
    resolved = registry.resolve(step.component)
    if resolved is None:
        return None
    spec = registry.get(resolved)
    resources = effective(step, defaults, "resources")
    return spec.images.gpu if resources is not None and resources.gpu else spec.images.cpu


def _check_platform(
    steps: list[tuple[str, Step]],
    defaults: StepDefaults | None,
    mode: str,
    limit: SequencerLimits,
    findings: _Findings,
) -> None:
    for path, step in steps:
        if step.approval is not None:
            continue  # runs nothing: no image, no command, no pool (checked by _check_approvals)
        image = step_image(step, defaults)
        if mode == "local":
            if step.component is None and step.command is None:
                mapped = component_for_image(image) if image else None
                if mapped is None:
                    hint = (
                        f"image {image!r} packages no catalogued component"
                        if image
                        else "it has neither component, command nor image"
                    )
                    findings.add(
                        path,
                        f"cannot run in local mode: {hint}; set component "
                        f"(one of {', '.join(registry.names())}) or command",
                    )
            elif step.component is not None and step.command is None:
                spec = registry.get(step.component)
                if spec.container is not None and spec.container.local_command is None:
                    findings.add(
                        f"{path}.component",
                        f"{spec.name} is a container image component without a localCommand: "
                        "it runs only in kubernetes mode",
                    )
        else:
            if not image:
                findings.add(f"{path}.image", "required in kubernetes mode (or set defaults.image)")
            else:
                refusal = limit.image_refusal(image)
                if refusal is not None:
                    findings.add(f"{path}.image", refusal)
        resources = effective(step, defaults, "resources")
        gpus = resources.gpu if resources is not None else 0
        if gpus > limit.gpu_slots:
            findings.add(
                f"{path}.resources.gpu",
                f"asks for {gpus} GPU(s) but the GPU pool {limit.gpu_pool!r} has "
                f"{limit.gpu_slots} slot(s) (AIRGENOME_GPU_SLOTS / [airgenome] gpu_slots): "
                "it would wait forever",
            )
        pool = effective(step, defaults, "pool")
        if gpus and pool not in (None, limit.gpu_pool):
            findings.add(
                f"{path}.pool",
                f"GPU steps run in the GPU pool {limit.gpu_pool!r}, not {pool!r}",
            )


# ---------------------------------------------------------------- pass 4: components
def _predecessors(steps: list[Any]) -> dict[str, set[str]]:
    """stepName -> the steps that finish before it starts (the plan's edges, transitively)."""
    before: dict[str, set[str]] = {}

    def names(item: Any) -> set[str]:
        if isinstance(item, list):
            return set().union(*(names(i) for i in item)) if item else set()
        return {item.stepName}

    def sequence(items: list[Any], incoming: set[str]) -> None:
        current = set(incoming)
        for item in items:
            if isinstance(item, list):
                parallel(item, current)
            else:
                before[item.stepName] = current
            current = current | names(item)

    def parallel(items: list[Any], incoming: set[str]) -> None:
        for item in items:
            if isinstance(item, list):
                sequence(item, incoming)
            else:
                before[item.stepName] = incoming

    sequence(steps, set())
    return before


def _check_components(seq: Sequence, findings: _Findings) -> None:
    """Each component step's parameters against its schema, and the wiring of its inputs."""
    located = iter_steps(seq.steps)
    by_name = {step.stepName: step for _, step in located}
    before = _predecessors(list(seq.steps))
    for path, step in located:
        if step.component is None:
            if step.inputs:
                findings.add(f"{path}.inputs", "only component steps take inputs (set component)")
            continue
        spec = registry.get(step.component)
        if step.args is not None and step.command is None:
            findings.add(f"{path}.args", "a component step takes parameters, not args (or set command)")
        _, problems = spec.validate_parameters(step.parameters)
        for problem in problems:
            where = f"{path}.parameters"
            findings.add(_key_path(where, problem.path) if problem.path else where, problem.message)
        for name, port in spec.inputs.items():
            if port.required and name not in step.inputs:
                findings.add(
                    f"{path}.inputs.{name}",
                    f"{spec.name} needs input {name!r} (a {port.kind}); wire it like "
                    f'"{name}": "<stepName>.<output>"',
                )
        for name, ref in step.inputs.items():
            loc = _key_path(f"{path}.inputs", name)
            port = spec.inputs.get(name)
            if port is None:
                known = ", ".join(spec.inputs) or "none"
                findings.add(loc, f"{spec.name} has no input {name!r} (its inputs: {known})")
                continue
            source_name, _, output = ref.rpartition(".")
            source = by_name.get(source_name)
            if source is None:
                findings.add(loc, f"{ref!r}: there is no step {source_name!r}")
                continue
            if source.component is None:
                findings.add(loc, f"{ref!r}: step {source_name!r} runs no component, so it has no outputs")
                continue
            produced = registry.get(source.component).outputs.get(output)
            if produced is None:
                outputs = ", ".join(registry.get(source.component).outputs) or "none"
                findings.add(loc, f"{ref!r}: step {source_name!r} has no output {output!r} (its outputs: {outputs})")
                continue
            if produced.kind != port.kind:
                findings.add(loc, f"{ref!r} is a {produced.kind}; {spec.name} input {name!r} needs a {port.kind}")
            if source_name not in before.get(step.stepName, set()):
                findings.add(
                    loc,
                    f"{ref!r}: step {source_name!r} does not run before {step.stepName!r} "
                    "(it runs in parallel with it or after it)",
                )


# ---------------------------------------------------------------- pass 5: approvals
# Fields an approval step cannot have: it runs nothing (Airflow's ApprovalOperator waits for a
# person), so each would be silently ignored; say so instead, by path.
_NOT_FOR_APPROVALS = {
    "component": "an approval step runs no component: put the component in a step of its own",
    "command": "an approval step runs no command",
    "args": "an approval step runs no command",
    "image": "an approval step runs no image",
    "parameters": "an approval step takes no parameters (its settings are in approval)",
    "datasets": "an approval step reads no datasets",
    "inputs": "an approval step takes no inputs (approval.blessingStep names the step it shows)",
    "env": "an approval step runs no process, so it has no environment",
    "resources": "an approval step runs no process, so it needs no resources",
    "pool": "an approval step waits in no pool",
    "timeout": "the answer's deadline is approval.timeoutMinutes",
    "retry": "an approval is asked once; it is not retried",
}


def _check_approvals(seq: Sequence, findings: _Findings) -> None:
    located = iter_steps(seq.steps)
    names = {step.stepName for _, step in located}
    before = _predecessors(list(seq.steps))
    for path, step in located:
        approval = step.approval
        if approval is None:
            continue
        for name in sorted(step.model_fields_set & set(_NOT_FOR_APPROVALS)):
            value = getattr(step, name)
            if value not in (None, {}, []):
                findings.add(f"{path}.{name}", _NOT_FOR_APPROVALS[name])
        if approval.default is not None and approval.timeoutMinutes is None:
            findings.add(
                f"{path}.approval.default",
                "is the answer taken when nobody answers in time: set approval.timeoutMinutes too",
            )
        source = approval.blessingStep
        if source is not None:
            loc = f"{path}.approval.blessingStep"
            if source not in names:
                findings.add(loc, f"there is no step {source!r}")
            elif source not in before.get(step.stepName, set()):
                findings.add(
                    loc,
                    f"step {source!r} does not run before {step.stepName!r} "
                    "(it runs in parallel with it or after it)",
                )


# ---------------------------------------------------------------- entry point
def parse_sequence(
    raw: bytes | str | Mapping[str, Any],
    *,
    mode: str | None = None,
    limit: SequencerLimits | None = None,
) -> Sequence:
    """Parse and fully validate a Genome sequence for an execution mode.

    ``mode`` defaults to the configured execution mode (AIRGENOME_EXECUTION_MODE, else local).
    Raises `InvalidInput` listing every offender by JSON path, or `PayloadTooLarge`.
    """
    chosen = mode or execution_mode()
    if chosen not in MODES:
        raise InvalidInput(f"mode: {chosen!r} is not one of {', '.join(MODES)}")
    limit = limit or limits()
    registry.REGISTRY.refresh()  # a component installed or described since the last parse counts
    try:
        return _parse(raw, chosen, limit)
    except RecursionError:  # e.g. 5000 nested lists: still a 422, never a crash
        raise_if_any([{"loc": "$", "msg": "nested too deeply to be a sequence"}])
        raise  # unreachable: raise_if_any raised


def _parse(raw: bytes | str | Mapping[str, Any], chosen: str, limit: SequencerLimits) -> Sequence:
    document = load_json(raw, limit.max_body_bytes)

    findings = _Findings()
    if _may_hold_templates(raw):
        _check_templates(document, "", findings)
    _check_tree(document.get("steps"), limit, findings)
    seq: Sequence | None = None
    try:
        seq = Sequence.model_validate(document, context={"limits": limit})
    except ValidationError as error:
        _pydantic_findings(error, findings)
    if seq is not None:
        _check_platform(iter_steps(seq.steps), seq.defaults, chosen, limit, findings)
        _check_components(seq, findings)
        _check_approvals(seq, findings)
    else:
        _check_platform(*_valid_steps(document, limit), chosen, limit, findings)
    raise_if_any(findings.items)
    assert seq is not None
    seq._mode = chosen
    seq._limits = limit
    return seq


def validation_errors(raw: bytes | str | Mapping[str, Any], *, mode: str | None = None) -> list[dict[str, str]]:
    """The findings as a list (empty when valid) — for pages that show every problem."""
    try:
        parse_sequence(raw, mode=mode)
    except InvalidInput as error:
        return list(error.details)
    except PayloadTooLarge as error:
        return list(error.details)
    return []
