"""The component catalogue over HTTP: every component a sequence step or an operator may run.

Each item is exactly the registry's ``ComponentSpec.to_dict()`` (the same content as
``airgenome components --json``): name, category, version, summary, parameters as JSON
Schema, declared inputs and outputs with their kinds, images, resources, the install extra,
aliases, where it came from and an example sequence step. The list also carries the
registry's ``problems``: entry points and descriptor files that could not be loaded.

Permission: reading the catalogue needs DAG read permission (`CanReadDags`), the same as
reading sequences: components are the building blocks of the pipelines, so whoever may read
the pipelines may read what they are made of (Airflow's auth managers have no resource of
their own for this).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from airgenome.plugins.deps import CanReadDags

router = APIRouter(prefix="/api/v1/components", tags=["components"], dependencies=[CanReadDags])


class PortOut(BaseModel):
    kind: str
    description: str
    required: bool


class ImagesOut(BaseModel):
    cpu: str
    gpu: str


class ResourcesOut(BaseModel):
    cpu: str | None
    memory: str | None
    gpu: int


class ComponentOut(BaseModel):
    """One ``ComponentSpec.to_dict()``; keys the registry adds later pass through unchanged."""

    model_config = ConfigDict(extra="allow")

    name: str = Field(description="the public name, category.name")
    category: str
    version: str
    summary: str
    parameters: dict[str, Any] = Field(description="the parameters as JSON Schema")
    inputs: dict[str, PortOut]
    outputs: dict[str, PortOut]
    images: ImagesOut
    resources: ResourcesOut
    extra: str | None = Field(description="the pip extra it needs: airgenome[extra]")
    aliases: list[str]
    source: str = Field(description="builtin, entry-point:<dist> or descriptor:<file>")
    example: dict[str, Any] = Field(description="an example sequence step using it")


class ComponentList(BaseModel):
    items: list[ComponentOut] = Field(description="every registered component, by name")
    problems: list[str] = Field(description="entry points or descriptors that could not be loaded")


def catalogue() -> tuple[list[dict[str, Any]], list[str]]:
    """Every spec's dict, sorted by name, and the registry's load problems (shared with the page)."""
    from airgenome.components import registry

    items = [spec.to_dict() for spec in registry.specs()]
    return items, list(registry.REGISTRY.problems)


def component(name: str) -> dict[str, Any]:
    """One spec's dict by name or alias; `NotFound` (404) for an unknown name."""
    from airgenome.components import registry

    return registry.get(name).to_dict()


@router.get("", response_model=ComponentList)
def list_components() -> ComponentList:
    """Every component with its parameter schema, ports and an example step."""
    items, problems = catalogue()
    return ComponentList.model_validate({"items": items, "problems": problems})


@router.get("/{name}", response_model=ComponentOut)
def get_component(name: str) -> ComponentOut:
    """One component by its name (or an older alias): 404 naming the known ones otherwise."""
    return ComponentOut.model_validate(component(name))
