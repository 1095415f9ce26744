"""Genome's utility components: echo the step contract, fail on purpose, do nothing."""

from __future__ import annotations

import json
import sys
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from airgenome.components.context import ComponentContext, ComponentFailed, Result, SkipStep
from airgenome.settings import redact_uri


class EchoParameters(BaseModel):
    # Genome's echo step accepted any parameters and printed them back.
    model_config = ConfigDict(extra="allow")

    outputFile: str | None = Field(default=None, description="also write the contract there as JSON")


class FailParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(default="genome.fail was asked to fail", description="printed to stderr")
    exitCode: int = Field(default=1, ge=1, le=98, description="the exit code (1..98)")


class NoopParameters(BaseModel):
    model_config = ConfigDict(extra="forbid")

    skip: bool = Field(default=False, description="end the step as skipped instead")


def _compact(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))


def echo(ctx: ComponentContext, params: EchoParameters) -> Result:
    step = ctx.step
    seen = {
        "DEPLOYMENT": step.deployment or "",
        "DEPLOYMENT_PARAMETERS": _compact(step.deployment_parameters),
        "APPLICATION": step.application,
        "PIPELINE_RUNID": step.run_id,
        "PIPELINE_NAME": step.pipeline_name,
        "CANONICAL_NAME": step.canonical_name or "",
        "STEP_NAME": step.step_name,
        "STEP_TYPE": step.step_type,
        "PARAMETERS": _compact(params.model_dump(exclude_none=True)),
        "DATASETS": _compact(step.datasets),
        "AIRGENOME_MODEL_STORE_URI": redact_uri(ctx.stores.model_store_uri),
        "AIRGENOME_MODEL_ARTIFACTS": ctx.stores.model_artifacts,
        "AIRGENOME_EVALUATION_STORE_URI": redact_uri(ctx.stores.evaluation_store_uri),
    }
    text = json.dumps(seen, indent=2, sort_keys=True)
    print(text)
    if params.outputFile:
        from pathlib import Path

        path = Path(params.outputFile)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
        print(f"wrote {path}")
    return Result(metrics={"parameters": len(params.model_dump(exclude_none=True))})


def fail(ctx: ComponentContext, params: FailParameters) -> Result:
    print(params.message, file=sys.stderr)
    raise ComponentFailed(params.message, exit_code=params.exitCode)


def noop(ctx: ComponentContext, params: NoopParameters) -> Result:
    if params.skip:
        raise SkipStep("asked to skip")
    return Result()
