"""The Genome step environment contract, shared by local subprocess steps and pods.

Genome passed these variables to every step container; we keep the names and send
real values (Genome always sent ``DEPLOYMENT_PARAMETERS`` as null). Run-time values
(the run id, a trigger's ``conf``) are only known at execution, so operators call
`step_environment` from `execute` / `build_pod_request_obj`, never at parse time.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airgenome.settings import StoreLocations, store_locations

GENOME_VARIABLES = (
    "DEPLOYMENT",
    "DEPLOYMENT_PARAMETERS",
    "APPLICATION",
    "PIPELINE_RUNID",
    "PIPELINE_NAME",
    "STEP_NAME",
    "STEP_TYPE",
    "PARAMETERS",
    "DATASETS",
)


@dataclass(frozen=True)
class StepContract:
    """Everything static a step needs to build its environment (JSON-serialisable)."""

    pipeline_name: str
    application: str
    step_name: str
    step_type: str
    deployment: str | None = None
    deployment_parameters: Any = None
    canonical_name: str | None = None
    parameters: Mapping[str, Any] = field(default_factory=dict)
    datasets: list[Any] = field(default_factory=list)
    env: Mapping[str, str] = field(default_factory=dict)  # the spec's `env` extension

    def to_dict(self) -> dict[str, Any]:
        return {
            "pipeline_name": self.pipeline_name,
            "application": self.application,
            "step_name": self.step_name,
            "step_type": self.step_type,
            "deployment": self.deployment,
            "deployment_parameters": self.deployment_parameters,
            "canonical_name": self.canonical_name,
            "parameters": dict(self.parameters),
            "datasets": list(self.datasets),
            "env": dict(self.env),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StepContract:
        return cls(**dict(data))


def effective_parameters(contract: StepContract, conf: Mapping[str, Any] | None) -> dict[str, Any]:
    """A trigger's conf overrides parameters: ``conf["parameters"]`` for every step, then
    ``conf["steps"][<stepName>]["parameters"]`` for one step."""
    merged = dict(contract.parameters)
    if not conf:
        return merged
    everywhere = conf.get("parameters")
    if isinstance(everywhere, Mapping):
        merged.update(everywhere)
    per_step = conf.get("steps")
    if isinstance(per_step, Mapping):
        mine = per_step.get(contract.step_name)
        if isinstance(mine, Mapping) and isinstance(mine.get("parameters"), Mapping):
            merged.update(mine["parameters"])
    return merged


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def step_environment(
    contract: StepContract,
    run_id: str,
    conf: Mapping[str, Any] | None = None,
    stores: StoreLocations | None = None,
) -> dict[str, str]:
    """The full environment of one step run: user env, store locations, Genome variables.

    Genome's variables are applied last so a spec's `env` can never spoof them.
    """
    env: dict[str, str] = dict(contract.env)
    env.update((stores or store_locations()).as_env())
    env.update(
        {
            "DEPLOYMENT": contract.deployment or "",
            "DEPLOYMENT_PARAMETERS": _json(contract.deployment_parameters),
            "APPLICATION": contract.application,
            "PIPELINE_RUNID": run_id,
            "PIPELINE_NAME": contract.pipeline_name,
            "CANONICAL_NAME": contract.canonical_name or "",
            "STEP_NAME": contract.step_name,
            "STEP_TYPE": contract.step_type,
            "PARAMETERS": _json(effective_parameters(contract, conf)),
            "DATASETS": _json(contract.datasets),
        }
    )
    return env
