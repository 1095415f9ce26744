"""The component registry: every name a sequence step or an operator may run.

A `ComponentSpec` is data about a component — public name ``category.name``, version,
summary, typed parameters, declared inputs and outputs with their kinds, default images,
resources and the install extra it needs — plus a *loader* that imports its implementation
only when it runs. The sequencer, the operators and the plugin import only this module, so
it stays cheap (tested: no Airflow, no pandas, no ML library).

Three sources, one lookup (`get`): the built-in catalogue (`airgenome.components.catalogue`),
Python packages that register through the ``airgenome.components`` entry-point group, and
container-image descriptors (`airgenome.components.descriptor`) found in the configured
folder. A spec names a component by its public name only; it never names an import path.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, ValidationError

from airgenome.errors import InvalidInput, NotFound

if TYPE_CHECKING:
    from airgenome.components.context import ComponentContext, Result

CATEGORIES = (
    "input",
    "transform",
    "filter",
    "image",
    "train",
    "evaluate",
    "bless",
    "publish",
    "spark",
    "genome",  # Genome's utility steps (echo, fail): kept for its payloads
)
KINDS = (
    "table",
    "images",
    "folder",
    "model",
    "evaluation",
    "blessing",
    "report",
    "deployment",
    "file",
)
ENTRY_POINT_GROUP = "airgenome.components"

RunFunction = Callable[["ComponentContext", Any], "Result"]


class NoParameters(BaseModel):
    """A component without parameters still refuses unknown ones."""

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Port:
    """One declared input or output: its kind and whether a step must wire it."""

    kind: str
    description: str = ""
    required: bool = True

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "description": self.description, "required": self.required}


@dataclass(frozen=True)
class Images:
    cpu: str = "airgenome/component-cpu:0.1.0"
    gpu: str = "airgenome/component-gpu:0.1.0"


@dataclass(frozen=True)
class Resources:
    cpu: str | None = None
    memory: str | None = None
    gpu: int = 0


@dataclass(frozen=True)
class ParameterProblem:
    path: str  # dotted path below ``parameters`` ("" for the object itself)
    message: str


@dataclass(frozen=True)
class ComponentSpec:
    """What the platform knows about a component without importing its code."""

    name: str
    summary: str
    load: Callable[[], RunFunction] = field(repr=False, compare=False)
    version: str = "0.1.0"
    params: type[BaseModel] = NoParameters
    inputs: Mapping[str, Port] = field(default_factory=dict)
    outputs: Mapping[str, Port] = field(default_factory=dict)
    images: Images = field(default_factory=Images)
    resources: Resources = field(default_factory=Resources)
    extra: str | None = None  # the pip extra whose packages it needs (airgenome[extra])
    aliases: tuple[str, ...] = ()  # older names that still resolve (Genome payloads)
    example: Mapping[str, Any] = field(default_factory=dict)  # example parameters
    # Parameters whose value is an Airflow connection id: the worker resolves it (airgenome.operators.connections).
    connections: tuple[str, ...] = ()
    # Set for container-image components (descriptor files): how the pod runs it.
    container: Any = None
    source: str = "builtin"  # builtin | entry-point:<dist> | descriptor:<file>

    def __post_init__(self) -> None:
        category, dot, rest = self.name.partition(".")
        if not dot or not rest or category not in CATEGORIES:
            raise ValueError(
                f"component name {self.name!r} must be category.name with a category from "
                f"{', '.join(CATEGORIES)}"
            )
        for port in (*self.inputs.values(), *self.outputs.values()):
            if port.kind not in KINDS:
                raise ValueError(f"{self.name}: unknown kind {port.kind!r} (one of {', '.join(KINDS)})")

    @property
    def category(self) -> str:
        return self.name.partition(".")[0]

    def parameter_schema(self) -> dict[str, Any]:
        if self.container is not None and getattr(self.container, "parameter_schema", None):
            return dict(self.container.parameter_schema)
        schema = self.params.model_json_schema()
        schema.pop("title", None)
        return schema

    def known_parameters(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Only the parameters this component declares (for Genome image steps run locally)."""
        declared = self.parameter_schema().get("properties", {})
        return {k: v for k, v in values.items() if k in declared}

    def validate_parameters(self, values: Mapping[str, Any]) -> tuple[Any, list[ParameterProblem]]:
        """The typed parameters, or every problem by path (nothing runs on a problem)."""
        if self.container is not None:
            return self.container.validate_parameters(values)
        try:
            return self.params.model_validate(dict(values)), []
        except ValidationError as error:
            problems = [
                ParameterProblem(_dotted(item["loc"]), _message(item))
                for item in error.errors(include_url=False)
            ]
            return None, problems

    def parse_parameters(self, values: Mapping[str, Any], where: str = "parameters") -> Any:
        """Typed parameters or `InvalidInput` naming every offending field under ``where``."""
        parsed, problems = self.validate_parameters(values)
        if problems:
            details = [
                {"loc": f"{where}.{p.path}" if p.path else where, "msg": p.message} for p in problems
            ]
            lines = "\n".join(f"  {d['loc']}: {d['msg']}" for d in details)
            raise InvalidInput(f"invalid parameters for {self.name}:\n{lines}", details=details)
        return parsed

    def example_step(self) -> dict[str, Any]:
        step: dict[str, Any] = {
            "stepName": self.name.replace(".", "-"),
            "component": self.name,
            "parameters": dict(self.example),
        }
        if self.inputs:
            step["inputs"] = {name: f"<upstream-step>.{name}" for name in self.inputs}
        return step

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "category": self.category,
            "version": self.version,
            "summary": self.summary,
            "parameters": self.parameter_schema(),
            "inputs": {k: v.to_dict() for k, v in self.inputs.items()},
            "outputs": {k: v.to_dict() for k, v in self.outputs.items()},
            "images": {"cpu": self.images.cpu, "gpu": self.images.gpu},
            "resources": {
                "cpu": self.resources.cpu,
                "memory": self.resources.memory,
                "gpu": self.resources.gpu,
            },
            "extra": self.extra,
            "aliases": list(self.aliases),
            "source": self.source,
            "example": self.example_step(),
        }


def _dotted(loc: Iterable[int | str]) -> str:
    path = ""
    for token in loc:
        path += f"[{token}]" if isinstance(token, int) else (f".{token}" if path else str(token))
    return path


def _message(item: Mapping[str, Any]) -> str:
    kind = item["type"]
    if kind == "extra_forbidden":
        return "unknown parameter"
    if kind == "missing":
        return "required parameter is missing"
    return str(item["msg"])


def lazy(module: str, function: str) -> Callable[[], RunFunction]:
    """A loader for a built-in implementation (our own code, never a user's string)."""

    def load() -> RunFunction:
        import importlib

        run: RunFunction = getattr(importlib.import_module(module), function)
        return run

    return load


class Registry:
    """Names -> specs, built once per process from the three sources (and refreshed when they
    change), plus the specs code registers directly."""

    def __init__(self) -> None:
        self._specs: dict[str, ComponentSpec] = {}
        self._aliases: dict[str, str] = {}
        self._registered: list[ComponentSpec] = []  # by code: kept when discovery is rebuilt
        self._loaded = False
        self._signature: tuple[object, ...] | None = None  # what the discovered part was built from
        self._lock = threading.Lock()
        self._pins = threading.local()
        self.generation = 0  # +1 on every build: caches of validated sequences key on it
        self.problems: list[str] = []  # entry points / descriptors that could not be loaded

    def register(self, spec: ComponentSpec) -> None:
        self._ensure()
        with self._lock:
            _add(self._specs, self._aliases, spec)
            self._registered.append(spec)

    def _ensure(self) -> None:
        if self._loaded:
            return
        with self._lock:
            if not self._loaded:
                self._build()

    def _build(self) -> None:
        """With the lock held: every source from scratch, swapped in whole, so a reader in
        another thread sees the old registry or the new one, never half of one."""
        from airgenome.components.catalogue import BUILTIN
        from airgenome.components.discovery import descriptor_specs, entry_point_specs, sources_signature

        # Taken before the scan: a change made during it is seen by the next refresh.
        signature = sources_signature()
        specs: dict[str, ComponentSpec] = {}
        aliases: dict[str, str] = {}
        problems: list[str] = []
        for spec in BUILTIN:
            _add(specs, aliases, spec)
        for source in (entry_point_specs, descriptor_specs):
            found, source_problems = source()
            problems.extend(source_problems)
            for spec in found:
                try:
                    _add(specs, aliases, spec)
                except ValueError as error:
                    problems.append(f"{spec.source}: {error}")
        for spec in self._registered:
            try:
                _add(specs, aliases, spec)
            except ValueError as error:  # a component discovered since took its name
                problems.append(f"registered by code: {error}")
        self._specs, self._aliases, self.problems = specs, aliases, problems
        self._signature = signature
        self.generation += 1
        self._loaded = True

    def refresh(self) -> bool:
        """Rebuild if an installed distribution, the import path or a descriptor file changed
        since the registry was built; True when it rebuilt.

        Called where a sequence is validated and where a component starts, so a process that
        inherited a built registry (a task forked from the scheduler, a step forked from the warm
        runtime: the entry-point scan alone costs ~20 ms) reuses it, and a long-lived one (the API
        server) still sees a component installed or a descriptor dropped in after it started."""
        from airgenome.components.discovery import sources_signature

        pinned: int = getattr(self._pins, "depth", 0)
        if self._loaded and pinned > 0:
            return False
        signature = sources_signature()
        if self._loaded and signature == self._signature:
            return False
        with self._lock:
            if self._loaded and signature == self._signature:  # another thread rebuilt it meanwhile
                return False
            self._build()
        return True

    @contextlib.contextmanager
    def pinned(self) -> Iterator[None]:
        """Refreshed once, then held for the block (this thread): a folder scan validates every
        file against one registry, without re-checking the sources per file."""
        self.refresh()
        self._pins.depth = getattr(self._pins, "depth", 0) + 1
        try:
            yield
        finally:
            self._pins.depth -= 1

    def reload(self) -> None:
        """Forget everything, code-registered specs included; the next use rebuilds."""
        with self._lock:
            self._specs, self._aliases, self.problems = {}, {}, []
            self._registered = []
            self._signature = None
            self.generation += 1
            self._loaded = False

    def resolve(self, name: str) -> str | None:
        self._ensure()
        if name in self._specs:
            return name
        return self._aliases.get(name)

    def get(self, name: str) -> ComponentSpec:
        resolved = self.resolve(name)
        if resolved is None:
            raise NotFound(f"{name!r} is not a known component (known: {', '.join(self.names())})")
        return self._specs[resolved]

    def names(self) -> list[str]:
        self._ensure()
        return sorted(self._specs)

    def all_names(self) -> set[str]:
        """Names and aliases: what a spec's ``component`` may say."""
        self._ensure()
        return set(self._specs) | set(self._aliases)

    def specs(self) -> list[ComponentSpec]:
        self._ensure()
        return [self._specs[name] for name in sorted(self._specs)]


def _add(specs: dict[str, ComponentSpec], aliases: dict[str, str], spec: ComponentSpec) -> None:
    if spec.name in specs or spec.name in aliases:
        raise ValueError(f"component {spec.name!r} is registered twice")
    specs[spec.name] = spec
    for alias in spec.aliases:
        aliases[alias] = spec.name


REGISTRY = Registry()


def get(name: str) -> ComponentSpec:
    return REGISTRY.get(name)


def resolve(name: str) -> str | None:
    return REGISTRY.resolve(name)


def names() -> list[str]:
    return REGISTRY.names()


def specs() -> list[ComponentSpec]:
    return REGISTRY.specs()
