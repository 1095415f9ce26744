"""The component catalogue: the ONLY names a spec's ``component`` may use.

An explicit dict from a public name to a runner function in this package — a spec can never
name a Python import path. Runners execute inside the step's subprocess
(`python -m airgenome.sequence.run_component NAME`), read the Genome environment and return
an exit code; their heavy imports stay inside them.

``IMAGE_COMPONENTS`` lets a Genome payload that only names an image run in local mode: the
image's repository (without registry and tag) maps to the component it packages.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Component:
    name: str
    summary: str
    run: Callable[[], int]


def _echo() -> int:
    from airgenome.sequence import builtin_components

    return builtin_components.echo()


def _train_forest() -> int:
    from airgenome.sequence import builtin_components

    return builtin_components.train_forest()


def _fail() -> int:
    from airgenome.sequence import builtin_components

    return builtin_components.fail()


def _demo_train() -> int:
    from airgenome.sequence import demo_steps

    return demo_steps.train_demo_forest()


def _demo_evaluate() -> int:
    from airgenome.sequence import demo_steps

    return demo_steps.evaluate_demo_forest()


COMPONENTS: dict[str, Component] = {
    c.name: c
    for c in (
        Component(
            "genome.echo",
            "print the Genome environment; with parameter outputFile, write it there as JSON",
            _echo,
        ),
        Component(
            "sklearn.train-forest",
            "train a RandomForestRegressor on sklearn's bundled diabetes data "
            "(parameters n_estimators, max_depth); saved to the model store when available",
            _train_forest,
        ),
        Component(
            "genome.demo-train-forest",
            "Genome's tabular example: a 120-tree forest on diabetes data with global SHAP "
            "explanations, saved to the model store under the sequence's canonicalName",
            _demo_train,
        ),
        Component(
            "genome.demo-evaluate-forest",
            "evaluate the forest this pipeline run saved: quality (parameter minR2), error gap "
            "between sexes, worst records as prototypes; parameter gate fails the step on a failed run",
            _demo_evaluate,
        ),
        Component(
            "genome.fail",
            "exit with parameter exitCode (default 1) after printing parameter message to stderr",
            _fail,
        ),
    )
}

# Image repository -> component it packages (for image-only steps in local mode).
IMAGE_COMPONENTS: dict[str, str] = {
    "ensemble-training": "sklearn.train-forest",
    "housing-ca-forest-model": "sklearn.train-forest",
    "airgenome-echo": "genome.echo",
}


def image_repository(image: str) -> str:
    """``registry:5000/team/ensemble-training:local.3@sha256:..`` -> ``ensemble-training``."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    return last.split(":", 1)[0]


def component_for_image(image: str) -> str | None:
    return IMAGE_COMPONENTS.get(image_repository(image))
