"""What a component receives and what it returns: `ComponentContext` and `Result`.

A component is ``run(ctx, params) -> Result``. Everything it may know arrives in the context
— its inputs as URIs, where to write its outputs, the Genome step contract, where the stores
are — so components never read ``os.environ`` (the runtime builds the context from the step
environment; `airgenome component run` builds it from the command line). The `Result` is the
manifest the runtime writes as JSON: it travels to Airflow through XCom (local: a file the
operator reads; pods: the KubernetesPodOperator's xcom sidecar), never through a naming
convention.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airgenome.settings import StoreLocations

OUTCOMES = ("success", "skip")


# A connection's URL reaches a step as AIRGENOME_CONNECTION_<ID> (ID upper-cased, other
# characters as '_'): set by the worker (local mode) or from a Secret key (kubernetes mode).
CONNECTION_PREFIX = "AIRGENOME_CONNECTION_"


def connection_variable(conn_id: str) -> str:
    return CONNECTION_PREFIX + "".join(c if c.isalnum() else "_" for c in conn_id).upper()


class SkipStep(Exception):  # noqa: N818 - it is an outcome, not an error
    """Raised by a component that has nothing to do (e.g. no rows left, model not blessed).

    The step ends as *skipped*: downstream steps are skipped, not failed, not retried.
    """


class ComponentFailed(Exception):
    """A component's run failed for a reason it can state (the step fails and is retried)."""

    def __init__(self, message: str, *, exit_code: int = 1) -> None:
        super().__init__(message)
        # 2 (bad input) and 99 (skip) mean something else to the operators.
        self.exit_code = exit_code if 1 <= exit_code <= 98 and exit_code != 2 else 1


@dataclass(frozen=True)
class InputRef:
    uri: str
    kind: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "kind": self.kind, "metadata": dict(self.metadata)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> InputRef:
        return cls(uri=str(data["uri"]), kind=str(data.get("kind", "file")), metadata=dict(data.get("metadata") or {}))


@dataclass(frozen=True)
class StepInfo:
    """The Genome step contract, as the component sees it."""

    pipeline_name: str = "adhoc"
    run_id: str = "adhoc"
    step_name: str = "step"
    step_type: str = "model"
    application: str = "airgenome"
    canonical_name: str | None = None
    deployment: str | None = None
    deployment_parameters: Any = None
    datasets: list[Any] = field(default_factory=list)


@dataclass(frozen=True)
class ComponentContext:
    component: str
    step: StepInfo
    inputs: Mapping[str, InputRef]
    output_uri: str  # run-scoped folder URI for this step's outputs (no trailing slash)
    stores: StoreLocations
    lake_root: str
    gpus: int = 0
    # connection variable -> URL (see `connection_variable`); secrets, never logged
    connections: Mapping[str, str] = field(default_factory=dict, repr=False)

    def output(self, name: str, filename: str | None = None) -> str:
        """The URI of one output (a folder per output; ``filename`` inside it)."""
        base = f"{self.output_uri}/{name}"
        return f"{base}/{filename}" if filename else base

    def model_store(self) -> Any:
        """The model store this step writes to (MLflow is imported only when called)."""
        from airgenome.models.client import ModelStore

        stores = self.stores
        return ModelStore(stores.model_store_uri, artifacts=stores.model_artifacts, registry_uri=stores.model_registry_uri)

    def model_version(self, name: str = "model") -> str:
        """The model store version id an input of kind ``model`` carries (``models:/<id>``)."""
        ref = self.input(name)
        version = ref.metadata.get("version") or ref.uri.split(":/", 1)[-1].strip("/")
        if not version:
            raise ComponentFailed(f"input {name!r} carries no model version ({ref.uri!r})")
        return str(version)

    def connection(self, conn_id: str) -> str:
        """The URL of an Airflow connection this step was given (for a connection parameter)."""
        url = self.connections.get(connection_variable(conn_id))
        if not url:
            raise ComponentFailed(f"conn_id: connection {conn_id!r} was not given to this step")
        return url

    def input(self, name: str) -> InputRef:
        try:
            return self.inputs[name]
        except KeyError:
            raise ComponentFailed(f"input {name!r} was not wired to this step") from None


@dataclass
class OutputRecord:
    uri: str
    kind: str
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {"uri": self.uri, "kind": self.kind, "metadata": self.metadata}


@dataclass
class Result:
    """The result manifest: outputs, metrics and ids that downstream steps and people read."""

    outputs: dict[str, OutputRecord] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    model_version: str | None = None
    evaluation_ids: list[str] = field(default_factory=list)
    verdict: str | None = None
    outcome: str = "success"
    message: str | None = None
    component: str | None = None

    def add_output(self, name: str, uri: str, kind: str, **metadata: Any) -> OutputRecord:
        record = OutputRecord(uri=uri, kind=kind, metadata=dict(metadata))
        self.outputs[name] = record
        return record

    def to_dict(self) -> dict[str, Any]:
        return {
            "component": self.component,
            "outcome": self.outcome,
            "message": self.message,
            "outputs": {name: record.to_dict() for name, record in self.outputs.items()},
            "metrics": self.metrics,
            "model_version": self.model_version,
            "evaluation_ids": list(self.evaluation_ids),
            "verdict": self.verdict,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, default=str)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Result:
        outputs = {
            str(name): OutputRecord(
                uri=str(item["uri"]), kind=str(item["kind"]), metadata=dict(item.get("metadata") or {})
            )
            for name, item in dict(data.get("outputs") or {}).items()
        }
        outcome = str(data.get("outcome") or "success")
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome {outcome!r} is not one of {', '.join(OUTCOMES)}")
        return cls(
            outputs=outputs,
            metrics=dict(data.get("metrics") or {}),
            model_version=data.get("model_version"),
            evaluation_ids=[str(e) for e in data.get("evaluation_ids") or []],
            verdict=data.get("verdict"),
            outcome=outcome,
            message=data.get("message"),
            component=data.get("component"),
        )
