"""Container images as components, declared in a JSON descriptor file — no Python needed.

CLAIMED: "any containerized application can become a component". A descriptor names the
image and its command, a JSON Schema for the parameters and how each reaches the container
(an environment variable or a command-line flag), and the inputs and outputs with their
kinds and the environment variables that carry their URIs. Example::

    {
      "name": "transform.dedupe",
      "summary": "drop duplicate rows",
      "version": "1.2.0",
      "image": "registry.example/acme/dedupe:1.2.0",
      "command": ["dedupe"],
      "localCommand": ["python", "-m", "dedupe"],
      "parameters": {"type": "object", "properties": {"key": {"type": "string"}},
                     "required": ["key"], "additionalProperties": false},
      "parameterMapping": {"key": {"env": "DEDUPE_KEY"}},
      "inputs": {"table": {"kind": "table", "env": "INPUT_TABLE"}},
      "outputs": {"table": {"kind": "table", "env": "OUTPUT_TABLE"}}
    }

The descriptor is data: its command is an argv list (no shell), values are never rendered,
and nothing in it names Python code. It runs in kubernetes mode from its image; in local mode
only when it declares ``localCommand``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airgenome.components.registry import (
    CATEGORIES,
    KINDS,
    ComponentSpec,
    Images,
    ParameterProblem,
    Port,
    RunFunction,
)

_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]*$")
_FLAG = re.compile(r"^--?[A-Za-z0-9][A-Za-z0-9_-]*$")
_FIELDS = {
    "name", "summary", "version", "image", "gpuImage", "command", "localCommand", "parameters",
    "parameterMapping", "inputs", "outputs", "resources", "description",
}


class DescriptorError(ValueError):
    pass


@dataclass(frozen=True)
class Mapped:
    env: str | None = None
    arg: str | None = None


@dataclass(frozen=True)
class ContainerComponent:
    """How a descriptor component runs: its image and command, and where values go."""

    image: str
    command: tuple[str, ...]
    local_command: tuple[str, ...] | None
    parameter_schema: Mapping[str, Any]
    mapping: Mapping[str, Mapped]
    input_env: Mapping[str, str]
    output_env: Mapping[str, str]
    source: str = ""
    extra_env: Mapping[str, str] = field(default_factory=dict)

    def validate_parameters(self, values: Mapping[str, Any]) -> tuple[Any, list[ParameterProblem]]:
        import jsonschema

        validator = jsonschema.Draft202012Validator(dict(self.parameter_schema))
        problems = []
        for error in sorted(validator.iter_errors(dict(values)), key=lambda e: list(e.absolute_path)):
            path = ".".join(str(p) for p in error.absolute_path)
            if error.validator == "additionalProperties" and not path:
                extra = sorted(set(values) - set(self.parameter_schema.get("properties", {})))
                for name in extra:
                    problems.append(ParameterProblem(name, "unknown parameter"))
                continue
            if error.validator == "required" and not path:
                for name in self.parameter_schema.get("required", []):
                    if name not in values:
                        problems.append(ParameterProblem(name, "required parameter is missing"))
                continue
            problems.append(ParameterProblem(path, error.message))
        unique = sorted(dict.fromkeys(problems), key=lambda p: (p.path, p.message))
        return (dict(values) if not unique else None), unique

    def environment_and_args(
        self, params: Mapping[str, Any], inputs: Mapping[str, str], outputs: Mapping[str, str]
    ) -> tuple[dict[str, str], list[str]]:
        """Parameter values, input and output URIs as the container's env and arguments."""
        env: dict[str, str] = dict(self.extra_env)
        args: list[str] = []
        for name, value in params.items():
            target = self.mapping.get(name)
            text = value if isinstance(value, str) else json.dumps(value)
            if target is None:
                continue
            if target.env:
                env[target.env] = text
            if target.arg:
                args.extend([target.arg, text])
        for name, uri in inputs.items():
            if name in self.input_env:
                env[self.input_env[name]] = uri
        for name, uri in outputs.items():
            if name in self.output_env:
                env[self.output_env[name]] = uri
        return env, args


def _ports(raw: Any, where: str, problems: list[str]) -> tuple[dict[str, Port], dict[str, str]]:
    ports: dict[str, Port] = {}
    envs: dict[str, str] = {}
    if raw is None:
        return ports, envs
    if not isinstance(raw, dict):
        problems.append(f"{where}: must be an object of name -> {{kind, env}}")
        return ports, envs
    for name, item in raw.items():
        if not isinstance(item, dict) or item.get("kind") not in KINDS:
            problems.append(f"{where}.{name}.kind: must be one of {', '.join(KINDS)}")
            continue
        env = item.get("env")
        if env is not None and (not isinstance(env, str) or not _ENV_NAME.match(env)):
            problems.append(f"{where}.{name}.env: {env!r} is not an environment variable name")
            continue
        ports[name] = Port(item["kind"], str(item.get("description", "")), bool(item.get("required", True)))
        if env:
            envs[name] = env
    return ports, envs


def _argv(value: Any, where: str, problems: list[str]) -> tuple[str, ...] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        problems.append(f"{where}: must be a non-empty argv list of strings (no shell)")
        return None
    if any("{{" in v or "{%" in v for v in value):
        problems.append(f"{where}: template syntax is not allowed")
        return None
    return tuple(value)


def parse_descriptor(document: Any, source: str) -> ComponentSpec:
    """A validated descriptor as a spec; `DescriptorError` lists every problem."""
    problems: list[str] = []
    if not isinstance(document, dict):
        raise DescriptorError(f"{source}: a descriptor is a JSON object")
    unknown = sorted(set(document) - _FIELDS)
    if unknown:
        problems.append(f"unknown field(s): {', '.join(unknown)}")
    name = document.get("name")
    category = name.partition(".")[0] if isinstance(name, str) else ""
    if not isinstance(name, str) or "." not in name or category not in CATEGORIES:
        problems.append(f"name: {name!r} must be category.name with a category from {', '.join(CATEGORIES)}")
    image = document.get("image")
    if not isinstance(image, str) or not image.strip() or " " in image:
        problems.append("image: required, an image reference like registry/team/tool:1.0")
    command = _argv(document.get("command"), "command", problems)
    local = _argv(document.get("localCommand"), "localCommand", problems)
    schema = document.get("parameters", {"type": "object", "properties": {}, "additionalProperties": False})
    if not isinstance(schema, dict) or schema.get("type", "object") != "object":
        problems.append("parameters: must be a JSON Schema of type object")
        schema = {"type": "object"}
    else:
        import jsonschema

        try:
            jsonschema.Draft202012Validator.check_schema(schema)
        except jsonschema.SchemaError as error:
            problems.append(f"parameters: not a valid JSON Schema ({error.message})")
    mapping: dict[str, Mapped] = {}
    for key, target in dict(document.get("parameterMapping") or {}).items():
        if key not in schema.get("properties", {}):
            problems.append(f"parameterMapping.{key}: not a declared parameter")
            continue
        if not isinstance(target, dict) or set(target) - {"env", "arg"} or not target:
            problems.append(f"parameterMapping.{key}: must be {{\"env\": NAME}} and/or {{\"arg\": \"--flag\"}}")
            continue
        env, arg = target.get("env"), target.get("arg")
        if env is not None and (not isinstance(env, str) or not _ENV_NAME.match(env)):
            problems.append(f"parameterMapping.{key}.env: {env!r} is not an environment variable name")
            continue
        if arg is not None and (not isinstance(arg, str) or not _FLAG.match(arg)):
            problems.append(f"parameterMapping.{key}.arg: {arg!r} is not a flag like --threshold")
            continue
        mapping[key] = Mapped(env=env, arg=arg)
    inputs, input_env = _ports(document.get("inputs"), "inputs", problems)
    outputs, output_env = _ports(document.get("outputs"), "outputs", problems)
    for where, envs in (("inputs", input_env), ("outputs", output_env)):
        for port_name in (inputs if where == "inputs" else outputs):
            if port_name not in envs:
                problems.append(f"{where}.{port_name}.env: required (the variable that carries its URI)")
    if problems:
        raise DescriptorError(f"{source}: " + "; ".join(problems))
    assert isinstance(name, str) and isinstance(image, str) and command is not None
    container = ContainerComponent(
        image=image,
        command=command,
        local_command=local,
        parameter_schema=schema,
        mapping=mapping,
        input_env=input_env,
        output_env=output_env,
        source=source,
    )
    return ComponentSpec(
        name=name,
        summary=str(document.get("summary") or document.get("description") or ""),
        load=lambda: _local_runner(name, container),
        version=str(document.get("version", "0.1.0")),
        inputs=inputs,
        outputs=outputs,
        images=Images(cpu=image, gpu=str(document.get("gpuImage") or image)),
        container=container,
        source=f"descriptor:{source}",
    )


def _local_runner(name: str, container: ContainerComponent) -> RunFunction:
    """In local mode a descriptor component runs its ``localCommand`` (no shell)."""
    from airgenome.components.context import ComponentContext, ComponentFailed, Result

    def run(ctx: ComponentContext, params: Any) -> Result:
        import os
        import subprocess

        if container.local_command is None:
            raise ComponentFailed(f"{name} runs only in kubernetes mode (its descriptor has no localCommand)")
        outputs = {port: ctx.output(port) for port in container.output_env}
        env, args = container.environment_and_args(
            params or {}, {k: v.uri for k, v in ctx.inputs.items()}, outputs
        )
        # Only what a program needs to start, plus its declared values: no worker secrets.
        base = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "TMPDIR") if k in os.environ}
        completed = subprocess.run([*container.local_command, *args], env={**base, **env}, check=False)
        if completed.returncode != 0:
            raise ComponentFailed(f"{name}: {container.local_command[0]} exited with {completed.returncode}")
        result = Result()
        for port, uri in outputs.items():
            result.add_output(port, uri, "file")
        return result

    return run


def load_descriptor_file(path: Path) -> ComponentSpec:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise DescriptorError(f"{path}: not readable JSON ({error})") from None
    return parse_descriptor(document, str(path))
